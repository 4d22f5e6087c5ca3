"""Reusing answers to questions that do not depend on who asks them."""

from core.cache.response_cache import (
    CachedAnswer,
    CacheStats,
    ResponseCache,
    cache_key,
    normalise_question,
)

__all__ = ["CacheStats", "CachedAnswer", "ResponseCache", "cache_key", "normalise_question"]
