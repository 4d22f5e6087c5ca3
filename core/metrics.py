"""Prometheus metrics for turns, on a registry the caller owns (no global registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from core.model import Reply

# Buckets span a cached or command answer (ms) to a deadline-bound LLM turn (tens of seconds).
_TURN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60)


class PrometheusTurnMetrics:
    """Counts every turn by outcome and provider, and times it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._turns = Counter(
            "bastion_turns",
            "Turns finished, by outcome, reply kind and the provider that answered.",
            ["outcome", "kind", "provider"],
            registry=registry,
        )
        self._seconds = Histogram(
            "bastion_turn_seconds",
            "Time from a turn entering the pipeline to its reply.",
            buckets=_TURN_BUCKETS,
            registry=registry,
        )
        self._crashes = Counter(
            "bastion_turn_errors",
            "Turns the error boundary caught, by exception type.",
            ["error"],
            registry=registry,
        )
        self._steps = Counter(
            "bastion_ladder_steps",
            "Fallback ladder steps, by rung and how each ended (answered, timeout, ...).",
            ["rung", "result"],
            registry=registry,
        )
        self._cost = Counter(
            "bastion_provider_cost_usd",
            "Money spent on providers, priced from their token usage.",
            ["provider"],
            registry=registry,
        )
        self._tokens = Counter(
            "bastion_provider_tokens",
            "Tokens reported by providers, by provider and direction.",
            ["provider", "direction"],
            registry=registry,
        )

    def turn_finished(self, reply: Reply, seconds: float) -> None:
        self._turns.labels(reply.outcome, reply.kind, reply.provider or "none").inc()
        self._seconds.observe(seconds)
        if reply.usage.input_tokens or reply.usage.output_tokens:
            self._tokens.labels(reply.provider, "input").inc(reply.usage.input_tokens)
            self._tokens.labels(reply.provider, "output").inc(reply.usage.output_tokens)
            self._cost.labels(reply.provider).inc(reply.usage.cost_usd)
        for step in reply.trail:
            rung, _, result = step.partition(":")
            self._steps.labels(rung, result).inc()

    def turn_crashed(self, stage_error: str) -> None:
        self._crashes.labels(stage_error).inc()
