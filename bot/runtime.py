"""Builds the object graph once and owns every resource in it, in one ``AsyncExitStack``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from bot.settings import Settings
from bot.wiring import build_pipeline
from core.gateway import Gateway
from core.metrics import PrometheusTurnMetrics
from core.ports import Provider
from core.providers.rules import RulesProvider
from core.storage.sqlite import SqliteStore


@dataclass(frozen=True, slots=True)
class Runtime:
    """What adapters and the HTTP app need from the running core."""

    settings: Settings
    store: SqliteStore
    provider: Provider
    registry: CollectorRegistry
    gateway: Gateway


@asynccontextmanager
async def open_runtime(
    settings: Settings, provider: Provider | None = None
) -> AsyncIterator[Runtime]:
    """Open storage and providers, wire the pipeline; close in reverse order on exit.

    ``provider`` replaces the configured one (tests use it to control timing).
    """
    async with AsyncExitStack() as stack:
        if provider is None:
            provider = await stack.enter_async_context(
                RulesProvider.from_path(
                    settings.knowledge_base_path, settings.rules_min_confidence
                )
            )
        store = await stack.enter_async_context(SqliteStore(settings.sqlite_path))
        registry = CollectorRegistry()
        pipeline = build_pipeline(
            store=store,
            provider=provider,
            metrics=PrometheusTurnMetrics(registry),
            history_limit=settings.history_limit,
            bot_name=settings.bot_name,
        )
        gateway = Gateway(pipeline, system_prompt=settings.system_prompt)
        yield Runtime(settings, store, provider, registry, gateway)
