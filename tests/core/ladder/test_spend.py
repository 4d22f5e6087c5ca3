"""The ladder obeys ``turn.spend``: cheaper rungs near a budget, only free ones past it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from core.errors import NeedsOperatorError, ValidationFailed
from core.ladder.circuit import CircuitBreaker, CircuitSettings
from core.ladder.ladder import (
    ECONOMY_TRAIL,
    FREE_TRAIL,
    FallbackLadder,
    LadderSettings,
    LlmRung,
    PassThroughValidator,
)
from core.ladder.retry import RetryPolicy
from core.model import (
    ChatMessage,
    Completion,
    Reply,
    ReplyKind,
    Role,
    Spend,
    StoredMessage,
    Turn,
    TurnOutcome,
    Usage,
    UserRef,
)
from core.ports import Validator
from core.pricing import Price, PricingTable
from tests.fakes import message

PRICES = PricingTable(
    {
        "openai": {"gpt-small": Price(0.15, 0.60), "gpt-big": Price(2.50, 10.00)},
        "anthropic": {"claude-mid": Price(1.00, 5.00)},
    }
)
SETTINGS = LadderSettings(
    deadline=5.0,
    attempt_timeout=0.5,
    min_attempt=0.05,
    rules_first=0.9,
    retry=RetryPolicy(attempts=2),
)
PAID = Usage(input_tokens=1000, output_tokens=200)


@dataclass
class Llm:
    """A model that answers or fails as scripted, and counts its calls."""

    name: str
    failure: Exception | None = None
    calls: int = 0
    model: str = ""  # the model it says it calls, as every real provider does

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        # The completion names the model it came from; the ladder prices it by that name.
        return Completion(f"{self.name} says hi", self.name, model="gpt-small", usage=PAID)


@dataclass
class Rules:
    """A knowledge base that knows some questions at its normal confidence."""

    known: frozenset[str] = frozenset({"when are you open?"})
    asked: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "rules"

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        question = prompt[-1].text
        self.asked.append(question)
        if question in self.known:
            return Completion("9 to 6, Monday to Friday", "rules", model="kb:1")
        return Completion("I don't know that one; type /human", "rules", unknown=True)

    def sure_answer(self, question: str, min_confidence: float) -> Completion | None:
        return None  # never this sure: only ECONOMY's normal-confidence pass can answer


@dataclass
class People:
    reasons: list[str] = field(default_factory=list)

    async def hand_off(self, turn: Turn, reason: str) -> Reply:
        self.reasons.append(reason)
        return Reply("a person will reply", kind=ReplyKind.NOTICE, outcome=TurnOutcome.HANDED_OFF)


def rung(provider: Llm, model: str = "") -> LlmRung:
    provider.model = model
    return LlmRung(provider, CircuitBreaker(CircuitSettings(consecutive_failures=3)))


def ladder(
    *rungs: LlmRung,
    rules: Rules | None = None,
    people: People | None = None,
    validator: Validator | None = None,
) -> FallbackLadder:
    async def no_wait(seconds: float) -> None:
        return None

    return FallbackLadder(
        rungs,
        rules=rules,
        handoff=people,
        validator=validator or PassThroughValidator(),
        pricing=PRICES,
        settings=SETTINGS,
        draw=lambda: 0.0,
        sleep=no_wait,
    )


def turn(text: str, spend: Spend, *, history: bool = False) -> Turn:
    earlier = (StoredMessage(1, Role.USER, "hello", datetime.now(UTC)),) if history else ()
    return Turn(message=message(text), history=earlier, spend=spend)


async def test_full_spend_climbs_every_rung_as_configured() -> None:
    big, mid = Llm("openai"), Llm("anthropic")
    climb = ladder(rung(big, "gpt-big"), rung(mid, "claude-mid"), rules=Rules())
    reply = await climb(turn("when are you open?", Spend.FULL, history=True))
    assert (reply.provider, reply.trail) == ("openai", ("openai:answered",))


async def test_economy_answers_from_the_rules_first_even_mid_conversation() -> None:
    openai, rules = Llm("openai"), Rules()
    climb = ladder(rung(openai, "gpt-big"), rules=rules)
    reply = await climb(turn("when are you open?", Spend.ECONOMY, history=True))
    assert (reply.provider, reply.outcome) == ("rules", TurnOutcome.ANSWERED)
    assert reply.trail == (ECONOMY_TRAIL, "rules:answered")
    assert openai.calls == 0 and reply.usage == Usage()


async def test_economy_uses_only_the_cheapest_model_by_the_price_table() -> None:
    mid, small, big = Llm("anthropic"), Llm("openai"), Llm("openai")
    climb = ladder(
        rung(mid, "claude-mid"), rung(small, "gpt-small-2025-01-01"), rung(big, "gpt-big")
    )
    assert [r.provider for r in climb.economy_rungs] == [small]  # the dated name is priced too
    reply = await climb(turn("tell me a joke", Spend.ECONOMY))
    assert reply.trail == (ECONOMY_TRAIL, "openai:answered")
    assert (mid.calls, small.calls, big.calls) == (0, 1, 0)


async def test_economy_moves_on_to_the_rules_verdict_and_people_without_asking_twice() -> None:
    cheap = Llm("openai", failure=NeedsOperatorError("openai", "401"))
    pricey = Llm("anthropic")
    rules, people = Rules(), People()
    climb = ladder(
        rung(pricey, "claude-mid"), rung(cheap, "gpt-small"), rules=rules, people=people
    )
    reply = await climb(turn("tell me a joke", Spend.ECONOMY))
    assert reply.outcome is TurnOutcome.HANDED_OFF
    assert reply.trail == (
        ECONOMY_TRAIL,
        "rules:unknown",
        "openai:needs_operator",
        "handoff:opened",
    )
    assert pricey.calls == 0  # the dearer model stays out of an economy turn
    assert rules.asked == ["tell me a joke"]


async def test_with_a_price_unknown_economy_trusts_the_order_and_takes_the_last_model() -> None:
    first, last = Llm("openai"), Llm("mystery")
    climb = ladder(rung(first, "gpt-small"), rung(last, "unlisted"))
    reply = await climb(turn("tell me a joke", Spend.ECONOMY))
    assert reply.trail == (ECONOMY_TRAIL, "mystery:answered")
    assert first.calls == 0


async def test_a_provider_that_names_its_model_is_priced_by_it() -> None:
    listed = PricingTable({"local": {"*": Price(0, 0)}, "openai": {"gpt-big": Price(2.5, 10)}})
    local = Llm("local", model="qwen-0.5b")
    climb = FallbackLadder(
        [rung(Llm("openai"), "gpt-big"), LlmRung(local, CircuitBreaker(CircuitSettings()))],
        rules=None,
        handoff=None,
        validator=PassThroughValidator(),
        pricing=listed,
        settings=SETTINGS,
    )
    assert [r.provider for r in climb.economy_rungs] == [local]


async def test_free_never_calls_a_model_and_the_rules_answer_what_they_know() -> None:
    openai, people = Llm("openai"), People()
    climb = ladder(rung(openai, "gpt-small"), rules=Rules(), people=people)
    known = await climb(turn("when are you open?", Spend.FREE))
    assert (known.outcome, known.trail) == (TurnOutcome.ANSWERED, (FREE_TRAIL, "rules:answered"))
    unknown = await climb(turn("tell me a joke", Spend.FREE))
    # Left as the rules' "unknown" for the budget stage to explain; no ticket for people.
    assert (unknown.outcome, unknown.trail) == (TurnOutcome.UNKNOWN, (FREE_TRAIL, "rules:unknown"))
    assert openai.calls == 0 and people.reasons == []


async def test_free_without_rules_still_costs_nothing_and_says_unknown() -> None:
    openai = Llm("openai")
    reply = await ladder(rung(openai, "gpt-small"), people=People())(
        turn("tell me a joke", Spend.FREE)
    )
    assert (reply.outcome, reply.trail, reply.usage) == (
        TurnOutcome.UNKNOWN,
        (FREE_TRAIL,),
        Usage(),
    )
    assert openai.calls == 0


async def test_a_hand_off_after_paid_attempts_carries_their_cost() -> None:
    class RejectAll:
        async def validate(self, text: str, turn: Turn) -> str:
            raise ValidationFailed("wrong_figure")

    reply = await ladder(
        rung(Llm("openai"), "gpt-small"), rules=Rules(), people=People(), validator=RejectAll()
    )(turn("what is my balance?", Spend.FULL))
    assert reply.outcome is TurnOutcome.HANDED_OFF
    # Two rejected answers were paid for; the budgets must see them.
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (2000, 400)
    assert reply.usage.cost_usd == pytest.approx(2 * (1000 * 0.15 + 200 * 0.60) / 1e6)
