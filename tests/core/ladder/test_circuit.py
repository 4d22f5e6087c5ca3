"""The circuit breaker's states, on an injected clock (no sleeping)."""

from __future__ import annotations

from core.ladder.circuit import CircuitBreaker, CircuitSettings, CircuitState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, **overrides: float) -> CircuitBreaker:
    settings = CircuitSettings(
        **{"consecutive_failures": 3, "window": 10, "min_calls": 4, "cooldown": 30.0, **overrides}  # type: ignore[arg-type]
    )
    return CircuitBreaker(settings, clock)


def test_opens_after_the_configured_consecutive_failures() -> None:
    circuit = breaker(Clock())
    for _ in range(2):
        circuit.record_failure("timeout")
    assert circuit.state is CircuitState.CLOSED and circuit.allow()
    circuit.record_failure("timeout")
    assert circuit.state is CircuitState.OPEN
    assert not circuit.allow()
    assert circuit.last_error == "timeout"


def test_opens_on_a_failure_rate_over_the_window() -> None:
    circuit = breaker(Clock(), consecutive_failures=100, failure_rate=0.5)
    for failed in (True, False, True, False, True):
        if failed:
            circuit.record_failure("5xx")
        else:
            circuit.record_success(0.1)
    assert circuit.state is CircuitState.OPEN  # 3 of 5 failed, over the 50% rate


def test_half_opens_after_the_cool_down_and_lets_one_trial_through() -> None:
    clock = Clock()
    circuit = breaker(clock)
    for _ in range(3):
        circuit.record_failure("timeout")
    clock.now += 29.9
    assert circuit.state is CircuitState.OPEN
    clock.now += 0.2
    assert circuit.state is CircuitState.HALF_OPEN
    assert circuit.allow()
    assert not circuit.allow()  # one trial at a time


def test_a_successful_trial_closes_it() -> None:
    clock = Clock()
    circuit = breaker(clock)
    for _ in range(3):
        circuit.record_failure("timeout")
    clock.now += 31
    assert circuit.allow()
    circuit.record_success(0.2)
    assert circuit.state is CircuitState.CLOSED
    assert circuit.last_latency == 0.2


def test_a_failed_trial_opens_it_for_another_cool_down() -> None:
    clock = Clock()
    circuit = breaker(clock)
    for _ in range(3):
        circuit.record_failure("timeout")
    clock.now += 31
    assert circuit.allow()
    circuit.record_failure("timeout")
    assert circuit.state is CircuitState.OPEN
    clock.now += 29
    assert circuit.state is CircuitState.OPEN
    clock.now += 2
    assert circuit.state is CircuitState.HALF_OPEN


def test_a_parked_circuit_stays_open_until_something_succeeds() -> None:
    clock = Clock()
    circuit = breaker(clock)
    circuit.record_failure("bad key", park=True)
    clock.now += 3600
    assert circuit.state is CircuitState.OPEN and circuit.parked
    assert not circuit.allow()
    circuit.record_success(0.1)  # a health probe got through
    assert circuit.state is CircuitState.CLOSED and not circuit.parked


def test_a_released_trial_frees_the_slot() -> None:
    clock = Clock()
    circuit = breaker(clock)
    for _ in range(3):
        circuit.record_failure("timeout")
    clock.now += 31
    assert circuit.allow()
    circuit.release_trial()
    assert circuit.allow()
