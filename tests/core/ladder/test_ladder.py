"""The fallback ladder with in-process scripted providers (the SDK tests use a fake server)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from core.errors import (
    FinalProviderError,
    NeedsOperatorError,
    RateLimitedError,
    RetryableProviderError,
    ValidationFailed,
)
from core.ladder.circuit import CircuitBreaker, CircuitSettings, CircuitState
from core.ladder.ladder import NO_ANSWER, FallbackLadder, LadderSettings, LlmRung
from core.ladder.retry import RetryPolicy
from core.model import (
    ChatMessage,
    Completion,
    Reply,
    ReplyKind,
    Role,
    StoredMessage,
    Turn,
    TurnOutcome,
    Usage,
    UserRef,
)
from core.pricing import Price, PricingTable
from tests.fakes import message

Step = Exception | str | float  # raise it / answer it / hang for that many seconds


@dataclass
class Scripted:
    """A provider that follows a script, one step per call, then answers "ok"."""

    name: str
    script: list[Step] = field(default_factory=list)
    unknown: bool = False
    prompts: list[tuple[ChatMessage, ...]] = field(default_factory=list)

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        self.prompts.append(tuple(prompt))
        step = self.script.pop(0) if self.script else "ok"
        if isinstance(step, Exception):
            raise step
        if isinstance(step, float):
            await asyncio.sleep(step)
            step = "late"
        usage = Usage(input_tokens=1000, output_tokens=500)
        return Completion(step, self.name, model="m-1", usage=usage, unknown=self.unknown)


@dataclass
class People:
    reasons: list[str] = field(default_factory=list)

    async def hand_off(self, turn: Turn, reason: str) -> Reply:
        self.reasons.append(reason)
        return Reply("a person will reply", kind=ReplyKind.NOTICE, outcome=TurnOutcome.HANDED_OFF)


@dataclass
class RejectFirst:
    """Rejects the first reply it sees, as a validator that caught a wrong figure would."""

    seen: list[str] = field(default_factory=list)

    async def validate(self, text: str, turn: Turn) -> str:
        self.seen.append(text)
        if len(self.seen) == 1:
            raise ValidationFailed("wrong_figure", "$127,549.32")
        return text


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


PRICES = PricingTable({"openai": {"m-1": Price(input=2.0, output=10.0)}})
FAST = LadderSettings(
    deadline=5.0, attempt_timeout=0.2, min_attempt=0.05, retry=RetryPolicy(attempts=2)
)


def rung(provider: Scripted, **circuit: float) -> LlmRung:
    settings = CircuitSettings(**{"consecutive_failures": 3, **circuit})  # type: ignore[arg-type]
    return LlmRung(provider, CircuitBreaker(settings))


def ladder(
    *rungs: LlmRung,
    rules: Scripted | None = None,
    people: People | None = None,
    validator: object | None = None,
    settings: LadderSettings = FAST,
    sleeps: Sleeps | None = None,
) -> FallbackLadder:
    from core.ladder.ladder import PassThroughValidator

    return FallbackLadder(
        rungs,
        rules=rules,
        handoff=people,
        validator=validator or PassThroughValidator(),  # type: ignore[arg-type]
        pricing=PRICES,
        settings=settings,
        draw=lambda: 0.0,
        sleep=sleeps or Sleeps(),
    )


def turn(text: str = "what is my balance?") -> Turn:
    return Turn(message=message(text), system_prompt="be brief")


async def test_the_first_provider_answers_and_its_cost_is_priced() -> None:
    reply = await ladder(rung(Scripted("openai")))(turn())
    assert (reply.text, reply.provider, reply.outcome) == ("ok", "openai", TurnOutcome.ANSWERED)
    assert reply.usage.cost_usd == pytest.approx((1000 * 2.0 + 500 * 10.0) / 1e6)
    assert reply.trail == ("openai:answered",)


async def test_a_retryable_failure_is_retried_on_the_same_provider() -> None:
    openai = Scripted("openai", [RetryableProviderError("openai", "503")])
    sleeps = Sleeps()
    reply = await ladder(rung(openai), sleeps=sleeps)(turn())
    assert reply.text == "ok" and len(openai.prompts) == 2
    assert reply.trail == ("openai:failed", "openai:answered")
    assert sleeps.delays == [0.0]  # full jitter drew 0 here


async def test_a_429_waits_exactly_its_retry_after() -> None:
    openai = Scripted("openai", [RateLimitedError("openai", "429", retry_after=2.0)])
    sleeps = Sleeps()
    reply = await ladder(rung(openai), sleeps=sleeps)(turn())
    assert reply.text == "ok" and sleeps.delays == [2.0]


async def test_an_operator_problem_moves_on_at_once_and_parks_the_provider(
    caplog: pytest.LogCaptureFixture,
) -> None:
    openai = Scripted("openai", [NeedsOperatorError("openai", "401 invalid key")])
    anthropic = Scripted("anthropic")
    first = rung(openai)
    climb = ladder(first, rung(anthropic))
    reply = await climb(turn())
    assert reply.provider == "anthropic" and len(openai.prompts) == 1
    assert reply.trail == ("openai:needs_operator", "anthropic:answered")
    assert first.breaker.parked and first.breaker.state is CircuitState.OPEN

    again = await climb(turn())
    assert again.trail == ("openai:circuit_open", "anthropic:answered")
    assert len(openai.prompts) == 1  # parked: no user request is risked on it


async def test_a_final_error_moves_on_without_retry_or_opening_the_circuit() -> None:
    openai = Scripted("openai", [FinalProviderError("openai", "content policy")])
    first = rung(openai, consecutive_failures=1)
    reply = await ladder(first, rung(Scripted("anthropic")))(turn())
    assert reply.provider == "anthropic" and len(openai.prompts) == 1
    assert first.breaker.state is CircuitState.CLOSED


async def test_a_slow_provider_is_cut_at_the_attempt_timeout_and_the_next_one_answers() -> None:
    openai = Scripted("openai", [5.0, 5.0])
    reply = await ladder(rung(openai), rung(Scripted("anthropic")))(turn())
    assert reply.provider == "anthropic"
    assert reply.trail == ("openai:timeout", "openai:timeout", "anthropic:answered")


async def test_both_llms_down_the_rules_answer_when_they_know() -> None:
    down = [RetryableProviderError("x", "503")] * 2
    reply = await ladder(
        rung(Scripted("openai", list(down))),
        rung(Scripted("anthropic", list(down))),
        rules=Scripted("rules"),
        people=People(),
    )(turn())
    assert (reply.provider, reply.outcome) == ("rules", TurnOutcome.ANSWERED)
    assert reply.trail[-1] == "rules:answered"


async def test_both_llms_down_and_the_rules_do_not_know_opens_a_hand_off() -> None:
    people = People()
    reply = await ladder(
        rung(Scripted("openai", [NeedsOperatorError("openai", "401")])),
        rules=Scripted("rules", unknown=True),
        people=people,
    )(turn())
    assert reply.outcome is TurnOutcome.HANDED_OFF
    assert reply.trail == ("openai:needs_operator", "rules:unknown", "handoff:opened")
    assert people.reasons and "knowledge base" in people.reasons[0]


async def test_with_no_llm_configured_the_rules_fallback_leaves_the_choice_to_the_user() -> None:
    people = People()
    reply = await ladder(rules=Scripted("rules", unknown=True), people=people)(turn())
    assert (reply.outcome, reply.trail) == (TurnOutcome.UNKNOWN, ("rules:unknown",))
    assert people.reasons == []


async def test_without_people_the_rules_fallback_is_the_answer() -> None:
    reply = await ladder(rules=Scripted("rules", unknown=True))(turn())
    assert (reply.outcome, reply.text) == (TurnOutcome.UNKNOWN, "ok")


async def test_with_nothing_left_the_user_still_gets_a_reply() -> None:
    reply = await ladder(rung(Scripted("openai", [NeedsOperatorError("openai", "401")])))(turn())
    assert (reply.text, reply.kind) == (NO_ANSWER, ReplyKind.ERROR)


async def test_an_open_circuit_is_skipped_without_a_call() -> None:
    openai = Scripted("openai", [RetryableProviderError("openai", "503")] * 3)
    first = rung(openai, consecutive_failures=2)
    climb = ladder(first, rung(Scripted("anthropic")))
    await climb(turn())
    assert first.breaker.state is CircuitState.OPEN
    reply = await climb(turn())
    assert reply.trail == ("openai:circuit_open", "anthropic:answered")
    assert len(openai.prompts) == 2


async def test_a_rejected_reply_is_retried_with_a_correction() -> None:
    openai = Scripted("openai", ["your balance is $127,549.32", "your balance is $47.15"])
    validator = RejectFirst()
    reply = await ladder(rung(openai), validator=validator)(turn())
    assert reply.text == "your balance is $47.15"
    assert reply.trail == ("openai:rejected:wrong_figure", "openai:answered")
    correction = openai.prompts[1][-1]
    assert correction.role is Role.SYSTEM and "wrong_figure" in correction.text


async def test_a_provider_bug_costs_a_rung_not_the_reply() -> None:
    openai = Scripted("openai", [KeyError("choices"), KeyError("choices")])
    reply = await ladder(rung(openai), rules=Scripted("rules"))(turn())
    assert reply.provider == "rules"
    assert reply.trail == ("openai:crashed", "openai:crashed", "rules:answered")


async def test_near_the_deadline_it_skips_to_the_rules_instead_of_another_slow_attempt() -> None:
    settings = LadderSettings(
        deadline=0.35,
        attempt_timeout=0.25,
        min_attempt=0.1,
        reserve=0.05,
        retry=RetryPolicy(attempts=3),
    )
    openai = Scripted("openai", [1.0, 1.0, 1.0])
    anthropic = Scripted("anthropic")
    reply = await ladder(
        rung(openai), rung(anthropic), rules=Scripted("rules"), settings=settings
    )(turn())
    assert reply.provider == "rules"
    assert reply.trail == ("openai:timeout", "anthropic:no_time", "rules:answered")
    assert anthropic.prompts == []


async def test_the_llms_leave_the_reserve_for_the_rungs_after_them() -> None:
    settings = LadderSettings(
        deadline=0.5, attempt_timeout=5.0, min_attempt=0.05, reserve=0.3, retry=RetryPolicy()
    )
    openai = Scripted("openai", [5.0, 5.0])
    reply = await ladder(rung(openai), rules=Scripted("rules"), settings=settings)(turn())
    # Cut at deadline - reserve rather than its own 5 s timeout, and no time left to retry
    # (bench/outage.py shows the timing: a 20 s deadline ends in 19.5 s).
    assert reply.trail == ("openai:timeout", "rules:answered")
    assert len(openai.prompts) == 1


async def test_a_turn_cancelled_during_a_half_open_trial_frees_the_trial() -> None:
    openai = Scripted("openai", [RetryableProviderError("openai", "503"), 30.0])
    first = rung(openai, consecutive_failures=1, cooldown=0.0)
    climb = ladder(first, settings=LadderSettings(deadline=60, attempt_timeout=60, min_attempt=0))
    await climb(turn())  # fails and opens; a zero cool-down makes it half-open at once
    assert first.breaker.state is CircuitState.HALF_OPEN
    stuck = asyncio.create_task(climb(turn()))  # the trial, hanging on the provider
    await asyncio.sleep(0.05)
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck
    assert first.breaker.allow()  # the slot came back: the provider can be tried again


async def test_no_backoff_wait_when_the_failure_opened_the_circuit() -> None:
    openai = Scripted("openai", [RateLimitedError("openai", "429", retry_after=4.0)])
    sleeps = Sleeps()
    reply = await ladder(
        rung(openai, consecutive_failures=1), rung(Scripted("anthropic")), sleeps=sleeps
    )(turn())
    assert reply.provider == "anthropic" and sleeps.delays == []


async def test_tokens_of_rejected_answers_are_counted_in_the_cost() -> None:
    openai = Scripted("openai", ["wrong figure", "right figure"])
    reply = await ladder(rung(openai), validator=RejectFirst())(turn())
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (2000, 1000)
    assert reply.usage.cost_usd == pytest.approx(2 * (1000 * 2.0 + 500 * 10.0) / 1e6)


@dataclass
class BrokenRules:
    name: str = "rules"

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        raise RuntimeError("knowledge base index corrupted")


async def test_a_crashing_rules_tier_still_ends_with_people() -> None:
    people = People()
    reply = await ladder(
        rung(Scripted("openai", [NeedsOperatorError("openai", "401")])),
        rules=BrokenRules(),  # type: ignore[arg-type]
        people=people,
    )(turn())
    assert reply.outcome is TurnOutcome.HANDED_OFF
    assert reply.trail == ("openai:needs_operator", "rules:crashed", "handoff:opened")


async def test_an_operator_problem_is_logged_once_per_incident(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from loguru import logger

    seen: list[str] = []
    sink = logger.add(lambda m: seen.append(str(m)), level="ERROR")
    try:
        openai = Scripted("openai", [NeedsOperatorError("openai", "quota")] * 3)
        first = rung(openai, cooldown=0.0)
        climb = ladder(first, rules=Scripted("rules"))
        for _ in range(3):
            first.breaker.parked = False  # as if a probe had let a trial through each time
            await climb(turn())
    finally:
        logger.remove(sink)
    assert len([line for line in seen if "parked" in line]) == 1


@dataclass
class SureRules(Scripted):
    """Rules that are sure about one question."""

    sure_about: str = ""

    def sure_answer(self, question: str, min_confidence: float) -> Completion | None:
        if question == self.sure_about:
            return Completion("from the knowledge base", "rules", model="kb:1")
        return None


async def test_rules_first_answers_a_sure_question_only_on_a_fresh_conversation() -> None:
    openai = Scripted("openai")
    settings = LadderSettings(rules_first=0.9)
    climb = ladder(rung(openai), rules=SureRules("rules", sure_about="hours?"), settings=settings)
    first = await climb(turn("hours?"))
    assert (first.provider, first.trail) == ("rules", ("rules:answered_first",))
    assert openai.prompts == []
    with_history = Turn(
        message=message("hours?"),
        history=(StoredMessage(1, Role.USER, "hi", datetime.now(UTC)),),
    )
    assert (await climb(with_history)).provider == "openai"
    assert (await climb(turn("something else"))).provider == "openai"


async def test_the_cost_of_rejected_answers_stays_on_the_bill_when_the_ladder_moves_on() -> None:
    class RejectAllFrom:
        async def validate(self, text: str, turn: Turn) -> str:
            if text == "bad":
                raise ValidationFailed("wrong_figure")
            return text

    openai = Scripted("openai", ["bad", "bad"])
    anthropic = Scripted("anthropic", ["good"])
    reply = await ladder(rung(openai), rung(anthropic), validator=RejectAllFrom())(turn())
    assert reply.provider == "anthropic"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (3000, 1500)


async def test_a_crashing_validator_rejects_the_reply_without_blaming_the_provider() -> None:
    class Broken:
        async def validate(self, text: str, turn: Turn) -> str:
            raise RuntimeError("regex bug")

    openai = Scripted("openai")
    first = rung(openai, consecutive_failures=1)
    reply = await ladder(first, rules=Scripted("rules"), validator=Broken())(turn())
    assert reply.provider == "rules"
    assert reply.trail[0] == "openai:rejected:validator_error"
    assert first.breaker.state is CircuitState.CLOSED
