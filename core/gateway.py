"""The single entry point adapters hand messages to, and the pool of workers behind it.

Intake never waits on a model: a message is checked by admission, written to the durable
inbox, and queued in its conversation's lane; a pool of workers runs the turns, one at a time
per conversation, the conversations served round robin (``core/lanes.py``).

Two ways in:

- ``submit`` (web chat, console): accept, then wait for this message's reply and return it;
- ``deliver`` (Telegram, Discord, Slack): accept and return at once; the reply, typing
  indicators and any refusal go out through the platform's ``Outbound``.

Every accepted message ends with exactly one reply, sent or held: an answer, a notice, or an
apology. A crash leaves unfinished messages in the inbox, and ``replay`` runs them at the next
start; a platform's second delivery of a message id gets no second answer.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from loguru import logger

from core.admission import Admission
from core.cache.lru import BoundedCache
from core.errors import DeliveryError
from core.lanes import FairLanes
from core.logref import pseudonym
from core.model import (
    ChatRef,
    InboxEntry,
    InboxState,
    IncomingMessage,
    Received,
    Reply,
    ReplyKind,
    Turn,
    TurnOutcome,
)
from core.ports import Inbox, Next, Outbound

SHUTTING_DOWN = "Bastion is restarting. Please send your message again in a minute."
BUSY = "I'm busy with a lot of messages right now. Please try again in a minute."
UNAVAILABLE = "I can't take messages right now. Please try again in a minute."
DUPLICATE = "This message was already received."
GAVE_UP = (
    "Sorry, something went wrong while I was answering your message. "
    "Please send it again, or type /human to reach a person."
)
# What a busy notice tells an HTTP client to wait.
BUSY_RETRY_AFTER = 10.0
# A reply the platform did not take is tried again after these delays, then at the next start.
RESEND_DELAYS = (2.0, 10.0, 60.0)
# Message ids remembered to spot a platform's retry before admission (an LRU: older ones are
# still caught by the inbox, after admission).
RECENT_IDS = 100_000
# How long leaving the gateway waits for notices still being sent.
BACKGROUND_GRACE = 5.0


@dataclass(eq=False, slots=True)
class _Job:
    """One accepted message on its way through a lane."""

    entry_id: int
    message: IncomingMessage
    # Set when someone may wait for the reply in this process (``submit``): the first caller
    # and any retry of the same message id share it. None for a push platform or a replay.
    waiter: asyncio.Future[Reply] | None = None
    listeners: int = 0  # callers awaiting ``waiter`` right now
    # The reply, once made: a replayed entry answered before a restart, or a send to retry.
    reply: Reply | None = None
    replays: int = 0  # replays begun before this one (from the inbox)
    counted: bool = False  # this process counted its replay
    failed_sends: int = 0
    resend_pending: bool = False  # a send failed and is tried again in this process
    # Rate limited: its lane stays held until the resend, so no later reply overtakes it.
    holds_lane: bool = False


class Gateway:
    """Admission, durable intake, fair lanes and the workers.

    ``async with`` starts the workers and queues what the last run left unfinished, before
    any new message can arrive; leaving it stops the workers.
    """

    def __init__(
        self,
        pipeline: Next,
        *,
        inbox: Inbox | None = None,
        admission: Admission | None = None,
        system_prompt: str = "",
        workers: int = 8,
        max_backlog: int = 1000,
        max_per_conversation: int = 50,
        typing_interval: float = 4.0,
        max_replays: int = 3,
        resend_delays: tuple[float, ...] = RESEND_DELAYS,
        push_platforms: frozenset[str] = frozenset(),
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._pipeline = pipeline
        self._inbox: Inbox = inbox if inbox is not None else EphemeralInbox()
        self._admission = admission
        self._system_prompt = system_prompt
        self._workers = workers
        self._typing_interval = typing_interval
        self._max_replays = max_replays
        self._resend_delays = resend_delays
        self._lanes: FairLanes[_Job] = FairLanes(max_backlog, max_per_conversation)
        self._outbound: dict[str, Outbound] = {}
        # Platforms whose adapter will ``connect`` (Telegram...): their replays wait for it, so
        # a chat's replies go out in order once it can send. Others (web, console) hold replies.
        self._push = push_platforms
        self._deferred: dict[str, list[_Job]] = {}
        # Entries whose caller has its reply but whose ``done`` is not recorded yet.
        self._settled: set[int] = set()
        self._jobs: dict[int, _Job] = {}  # accepted or replayed, not finished: by entry id
        # Recently accepted message ids, so a platform's retry is known before admission (a
        # retry must not get a "slow down" or "busy" of its own).
        self._recent: BoundedCache[int] = BoundedCache(RECENT_IDS)
        self._tasks: set[asyncio.Task[None]] = set()
        # Notices and inbox closings in the background: finished, not cancelled, at exit.
        self._marking: set[asyncio.Task[Any]] = set()
        self._started = False
        self._replayed = False
        self._accepting = True
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # Once shutdown begins, every running turn gets the same deadline (loop time).
        self._shutdown_at: float | None = None
        self._deadlines: set[asyncio.Timeout] = set()
        self.counts = {"busy": 0, "duplicates": 0, "replayed": 0, "undelivered": 0}

    async def __aenter__(self) -> Gateway:
        self._start()
        try:
            await self.replay()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        """Start the workers, once; the first message starts them if ``async with`` did not."""
        if self._started:
            return
        self._started = True
        for n in range(self._workers):
            self._spawn(self._work(), name=f"worker-{n}")

    async def __aexit__(self, *exc_info: object) -> None:
        self._accepting = False
        jobs = list(self._jobs.values())  # before cancelling: workers forget theirs on the way
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Anyone still waiting is told to send again, so the next start must not answer too.
        told = [job for job in jobs if self._settle(job, _restarting())]
        await self._discard(told)
        # Callers who had their answer while the worker was cut short recording it.
        await self._mark_done(list(self._settled))
        if self._marking:
            _, late = await asyncio.wait(self._marking, timeout=BACKGROUND_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._marking, return_exceptions=True)

    @property
    def in_flight(self) -> int:
        """Turns running now."""
        return self._in_flight

    @property
    def backlog(self) -> int:
        """Accepted messages waiting for a worker."""
        return len(self._lanes)

    def connect(self, platform: str, outbound: Outbound) -> None:
        """Send ``platform``'s replies (and replays, and typing) through ``outbound``."""
        self._outbound[platform] = outbound
        # The adapter connects before it starts receiving: its chats' lanes are empty, so the
        # replays go first, in the order they arrived.
        for job in self._deferred.pop(platform, []):
            self._lanes.put(job.message.chat.key, job, force=True)

    async def submit(self, message: IncomingMessage) -> Reply:
        """Accept ``message`` and wait for its reply; always returns a reply the user can see."""
        job_or_reply = await self._accept(message, waiting=True)
        if isinstance(job_or_reply, Reply):
            return job_or_reply
        return await self._wait(job_or_reply)

    async def deliver(self, message: IncomingMessage) -> None:
        """Accept ``message`` from a push platform; returns once it is stored, not answered.

        A refusal ("slow down", "busy") goes out through the platform's ``Outbound``.
        """
        job_or_reply = await self._accept(message, waiting=False)
        if isinstance(job_or_reply, Reply) and not job_or_reply.silent:
            # In the background: a notice must never hold up intake (a 429 on it would stall
            # the platform's polling loop, or a webhook past the platform's timeout).
            self._finish_later(self._send(message, job_or_reply), name="refusal")

    async def held_replies(self, chat: ChatRef) -> list[Reply]:
        """Replies made while nobody waited (after a restart); handed over once."""
        return await self._inbox.held_replies(chat)

    async def replay(self) -> int:
        """Queue what the last run left unfinished (once; ``async with`` does it)."""
        if self._replayed:
            return 0
        self._replayed = True
        self._start()
        # A platform resends what the last run took in but never confirmed: known before
        # admission, those resends spend no rate limit and get no "busy" of their own.
        for platform, chat_key, message_id, entry_id in reversed(
            await self._inbox.newest(RECENT_IDS)
        ):
            self._recent.put(_key(platform, chat_key, message_id), entry_id)
        entries = [e for e in await self._inbox.unfinished() if e.id not in self._jobs]
        for entry in entries:
            platform = entry.message.user.platform
            pushed = platform in self._push
            if entry.state is InboxState.ANSWERED and not pushed:
                continue  # held in the inbox until its client collects it
            job = _replayed(entry)
            self._jobs[job.entry_id] = job
            self._recent.put(_dedupe_key(entry.message), entry.id)
            if pushed and platform not in self._outbound:
                self._deferred.setdefault(platform, []).append(job)
            else:
                self._lanes.put(entry.message.chat.key, job, force=True)
        if entries:
            self.counts["replayed"] += len(entries)
            logger.info("replaying {} messages left unfinished by the last run", len(entries))
        return len(entries)

    async def _accept(self, message: IncomingMessage, *, waiting: bool) -> _Job | Reply:
        if not self._accepting:
            return _restarting()
        self._start()
        key = _dedupe_key(message)
        if (known := self._recent.get(key)) is not None:
            return await self._duplicate(known, waiting=waiting)
        if (refusal := self._refusal(message)) is not None:
            return refusal
        try:
            received = await self._inbox.receive(message)
        except Exception as exc:
            # Not stored means not accepted: say so rather than take it and maybe lose it.
            logger.opt(exception=exc).error("the inbox could not store a message")
            return _notice(UNAVAILABLE, TurnOutcome.FAILED)
        if received.duplicate:
            return await self._duplicate(received.entry_id, waiting=waiting)
        self._recent.put(key, received.entry_id)
        job = _Job(received.entry_id, message)
        if waiting:
            job.waiter = asyncio.get_running_loop().create_future()
        self._jobs[job.entry_id] = job
        # force: it is stored now, so it must run; the bound above is checked before storing,
        # and concurrent stores can pass it by at most their own number.
        self._lanes.put(message.chat.key, job, force=True)
        return job

    def _refusal(self, message: IncomingMessage) -> Reply | None:
        """Admission (blocks, rate limits), then room in the backlog; None to accept."""
        if self._admission is not None and (refusal := self._admission.refuse(message)):
            return refusal
        if not self._lanes.has_room(message.chat.key):
            self.counts["busy"] += 1
            return _notice(BUSY, TurnOutcome.BUSY, retry_after=BUSY_RETRY_AFTER)
        return None

    async def _duplicate(self, entry_id: int, *, waiting: bool) -> Reply:
        self.counts["duplicates"] += 1
        running = self._jobs.get(entry_id)
        if waiting and running and running.waiter and not running.waiter.done():
            # A client retrying while the first request still runs shares that answer.
            return await self._wait(running)
        return _notice(DUPLICATE, TurnOutcome.DUPLICATE, silent=True)

    async def _wait(self, job: _Job) -> Reply:
        assert job.waiter is not None
        job.listeners += 1
        try:
            # Shielded: a client that goes away does not cancel the turn. If nobody is left
            # listening when it ends, the reply is held for the client to collect.
            return await asyncio.shield(job.waiter)
        finally:
            job.listeners -= 1

    async def _work(self) -> None:
        while True:
            key, job = await self._lanes.take()
            await self._run(key, job)

    async def _run(self, key: str, job: _Job) -> None:
        """Serve ``job`` from lane ``key``; the lane is released after, unless still held."""
        self._in_flight += 1
        self._idle.clear()
        try:
            await self._serve(job)
        except Exception as exc:  # a worker must outlive any one message
            logger.opt(exception=exc).error("a worker failed on a message")
            await self._finish(job, _notice(GAVE_UP, TurnOutcome.FAILED), last_try=True)
        except asyncio.CancelledError as exc:
            if _cancelled_here():
                raise  # shutdown: this worker is being stopped
            # A library's own cancellation leaked out: it must not take the worker with it.
            logger.opt(exception=exc).error("a turn was cancelled from inside")
            await self._finish(job, _notice(GAVE_UP, TurnOutcome.FAILED), last_try=True)
        finally:
            if not job.resend_pending:
                self._jobs.pop(job.entry_id, None)
            if not job.holds_lane:
                self._lanes.release(key)
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _serve(self, job: _Job) -> None:
        job.resend_pending = False
        if job.message.replayed and not job.counted:
            job.counted = True
            if job.reply is None and job.replays >= self._max_replays:
                # Every earlier run died on it: answer with an apology instead of dying again.
                logger.error("gave up on a message after {} replays", job.replays)
                await self._finish(job, _notice(GAVE_UP, TurnOutcome.FAILED))
                return
            # Counted as it runs, not as it is loaded: a start that never reached it (its
            # adapter failed to start, say) must not use up its replays.
            await self._safely(self._inbox.replaying(job.entry_id))
            job.replays += 1
        if job.reply is not None:  # made before a restart, or a send to try again
            await self._finish(job, job.reply, last_try=job.replays > self._max_replays)
            return
        reply = await self._turn(job)
        if reply is not None:
            await self._finish(job, reply)
        elif self._settle(job, _restarting()):
            # Cut short by shutdown and told to resend. A push platform's message instead
            # stays pending, and the next start answers it.
            await self._discard([job])

    async def _turn(self, job: _Job) -> Reply | None:
        outbound = self._outbound.get(job.message.user.platform)
        typing = self._spawn(self._typing(outbound, job.message)) if outbound else None
        try:
            async with asyncio.timeout(self._shutdown_at) as deadline:
                self._deadlines.add(deadline)
                try:
                    turn = Turn(message=job.message, system_prompt=self._system_prompt)
                    return await self._pipeline(turn)
                finally:
                    self._deadlines.discard(deadline)
        except TimeoutError:
            # Only the shutdown deadline gets here: the error boundary catches the pipeline's own.
            logger.warning("a turn was cut short by shutdown")
            return None
        finally:
            if typing is not None:
                typing.cancel()

    async def _finish(self, job: _Job, reply: Reply, *, last_try: bool = False) -> None:
        """Hand the reply over: to a waiting caller, or through the platform, or held."""
        if self._settle(job, reply):
            self._settled.add(job.entry_id)
            await self._safely(self._inbox.done(job.entry_id))
            self._settled.discard(job.entry_id)
            return
        if job.reply is None:
            # Kept with the message, so a crash before the send resends rather than re-asks.
            # If even this fails the reply still goes out; only that safety net is missing.
            await self._safely(self._inbox.answered(job.entry_id, reply))
        if job.message.user.platform not in self._outbound:
            return  # held: the client collects it with ``held_replies``
        asked_wait = None if reply.silent else await self._send(job.message, reply)
        if asked_wait is None:
            job.failed_sends = 0
            await self._safely(self._inbox.done(job.entry_id))
            return
        job.reply = reply
        if last_try:
            logger.error("gave up delivering a reply after {} starts", job.replays)
            await self._safely(self._inbox.done(job.entry_id))
        elif asked_wait > 0:
            # Rate limited: the platform is up and said when. Then, however often it takes
            # (never sooner: a try inside its penalty is refused again, and may lengthen it).
            # The worker goes on to other chats; this conversation's lane waits for it.
            job.resend_pending = job.holds_lane = True
            self._spawn(self._send_when_due(job, asked_wait), name="resend")
        elif job.failed_sends < len(self._resend_delays):
            # The platform may be back in seconds: try again in this process, later sends of
            # the conversation meanwhile go ahead. After the last try it waits for a restart.
            job.failed_sends += 1
            job.resend_pending = True
            delay = self._resend_delays[job.failed_sends - 1]
            self._spawn(self._send_later(job, delay), name="resend")

    async def _send_when_due(self, job: _Job, delay: float) -> None:
        await asyncio.sleep(delay)
        job.holds_lane = False
        await self._run(job.message.chat.key, job)

    async def _send_later(self, job: _Job, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._accepting:
            self._lanes.put(job.message.chat.key, job, force=True)

    def _settle(self, job: _Job, reply: Reply) -> bool:
        """Hand ``reply`` to whoever waits for it in this process; False if nobody does."""
        if job.waiter is None or job.waiter.done():
            return False
        job.waiter.set_result(reply)
        return job.listeners > 0

    async def _safely(self, step: Awaitable[None]) -> None:
        """Run an inbox step; a storage failure is logged, never allowed to stop a reply."""
        try:
            await step
        except Exception as exc:
            logger.opt(exception=exc).error("the inbox could not record a step")

    async def _send(self, message: IncomingMessage, reply: Reply) -> float | None:
        """None once the platform took ``reply``; else the seconds it asked us to wait (0.0
        when it did not say)."""
        outbound = self._outbound.get(message.user.platform)
        if outbound is None:
            logger.error(
                "no outbound for platform {!r}: a reply was not sent", message.user.platform
            )
            self.counts["undelivered"] += 1
            return 0.0
        try:
            await outbound.send(message, reply)
        except (Exception, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and _cancelled_here():
                raise  # shutdown; any other cancellation leaked out of the client library
            self.counts["undelivered"] += 1
            logger.warning(
                "could not deliver a reply (conversation {}): {}",
                pseudonym(message.chat.key),
                exc,
            )
            asked = exc.retry_after if isinstance(exc, DeliveryError) else None
            return asked or 0.0
        return None

    async def _typing(self, outbound: Outbound, message: IncomingMessage) -> None:
        while True:
            try:
                await outbound.typing(message)
            except (Exception, asyncio.CancelledError) as exc:
                if isinstance(exc, asyncio.CancelledError) and _cancelled_here():
                    raise  # the turn ended
                # A missing indicator is cosmetic: never fail the turn.
                logger.debug("typing indicator failed: {}", exc)
            await asyncio.sleep(self._typing_interval)

    def stop_intake(self, grace: float) -> None:
        """Refuse new messages with a "restarting" notice; running turns get ``grace`` seconds.

        Messages still waiting in lanes are not started: those of a push platform stay in the
        inbox for the next start; those a client waits for get the notice, and their entries
        are closed so the next start does not answer them too. A turn still running when the
        grace ends is cancelled the same way, so nobody is left without a reply.
        """
        self._accepting = False
        self._shutdown_at = asyncio.get_running_loop().time() + grace
        for deadline in self._deadlines:
            deadline.reschedule(self._shutdown_at)
        told = [job for job in self._lanes.take_all_waiting() if self._settle(job, _restarting())]
        if told:
            self._finish_later(self._discard(told), name="told-to-resend")

    def _finish_later(self, work: Coroutine[Any, Any, object], name: str) -> None:
        """Run ``work`` in the background; unlike a worker, ``__aexit__`` lets it finish."""
        task = asyncio.create_task(work, name=name)
        self._marking.add(task)
        task.add_done_callback(self._marking.discard)

    async def _discard(self, jobs: list[_Job]) -> None:
        """Forget entries whose callers were told to send again: the resend is a new message,
        even with the same message id, and must not meet a duplicate."""
        for job in jobs:
            self._recent.pop(_dedupe_key(job.message))
            await self._safely(self._inbox.discard(job.entry_id))

    async def _mark_done(self, entry_ids: list[int]) -> None:
        for entry_id in entry_ids:
            await self._safely(self._inbox.done(entry_id))

    async def drain(self, grace: float) -> bool:
        """Wait up to ``grace`` seconds for running turns and notices still being sent.

        True if nothing was left behind. Adapters close after this, so what is still being sent
        must finish here.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            logger.warning("shutdown grace ran out with {} turns in flight", self._in_flight)
            return False
        if self._marking:
            _, late = await asyncio.wait(self._marking, timeout=max(0.0, deadline - loop.time()))
            if late:
                logger.warning("shutdown grace ran out with {} notices unsent", len(late))
                return False
        return True

    def metrics(self) -> Mapping[str, float]:
        return {"backlog": self.backlog, "in_flight": self._in_flight, **self.counts}

    def _spawn(
        self, work: Coroutine[Any, Any, None], name: str | None = None
    ) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


class EphemeralInbox:
    """An inbox that keeps nothing: for tests and benchmarks of the flow alone.

    Without a durable inbox a crash loses what was queued; the runtime always uses SQLite.
    """

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    async def receive(self, message: IncomingMessage) -> Received:
        return Received(next(self._ids))

    async def answered(self, entry_id: int, reply: Reply) -> None:
        return None

    async def done(self, entry_id: int) -> None:
        return None

    async def discard(self, entry_id: int) -> None:
        return None

    async def unfinished(self) -> list[InboxEntry]:
        return []

    async def newest(self, limit: int) -> list[tuple[str, str, str, int]]:
        return []

    async def replaying(self, entry_id: int) -> None:
        return None

    async def held_replies(self, chat: ChatRef) -> list[Reply]:
        return []


def _dedupe_key(message: IncomingMessage) -> str:
    """What makes two deliveries the same message (the inbox's unique key)."""
    return _key(message.user.platform, message.chat.key, message.message_id)


def _key(platform: str, chat_key: str, message_id: str) -> str:
    return f"{platform}\x1f{chat_key}\x1f{message_id}"


def _cancelled_here() -> bool:
    """Whether the running task itself is being cancelled (not a cancellation from inside)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _restarting() -> Reply:
    return _notice(SHUTTING_DOWN, TurnOutcome.FAILED)


def _replayed(entry: InboxEntry) -> _Job:
    ready = entry.reply if entry.state is InboxState.ANSWERED else None
    return _Job(entry.id, entry.message, reply=ready, replays=entry.replays)


def _notice(
    text: str, outcome: TurnOutcome, *, retry_after: float | None = None, silent: bool = False
) -> Reply:
    return Reply(
        text, kind=ReplyKind.NOTICE, outcome=outcome, retry_after=retry_after, silent=silent
    )
