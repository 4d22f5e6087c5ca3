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
        """Probe each circuit that is half-open or parked; close it if the probe succeeds."""
        for rung in self._rungs:
            breaker = rung.breaker
            if breaker.parked or (breaker.state is CircuitState.HALF_OPEN and breaker.allow()):
                await self._probe(rung)

    async def _probe(self, rung: LlmRung) -> None:
        provider = rung.provider
        if not isinstance(provider, HealthProbe):
            rung.breaker.release_trial()  # nothing cheap to ask; a user request will be the trial
            return
        started = self._clock()
        try:
            async with asyncio.timeout(self._probe_timeout):
                await provider.probe()
        except (ProviderError, TimeoutError) as exc:
            still_parked = rung.breaker.parked and isinstance(exc, NeedsOperatorError)
            rung.breaker.record_failure(f"probe: {exc or 'timed out'}", park=still_parked)
            return
        was = "parked" if rung.breaker.parked else "open"
        rung.breaker.record_success(self._clock() - started)
        logger.info("provider {} works again (was {}); its circuit is closed", rung.name, was)

    def report(self) -> dict[str, Any]:
        """Overall status and each LLM rung's circuit, for ``GET /healthz``."""
        providers: dict[str, Any] = {}
        usable_llm = 0
        for rung in self._rungs:
            breaker = rung.breaker
            state = breaker.state
            usable_llm += state is not CircuitState.OPEN
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
