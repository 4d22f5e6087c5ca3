"""The terminal handler: walk the rungs until one answers, within the turn's deadline.

Rungs, in order: each configured LLM provider (retried with backoff, guarded by its circuit
breaker, every reply validated), then the rules tier, then a hand-off to people. The ladder moves
on by error *type* only (``core/errors.py``); SDK retries are off, so every wait is decided here.

``turn.spend`` (set by the budget stage) narrows the climb. ECONOMY: the rules first at their
normal confidence, on any turn, then only the cheapest LLM rung, then the rules' verdict and
people as usual. FREE: the rules alone; when they do not know, their "unknown" reply goes back
unchanged (no hand-off), and the budget stage explains the budget to the user.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

from loguru import logger

from core.errors import (
    FinalProviderError,
    NeedsOperatorError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    RetryableProviderError,
    ValidationFailed,
)
from core.ladder.circuit import CircuitBreaker, CircuitState
from core.ladder.retry import RetryPolicy
from core.model import (
    ChatMessage,
    Completion,
    Reply,
    ReplyKind,
    Role,
    Spend,
    Turn,
    TurnOutcome,
    Usage,
)
from core.ports import Provider, Validator
from core.pricing import PricingTable

NO_ANSWER = (
    "Sorry, I can't answer right now and nobody from our team is available here. "
    "Please try again in a few minutes."
)
ECONOMY_TRAIL = "budget:economy"
FREE_TRAIL = "budget:free"
# The shape of a typical turn (tokens in, tokens out) that ranks models by price: prompts
# carry history and facts, so they are several times longer than the replies.
_TYPICAL_TURN = (2000, 300)


@runtime_checkable
class SureAnswers(Protocol):
    """A rules tier that can say when it is sure enough to answer before any model."""

    def sure_answer(self, question: str, min_confidence: float) -> Completion | None: ...


@runtime_checkable
class NamesItsModel(Protocol):
    """A provider that says which model it calls (for comparing prices before any call)."""

    @property
    def model(self) -> str: ...


class HandsOff(Protocol):
    """The last rung: gives the conversation to people and tells the user so."""

    async def hand_off(self, turn: Turn, reason: str) -> Reply: ...


class PassThroughValidator:
    """Accepts every reply unchanged (for set-ups without guardrails, and for tests)."""

    async def validate(self, text: str, turn: Turn) -> str:
        return text


@dataclass(frozen=True, slots=True)
class LadderSettings:
    deadline: float = 20.0  # the whole turn, seconds
    attempt_timeout: float = 8.0  # one LLM call
    min_attempt: float = 1.0  # with less time left, skip to the rules and people
    # Answer from the rules before any model when they match at least this well (None: never).
    rules_first: float | None = None
    reserve: float = 0.5  # kept back from the LLMs, for the rules and the hand-off after them
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True, slots=True)
class LlmRung:
    provider: Provider
    breaker: CircuitBreaker

    @property
    def name(self) -> str:
        return self.provider.name

    @property
    def model_name(self) -> str:
        """The model it calls, to price the rung before any call; "" when it does not say."""
        return self.provider.model if isinstance(self.provider, NamesItsModel) else ""


class FallbackLadder:
    """Answers a turn from the first rung that can, and records the path taken."""

    def __init__(
        self,
        llm: Sequence[LlmRung],
        *,
        rules: Provider | None,
        handoff: HandsOff | None,
        validator: Validator,
        pricing: PricingTable,
        settings: LadderSettings,
        clock: Callable[[], float] = time.monotonic,
        draw: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._llm = tuple(llm)
        self._rules = rules
        self._handoff = handoff
        self._validator = validator
        self._pricing = pricing
        self._settings = settings
        self._clock = clock
        self._draw = draw
        self._sleep = sleep
        self._economy = self._cheapest_rung()

    @property
    def rungs(self) -> tuple[LlmRung, ...]:
        return self._llm

    @property
    def economy_rungs(self) -> tuple[LlmRung, ...]:
        """The LLM rungs an ECONOMY turn may use: the cheapest one (none without LLMs)."""
        return self._economy

    async def __call__(self, turn: Turn) -> Reply:
        if turn.spend is Spend.FREE:
            return await self._free(turn)
        # The LLM rungs get the deadline minus the reserve, so the rungs after them still fit.
        deadline = self._clock() + self._settings.deadline - self._settings.reserve
        if turn.spend is Spend.ECONOMY:
            return await self._economical(turn, deadline)
        first = self._settings.rules_first
        if first is not None and isinstance(self._rules, SureAnswers):
            # A plain FAQ question gets the shop's own answer, at no cost and no risk of a
            # made-up figure; only when the match is this sure, and only on the first turn of
            # a conversation, since the rules do not read the history.
            sure = self._rules.sure_answer(turn.message.text, first) if not turn.history else None
            if sure is not None:
                return _reply(sure, ("rules:answered_first",))
        trail: list[str] = []
        bill = _Bill()  # what the turn's paid attempts cost, answered or not
        reply = await self._models(self._llm, turn, deadline, trail, bill)
        if reply is not None:
            return reply
        return await self._after_models(turn, await self._ask_rules(turn, trail), trail, bill)

    async def _economical(self, turn: Turn, deadline: float) -> Reply:
        """Near a budget: whatever the rules know, at their normal confidence and on any turn
        (a cheaper answer beats a better one now), then the cheapest model, then as usual."""
        trail = [ECONOMY_TRAIL]
        said = await self._ask_rules(turn, trail)
        if said is not None and not said.unknown:
            return _reply(said, tuple(trail))
        bill = _Bill()
        reply = await self._models(self._economy, turn, deadline, trail, bill)
        if reply is not None:
            return reply
        return await self._after_models(turn, said, trail, bill)

    async def _free(self, turn: Turn) -> Reply:
        """A budget is spent: the rules alone, and their "unknown" as it is (no hand-off);
        the budget stage tells the user why and when the allowance resets."""
        trail = [FREE_TRAIL]
        said = await self._ask_rules(turn, trail)
        if said is not None:
            return _reply(said, tuple(trail))
        # No rules, or they crashed: nothing free knew, which is what "unknown" says.
        return Reply(
            NO_ANSWER, kind=ReplyKind.ERROR, outcome=TurnOutcome.UNKNOWN, trail=tuple(trail)
        )

    async def _models(
        self,
        rungs: Sequence[LlmRung],
        turn: Turn,
        deadline: float,
        trail: list[str],
        bill: _Bill,
    ) -> Reply | None:
        for rung in rungs:
            reply = await self._climb(rung, turn, deadline, trail, bill)
            if reply is not None:
                return reply
        return None

    async def _ask_rules(self, turn: Turn, trail: list[str]) -> Completion | None:
        """The rules' answer or honest "unknown"; None when there are none or they crashed."""
        if self._rules is None:
            return None
        try:
            completion = await self._rules.complete(turn.prompt(), turn.message.user)
        except Exception as bug:  # people are still there: hand off rather than apologize
            logger.opt(exception=bug).error("the rules tier raised unexpectedly")
            trail.append("rules:crashed")
            return None
        trail.append(f"rules:{'unknown' if completion.unknown else 'answered'}")
        return completion

    async def _after_models(
        self, turn: Turn, said: Completion | None, trail: list[str], bill: _Bill
    ) -> Reply:
        """No model answered: the rules' verdict ``said``, else people, else an apology.

        Every reply carries the bill, so failed and rejected attempts count against budgets.
        """
        reason = "no language model could answer"
        if said is not None:
            # With no language model configured at all, the rules are the bot, and their
            # honest "I don't know, type /human" leaves the choice to the user. Only when
            # models were there and failed does an unanswered question go to people.
            if not said.unknown or self._handoff is None or not self._llm:
                return _reply(replace(said, usage=bill.total), tuple(trail))
            reason = "the knowledge base had no answer and no language model could help"
        if self._handoff is not None:
            reply = await self._handoff.hand_off(turn, reason)
            return replace(reply, usage=bill.total, trail=(*trail, "handoff:opened"))
        return Reply(
            NO_ANSWER,
            kind=ReplyKind.ERROR,
            outcome=TurnOutcome.FAILED,
            usage=bill.total,
            trail=tuple(trail),
        )

    def _cheapest_rung(self) -> tuple[LlmRung, ...]:
        """The LLM rung whose model costs least for a typical turn, by the price table.

        If any rung's price is unknown, the comparison would be a guess: the configured order
        is trusted instead, and its last LLM rung taken (the usual fallback is the cheaper one).
        """
        if not self._llm:
            return ()
        tokens_in, tokens_out = _TYPICAL_TURN
        costs: list[float] = []
        for rung in self._llm:
            price = self._pricing.price_of(rung.name, rung.model_name)
            if price is None:
                return (self._llm[-1],)
            costs.append(tokens_in * price.input + tokens_out * price.output)
        return (self._llm[costs.index(min(costs))],)  # on a tie, the first configured

    async def _climb(
        self, rung: LlmRung, turn: Turn, deadline: float, trail: list[str], bill: _Bill
    ) -> Reply | None:
        """Try one LLM provider, retrying while it is worth it; None means "next rung"."""
        prompt = turn.prompt()
        attempt = 0
        while True:
            if not rung.breaker.allow():
                trail.append(f"{rung.name}:circuit_open")
                return None
            left = deadline - self._clock()
            if left < self._settings.min_attempt:
                rung.breaker.release_trial()
                trail.append(f"{rung.name}:no_time")
                return None
            attempt += 1
            started = self._clock()
            try:
                async with asyncio.timeout(min(self._settings.attempt_timeout, left)):
                    completion = await rung.provider.complete(prompt, turn.message.user)
                completion = replace(completion, usage=self._priced(rung, completion))
                bill.add(completion.usage)
                completion = replace(completion, text=await self._checked(completion, turn))
            except ValidationFailed as rejected:
                # The provider works; this answer may not be sent. Retry with a correction.
                rung.breaker.record_success(self._clock() - started)
                trail.append(f"{rung.name}:rejected:{rejected.reason}")
                error: ProviderError = RetryableProviderError(rung.name, rejected.reason)
                prompt = (*turn.prompt(), _correction(rejected))
            except ProviderError as failure:
                if not self._record_failure(rung, failure, trail):
                    return None
                error = failure
            except TimeoutError:
                error = ProviderTimeoutError(rung.name, "timed out")
                self._record_failure(rung, error, trail)
            except Exception as bug:  # a provider bug must not cost the user their reply
                logger.opt(exception=bug).error("provider {} raised unexpectedly", rung.name)
                error = RetryableProviderError(rung.name, type(bug).__name__)
                self._record_failure(rung, error, trail, why="crashed")
            except BaseException:
                rung.breaker.release_trial()  # cancelled mid-trial: let the next one try
                raise
            else:
                rung.breaker.record_success(self._clock() - started)
                trail.append(f"{rung.name}:answered")
                return _reply(replace(completion, usage=bill.total), tuple(trail))
            if rung.breaker.state is not CircuitState.CLOSED:
                return None  # that failure opened the circuit: waiting to retry is pointless
            delay = self._settings.retry.delay(attempt, error, self._draw)
            if delay is None or self._clock() + delay + self._settings.min_attempt > deadline:
                return None
            await self._sleep(delay)

    async def _checked(self, completion: Completion, turn: Turn) -> str:
        """The validator's verdict; a bug in it rejects the reply rather than blaming the model."""
        try:
            return await self._validator.validate(completion.text, turn)
        except ValidationFailed:
            raise
        except Exception as bug:  # never send what could not be checked
            logger.opt(exception=bug).error("the validator raised unexpectedly")
            raise ValidationFailed("validator_error") from bug

    def _priced(self, rung: LlmRung, completion: Completion) -> Usage:
        return self._pricing.price(rung.name, completion.model, completion.usage)

    def _record_failure(
        self, rung: LlmRung, failure: ProviderError, trail: list[str], why: str = ""
    ) -> bool:
        """Note a failed call; True if retrying this provider could still help."""
        why = why or _why(failure)
        trail.append(f"{rung.name}:{why}")
        if isinstance(failure, NeedsOperatorError):
            if not rung.breaker.operator_alerted:  # an operator problem: say it once, loudly
                logger.error("provider {} parked until it works again: {}", rung.name, failure)
                rung.breaker.operator_alerted = True
            rung.breaker.record_failure(str(failure), park=True)
            return False
        if isinstance(failure, FinalProviderError):
            # About this request (bad request, content policy), not the provider's health.
            rung.breaker.release_trial()
            return False
        rung.breaker.record_failure(why)
        return True


@dataclass(slots=True)
class _Bill:
    """Tokens and cost of every paid attempt of one turn, including rejected answers."""

    total: Usage = field(default_factory=Usage)

    def add(self, usage: Usage) -> None:
        self.total = Usage(
            self.total.input_tokens + usage.input_tokens,
            self.total.output_tokens + usage.output_tokens,
            round(self.total.cost_usd + usage.cost_usd, 8),
        )


def _why(failure: ProviderError) -> str:
    if isinstance(failure, ProviderTimeoutError):
        return "timeout"
    if isinstance(failure, RateLimitedError):
        return "rate_limited"
    if isinstance(failure, NeedsOperatorError):
        return "needs_operator"
    if isinstance(failure, FinalProviderError):
        return "refused"
    return "failed"


def _correction(rejected: ValidationFailed) -> ChatMessage:
    return ChatMessage(
        Role.SYSTEM,
        f"Your previous answer was not sent to the user because it failed a check "
        f"({rejected.reason}). Answer again and avoid that problem.",
    )


def _reply(completion: Completion, trail: tuple[str, ...]) -> Reply:
    return Reply(
        completion.text,
        kind=ReplyKind.ANSWER,
        outcome=TurnOutcome.UNKNOWN if completion.unknown else TurnOutcome.ANSWERED,
        provider=completion.provider,
        model=completion.model,
        usage=completion.usage,
        trail=trail,
    )
