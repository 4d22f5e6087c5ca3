"""The rules tier: a YAML knowledge base, a fuzzy intent matcher and the provider using them."""

from core.providers.rules.knowledge import Intent, KnowledgeBase, load_knowledge_base
from core.providers.rules.matcher import IntentMatch, IntentMatcher
from core.providers.rules.provider import DEFAULT_MIN_CONFIDENCE, RulesProvider

__all__ = [
    "DEFAULT_MIN_CONFIDENCE",
    "Intent",
    "IntentMatch",
    "IntentMatcher",
    "KnowledgeBase",
    "RulesProvider",
    "load_knowledge_base",
]
