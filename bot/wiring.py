"""The one place that decides the order of the stages, and why."""

from __future__ import annotations

from typing import Protocol

from core.handoff import Handoff
from core.pipeline import compose
from core.ports import ConversationStore, Next, Stage, TicketStore, TurnMetrics
from core.stages.boundary import ErrorBoundary
from core.stages.commands import CommandStage
from core.stages.context import ContextStage
from core.stages.handoff_gate import HandoffGate


class TicketingStore(ConversationStore, TicketStore, Protocol):
    """A store that keeps both conversations and hand-off tickets (``SqliteStore`` does)."""


def build_pipeline(
    *,
    store: TicketingStore,
    ladder: Next,
    handoff: Handoff | None,
    metrics: TurnMetrics,
    bot_name: str,
    context: ContextStage,
    screening: Stage | None = None,
    budget: Stage | None = None,
    cache: Stage | None = None,
) -> Next:
    """Outermost first:

    1. the error boundary, so every turn (commands included) is timed, counted, and answered
       even when an inner stage raises;
    2. commands, before any history is loaded or stored: ``/forget`` must not leave itself
       behind, a command never costs a model call, and ``/human`` works even mid-hand-off;
    3. input screening, which only scores (it never blocks), before the gate so messages in a
       conversation people hold are scored too;
    4. the hand-off gate: a conversation people hold never reaches a model again;
    5. context: history, the user's facts, the prompt fitted to the token budget; it also
       records the exchange, so a cached answer is stored like any other;
    6. budgets, which set how much the turn may spend; before the cache, so a cache hit (free)
       still reaches a user whose allowance is spent, and a budget warning added to one user's
       reply is never stored in the cache and served to another;
    7. the response cache, after context because whether an answer may be shared depends on
       the facts and history the turn carries;
    8. the fallback ladder, terminal: LLMs (each reply validated), then the rules, then people.
    """
    stages: list[Stage] = [
        ErrorBoundary(metrics),
        CommandStage(store, bot_name=bot_name, handoff=handoff),
    ]
    if screening is not None:
        stages.append(screening)
    if handoff is not None:
        stages.append(HandoffGate(store, store))
    stages.append(context)
    if budget is not None:
        stages.append(budget)
    if cache is not None:
        stages.append(cache)
    return compose(stages, ladder)
