"""Contract tests for the GCRA limiter, on an injected clock (nothing sleeps)."""

from __future__ import annotations

import tracemalloc

import pytest

from core.ratelimit.gcra import Decision, Gcra
from tests.fakes import VirtualTime


def allowed_in_a_row(limiter: Gcra, key: str = "u1", **kwargs: float) -> int:
    count = 0
    while limiter.check(key, **kwargs).allowed:
        count += 1
    return count


def test_a_fresh_key_gets_exactly_the_burst_then_one_per_interval() -> None:
    time = VirtualTime(1000.0)
    limiter = Gcra(rate_per_second=5, burst=5, max_keys=100, clock=time.clock)

    assert allowed_in_a_row(limiter) == 5
    for _ in range(20):
        time.now += 0.2 - 0.001
        assert not limiter.check("u1").allowed  # a millisecond early
        time.now += 0.001
        assert limiter.check("u1").allowed
        assert not limiter.check("u1").allowed  # and only one


def test_sustained_traffic_gets_the_configured_rate_over_a_minute() -> None:
    time = VirtualTime(1000.0)
    limiter = Gcra(rate_per_second=2, burst=3, max_keys=100, clock=time.clock)
    allowed = 0
    for _ in range(6000):  # 100 attempts a second for 60 s
        allowed += limiter.check("u1").allowed
        time.now += 0.01
    assert allowed == 3 + 2 * 60 - 1  # the burst, then one per 0.5 s after the first interval


def test_retry_after_is_exactly_when_the_request_would_pass() -> None:
    time = VirtualTime(1000.0)
    limiter = Gcra(rate_per_second=0.5, burst=2, max_keys=100, clock=time.clock)
    assert allowed_in_a_row(limiter) == 2

    time.now += 0.5
    refused = limiter.check("u1")
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(1.5)

    time.now += refused.retry_after - 0.01
    assert not limiter.check("u1").allowed
    time.now += 0.01
    assert limiter.check("u1") == Decision(allowed=True, retry_after=0.0)


def test_the_burst_refills_with_time_and_not_beyond_it() -> None:
    time = VirtualTime(1000.0)
    limiter = Gcra(rate_per_second=1, burst=4, max_keys=100, clock=time.clock)
    assert allowed_in_a_row(limiter) == 4

    time.now += 2
    assert allowed_in_a_row(limiter) == 2
    time.now += 3600  # an hour idle gives back the burst, not 3,600 requests
    assert allowed_in_a_row(limiter) == 4


def test_refused_requests_do_not_consume_allowance() -> None:
    time = VirtualTime(1000.0)
    limiter = Gcra(rate_per_second=1, burst=1, max_keys=100, clock=time.clock)
    assert limiter.check("u1").allowed
    for _ in range(1000):  # hammering while refused must not push the next slot back
        time.now += 0.0009
        assert not limiter.check("u1").allowed
    time.now += 0.1
    assert limiter.check("u1").allowed


def test_a_plan_consumes_nothing_until_it_is_committed() -> None:
    time = VirtualTime(1000.0)
    limiter = Gcra(rate_per_second=1, burst=2, max_keys=100, clock=time.clock)
    for _ in range(10):
        assert limiter.plan("u1")[0] == 0.0
    _, tat = limiter.plan("u1")
    limiter.commit("u1", tat)
    assert allowed_in_a_row(limiter) == 1  # the committed plan spent one of the two
    wait, _ = limiter.plan("u1")
    assert wait == pytest.approx(1.0)
    assert limiter.check("u1").retry_after == wait


def test_keys_are_independent() -> None:
    time = VirtualTime(1000.0)
    limiter = Gcra(rate_per_second=1, burst=3, max_keys=100, clock=time.clock)
    assert allowed_in_a_row(limiter, "flooder") == 3
    assert allowed_in_a_row(limiter, "neighbour") == 3


def test_a_key_whose_schedule_is_in_the_past_is_like_a_fresh_key() -> None:
    time = VirtualTime(1000.0)
    limiter = Gcra(rate_per_second=1, burst=3, max_keys=100, clock=time.clock)
    limiter.check("old")
    time.now += 1.0  # exactly paid up
    assert allowed_in_a_row(limiter, "old") == allowed_in_a_row(limiter, "new") == 3


def test_cost_spends_several_cells_at_once() -> None:
    time = VirtualTime(1000.0)
    limiter = Gcra(rate_per_second=1, burst=5, max_keys=100, clock=time.clock)
    assert limiter.check("u1", cost=3).allowed
    refused = limiter.check("u1", cost=3)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(1.0)
    assert limiter.check("u1", cost=2).allowed


def test_rate_scale_shrinks_both_rate_and_burst() -> None:
    time = VirtualTime(1000.0)
    limiter = Gcra(rate_per_second=1, burst=10, max_keys=100, clock=time.clock)
    assert allowed_in_a_row(limiter, rate_scale=0.5) == 5
    refused = limiter.check("u1", rate_scale=0.5)
    assert refused.retry_after == pytest.approx(2.0)  # interval 1 s / 0.5


def test_the_smallest_scale_still_admits_one_request() -> None:
    time = VirtualTime(1000.0)
    limiter = Gcra(rate_per_second=1, burst=2, max_keys=100, clock=time.clock)
    assert allowed_in_a_row(limiter, rate_scale=0.01) == 1
    time.now += 100.0
    assert limiter.check("u1", rate_scale=0.01).allowed


def test_a_million_distinct_users_do_not_grow_memory_past_the_bound() -> None:
    limiter = Gcra(rate_per_second=1, burst=1, max_keys=10_000, clock=VirtualTime().clock)
    check = limiter.check
    # Traced over the first 110,000 keys (the bound reached, then replaced ten times over):
    # tracing every allocation of all million would take seconds. A leak of even one float per
    # key would add 2.4 MB there, against about 1.5 MB for the full limiter.
    tracemalloc.start()
    try:
        for n in range(10_000):
            check(f"user-{n}")
        at_bound, _ = tracemalloc.get_traced_memory()
        for n in range(10_000, 110_000):
            check(f"user-{n}")
        after_turnover, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    for n in range(110_000, 1_000_000):
        check(f"user-{n}")

    assert len(limiter) == 10_000
    assert limiter.evictions == 1_000_000 - 10_000
    # The dict's table is resized as keys come and go, so "flat" means within half again.
    assert after_turnover < 1.5 * at_bound
    assert peak < 2 * at_bound
    assert at_bound < 4_000_000  # about 150 bytes a key: the key string, its float, the slot


def test_eviction_only_makes_the_forgotten_key_more_lenient() -> None:
    time = VirtualTime(1000.0)
    limiter = Gcra(rate_per_second=1, burst=1, max_keys=2, clock=time.clock)
    assert limiter.check("a").allowed
    assert not limiter.check("a").allowed
    limiter.check("b")
    limiter.check("c")  # "a" is pushed out while it still owes a second
    assert limiter.check("a").allowed  # forgotten: fresh, not stricter
    assert not limiter.check("c").allowed  # the keys still held are unaffected


@pytest.mark.parametrize(
    ("rate", "burst", "max_keys"), [(0, 1, 1), (-1, 1, 1), (float("inf"), 1, 1), (1, 0, 1)]
)
def test_nonsense_configuration_is_refused(rate: float, burst: int, max_keys: int) -> None:
    with pytest.raises(ValueError, match=r"rate|burst"):
        Gcra(rate, burst, max_keys=max_keys)


@pytest.mark.parametrize(("cost", "scale"), [(0, 1), (3, 1), (1, 0), (1, 1.5), (1, -0.1)])
def test_nonsense_requests_are_refused_loudly(cost: float, scale: float) -> None:
    limiter = Gcra(1, 2, max_keys=10, clock=VirtualTime().clock)
    with pytest.raises(ValueError, match=r"cost|rate_scale"):
        limiter.check("u1", cost=cost, rate_scale=scale)
