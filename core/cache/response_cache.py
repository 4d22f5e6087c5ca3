"""An in-memory answer cache keyed by the normalised question and what shapes the answer.

Entries expire after ``ttl_seconds`` and the least recently used one is dropped once
``max_entries`` is reached, so memory is bounded whatever the traffic. Only a digest of the
question is kept as the key: the question text itself is never stored.
"""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from core.cache.lru import BoundedCache
from core.model import Usage

# Punctuation a user adds or leaves out at the end without changing the question.
_TRAILING = re.compile(r"[\s?!.,;:…。？！]+$")
_SPACES = re.compile(r"\s+")
# Separates the parts of the hashed key, so ("ab", "c") and ("a", "bc") never collide.
_SEPARATOR = "\x1f"


def normalise_question(text: str) -> str:
    """Case-folded, Unicode-normalised, whitespace collapsed, trailing punctuation removed.

    Deliberately conservative: punctuation inside the question, word order and every word are
    kept, so two questions share an answer only when they read the same.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _TRAILING.sub("", _SPACES.sub(" ", folded).strip())


def cache_key(question: str, context_version: str) -> str:
    """The digest two questions must share to share an answer."""
    material = f"{context_version}{_SEPARATOR}{normalise_question(question)}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """An answer worth reusing, and what it cost the first time (what each hit saves)."""

    text: str
    provider: str
    model: str
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of the cache's counters, for metrics and the bench."""

    hits: int
    misses: int
    stores: int
    evictions: int
    expirations: int
    entries: int
    saved_input_tokens: int
    saved_output_tokens: int
    saved_cost_usd: float

    @property
    def hit_rate(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def as_dict(self) -> dict[str, float]:
        """Flat name -> number, the shape a metrics exporter wants."""
        return {
            "hits": self.hits,
            "misses": self.misses,
            "stores": self.stores,
            "evictions": self.evictions,
            "expirations": self.expirations,
            "entries": self.entries,
            "saved_input_tokens": self.saved_input_tokens,
            "saved_output_tokens": self.saved_output_tokens,
            "saved_cost_usd": self.saved_cost_usd,
            "hit_rate": self.hit_rate,
        }


@dataclass(slots=True)
class _Entry:
    answer: CachedAnswer
    stored_at: float


class ResponseCache:
    """LRU + TTL map from (normalised question, context version) to a ``CachedAnswer``.

    Not thread-safe; like the rest of the core it is used from one event loop, and no method
    awaits, so no turn can observe it half-updated.
    """

    def __init__(
        self,
        max_entries: int,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: BoundedCache[_Entry] = BoundedCache(max_entries)
        self._hits = 0
        self._misses = 0
        self._stores = 0
        self._expirations = 0
        self._saved_input = 0
        self._saved_output = 0
        self._saved_cost = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, question: str, context_version: str) -> CachedAnswer | None:
        """The cached answer, counting a hit (and what it saved) or a miss."""
        return self.get_by_key(cache_key(question, context_version))

    def get_by_key(self, key: str) -> CachedAnswer | None:
        """``get`` for a key already made with ``cache_key`` (a miss then ``put``s with it)."""
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry.stored_at >= self._ttl:
            # Expired entries are dropped when met; the LRU bound caps the ones never met again.
            self._entries.pop(key)
            self._expirations += 1
            entry = None
        if entry is None:
            self._misses += 1
            return None
        self._hits += 1
        usage = entry.answer.usage
        self._saved_input += usage.input_tokens
        self._saved_output += usage.output_tokens
        self._saved_cost += usage.cost_usd
        return entry.answer

    def put(self, question: str, context_version: str, answer: CachedAnswer) -> None:
        """Store (or refresh) an answer, evicting the least recently used entry when full."""
        self.put_by_key(cache_key(question, context_version), answer)

    def put_by_key(self, key: str, answer: CachedAnswer) -> None:
        self._entries.put(key, _Entry(answer, self._clock()))
        self._stores += 1

    def clear(self) -> None:
        """Forget every answer (counters are kept: they describe the process, not the map)."""
        self._entries.clear()

    def stats(self) -> CacheStats:
        return CacheStats(
            hits=self._hits,
            misses=self._misses,
            stores=self._stores,
            evictions=self._entries.evictions,
            expirations=self._expirations,
            entries=len(self._entries),
            saved_input_tokens=self._saved_input,
            saved_output_tokens=self._saved_output,
            saved_cost_usd=round(self._saved_cost, 8),
        )
