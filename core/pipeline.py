"""Composes stages into one handler: the onion every turn passes through.

The order is decided by the caller (the composition root in ``bot/wiring.py``); this module only
nests them, outermost first, around a terminal handler that never calls further.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.model import Reply, Turn
from core.ports import Next, Stage


def compose(stages: Sequence[Stage], terminal: Next) -> Next:
    """A handler running ``stages[0]`` first, each stage wrapping the rest, then ``terminal``."""
    handler = terminal
    # Built once from the inside out, so a turn costs one closure call per stage, no lookups.
    for stage in reversed(stages):
        handler = _bind(stage, handler)
    return handler


def _bind(stage: Stage, call_next: Next) -> Next:
    async def run(turn: Turn) -> Reply:
        return await stage(turn, call_next)

    return run
