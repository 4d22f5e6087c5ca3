"""Admission: blocked users refused first and quietly, bursts raising risk once per window."""

from __future__ import annotations

import pytest

from core.admission import BLOCKED_TEXT, Admission
from core.guardrails.screening import RiskLedger
from core.model import IncomingMessage, ReplyKind, TurnOutcome
from core.ratelimit import AdmissionLimits, Gcra, SlowDownNotices
from core.ratelimit.risk import BURST_RISK
from tests.fakes import VirtualTime, message


class Blocked:
    """The block check admission asks, over a plain set."""

    def __init__(self, *user_keys: str) -> None:
        self.user_keys = set(user_keys)

    def is_blocked(self, user_key: str) -> bool:
        return user_key in self.user_keys


class Setup:
    """An admission with small limits (user 1/s burst 3, chat 1/s burst 5, global 10/s burst 8)
    on one virtual clock, with the ledger its limits read and bursts feed."""

    def __init__(self, *blocked: str, max_keys: int = 1000) -> None:
        self.time = VirtualTime(1000.0)
        self.ledger = RiskLedger(half_life_seconds=600, max_users=max_keys, clock=self.time.clock)
        self.risk_reads: list[str] = []
        self.blocks = Blocked(*blocked)
        self.per_user = Gcra(1.0, 3, max_keys=max_keys, clock=self.time.clock)
        self.per_chat = Gcra(1.0, 5, max_keys=max_keys, clock=self.time.clock)
        per_bot = Gcra(10.0, 8, max_keys=1, clock=self.time.clock)
        self.limits = AdmissionLimits(self.per_user, self.per_chat, per_bot, self._risk)
        self.notices = SlowDownNotices(60, max_keys=max_keys, clock=self.time.clock)
        self.admission = Admission(self.limits, self.notices, blocks=self.blocks, risk=self.ledger)

    def _risk(self, user_key: str) -> float:
        self.risk_reads.append(user_key)
        return self.ledger.risk(user_key)

    def admitted_in_a_row(self, user: str, chat: str = "c1") -> int:
        count = 0
        while self.admission.refuse(message("hi", user=user, chat=chat)) is None:
            count += 1
        return count


def msg(user: str = "u1", chat: str = "c1") -> IncomingMessage:
    return message("hello", user=user, chat=chat)


def test_a_blocked_user_is_refused_with_a_notice_and_no_time_to_retry() -> None:
    setup = Setup("test:troll")
    reply = setup.admission.refuse(msg("troll"))

    assert reply is not None
    assert (reply.text, reply.kind, reply.outcome) == (
        BLOCKED_TEXT,
        ReplyKind.NOTICE,
        TurnOutcome.BLOCKED,
    )
    # No retry_after: waiting does not help, and the web API must not answer 429 "retry".
    assert reply.retry_after is None
    assert not reply.silent
    assert (setup.admission.blocked, setup.admission.refused) == (1, 0)


def test_a_blocked_user_is_refused_before_any_limit_is_asked_or_spent() -> None:
    setup = Setup("test:troll")
    for _ in range(100):
        setup.admission.refuse(msg("troll", chat="c1"))

    assert setup.risk_reads == []  # the limits never even looked the user up
    assert len(setup.ledger) == 0  # and a blocked flood is no burst
    # Nothing was spent: the chat's five and the user's three are all still there.
    assert setup.admitted_in_a_row("neighbour", chat="c1") == 3
    assert setup.admitted_in_a_row("other", chat="c1") == 2
    setup.blocks.user_keys.clear()
    setup.time.now += 5.0
    assert setup.admitted_in_a_row("troll", chat="c2") == 3


def test_a_blocked_flooder_hears_it_once_per_window_then_nothing() -> None:
    setup = Setup("test:troll")
    spoken = 0
    for _ in range(10_000):  # 10,000 messages in 100 s
        reply = setup.admission.refuse(msg("troll"))
        assert reply is not None and reply.outcome is TurnOutcome.BLOCKED
        spoken += not reply.silent
        setup.time.now += 0.01
    assert spoken == 2  # one per 60 s window
    assert setup.admission.blocked == 10_000


def test_blocked_and_slow_down_notices_do_not_silence_each_other() -> None:
    setup = Setup()
    assert setup.admitted_in_a_row("u1") == 3  # the refusal that ended the run was spoken
    refused = setup.admission.refuse(msg("u1"))
    assert refused is not None and refused.outcome is TurnOutcome.RATE_LIMITED
    assert refused.silent

    setup.blocks.user_keys.add("test:u1")  # blocked within the same window
    blocked = setup.admission.refuse(msg("u1"))
    assert blocked is not None and blocked.outcome is TurnOutcome.BLOCKED
    assert not blocked.silent
    again = setup.admission.refuse(msg("u1"))
    assert again is not None and again.silent


def test_without_a_block_list_admission_works_as_before() -> None:
    time = VirtualTime(1000.0)
    admission = Admission(
        AdmissionLimits(
            Gcra(1.0, 2, max_keys=10, clock=time.clock),
            Gcra(1.0, 10, max_keys=10, clock=time.clock),
            Gcra(1.0, 10, max_keys=1, clock=time.clock),
            lambda user_key: 0.0,
        ),
        SlowDownNotices(60, max_keys=10, clock=time.clock),
    )
    assert admission.refuse(msg()) is None
    assert admission.refuse(msg()) is None
    refused = admission.refuse(msg())
    assert refused is not None and refused.retry_after == pytest.approx(1.0)
    assert admission.refused == 1


def test_a_burst_adds_risk_once_per_window_however_long_the_flood() -> None:
    setup = Setup()
    for _ in range(10_000):  # 10,000 messages in 10 s: one window
        setup.admission.refuse(msg("flooder"))
        setup.time.now += 0.001
    assert setup.ledger.risk("test:flooder") == pytest.approx(BURST_RISK, rel=0.02)


def test_a_flood_slows_the_flooder_down_but_never_shuts_them_out() -> None:
    setup = Setup()
    admitted_per_minute = []
    for _ in range(30):  # 30 minutes, 10 messages a second
        admitted = 0
        for _ in range(600):
            admitted += setup.admission.refuse(msg("flooder")) is None
            setup.time.now += 0.1
        admitted_per_minute.append(admitted)

    # Without risk: 3 + 59 the first minute, 60 after. One burst risk a minute, halving every
    # ten, walks the limit down to the floor (min_scale 0.2: 12 a minute) and never below.
    assert admitted_per_minute[0] < 3 + 59
    assert admitted_per_minute == sorted(admitted_per_minute, reverse=True)
    assert admitted_per_minute[-10:] == [12] * 10
    assert setup.ledger.risk("test:flooder") < 10  # decay bounds the risk, too


def test_a_busy_chat_or_a_full_bot_is_not_the_users_burst() -> None:
    setup = Setup()
    for n in range(5):
        assert setup.admission.refuse(msg(f"u{n}", chat="group")) is None
    refused = setup.admission.refuse(msg("u5", chat="group"))  # the chat is full
    assert refused is not None and refused.outcome is TurnOutcome.RATE_LIMITED
    for n in range(3):
        assert setup.admission.refuse(msg(f"v{n}", chat=f"dm{n}")) is None
    refused = setup.admission.refuse(msg("v9", chat="dm9"))  # the global 8 are spent
    assert refused is not None and not refused.silent
    assert len(setup.ledger) == 0


def test_many_distinct_users_keep_every_structure_within_its_bound() -> None:
    setup = Setup("test:troll", max_keys=1000)
    for n in range(20_000):
        user = f"u{n}"
        # each new user bursts past their limit once, so every structure sees every user
        for _ in range(4):
            setup.admission.refuse(msg(user, chat=user))
        setup.time.now += 1.0
    assert len(setup.per_user) == len(setup.per_chat) == len(setup.notices) == 1000
    assert len(setup.ledger) == 1000  # each user's burst was recorded, the oldest forgotten
