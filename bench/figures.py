"""Shared arithmetic for the benchmarks' printed figures."""

from __future__ import annotations

import statistics


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
