"""The single entry point adapters hand messages to.

For now a turn runs in the caller's task, serialized per conversation; the admission issue puts
a durable inbox, limits and a worker pool behind this same ``submit``.
"""

from __future__ import annotations

import asyncio

from loguru import logger

from core.admission import Admission
from core.lanes import ConversationLanes
from core.model import IncomingMessage, Reply, ReplyKind, Turn, TurnOutcome
from core.ports import Next

SHUTTING_DOWN = "Bastion is restarting. Please send your message again in a minute."


class Gateway:
    """Runs each message through the pipeline, one turn at a time per conversation."""

    def __init__(
        self, pipeline: Next, *, system_prompt: str = "", admission: Admission | None = None
    ) -> None:
        self._pipeline = pipeline
        self._system_prompt = system_prompt
        self._admission = admission
        self._lanes = ConversationLanes()
        self._accepting = True
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # Once shutdown begins, every running turn gets the same deadline (loop time).
        self._shutdown_at: float | None = None
        self._deadlines: set[asyncio.Timeout] = set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def submit(self, message: IncomingMessage) -> Reply:
        """Answer ``message``; always returns a reply the user can see."""
        if not self._accepting:
            return Reply(SHUTTING_DOWN, kind=ReplyKind.NOTICE, outcome=TurnOutcome.FAILED)
        if self._admission is not None and (refusal := self._admission.refuse(message)):
            return refusal
        self._in_flight += 1
        self._idle.clear()
        try:
            return await self._run(message)
        except TimeoutError:
            # Only the shutdown deadline gets here: the error boundary catches the pipeline's own.
            logger.warning("a turn was cut short by shutdown; the user is asked to resend")
            return Reply(SHUTTING_DOWN, kind=ReplyKind.NOTICE, outcome=TurnOutcome.FAILED)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _run(self, message: IncomingMessage) -> Reply:
        async with asyncio.timeout(self._shutdown_at) as deadline:
            self._deadlines.add(deadline)
            try:
                async with self._lanes.hold(message.chat.key):
                    turn = Turn(message=message, system_prompt=self._system_prompt)
                    return await self._pipeline(turn)
            finally:
                self._deadlines.discard(deadline)

    def stop_intake(self, grace: float) -> None:
        """Refuse new messages with a "restarting" notice; running turns get ``grace`` seconds.

        A turn still running then is cancelled and its user gets the same notice, so nobody is
        left without a reply.
        """
        self._accepting = False
        self._shutdown_at = asyncio.get_running_loop().time() + grace
        for deadline in self._deadlines:
            deadline.reschedule(self._shutdown_at)

    async def drain(self, grace: float) -> bool:
        """Wait up to ``grace`` seconds for running turns; True if none was left behind."""
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            logger.warning("shutdown grace ran out with {} turns in flight", self._in_flight)
            return False
        return True
