"""The single entry point adapters hand messages to.

For now a turn runs in the caller's task, serialized per conversation; the admission issue puts
a durable inbox, limits and a worker pool behind this same ``submit``.
"""

from __future__ import annotations

import asyncio

from loguru import logger

from core.lanes import ConversationLanes
from core.model import IncomingMessage, Reply, ReplyKind, Turn, TurnOutcome
from core.ports import Next

SHUTTING_DOWN = "Bastion is restarting. Please send your message again in a minute."


class Gateway:
    """Runs each message through the pipeline, one turn at a time per conversation."""

    def __init__(self, pipeline: Next, *, system_prompt: str = "") -> None:
        self._pipeline = pipeline
        self._system_prompt = system_prompt
        self._lanes = ConversationLanes()
        self._accepting = True
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def submit(self, message: IncomingMessage) -> Reply:
        """Answer ``message``; always returns a reply the user can see."""
        if not self._accepting:
            return Reply(SHUTTING_DOWN, kind=ReplyKind.NOTICE, outcome=TurnOutcome.FAILED)
        self._in_flight += 1
        self._idle.clear()
        try:
            async with self._lanes.hold(message.chat.key):
                turn = Turn(message=message, system_prompt=self._system_prompt)
                return await self._pipeline(turn)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    def stop_intake(self) -> None:
        """New messages get a "restarting" notice from now on; turns already running go on."""
        self._accepting = False

    async def drain(self, grace: float) -> bool:
        """Wait up to ``grace`` seconds for running turns; True if none was left behind."""
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            logger.warning("shutdown grace ran out with {} turns in flight", self._in_flight)
            return False
        return True
