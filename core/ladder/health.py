"""Health of the ladder's providers: probes for circuits that wait to close, and a summary.

``check`` is what the scheduler runs every few seconds: a half-open circuit (cool-down over) or
a parked one (a bad key, quota used up) is asked with a cheap request whether its provider works
again, so recovery does not wait for a user to be the trial. Closed circuits are left alone:
user traffic already tells how they are doing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from loguru import logger

from core.errors import NeedsOperatorError, ProviderError
from core.ladder.circuit import CircuitState
from core.ladder.ladder import LlmRung
from core.ports import HealthProbe


class HealthMonitor:
    """Probes recovering providers and reports every rung's state for ``/healthz``."""

    def __init__(
        self,
        rungs: Sequence[LlmRung],
        *,
        has_rules: bool,
        has_handoff: bool,
        probe_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rungs = tuple(rungs)
        self._has_rules = has_rules
        self._has_handoff = has_handoff
        self._probe_timeout = probe_timeout
        self._clock = clock

    async def check(self) -> None:
        """Probe, all at once, each parked circuit and each open one whose cool-down is over."""
        due = [
            rung
            for rung in self._rungs
            if rung.breaker.parked or rung.breaker.state is CircuitState.HALF_OPEN
        ]
        # Concurrently: two hanging providers must not make one check outlast its interval.
        await asyncio.gather(*(self._probe(rung) for rung in due))

    async def _probe(self, rung: LlmRung) -> None:
        provider, breaker = rung.provider, rung.breaker
        if not isinstance(provider, HealthProbe):
            return  # nothing cheap to ask; the next user request will be the trial
        started = self._clock()
        try:
            async with asyncio.timeout(self._probe_timeout):
                await provider.probe()
        except NeedsOperatorError as exc:
            breaker.record_failure(f"probe: {exc}", park=True)
        except (ProviderError, TimeoutError) as exc:
            if not breaker.parked:
                breaker.record_failure(f"probe: {exc or 'timed out'}")
        except Exception:  # a probe bug must not stop the checks, nor reach the scheduler
            logger.exception("probing provider {} failed unexpectedly", rung.name)
        else:
            was = "parked" if breaker.parked else "open"
            breaker.record_success(self._clock() - started)
            logger.info("provider {} works again (was {}); its circuit is closed", rung.name, was)

    def report(self) -> dict[str, Any]:
        """Overall status and each LLM rung's circuit, for ``GET /healthz``."""
        providers: dict[str, Any] = {}
        usable_llm = 0
        for rung in self._rungs:
            breaker = rung.breaker
            state = breaker.state
            usable_llm += state is CircuitState.CLOSED  # half-open is not proven yet
            providers[rung.name] = {
                "state": "parked" if breaker.parked else str(state),
                "last_error": breaker.last_error or None,
                "latency_ms": None
                if breaker.last_latency is None
                else round(breaker.last_latency * 1000, 1),
            }
        # In process, no circuit: they are there whenever the bot is.
        for name, present in (("rules", self._has_rules), ("handoff", self._has_handoff)):
            if present:
                providers[name] = {"state": "available", "last_error": None, "latency_ms": None}
        if usable_llm == 0 and not self._has_rules:
            status = "down"  # only people are left
        elif usable_llm < len(self._rungs):
            status = "degraded"
        else:
            status = "ok"
        return {"status": status, "providers": providers}
