"""What the benchmarks share: timing a call many times, and the arithmetic of the figures."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable


def percentile(values: list[float], pct: int) -> float:
    """The ``pct``-th percentile (inclusive method) of ``values``, which need not be sorted."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def latency_summary(values_ms: list[float]) -> str:
    """``median, p99, max`` of a list of milliseconds, or ``-`` for none."""
    if not values_ms:
        return "-"
    return (
        f"median {statistics.median(values_ms):.2f} ms, p99 {percentile(values_ms, 99):.2f} ms, "
        f"max {max(values_ms):.2f} ms"
    )


def timed(work: Callable[[], object], rounds: int, *, warm_up: int = 200) -> list[float]:
    """Microseconds per call of ``work``, one sample a call, after a few unmeasured calls."""
    for _ in range(min(rounds, warm_up)):
        work()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        work()
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


async def timed_async(work: Callable[[], Awaitable[object]], rounds: int) -> list[float]:
    """Microseconds per awaited call of ``work``, one sample a call."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        await work()
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


def micro_line(label: str, samples_us: list[float]) -> str:
    """One printed line: the median and p99 of microsecond samples."""
    return (
        f"  {label:<44} median {statistics.median(samples_us):8.1f} µs   "
        f"p99 {percentile(samples_us, 99):8.1f} µs"
    )
