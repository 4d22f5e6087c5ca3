"""Backoff with full jitter, and Retry-After honoured up to a cap."""

from __future__ import annotations

from core.errors import RateLimitedError, RetryableProviderError
from core.ladder.retry import RetryPolicy

FAILED = RetryableProviderError("p", "503")


def test_delays_grow_exponentially_up_to_the_maximum_with_full_jitter() -> None:
    policy = RetryPolicy(attempts=10, base_delay=0.5, max_delay=3.0)
    bounds = [policy.delay(n, FAILED, draw=lambda: 1.0) for n in range(1, 6)]
    assert bounds == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.delay(3, FAILED, draw=lambda: 0.25) == 0.5  # a uniform share of the bound


def test_no_retry_after_the_last_attempt() -> None:
    assert RetryPolicy(attempts=2).delay(2, FAILED) is None
    assert RetryPolicy(attempts=1).delay(1, FAILED) is None


def test_retry_after_is_honoured_exactly_when_under_the_cap() -> None:
    policy = RetryPolicy(attempts=3, retry_after_cap=5.0)
    assert policy.delay(1, RateLimitedError("p", "429", retry_after=2.0)) == 2.0


def test_a_retry_after_over_the_cap_moves_on_instead_of_waiting() -> None:
    policy = RetryPolicy(attempts=3, retry_after_cap=5.0)
    assert policy.delay(1, RateLimitedError("p", "429", retry_after=60.0)) is None


def test_dated_model_names_are_priced_by_their_base_name_only() -> None:
    from core.model import Usage
    from core.pricing import Price, PricingTable

    table = PricingTable({"openai": {"gpt-4.1": Price(2.0, 8.0)}})
    million = Usage(input_tokens=1_000_000, output_tokens=0)
    assert table.price("openai", "gpt-4.1-2025-04-14", million).cost_usd == 2.0
    assert table.price("openai", "gpt-4.1-nano", million).cost_usd == 0.0  # not in the table
