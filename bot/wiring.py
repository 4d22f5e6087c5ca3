"""The one place that decides the order of the stages, and why."""

from __future__ import annotations

from core.pipeline import compose
from core.ports import ConversationStore, Next, Provider, TurnMetrics
from core.stages.answer import ProviderAnswer
from core.stages.boundary import ErrorBoundary
from core.stages.commands import CommandStage
from core.stages.context import ContextStage


def build_pipeline(
    *,
    store: ConversationStore,
    provider: Provider,
    metrics: TurnMetrics,
    history_limit: int,
    bot_name: str,
) -> Next:
    """Outermost first:

    1. the error boundary, so every turn (commands included) is timed, counted, and answered
       even when an inner stage raises;
    2. commands, before any history is loaded or stored: ``/forget`` must not leave itself
       behind, and a command never costs a model call;
    3. context, which loads history for the provider and records the exchange;
    4. the provider, terminal.
    """
    return compose(
        [
            ErrorBoundary(metrics),
            CommandStage(store, bot_name=bot_name),
            ContextStage(store, history_limit=history_limit),
        ],
        ProviderAnswer(provider),
    )
