"""Exports the counters of admission, screening, context, budgets and the cache at scrape time.

Those stages keep plain counters (cheap on every turn); this collector reads them only when
``/metrics`` is scraped, so the hot path never touches the Prometheus client.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core.admission import Admission
from core.guardrails.screening import ScreeningStage
from core.stages.budget import BudgetStage
from core.stages.cache import CacheStage
from core.stages.context import ContextStage

# Cache counters that only grow; the rest (entries, hit_rate) are gauges.
_BUDGET_EVENTS = ("warnings", "economy_turns", "free_turns", "over_budget_notices", "failures")
_CACHE_COUNTERS = ("hits", "misses", "stores", "evictions", "expirations", "not_stored")


class GuardrailCollector(Collector):
    """Cache hits and savings, and input-screening flags, as Prometheus metrics."""

    def __init__(
        self,
        cache: CacheStage | None,
        screening: ScreeningStage | None,
        context: ContextStage | None = None,
        admission: Admission | None = None,
        budget: BudgetStage | None = None,
    ) -> None:
        self._cache = cache
        self._screening = screening
        self._context = context
        self._admission = admission
        self._budget = budget

    def register(self, registry: CollectorRegistry) -> None:
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        if self._cache is not None:
            values = self._cache.metrics()
            events = CounterMetricFamily(
                "bastion_cache_events", "Response cache events.", labels=["event"]
            )
            for name in _CACHE_COUNTERS:
                events.add_metric([name], values.get(name, 0.0))
            yield events
            yield CounterMetricFamily(
                "bastion_cache_saved_tokens",
                "Tokens the cache saved (what the cached answers cost when first made).",
                value=values.get("saved_input_tokens", 0.0)
                + values.get("saved_output_tokens", 0.0),
            )
            yield CounterMetricFamily(
                "bastion_cache_saved_cost_usd",
                "Money the cache saved.",
                value=values.get("saved_cost_usd", 0.0),
            )
            yield GaugeMetricFamily(
                "bastion_cache_entries", "Answers in the cache.", value=values.get("entries", 0)
            )
        if self._admission is not None:
            yield CounterMetricFamily(
                "bastion_admission_refused",
                "Messages refused at admission (rate limits), before any work was done.",
                value=self._admission.refused,
            )
            yield CounterMetricFamily(
                "bastion_admission_blocked",
                "Messages refused because an admin blocked their sender.",
                value=self._admission.blocked,
            )
        if self._budget is not None:
            values = self._budget.metrics()
            budget = CounterMetricFamily(
                "bastion_budget_events",
                "warnings: a user warned near an allowance; economy_turns / free_turns: turns "
                "limited to cheaper / free rungs; over_budget_notices: told it resets later; "
                "failures: the ledger failed and the turn went on unlimited.",
                labels=["event"],
            )
            for name in _BUDGET_EVENTS:
                budget.add_metric([name], values[name])
            yield budget
            yield GaugeMetricFamily(
                "bastion_budget_users_in_memory",
                "Users whose spend the budget ledger holds (bounded; evicted ones are re-read).",
                value=values["users_in_memory"],
            )
            yield CounterMetricFamily(
                "bastion_budget_storage_reads",
                "Users' spend read from storage: first sight, or after an eviction. Climbing "
                "steadily means the ledger holds too few users.",
                value=values["storage_reads"],
            )
        if self._context is not None:
            yield CounterMetricFamily(
                "bastion_context_trimmed_tokens",
                "History tokens left out of prompts to fit the token budget.",
                value=self._context.trimmed_tokens,
            )
            yield CounterMetricFamily(
                "bastion_context_trimmed_turns",
                "Turns whose history was trimmed to fit the token budget.",
                value=self._context.trimmed_turns,
            )
        if self._screening is not None:
            flags = CounterMetricFamily(
                "bastion_screening_flags",
                "Input screening flags raised (it scores; it never blocks).",
                labels=["flag"],
            )
            for flag, count in sorted(self._screening.flag_counts.items()):
                flags.add_metric([flag], count)
            yield flags
            yield CounterMetricFamily(
                "bastion_validator_rejection_risk",
                "Validator rejections counted into their sender's risk score.",
                value=self._screening.rejections,
            )
