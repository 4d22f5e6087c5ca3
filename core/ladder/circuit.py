"""A circuit breaker per provider, so an outage costs the first users a few seconds, not everyone.

closed ──(too many failures)──► open ──(cool-down)──► half-open ──(a trial succeeds)──► closed
                                  ▲                       │
                                  └───(the trial fails)───┘

"Too many" is either ``consecutive_failures`` in a row, or a failure rate of ``failure_rate`` over
the last ``window`` calls once ``min_calls`` have been seen. A *parked* circuit (a bad key, quota
used up) stays open until a health probe succeeds: no user request is risked on it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True, slots=True)
class CircuitSettings:
    consecutive_failures: int = 3
    failure_rate: float = 0.5
    window: int = 20
    min_calls: int = 10
    cooldown: float = 30.0


class CircuitBreaker:
    """Decides whether a provider may be called, from what its recent calls did."""

    def __init__(
        self, settings: CircuitSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._outcomes: deque[bool] = deque(maxlen=settings.window)  # True = failure
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self.parked = False
        # Set once an operator problem was logged; cleared when a completion succeeds again,
        # so one incident is one error in the log however often probes and trials run.
        self.operator_alerted = False
        self.last_error = ""
        self.last_latency: float | None = None

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self.parked or self._clock() - self._opened_at < self._settings.cooldown:
            return CircuitState.OPEN
        return CircuitState.HALF_OPEN

    def allow(self) -> bool:
        """May a user request go to this provider now? Half-open lets one trial through."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def record_success(self, latency: float) -> None:
        """A completion (a user's, or a probe's) worked: close the circuit."""
        self.last_latency = latency
        self._outcomes.append(False)
        self._consecutive = 0
        self._opened_at = None
        self._trial_running = False
        self.parked = False
        self.operator_alerted = False

    def record_failure(self, error: str, *, park: bool = False) -> None:
        self.last_error = error
        self._outcomes.append(True)
        self._consecutive += 1
        was_trial = self._trial_running
        self._trial_running = False
        if park:
            self.parked = True
        if park or was_trial or self._should_open():
            self._opened_at = self._clock()  # (re)start the cool-down

    def release_trial(self) -> None:
        """A half-open trial ended without a verdict (skipped for lack of time): free the slot."""
        self._trial_running = False

    def _should_open(self) -> bool:
        if self._consecutive >= self._settings.consecutive_failures:
            return True
        if len(self._outcomes) < self._settings.min_calls:
            return False
        return sum(self._outcomes) / len(self._outcomes) >= self._settings.failure_rate
