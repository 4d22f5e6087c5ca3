"""Contract tests for admission limits: risk-scaled user limits, chat and global limits."""

from __future__ import annotations

import pytest

from core.guardrails.screening import RiskLedger
from core.ratelimit.adaptive import AdmissionLimits, SlowDownNotices, risk_scale
from core.ratelimit.gcra import Gcra, Limit
from tests.fakes import VirtualTime


def no_risk(user_key: str) -> float:
    return 0.0


def limits(
    time: VirtualTime,
    *,
    user: tuple[float, int] = (1.0, 10),
    chat: tuple[float, int] = (100.0, 100),
    global_: tuple[float, int] = (1000.0, 1000),
    risk: RiskLedger | None = None,
) -> AdmissionLimits:
    return AdmissionLimits(
        Gcra(*user, max_keys=1000, clock=time.clock),
        Gcra(*chat, max_keys=1000, clock=time.clock),
        Gcra(*global_, max_keys=1, clock=time.clock),
        risk.risk if risk is not None else no_risk,
    )


def admitted_in_a_row(gate: AdmissionLimits, user: str = "u1", chat: str = "c1") -> int:
    count = 0
    while gate.check(user, chat).allowed:
        count += 1
    return count


def test_a_user_without_risk_gets_the_base_burst() -> None:
    gate = limits(VirtualTime())
    assert admitted_in_a_row(gate) == 10


def test_sustained_traffic_through_the_gate_gets_exactly_the_base_rate() -> None:
    time = VirtualTime(1000.0)
    gate = limits(time, user=(0.5, 3))
    admitted = 0
    for _ in range(12_000):  # 100 attempts a second for two minutes
        admitted += gate.check("u1", "c1").allowed
        time.now += 0.01
    assert admitted == 3 + 60 - 1  # the burst, then one every 2 s after the first interval


def test_risk_shrinks_the_limit_less_and_less_as_it_halves() -> None:
    time = VirtualTime(1000.0)
    ledger = RiskLedger(half_life_seconds=600, max_users=100, clock=time.clock)
    gate = limits(time, risk=ledger)
    users = ["u1", "u2", "u3", "u4", "u5"]
    for user in users:
        ledger.record(user, 3.0)  # a quarter of the limit to begin with

    bursts = []
    for user, half_lives in zip(users, [0, 1, 2, 4, 20], strict=True):
        time.now = 1000.0 + 600 * half_lives
        bursts.append(admitted_in_a_row(gate, user))
    # A burst of 10 scaled by 1 / (1 + risk) for risk 3, 1.5, 0.75, 0.19; after 20 half-lives
    # what is left (3e-6) is negligible, and the whole burst is back.
    assert bursts == [2, 4, 5, 8, 10]


def test_risk_lowers_the_limit_and_it_comes_back_as_the_risk_decays() -> None:
    time = VirtualTime(1000.0)
    ledger = RiskLedger(half_life_seconds=600, max_users=100, clock=time.clock)
    gate = limits(time, risk=ledger)

    ledger.record("u1", 1.0)  # risk 1: half the base limit
    assert admitted_in_a_row(gate) == 5
    refused = gate.check("u1", "c1")
    assert refused.retry_after == pytest.approx(2.0)  # one cell at half rate

    time.now += 6 * 3600  # 36 half-lives: the risk is all but gone
    assert ledger.risk("u1") < 1e-9
    assert admitted_in_a_row(gate) == 10


def test_no_risk_makes_the_allowance_zero() -> None:
    time = VirtualTime(1000.0)
    ledger = RiskLedger(half_life_seconds=600, max_users=100, clock=time.clock)
    gate = limits(time, risk=ledger)
    for _ in range(1000):  # a screened flood: risk in the hundreds
        ledger.record("u1", 0.9)
    assert ledger.risk("u1") > 500

    assert admitted_in_a_row(gate) == 2  # min_scale 0.2 of a burst of 10
    admitted = 0
    for _ in range(600):
        time.now += 1.0
        admitted += gate.check("u1", "c1").allowed
    # Still admitted at 0.2 of the base rate while the risk decays. Over ten minutes the risk
    # halves once, so it stays at the floor: one message every five seconds.
    assert admitted == 120


@pytest.mark.parametrize(
    ("risk", "scale"),
    [(0.0, 1.0), (1.0, 0.5), (3.0, 0.25), (4.0, 0.2), (1e9, 0.2), (float("inf"), 0.2)],
)
def test_the_scale_falls_with_risk_to_the_floor(risk: float, scale: float) -> None:
    assert risk_scale(risk, 0.2) == pytest.approx(scale)


@pytest.mark.parametrize("risk", [-1.0, -5.0, float("nan"), 0.0099])
def test_a_nonsense_or_negligible_risk_counts_as_none(risk: float) -> None:
    assert risk_scale(risk, 0.2) == 1.0


def test_a_refusal_names_the_limit_that_refused() -> None:
    time = VirtualTime(1000.0)
    gate = limits(time, user=(1.0, 1), chat=(1.0, 2), global_=(1.0, 3))
    assert gate.check("u1", "c1").allowed
    assert gate.check("u1", "c1").limit is Limit.USER
    assert gate.check("u2", "c1").allowed
    assert gate.check("u3", "c1").limit is Limit.CHAT
    assert gate.check("u4", "c2").allowed
    assert gate.check("u5", "c3").limit is Limit.GLOBAL
    assert gate.check("u6", "c4").retry_after == pytest.approx(1.0)


def test_a_user_refused_costs_the_chat_and_global_nothing() -> None:
    time = VirtualTime(1000.0)
    gate = limits(time, user=(1.0, 2), chat=(1.0, 3), global_=(1.0, 4))
    assert admitted_in_a_row(gate, "flooder") == 2
    for _ in range(100):
        assert not gate.check("flooder", "c1").allowed
    assert admitted_in_a_row(gate, "neighbour") == 1  # the chat had 3, the flooder took 2


def test_a_chat_refusal_costs_the_user_and_global_nothing() -> None:
    time = VirtualTime(1000.0)
    gate = limits(time, user=(1.0, 3), chat=(1.0, 2), global_=(1.0, 5))
    assert admitted_in_a_row(gate, "u1", "busy") == 2
    refused = gate.check("u1", "busy")
    assert refused.retry_after == pytest.approx(1.0)
    # Had the refusals spent the user's allowance, "u1" would have nothing left elsewhere.
    assert admitted_in_a_row(gate, "u1", "quiet") == 1
    assert admitted_in_a_row(gate, "u2", "quiet") == 1
    # Global had 5: 2 + 1 + 1 spent, the chat refusals spent none, so exactly one is left.
    assert gate.check("u3", "other").allowed
    assert not gate.check("u4", "another").allowed


def test_a_global_refusal_costs_the_user_and_chat_nothing() -> None:
    time = VirtualTime(1000.0)
    gate = limits(time, user=(1.0, 2), chat=(1.0, 2), global_=(1.0, 1))
    assert gate.check("u1", "c1").allowed
    for _ in range(50):
        refused = gate.check("u1", "c1")
        assert not refused.allowed
        assert refused.retry_after == pytest.approx(1.0)
    time.now += 1.0
    assert gate.check("u1", "c1").allowed  # the user and chat still had their second cell


def test_min_scale_must_leave_something() -> None:
    time = VirtualTime(1000.0)
    with pytest.raises(ValueError, match="min_scale"):
        AdmissionLimits(
            Gcra(1, 1, max_keys=1, clock=time.clock),
            Gcra(1, 1, max_keys=1, clock=time.clock),
            Gcra(1, 1, max_keys=1, clock=time.clock),
            no_risk,
            min_scale=0.0,
        )


def test_slow_down_is_said_once_per_window() -> None:
    time = VirtualTime(1000.0)
    notices = SlowDownNotices(window_seconds=60, max_keys=100, clock=time.clock)
    assert notices.should_notify("u1")
    for _ in range(59):
        time.now += 1.0
        assert not notices.should_notify("u1")
    assert notices.should_notify("u2")  # per user
    time.now += 1.0
    assert notices.should_notify("u1")  # a new window
    assert not notices.should_notify("u1")


def test_a_flood_gets_one_slow_down_per_window() -> None:
    time = VirtualTime(1000.0)
    gate = limits(time, user=(1.0, 5))
    notices = SlowDownNotices(window_seconds=60, max_keys=100, clock=time.clock)
    admitted = notices_sent = 0
    for _ in range(10_000):  # 10,000 messages in 10 s
        if gate.check("flooder", "c1").allowed:
            admitted += 1
        elif notices.should_notify("flooder"):
            notices_sent += 1
        time.now += 0.001
    assert admitted == 5 + 9  # the burst, then one a second
    assert notices_sent == 1


def test_slow_down_memory_is_bounded() -> None:
    notices = SlowDownNotices(window_seconds=60, max_keys=10, clock=VirtualTime().clock)
    for n in range(10_000):
        notices.should_notify(f"u{n}")
    assert len(notices) == 10


def test_a_fresh_notice_counter_shares_the_window_but_not_the_memory() -> None:
    time = VirtualTime(1000.0)
    notices = SlowDownNotices(window_seconds=60, max_keys=100, clock=time.clock)
    other = notices.fresh()
    assert notices.should_notify("u1")
    assert other.should_notify("u1")  # counted apart
    time.now += 59.0
    assert not other.should_notify("u1")
    time.now += 1.0
    assert other.should_notify("u1")
