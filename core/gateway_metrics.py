"""Exports the gateway's queue and intake counters at scrape time (nothing on the hot path)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core.gateway import Gateway


class GatewayCollector(Collector):
    """Backlog and turns in flight (gauges), and intake events (counters)."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def register(self, registry: CollectorRegistry) -> None:
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        gateway = self._gateway
        values = gateway.metrics()
        yield GaugeMetricFamily(
            "bastion_queue_backlog",
            "Accepted messages waiting for a worker.",
            value=values["backlog"],
        )
        yield GaugeMetricFamily(
            "bastion_turns_in_flight", "Turns running now.", value=values["in_flight"]
        )
        events = CounterMetricFamily(
            "bastion_intake_events",
            "busy: refused for a full backlog; duplicates: a platform's second delivery; "
            "replayed: unfinished at start; undelivered: a reply a platform did not take.",
            labels=["event"],
        )
        for name, count in gateway.counts.items():
            events.add_metric([name], count)
        yield events
