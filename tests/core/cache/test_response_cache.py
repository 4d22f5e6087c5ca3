"""The response cache on its own: keys, TTL, the LRU bound and the savings counters."""

from __future__ import annotations

import pytest

from core.cache import CachedAnswer, ResponseCache, cache_key, normalise_question
from core.model import Usage

V1 = "prompt:v1|models:gpt-4o-mini|kb:3"


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def answer(text: str = "We open at 9.", tokens: tuple[int, int] = (300, 80)) -> CachedAnswer:
    return CachedAnswer(text, "openai", "gpt-4o-mini", Usage(*tokens, cost_usd=0.0001))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("What are your opening hours?", "what are your opening hours"),
        ("  What are   your opening\thours ?? ", "WHAT ARE YOUR OPENING HOURS!"),
        ("Do you ship to Canada?", "do you ship to canada..."),
        ("Straße?", "STRASSE"),  # case folding, not just lower()
    ],
)
def test_questions_that_read_the_same_share_a_key(a: str, b: str) -> None:
    assert cache_key(a, V1) == cache_key(b, V1)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Can I return it?", "Can't I return it?"),
        ("Do you ship to Canada?", "Do you ship to Mexico?"),
        ("Is shipping free, or not?", "Is shipping free or not?"),  # inner punctuation is kept
    ],
)
def test_questions_that_differ_do_not_share_a_key(a: str, b: str) -> None:
    assert cache_key(a, V1) != cache_key(b, V1)


def test_normalisation_keeps_the_words_and_their_order() -> None:
    assert normalise_question("  Where IS my\n order?! ") == "where is my order"


def test_a_stored_answer_is_found_for_the_same_question_and_counts_the_savings() -> None:
    cache = ResponseCache(max_entries=10, ttl_seconds=60)
    cache.put("What are your hours?", V1, answer())

    assert cache.get("what are your hours", V1) == answer()
    assert cache.get("What are your hours?", V1) == answer()
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.stores) == (2, 0, 1)
    assert (stats.saved_input_tokens, stats.saved_output_tokens) == (600, 160)
    assert stats.saved_cost_usd == pytest.approx(0.0002)
    assert stats.hit_rate == 1.0


def test_a_different_context_version_never_sees_old_answers() -> None:
    cache = ResponseCache(max_entries=10, ttl_seconds=60)
    cache.put("What are your hours?", V1, answer())

    assert cache.get("What are your hours?", "prompt:v2|models:gpt-4o-mini|kb:3") is None
    assert cache.get("What are your hours?", "prompt:v1|models:gpt-4o-mini|kb:4") is None
    assert cache.stats().misses == 2


def test_an_answer_expires_after_its_ttl() -> None:
    clock = ManualClock()
    cache = ResponseCache(max_entries=10, ttl_seconds=60, clock=clock)
    cache.put("hours?", V1, answer())

    clock.now += 59.9
    assert cache.get("hours?", V1) is not None
    clock.now += 0.1
    assert cache.get("hours?", V1) is None
    assert len(cache) == 0
    assert cache.stats().expirations == 1


def test_a_refreshed_answer_gets_a_new_ttl() -> None:
    clock = ManualClock()
    cache = ResponseCache(max_entries=10, ttl_seconds=60, clock=clock)
    cache.put("hours?", V1, answer("old"))
    clock.now += 50
    cache.put("hours?", V1, answer("new"))
    clock.now += 50

    found = cache.get("hours?", V1)
    assert found is not None
    assert found.text == "new"
    assert len(cache) == 1


def test_the_size_bound_holds_and_the_least_recently_used_goes_first() -> None:
    cache = ResponseCache(max_entries=3, ttl_seconds=60)
    for n in range(3):
        cache.put(f"question {n}", V1, answer(f"answer {n}"))
    cache.get("question 0", V1)  # now the most recently used
    cache.put("question 3", V1, answer("answer 3"))

    assert len(cache) == 3
    assert cache.get("question 1", V1) is None
    assert cache.get("question 0", V1) is not None
    assert cache.stats().evictions == 1

    for n in range(4, 500):
        cache.put(f"question {n}", V1, answer())
    assert len(cache) == 3
    assert cache.stats().evictions == 497


def test_clear_forgets_answers_but_keeps_counters() -> None:
    cache = ResponseCache(max_entries=3, ttl_seconds=60)
    cache.put("hours?", V1, answer())
    cache.get("hours?", V1)
    cache.clear()

    assert cache.get("hours?", V1) is None
    assert cache.stats().hits == 1


@pytest.mark.parametrize(("entries", "ttl"), [(0, 60.0), (10, 0.0), (10, -1.0)])
def test_nonsense_bounds_are_refused(entries: int, ttl: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        ResponseCache(max_entries=entries, ttl_seconds=ttl)


def test_the_counters_export_flat_numbers() -> None:
    cache = ResponseCache(max_entries=3, ttl_seconds=60)
    cache.put("hours?", V1, answer())
    cache.get("hours?", V1)
    cache.get("returns?", V1)

    exported = cache.stats().as_dict()
    assert exported["hits"] == 1
    assert exported["misses"] == 1
    assert exported["hit_rate"] == 0.5
    assert exported["saved_input_tokens"] == 300
