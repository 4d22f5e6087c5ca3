"""Context budgeting: count tokens, score importance, and fit a prompt into a model's budget."""

from __future__ import annotations

from core.context.budget import (
    MESSAGE_OVERHEAD_TOKENS,
    PROMPT_OVERHEAD_TOKENS,
    BudgetedMessage,
    ContextOverflowError,
    ContextPlan,
    budgeted,
    plan_context,
)
from core.context.importance import importance
from core.context.tokens import (
    EstimateCounter,
    TiktokenCounter,
    TokenCounter,
    counter_for,
)

__all__ = [
    "MESSAGE_OVERHEAD_TOKENS",
    "PROMPT_OVERHEAD_TOKENS",
    "BudgetedMessage",
    "ContextOverflowError",
    "ContextPlan",
    "EstimateCounter",
    "TiktokenCounter",
    "TokenCounter",
    "budgeted",
    "counter_for",
    "importance",
    "plan_context",
]
