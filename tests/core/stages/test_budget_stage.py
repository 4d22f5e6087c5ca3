"""The budget stage: full, economy and free turns, one warning, a notice that says when."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from loguru import logger

from core.budget import BudgetLedger, BudgetLimits, Spent
from core.cache import ResponseCache
from core.ladder.circuit import CircuitBreaker, CircuitSettings
from core.ladder.ladder import FallbackLadder, LadderSettings, LlmRung, PassThroughValidator
from core.model import (
    ChatMessage,
    Completion,
    Reply,
    ReplyKind,
    Spend,
    Turn,
    TurnOutcome,
    Usage,
    UserRef,
)
from core.pipeline import compose
from core.pricing import PricingTable
from core.stages.budget import BudgetStage
from core.stages.cache import CacheStage
from core.stages.context import ContextStage
from core.storage.sqlite import SqliteStore
from tests.fakes import message

# 20:40 UTC: the day resets at midnight, in 3 h 20 min.
EVENING = datetime.fromisoformat("2025-06-10T20:40:00+00:00")
LIMITS = BudgetLimits(
    user_daily_tokens=1000,
    user_monthly_tokens=20_000,
    user_daily_cost_usd=1.0,
    user_monthly_cost_usd=10.0,
    global_daily_cost_usd=50.0,
    warn_fraction=0.8,
)
TURN = Usage(input_tokens=100, output_tokens=50, cost_usd=0.001)


class Clock:
    def __init__(self, now: datetime = EVENING) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Stored:
    """A ``SpendSource`` with fixed figures per user and for the bot, as storage would sum."""

    users: dict[str, tuple[Spent, Spent]] = field(default_factory=dict)
    everyone: Spent = field(default_factory=Spent)
    broken: bool = False

    async def user_spend(
        self, user: UserRef, day_start: datetime, month_start: datetime
    ) -> tuple[Spent, Spent]:
        if self.broken:
            raise OSError("database disk image is malformed")
        return self.users.get(user.key, (Spent(), Spent()))

    async def global_spend(self, day_start: datetime) -> Spent:
        return self.everyone


@dataclass
class Ladder:
    """The terminal handler: notes the spend each turn was given, answers as told."""

    usage: Usage = TURN
    outcome: TurnOutcome = TurnOutcome.ANSWERED
    spends: list[Spend] = field(default_factory=list)

    async def __call__(self, turn: Turn) -> Reply:
        self.spends.append(turn.spend)
        text = "I don't know that one" if self.outcome is TurnOutcome.UNKNOWN else "an answer"
        return Reply(text, outcome=self.outcome, provider="rules", usage=self.usage)


def stage(stored: Stored, *, limits: BudgetLimits = LIMITS, handoff: bool = False) -> BudgetStage:
    ledger = BudgetLedger(stored, limits, max_users=100, clock=Clock())
    return BudgetStage(ledger, handoff_enabled=handoff)


async def ask(budget: BudgetStage, ladder: Ladder, user: str = "alice") -> Reply:
    return await budget(Turn(message=message("how much is shipping?", user=user)), ladder)


def theirs(day_tokens: int, month_tokens: int | None = None) -> tuple[Spent, Spent]:
    return Spent(day_tokens, 0.0), Spent(month_tokens or day_tokens, 0.0)


async def test_well_under_every_budget_the_turn_spends_in_full_and_nothing_is_added() -> None:
    ladder = Ladder()
    reply = await ask(stage(Stored()), ladder)
    assert ladder.spends == [Spend.FULL]
    assert reply.text == "an answer"


async def test_the_turn_that_crosses_the_warn_fraction_says_so_once_with_the_reset() -> None:
    budget, ladder = stage(Stored(users={"test:alice": theirs(700)})), Ladder()
    crossing = await ask(budget, ladder)  # 700 + 150 tokens: past 80% of 1000
    assert crossing.text.startswith("an answer\n\n")
    assert "80% or more of today's allowance" in crossing.text
    assert "It resets at 00:00 UTC, in 3 h 20 min." in crossing.text

    after = await ask(budget, ladder)
    assert after.text == "an answer"  # warned once, not on every turn
    assert ladder.spends == [Spend.FULL, Spend.ECONOMY]
    assert budget.metrics()["warnings"] == 1


async def test_near_the_monthly_allowance_the_warning_names_the_month() -> None:
    budget = stage(Stored(users={"test:alice": theirs(0, 15_900)}))
    reply = await ask(budget, Ladder())
    assert "80% or more of this month's allowance" in reply.text
    assert "It resets on 1 July at 00:00 UTC, in 20 days 3 h." in reply.text


async def test_past_a_limit_a_question_the_rules_cannot_answer_gets_the_reset_time() -> None:
    ladder = Ladder(usage=Usage(), outcome=TurnOutcome.UNKNOWN)
    budget = stage(Stored(users={"test:alice": theirs(1000)}), handoff=True)
    reply = await ask(budget, ladder)
    assert ladder.spends == [Spend.FREE]
    assert (reply.kind, reply.outcome) == (ReplyKind.NOTICE, TurnOutcome.OVER_BUDGET)
    assert "you've used up today's allowance" in reply.text
    assert "It resets at 00:00 UTC, in 3 h 20 min." in reply.text
    assert reply.text.endswith("Type /human to reach a person from our team.")
    assert "80%" not in reply.text  # the notice, not a warning on top of it
    assert budget.metrics()["over_budget_notices"] == 1


async def test_without_hand_off_the_notice_does_not_offer_a_person() -> None:
    ladder = Ladder(usage=Usage(), outcome=TurnOutcome.UNKNOWN)
    reply = await ask(stage(Stored(users={"test:alice": theirs(1000)})), ladder)
    assert reply.outcome is TurnOutcome.OVER_BUDGET and "/human" not in reply.text


async def test_past_a_limit_what_the_rules_know_is_still_answered() -> None:
    ladder = Ladder(usage=Usage())
    reply = await ask(stage(Stored(users={"test:alice": theirs(1200)})), ladder)
    assert (ladder.spends, reply.text) == ([Spend.FREE], "an answer")


async def test_a_spent_monthly_allowance_resets_with_the_month_not_tonight() -> None:
    ladder = Ladder(usage=Usage(), outcome=TurnOutcome.UNKNOWN)
    reply = await ask(stage(Stored(users={"test:alice": theirs(1000, 20_000)})), ladder)
    assert "this month's allowance" in reply.text
    assert "It resets on 1 July at 00:00 UTC" in reply.text


async def test_the_bots_spent_day_stops_everyone_without_saying_any_figure() -> None:
    ladder = Ladder(usage=Usage(), outcome=TurnOutcome.UNKNOWN)
    budget = stage(Stored(everyone=Spent(3_000_000, 50.0)))
    reply = await ask(budget, ladder, user="newcomer")
    assert ladder.spends == [Spend.FREE]
    assert "our AI assistant has reached its limit for today" in reply.text
    assert "It resets at 00:00 UTC, in 3 h 20 min." in reply.text
    assert "50" not in reply.text and "3000000" not in reply.text and "$" not in reply.text


async def test_one_users_spend_never_reaches_another_user() -> None:
    ladder = Ladder()
    budget = stage(Stored(users={"test:alice": theirs(990)}))
    reply = await ask(budget, ladder, user="bob")
    assert (ladder.spends, reply.text) == ([Spend.FULL], "an answer")


async def test_the_bot_nearing_its_day_economises_without_warning_users() -> None:
    ladder = Ladder()
    reply = await ask(stage(Stored(everyone=Spent(0, 45.0))), ladder)
    assert (ladder.spends, reply.text) == ([Spend.ECONOMY], "an answer")


async def test_a_broken_ledger_costs_no_answer_and_logs_no_user_id() -> None:
    lines: list[str] = []
    someone = "alice-" + str(4711)  # built, so the traceback's source lines do not show it
    # As bot/logs.py sets it up: no variable values in tracebacks.
    sink = logger.add(lines.append, level="ERROR", format="{message}", diagnose=False)
    try:
        ladder = Ladder()
        budget = stage(Stored(broken=True))
        reply = await ask(budget, ladder, user=someone)
    finally:
        logger.remove(sink)
    assert (ladder.spends, reply.text) == ([Spend.FULL], "an answer")
    assert budget.metrics()["failures"] == 1
    assert lines and all(someone not in line for line in lines)


async def test_with_no_budget_set_the_stage_reads_nothing() -> None:
    stored = Stored(broken=True)  # any read would fail and be counted
    budget = stage(stored, limits=BudgetLimits())
    ladder = Ladder()
    await ask(budget, ladder)
    assert ladder.spends == [Spend.FULL]
    assert budget.metrics()["failures"] == 0 and budget.metrics()["storage_reads"] == 0


async def test_metrics_count_what_the_stage_did() -> None:
    stored = Stored(users={"test:alice": theirs(850), "test:carol": theirs(1000)})
    budget = stage(stored)
    await ask(budget, Ladder())
    await ask(budget, Ladder(usage=Usage(), outcome=TurnOutcome.UNKNOWN), user="carol")
    values = budget.metrics()
    assert values["economy_turns"] == 1 and values["free_turns"] == 1
    assert values["over_budget_notices"] == 1 and values["users_in_memory"] == 2


# --- the whole path: replies stored by the context stage, read back after a restart ---


@dataclass
class Model:
    """An LLM rung that answers every question at 600 tokens."""

    calls: int = 0

    @property
    def name(self) -> str:
        return "openai"

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        self.calls += 1
        return Completion("from the model", "openai", "m", Usage(500, 100))


@dataclass
class Rules:
    @property
    def name(self) -> str:
        return "rules"

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        return Completion("I don't know that one; type /human", "rules", unknown=True)


@pytest.fixture
def fallback() -> tuple[FallbackLadder, Model]:
    model = Model()
    ladder = FallbackLadder(
        [LlmRung(model, CircuitBreaker(CircuitSettings()))],
        rules=Rules(),
        handoff=None,
        validator=PassThroughValidator(),
        pricing=PricingTable({}),
        settings=LadderSettings(),
    )
    return ladder, model


async def test_a_restart_does_not_give_a_spent_allowance_back(
    store: SqliteStore, fallback: tuple[FallbackLadder, Model]
) -> None:
    ladder, model = fallback
    limits = BudgetLimits(user_daily_tokens=1000)

    def pipeline(clock: Clock) -> BudgetStage:
        return BudgetStage(BudgetLedger(store, limits, clock=clock))

    budget = pipeline(Clock())
    run = compose([ContextStage(store, history_limit=10), budget], ladder)
    first = await run(Turn(message=message("hi", user="alice")))
    second = await run(Turn(message=message("and again", user="alice")))
    assert first.text == "from the model" and "80% or more" in second.text
    # The store stamps replies with the wall clock; move them to the test's evening.
    await store.db.execute(
        "UPDATE messages SET created_at = ? WHERE direction = 'out'", (EVENING.isoformat(),)
    )
    await store.db.execute("UPDATE spend SET day = ?", (EVENING.date().isoformat(),))

    restarted = compose(
        [ContextStage(store, history_limit=10), pipeline(Clock(EVENING + timedelta(minutes=5)))],
        ladder,
    )
    third = await restarted(Turn(message=message("one more?", user="alice")))
    assert third.outcome is TurnOutcome.OVER_BUDGET
    assert "It resets at 00:00 UTC, in 3 h 15 min." in third.text
    assert model.calls == 2  # no model call past the limit, restart or not


async def test_outside_the_cache_one_users_warning_is_never_served_to_another(
    store: SqliteStore, fallback: tuple[FallbackLadder, Model]
) -> None:
    # The order bot/wiring.py should use: context, budget, cache, ladder. Were the budget stage
    # inside the cache, the cache would store Alice's answer with her warning and serve it.
    ladder, model = fallback
    budget = stage(Stored(users={"test:alice": theirs(700)}))
    cache = CacheStage(ResponseCache(100, 3600), "v1")
    run = compose([ContextStage(store, history_limit=10), budget, cache], ladder)
    alice = await run(Turn(message=message("do you ship abroad?", user="alice")))
    bob = await run(Turn(message=message("do you ship abroad?", user="bob")))
    assert "80% or more" in alice.text
    assert (bob.provider, bob.text) == ("cache", "from the model")
    assert model.calls == 1
