"""Health probes close recovered circuits; the report says each rung's state."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.errors import NeedsOperatorError, RetryableProviderError
from core.ladder.circuit import CircuitBreaker, CircuitSettings, CircuitState
from core.ladder.health import HealthMonitor
from core.ladder.ladder import LlmRung
from core.model import ChatMessage, Completion, UserRef


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Probed:
    """A provider whose probe follows a script of errors (None = the probe succeeds)."""

    name: str
    probes: list[Exception | None] = field(default_factory=list)
    probed: int = 0

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        return Completion("ok", self.name)

    async def probe(self) -> None:
        self.probed += 1
        outcome = self.probes.pop(0) if self.probes else None
        if outcome is not None:
            raise outcome


def open_rung(provider: Probed, clock: Clock) -> LlmRung:
    breaker = CircuitBreaker(CircuitSettings(consecutive_failures=1, cooldown=30), clock)
    breaker.record_failure("503")
    return LlmRung(provider, breaker)


async def test_an_open_circuit_is_probed_only_after_its_cool_down_and_closes_on_success() -> None:
    clock = Clock()
    provider = Probed("openai")
    rung = open_rung(provider, clock)
    monitor = HealthMonitor([rung], has_rules=True, has_handoff=True, clock=clock)

    await monitor.check()
    assert provider.probed == 0 and rung.breaker.state is CircuitState.OPEN
    clock.now += 31
    await monitor.check()
    assert provider.probed == 1 and rung.breaker.state is CircuitState.CLOSED


async def test_a_failed_probe_keeps_the_circuit_open_for_another_cool_down() -> None:
    clock = Clock()
    provider = Probed("openai", [RetryableProviderError("openai", "503")])
    rung = open_rung(provider, clock)
    monitor = HealthMonitor([rung], has_rules=True, has_handoff=True, clock=clock)
    clock.now += 31
    await monitor.check()
    assert rung.breaker.state is CircuitState.OPEN
    assert rung.breaker.last_error.startswith("probe:")


async def test_a_parked_provider_is_probed_until_it_works_again() -> None:
    clock = Clock()
    provider = Probed("openai", [NeedsOperatorError("openai", "401")])
    breaker = CircuitBreaker(CircuitSettings(), clock)
    breaker.record_failure("401", park=True)
    rung = LlmRung(provider, breaker)
    monitor = HealthMonitor([rung], has_rules=False, has_handoff=True, clock=clock)

    await monitor.check()
    assert breaker.parked  # the key is still wrong
    await monitor.check()
    assert not breaker.parked and breaker.state is CircuitState.CLOSED  # the operator fixed it


async def test_report_states_and_overall_status() -> None:
    clock = Clock()
    healthy = LlmRung(Probed("anthropic"), CircuitBreaker(CircuitSettings(), clock))
    broken = open_rung(Probed("openai"), clock)

    both = HealthMonitor([broken, healthy], has_rules=True, has_handoff=True, clock=clock)
    report = both.report()
    assert report["status"] == "degraded"
    assert report["providers"]["openai"]["state"] == "open"
    assert report["providers"]["openai"]["last_error"] == "503"
    assert report["providers"]["anthropic"]["state"] == "closed"
    assert report["providers"]["rules"]["state"] == "available"

    only_people = HealthMonitor([broken], has_rules=False, has_handoff=True, clock=clock)
    assert only_people.report()["status"] == "down"

    all_well = HealthMonitor([healthy], has_rules=True, has_handoff=True, clock=clock)
    assert all_well.report()["status"] == "ok"


async def test_a_half_open_circuit_is_not_counted_as_healthy() -> None:
    clock = Clock()
    rung = open_rung(Probed("openai"), clock)
    clock.now += 31
    assert rung.breaker.state is CircuitState.HALF_OPEN
    report = HealthMonitor([rung], has_rules=True, has_handoff=True, clock=clock).report()
    assert report["status"] == "degraded"
    assert report["providers"]["openai"]["state"] == "half-open"


@dataclass
class Hanging(Probed):
    async def probe(self) -> None:
        self.probed += 1
        await asyncio.sleep(10)


async def test_probes_run_together_and_a_hanging_one_times_out() -> None:
    clock = Clock()
    first, second = Hanging("openai"), Hanging("anthropic")
    rungs = [open_rung(first, clock), open_rung(second, clock)]
    clock.now += 31
    monitor = HealthMonitor(rungs, has_rules=True, has_handoff=True, probe_timeout=0.1)
    await asyncio.wait_for(monitor.check(), timeout=1)  # 0.1 s, not 0.2 s: side by side
    assert (first.probed, second.probed) == (1, 1)
    assert all(r.breaker.state is CircuitState.OPEN for r in rungs)
