"""Builds the object graph once and owns every resource in it, in one ``AsyncExitStack``."""

from __future__ import annotations

import asyncio
import gc
import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from loguru import logger
from prometheus_client import CollectorRegistry

from bot.providers import llm_provider
from bot.settings import LLM_PROVIDERS, Settings
from bot.wiring import build_pipeline
from core.admission import Admission
from core.blocks import BlockList
from core.budget import BudgetLedger, BudgetLimits
from core.cache import ResponseCache
from core.context import TiktokenCounter, TokenCounter, budgeted, counter_for
from core.gateway import Gateway
from core.gateway_metrics import GatewayCollector
from core.guardrail_metrics import GuardrailCollector
from core.guardrails.facts import FileFactsProvider
from core.guardrails.rules import load_validator_rules
from core.guardrails.screening import InputScreen, RiskLedger, ScreeningStage
from core.guardrails.validator import OutputValidator
from core.handoff import Handoff, LogNotifier
from core.ladder.circuit import CircuitBreaker, CircuitSettings
from core.ladder.health import HealthMonitor
from core.ladder.ladder import FallbackLadder, LadderSettings, LlmRung
from core.ladder.retry import RetryPolicy
from core.metrics import PrometheusTurnMetrics
from core.model import Role
from core.ports import Provider
from core.pricing import load_pricing
from core.providers.rules import RulesProvider, load_knowledge_base
from core.ratelimit import AdmissionLimits, Gcra, SlowDownNotices
from core.stages.budget import BudgetStage
from core.stages.cache import CacheStage
from core.stages.context import ContextStage, TokenBudget
from core.storage.sqlite import SqliteStore

# Old inbox and spend rows are forgotten this often.
PURGE_INTERVAL_MINUTES = 10


@dataclass(frozen=True, slots=True)
class Runtime:
    """What adapters and the HTTP app need from the running core."""

    settings: Settings
    store: SqliteStore
    registry: CollectorRegistry
    gateway: Gateway
    health: HealthMonitor
    blocks: BlockList


@asynccontextmanager
async def open_runtime(
    settings: Settings, llm: Sequence[Provider] | None = None
) -> AsyncIterator[Runtime]:
    """Open storage and providers, wire the pipeline; close in reverse order on exit.

    ``llm`` replaces the configured language-model rungs (tests use it to control them).
    """
    names = settings.configured_providers()
    async with AsyncExitStack() as stack:
        if llm is None:
            llm = [
                await stack.enter_async_context(llm_provider(settings, name))
                for name in names
                if name in LLM_PROVIDERS
            ]
        kb = load_knowledge_base(settings.knowledge_base_path)
        rules = RulesProvider(kb, settings.rules_min_confidence) if "rules" in names else None
        counter = await _token_counter(settings, llm)

        def weigh(role: Role, text: str) -> tuple[int, float]:
            weighed = budgeted(role, text, counter)
            return weighed.tokens, weighed.importance

        store = await stack.enter_async_context(SqliteStore(settings.sqlite_path, weigh))
        ladder_settings = LadderSettings(
            deadline=settings.turn_deadline_seconds,
            attempt_timeout=settings.provider_timeout_seconds,
            rules_first=settings.rules_first_confidence or None,
            retry=RetryPolicy(
                attempts=settings.provider_attempts,
                retry_after_cap=settings.retry_after_cap_seconds,
            ),
        )
        handoff = (
            Handoff(
                store,
                LogNotifier(),
                transcript_size=settings.handoff_transcript_size,
                # Inside the time the ladder keeps back for the rules and the hand-off.
                notify_timeout=ladder_settings.reserve / 2,
            )
            if "handoff" in names
            else None
        )
        validator = OutputValidator(
            load_validator_rules(settings.validator_rules_path),
            # The knowledge base's answers are what the shop says: figures in them are grounded.
            reference_texts=[*(intent.answer for intent in kb.intents), kb.fallback],
            secrets=settings.secrets(),
            max_chars=settings.max_reply_chars,
        )
        circuit = CircuitSettings(
            consecutive_failures=settings.circuit_failures,
            cooldown=settings.circuit_cooldown_seconds,
        )
        ladder = FallbackLadder(
            [LlmRung(provider, CircuitBreaker(circuit)) for provider in llm],
            rules=rules,
            handoff=handoff,
            validator=validator,
            pricing=load_pricing(settings.pricing_path),
            settings=ladder_settings,
        )
        health = HealthMonitor(
            ladder.rungs,
            has_rules=rules is not None,
            has_handoff=handoff is not None,
            probe_timeout=settings.provider_timeout_seconds,
        )
        probed = health if ladder.rungs else None
        stack.callback(_start_jobs(settings, probed, store).shutdown, False)
        registry = CollectorRegistry()
        # One ledger: screening writes each user's risk, admission reads it to shrink their rate.
        ledger = RiskLedger(settings.risk_half_life_seconds, settings.risk_max_users)
        screening = ScreeningStage(InputScreen(), ledger)
        cache = (
            CacheStage(
                ResponseCache(settings.cache_max_entries, settings.cache_ttl_seconds),
                _answer_version(settings, llm, kb.version),
            )
            if settings.cache_enabled
            else None
        )
        context = ContextStage(
            store,
            history_limit=settings.history_limit,
            facts=FileFactsProvider(settings.facts_dir) if settings.facts_dir else None,
            idle_reset=timedelta(minutes=settings.context_idle_reset_minutes) or None,
            budget=TokenBudget(
                tokens=settings.context_budget_tokens,
                reply_reserve=settings.reply_reserve_tokens,
                keep_recent=settings.keep_recent_turns,
                counter=counter,
            ),
        )
        # Blocks come back from SQLite into memory: the check on every message is a lookup.
        blocks = BlockList(store, risk=ledger)
        await blocks.load()
        admission = _admission(settings, ledger, blocks)
        budget = _budget(settings, store, handoff_enabled=handoff is not None)
        GuardrailCollector(cache, screening, context, admission, budget).register(registry)
        pipeline = build_pipeline(
            store=store,
            ladder=ladder,
            handoff=handoff,
            metrics=PrometheusTurnMetrics(registry),
            bot_name=settings.bot_name,
            screening=screening,
            context=context,
            budget=budget,
            cache=cache,
        )
        gateway = await stack.enter_async_context(
            Gateway(
                pipeline,
                inbox=store,
                admission=admission,
                system_prompt=settings.system_prompt,
                workers=settings.workers,
                max_backlog=settings.max_backlog,
                max_per_conversation=settings.max_backlog_per_conversation,
                typing_interval=settings.typing_interval_seconds,
                max_replays=settings.max_replays,
                push_platforms=settings.platforms_configured(),
            )
        )
        GatewayCollector(gateway).register(registry)
        # Everything loaded so far (SDKs, knowledge base, settings) lives as long as the process.
        # Freezing it keeps the cyclic GC from rescanning it: full collections over that heap
        # were 20-100 ms pauses, the whole of the pipeline's p99 (bench/pipeline.py).
        gc.freeze()
        yield Runtime(settings, store, registry, gateway, health, blocks)


async def _token_counter(settings: Settings, llm: Sequence[Provider]) -> TokenCounter:
    """Count as the first LLM rung does; load tiktoken now, not in a user's turn."""
    first = llm[0].name if llm else ""
    model = settings.openai_model if first == "openai" else ""
    counter = counter_for(first, model)
    if isinstance(counter, TiktokenCounter):
        await asyncio.to_thread(counter.load)
    return counter


def _admission(settings: Settings, ledger: RiskLedger, blocks: BlockList) -> Admission:
    keys = settings.rate_max_keys
    return Admission(
        AdmissionLimits(
            Gcra(settings.rate_per_minute / 60, settings.rate_burst, max_keys=keys),
            Gcra(settings.chat_rate_per_minute / 60, settings.chat_rate_burst, max_keys=keys),
            Gcra(settings.global_rate_per_second, settings.global_rate_burst, max_keys=1),
            ledger.risk,
            min_scale=settings.rate_min_scale,
        ),
        SlowDownNotices(settings.slow_down_window_seconds, max_keys=keys),
        blocks=blocks,
        risk=ledger,
    )


def _budget(settings: Settings, store: SqliteStore, *, handoff_enabled: bool) -> BudgetStage:
    limits = BudgetLimits(
        user_daily_tokens=settings.user_daily_tokens,
        user_monthly_tokens=settings.user_monthly_tokens,
        user_daily_cost_usd=settings.user_daily_cost_usd,
        user_monthly_cost_usd=settings.user_monthly_cost_usd,
        global_daily_cost_usd=settings.global_daily_cost_usd,
        warn_fraction=settings.budget_warn_fraction,
    )
    ledger = BudgetLedger(store, limits, max_users=settings.rate_max_keys)
    return BudgetStage(ledger, handoff_enabled=handoff_enabled)


def _answer_version(settings: Settings, llm: Sequence[Provider], kb_version: str) -> str:
    """What shapes an answer besides the prompt (the cache stage keys on the prompt itself)."""
    parts = (
        "+".join(provider.name for provider in llm),
        settings.openai_model,
        settings.anthropic_model,
        kb_version,
        hashlib.sha256(settings.validator_rules_path.read_bytes()).hexdigest()[:12],
    )
    return "|".join(parts)


def _start_jobs(
    settings: Settings, health: HealthMonitor | None, store: SqliteStore
) -> AsyncIOScheduler:
    """Background jobs: circuit probes, and forgetting old inbox and spend rows; one at a time."""
    scheduler = AsyncIOScheduler()
    if health is not None:
        scheduler.add_job(
            health.check,
            "interval",
            seconds=settings.health_check_seconds,
            max_instances=1,
            coalesce=True,
            id="probes",
        )
    retention = timedelta(hours=settings.inbox_retention_hours)

    async def forget_old_rows() -> None:
        now = datetime.now(UTC)
        removed = await store.purge_inbox(now - retention)
        # No budget looks back further than the current month: a year and a bit is ample.
        removed += await store.purge_spend(now - timedelta(days=400))
        if removed:
            logger.debug("forgot {} old inbox and spend rows", removed)

    # The first purge waits one interval: at start the gateway is still replaying what the
    # last run left, and a long downtime must not make those messages "too old" to answer.
    scheduler.add_job(
        forget_old_rows,
        "interval",
        minutes=PURGE_INTERVAL_MINUTES,
        max_instances=1,
        coalesce=True,
        id="inbox-purge",
    )
    scheduler.start()
    return scheduler
