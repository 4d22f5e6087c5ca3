"""The fallback ladder, measured: its own overhead, and how long a user waits in an outage.

1. Overhead: turns through ``FallbackLadder`` with a zero-latency provider, minus the same
   provider called directly (pricing, circuit bookkeeping, the deadline timer).
2. Outage: both LLM providers fail; time from message to the hand-off notice, first with their
   circuits closed (each provider is tried and retried within the deadline), then once the
   circuits are open (both skipped). The providers fail like a timeout would, after
   ``--failure-ms``, or at once with ``--failure-ms 0`` (a refused connection).

Prints figures; asserts nothing.

    python bench/ladder.py
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.figures import latency_summary, percentile
from core.errors import RetryableProviderError
from core.ladder.circuit import CircuitBreaker, CircuitSettings
from core.ladder.ladder import (
    FallbackLadder,
    LadderSettings,
    LlmRung,
    PassThroughValidator,
)
from core.ladder.retry import RetryPolicy
from core.model import (
    ChatMessage,
    ChatRef,
    Completion,
    IncomingMessage,
    Reply,
    ReplyKind,
    Turn,
    TurnOutcome,
    Usage,
    UserRef,
)
from core.pricing import Price, PricingTable


@dataclass
class Instant:
    name: str = "openai"

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        return Completion("ok", self.name, "gpt-4o-mini", Usage(100, 20))


@dataclass
class Failing:
    name: str
    after: float

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        if self.after:
            await asyncio.sleep(self.after)
        raise RetryableProviderError(self.name, "503 service unavailable")


class People:
    async def hand_off(self, turn: Turn, reason: str) -> Reply:
        return Reply("a person will reply", kind=ReplyKind.NOTICE, outcome=TurnOutcome.HANDED_OFF)


def turn(n: int) -> Turn:
    message = IncomingMessage(
        f"m{n}", UserRef("bench", "u"), ChatRef("bench", "u"), "hello", datetime.now(UTC)
    )
    return Turn(message=message, system_prompt="be brief")


def ladder(rungs: list[LlmRung], settings: LadderSettings) -> FallbackLadder:
    return FallbackLadder(
        rungs,
        rules=None,
        handoff=People(),
        validator=PassThroughValidator(),
        pricing=PricingTable({"openai": {"gpt-4o-mini": Price(0.15, 0.6)}}),
        settings=settings,
    )


def breaker(cooldown: float = 30.0) -> CircuitBreaker:
    return CircuitBreaker(CircuitSettings(consecutive_failures=3, cooldown=cooldown))


async def overhead(turns: int) -> None:
    provider = Instant()
    climb = ladder([LlmRung(provider, breaker())], LadderSettings())
    direct, laddered = [], []
    for n in range(turns):
        started = time.perf_counter()
        await provider.complete(turn(n).prompt(), turn(n).message.user)
        direct.append(time.perf_counter() - started)
        started = time.perf_counter()
        await climb(turn(n))
        laddered.append(time.perf_counter() - started)
    extra = sorted((lad - dir_) * 1e6 for lad, dir_ in zip(laddered, direct, strict=True))
    print(f"ladder overhead over {turns} turns (zero-latency provider)")
    print(f"  p50 {percentile(extra, 50):.1f} µs   p99 {percentile(extra, 99):.1f} µs")


async def outage(args: argparse.Namespace) -> None:
    after = args.failure_ms / 1000
    settings = LadderSettings(
        deadline=args.deadline,
        attempt_timeout=args.attempt_timeout,
        retry=RetryPolicy(attempts=args.attempts),
    )
    rungs = [LlmRung(Failing(name, after), breaker()) for name in ("openai", "anthropic")]
    climb = ladder(rungs, settings)
    closed: list[float] = []
    opened: list[float] = []
    for n in range(args.turns):
        started = time.perf_counter()
        reply = await climb(turn(n))
        elapsed = time.perf_counter() - started
        assert reply.outcome is TurnOutcome.HANDED_OFF
        all_open = all(step.endswith("circuit_open") for step in reply.trail[:-1])
        (opened if all_open else closed).append(elapsed * 1000)
    print(
        f"outage: both LLMs fail after {args.failure_ms:g} ms, {args.attempts} attempts each, "
        f"deadline {args.deadline:g} s"
    )
    print(f"  circuits closed: {len(closed)} turns, time to hand-off {latency_summary(closed)}")
    print(f"  circuits open:   {len(opened)} turns, time to hand-off {latency_summary(opened)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--overhead-turns", type=int, default=20_000)
    parser.add_argument("--failure-ms", type=float, default=2000, help="how long a failure takes")
    parser.add_argument("--attempts", type=int, default=2)
    parser.add_argument("--attempt-timeout", type=float, default=8.0)
    parser.add_argument("--deadline", type=float, default=20.0)
    args = parser.parse_args()
    asyncio.run(overhead(args.overhead_turns))
    asyncio.run(outage(args))


if __name__ == "__main__":
    main()
