"""The Telegram adapter's I/O shell: the Bot API connection, intake, sending, and nothing else.

Intake acknowledges an update only once the core has stored its message, so a crash can
repeat a message (the inbox drops the second copy) but never lose one:

- polling runs its own ``getUpdates`` loop rather than PTB's ``Updater``, which confirms
  updates to Telegram as soon as they are queued, before anything has stored them; the offset
  here moves past an update only after ``deliver`` returned, or after its intake failed a few
  times in a row (then it is skipped and logged, so that one bad update cannot stop the chat);
- a webhook request is answered 200 only after ``deliver`` returned; anything else makes
  Telegram send it again.

Sending retries what is worth retrying (a 429 after its ``retry_after``, when that is within a
cap; network errors with backoff) and raises ``DeliveryError`` for the rest: a longer wait fails
the send at once, so that no worker is held and no retry lands inside Telegram's penalty window
(which it may lengthen); the core keeps the reply and sends it again once the wait is over.
Polling, which holds no worker, waits as long as Telegram asks. Logs never carry message text,
user ids or URLs (the bot token is part of every Bot API URL).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

from loguru import logger
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import Bot, BotCommand, LinkPreviewOptions, ReplyParameters, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from adapters.common.http import read_bounded
from adapters.common.notes import note_throttle
from adapters.common.pacing import Pacer, Rate
from adapters.common.progress import SentParts
from adapters.telegram.convert import (
    ALLOWED_UPDATES,
    PLATFORM,
    Accept,
    BotIdentity,
    Ignore,
    Note,
    Target,
    conversation_key,
    decide,
    reply_target,
)
from adapters.telegram.format import Rendered, format_reply
from core.clock import Clock
from core.errors import ConfigurationError, DeliveryError
from core.logref import pseudonym
from core.model import IncomingMessage, Reply
from core.ports import PushSink
from core.stages.commands import command_menu

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name, not a secret)
# Telegram's updates are a few kilobytes; anything much larger is not from Telegram.
MAX_UPDATE_BYTES = 1 << 20
# How long one getUpdates waits for news (Telegram allows up to 50 s).
POLL_TIMEOUT_SECONDS = 30.0
# The longest pause after a failed getUpdates before trying again.
MAX_POLL_BACKOFF_SECONDS = 60.0

T = TypeVar("T")

# PTB 22 is moving time periods from int seconds to timedelta and warns on every int read,
# even inside its own RetryAfter constructor (under warnings-as-errors a 429 then surfaces as a
# warning instead of RetryAfter). Opting in to the coming behaviour avoids that; an operator's
# own setting wins, and ``_retry_after`` reads either form.
os.environ.setdefault("PTB_TIMEDELTA", "true")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard a call to the Bot API is tried before the reply counts as undeliverable, and a
    polled update's intake before the update is skipped."""

    attempts: int = 4
    # A 429 says how long to wait; a call told to wait longer than this fails at once (a retry
    # sooner would land inside the penalty window; the core sends the reply again later).
    retry_after_cap: float = 60.0
    # Network errors wait this, doubling each time.
    backoff: float = 1.0
    # Tries in all to hand a polled update to the core (e.g. while the database is busy), and
    # the wait after the first failure, doubling. Polling waits meanwhile: keep it short.
    intake_attempts: int = 3
    intake_backoff: float = 0.5


# The longest a send waits for its turn under Telegram's limits while holding a worker; longer,
# and the core sends it again when its turn comes.
PACING_MAX_WAIT = 10.0


def telegram_pacer(
    clock: Clock = time.monotonic, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> Pacer:
    """Telegram's published limits (Bot FAQ): about 30 messages a second in all, one a second
    in a chat (short bursts allowed), 20 a minute in a group. Each burst plus its rate over the
    window stays within the limit: 3 + 1/s, 5 + 15/min in a group, 5 + 25/s in all."""
    return Pacer(
        Rate(1, 3), per_group=Rate(15 / 60, 5), overall=Rate(25, 5), clock=clock, sleep=sleep
    )


class TelegramAdapter:
    """A running connection to the Telegram Bot API; see ``PlatformAdapter``."""

    def __init__(
        self,
        token: str,
        sink: PushSink,
        *,
        base_url: str = "https://api.telegram.org/bot",
        mode: Literal["polling", "webhook"] = "polling",
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        commands_only: bool = False,
        handoff_enabled: bool = True,
        retry: RetryPolicy | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        if mode == "webhook" and not (webhook_url and webhook_secret):
            raise ConfigurationError(
                "TELEGRAM_WEBHOOK_URL", "webhook mode needs the URL and TELEGRAM_WEBHOOK_SECRET"
            )
        self._token = token
        self._sink = sink
        self._mode = mode
        self._webhook_url = webhook_url
        self._webhook_secret = (webhook_secret or "").encode()
        self._commands_only = commands_only
        self._handoff_enabled = handoff_enabled
        self._retry = retry or RetryPolicy()
        self._pacer = pacer or telegram_pacer()
        self._bot = Bot(
            token,
            base_url=base_url,
            base_file_url=_file_url(base_url),
            # Replies to many chats go out at once; each call has a bounded wait.
            request=HTTPXRequest(
                connection_pool_size=64,
                connect_timeout=10.0,
                read_timeout=20.0,
                write_timeout=20.0,
                pool_timeout=10.0,
            ),
            # getUpdates adds its long-poll timeout to this read timeout itself.
            get_updates_request=HTTPXRequest(
                connection_pool_size=2, connect_timeout=10.0, read_timeout=10.0
            ),
        )
        self._identity: BotIdentity | None = None
        self._offset: int | None = None
        self._confirmed: int | None = None
        self._poller: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # How many parts of a reply cut off part-way already went out, so a resend skips them.
        self._sent_parts = SentParts()
        # Notes ("I can read text only") at most once a minute per chat.
        self._notes = note_throttle()
        # Groups upgraded to supergroups while running: old chat id -> new one.
        self._moved: dict[int, int] = {}

    @property
    def platform(self) -> str:
        return PLATFORM

    @property
    def identity(self) -> BotIdentity:
        """The bot's id and username, known once started."""
        if self._identity is None:
            raise RuntimeError("the Telegram adapter is not started")
        return self._identity

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()

    async def _start(self) -> None:
        await self._connect()
        await self._register_commands()
        # Connected before the first update arrives: a refusal goes out through us.
        self._sink.connect(PLATFORM, self)
        if self._mode == "webhook":
            await self._set_webhook()
        else:
            await self._delete_webhook()
            self._poller = asyncio.create_task(self._poll(), name="telegram-polling")
        logger.info("telegram: connected as @{} ({})", self.identity.username, self._mode)

    async def _connect(self) -> None:
        try:
            await self._call("getMe", self._bot.initialize)
        except InvalidToken:
            # from None: the library's message quotes the token.
            raise ConfigurationError(
                "TELEGRAM_BOT_TOKEN", "Telegram rejected the token (see @BotFather)"
            ) from None
        except TelegramError as exc:
            raise ConfigurationError(
                "TELEGRAM_BASE_URL", f"cannot reach the Bot API: {self._reason(exc)}"
            ) from exc
        self._identity = BotIdentity(self._bot.id, self._bot.username)

    async def _register_commands(self) -> None:
        commands = [
            BotCommand(name, description)
            for name, description in command_menu(handoff_enabled=self._handoff_enabled)
        ]
        try:
            await self._call("setMyCommands", lambda: self._bot.set_my_commands(commands))
        except TelegramError as exc:
            # The commands still work when typed; only the menu is missing.
            logger.warning("telegram: could not register commands: {}", self._reason(exc))

    async def _set_webhook(self) -> None:
        assert self._webhook_url is not None
        if not self._webhook_url.rstrip("/").endswith(WEBHOOK_PATH):
            logger.warning(
                "telegram: TELEGRAM_WEBHOOK_URL does not end in {}; the reverse proxy must "
                "forward it to that path",
                WEBHOOK_PATH,
            )
        url, secret = self._webhook_url, self._webhook_secret.decode()
        try:
            await self._call(
                "setWebhook",
                lambda: self._bot.set_webhook(
                    url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES)
                ),
            )
        except TelegramError as exc:
            raise ConfigurationError(
                "TELEGRAM_WEBHOOK_URL", f"Telegram refused the webhook: {self._reason(exc)}"
            ) from exc

    async def _delete_webhook(self) -> None:
        # A webhook left from an earlier webhook-mode run would make every getUpdates fail.
        try:
            await self._call("deleteWebhook", self._bot.delete_webhook)
        except TelegramError as exc:
            logger.warning("telegram: could not delete the webhook: {}", self._reason(exc))

    async def _stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None
            await self._confirm_offset()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Also after a failed start: the HTTP clients open before getMe can fail.
        await self._bot.shutdown()

    async def _confirm_offset(self) -> None:
        """Tell Telegram which updates are stored, so the next start does not fetch them again."""
        if self._offset is None or self._offset == self._confirmed:
            return
        try:
            async with asyncio.timeout(5):
                await self._bot.get_updates(
                    offset=self._offset, timeout=timedelta(0), allowed_updates=ALLOWED_UPDATES
                )
        except (TelegramError, TimeoutError) as exc:
            # Harmless: those updates come again at the next start and the inbox drops them.
            logger.info("telegram: could not confirm the last updates: {}", self._reason(exc))

    # -- intake ----------------------------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        if self._mode != "webhook":
            return []
        return [Route(WEBHOOK_PATH, self._webhook, methods=["POST"])]

    async def _poll(self) -> None:
        failures = 0
        while True:
            try:
                updates = await self._bot.get_updates(
                    offset=self._offset,
                    timeout=timedelta(seconds=POLL_TIMEOUT_SECONDS),
                    allowed_updates=ALLOWED_UPDATES,
                )
            except RetryAfter as exc:
                # All of it: asking sooner only lengthens the penalty, and no reply waits on this.
                wait = _retry_after(exc)
                logger.warning("telegram: polling rate limited; again in {:.0f} s", wait)
                await asyncio.sleep(wait)
                continue
            except Exception as exc:  # polling must outlive any failure; it reconnects
                failures += 1
                wait = min(self._retry.backoff * 2 ** (failures - 1), MAX_POLL_BACKOFF_SECONDS)
                level = "WARNING" if isinstance(exc, NetworkError) else "ERROR"
                logger.log(
                    level,
                    "telegram: getUpdates failed ({} in a row), again in {:.0f} s: {}",
                    failures,
                    wait,
                    self._reason(exc),
                )
                await asyncio.sleep(wait)
                continue
            if failures:
                logger.info("telegram: polling works again after {} failures", failures)
                failures = 0
            self._confirmed = self._offset
            for update in updates:
                await self._take_in_polled(update)
                self._offset = update.update_id + 1

    async def _take_in_polled(self, update: Update) -> None:
        """``_intake``, tried again after a failure; skipped (and logged) when it keeps failing.

        Telegram never redelivers a polled update once the offset has moved past it, so a
        passing fault (a busy database) must not cost the user the answer; but an update that
        always fails must not hold up every later one either.
        """
        policy = self._retry
        attempts = max(policy.intake_attempts, 1)
        for attempt in range(1, attempts + 1):
            try:
                await self._intake(update)
                return
            except Exception as exc:
                # Only the error's type: its message may quote what the user wrote.
                kind = type(exc).__name__
                if attempt == attempts:
                    key = conversation_key(update)
                    logger.error(
                        "telegram: an update (conversation {}) could not be taken in after {} "
                        "tries ({}); skipped, it will not be answered",
                        pseudonym(key) if key is not None else "unknown",
                        attempts,
                        kind,
                    )
                    return
                wait = policy.intake_backoff * 2 ** (attempt - 1)
                logger.warning(
                    "telegram: taking in an update failed ({}, try {} of {}); again in {:.1f} s",
                    kind,
                    attempt,
                    attempts,
                    wait,
                )
                await asyncio.sleep(wait)

    async def _webhook(self, request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode("latin-1")
        if not hmac.compare_digest(given, self._webhook_secret):
            logger.warning("telegram: webhook request with a wrong or missing secret refused")
            return JSONResponse({"error": "forbidden"}, status_code=403)
        body = await read_bounded(request, MAX_UPDATE_BYTES)
        if body is None:
            return JSONResponse({"error": "too large"}, status_code=413)
        try:
            data = json.loads(body)
            update = Update.de_json(data, self._bot)
        except Exception as exc:  # malformed JSON or not an update: Telegram would not send it
            logger.warning("telegram: webhook body is not an update: {}", type(exc).__name__)
            return JSONResponse({"error": "not an update"}, status_code=400)
        try:
            await self._intake(update)
        except Exception as exc:
            # Not stored: a non-2xx makes Telegram deliver the update again later.
            logger.opt(exception=exc).error("telegram: an update could not be taken in")
            return JSONResponse({"error": "not stored"}, status_code=500)
        return JSONResponse({})

    async def _intake(self, update: Update) -> None:
        decision = decide(update, self.identity, commands_only=self._commands_only)
        match decision:
            case Accept(message):
                await self._sink.deliver(message)
            case Note(target=target, reason=reason):
                if self._notes.should_notify(str(target.chat_id)):
                    self._spawn(self._send_note(decision), name="telegram-note")
                else:
                    logger.debug("telegram: note skipped ({}): this chat had one recently", reason)
            case Ignore(reason):
                logger.debug("telegram: update ignored ({})", reason)

    async def _send_note(self, note: Note) -> None:
        try:
            messages = format_reply(note.text)
            post = self._poster(note.target, messages)
            for n, rendered in enumerate(messages):
                await post(n, rendered)
        except DeliveryError as error:
            logger.warning("telegram: a note ({}) was not delivered: {}", note.reason, error)
        except Exception as exc:  # a task of ours: its failure must be seen, not lost
            logger.opt(exception=exc).error("telegram: sending a note failed")

    # -- outbound --------------------------------------------------------------------------

    async def send(self, message: IncomingMessage, reply: Reply) -> None:
        try:
            messages = format_reply(reply.text)
        except Exception as exc:
            # A bug of ours, and every resend would fail the same way. Only the error's type:
            # its message could quote the reply, and this reason is logged.
            raise DeliveryError(
                f"telegram could not format a reply ({type(exc).__name__})"
            ) from exc
        if not messages:
            logger.warning("telegram: a reply with nothing visible to send was skipped")
            return
        # The core sends a failed reply again; parts that reached the chat are not repeated.
        post = self._poster(reply_target(message), messages)
        await self._sent_parts.send(message, messages, post)

    async def typing(self, message: IncomingMessage) -> None:
        target = reply_target(message)
        try:
            # One try: the gateway repeats it every few seconds anyway.
            await self._bot.send_chat_action(
                target.chat_id, ChatAction.TYPING, message_thread_id=target.thread_id
            )
        except TelegramError as exc:
            raise DeliveryError(f"telegram typing: {self._reason(exc)}") from exc

    def _poster(
        self, target: Target, messages: Sequence[Rendered]
    ) -> Callable[[int, Rendered], Awaitable[None]]:
        """Sends part ``n`` of ``messages`` to ``target``, the first as a reply; raises
        ``DeliveryError`` when Telegram refuses it. A group that moved to a new chat id (now or
        earlier) gets the part, and the ones after it, at its new id."""
        if target.chat_id in self._moved:
            target = Target(self._moved[target.chat_id], None, target.thread_id)

        async def post(n: int, rendered: Rendered) -> None:
            nonlocal target
            reply_to = target.reply_to if n == 0 else None
            try:
                target = await self._send_one(target, rendered, reply_to)
            except RetryAfter as exc:
                wait = _retry_after(exc)
                raise DeliveryError(
                    f"telegram rate limited part {n + 1} of {len(messages)} of a reply and "
                    f"asked to wait {wait:.0f} s",
                    retry_after=wait,
                ) from exc
            except TelegramError as exc:
                raise DeliveryError(
                    f"telegram refused part {n + 1} of {len(messages)} of a reply: "
                    f"{self._reason(exc)}"
                ) from exc

        return post

    async def _send_one(self, target: Target, rendered: Rendered, reply_to: int | None) -> Target:
        """Send one message; returns the target for the next (a migrated group has a new id)."""
        try:
            await self._send_message(target, rendered.html, ParseMode.HTML, reply_to)
        except ChatMigrated as exc:
            # A group became a supergroup: the same conversation under a new id.
            logger.info("telegram: a group moved to a new chat id; sending there")
            self._moved[target.chat_id] = exc.new_chat_id
            target = Target(exc.new_chat_id, None, target.thread_id)
            await self._send_message(target, rendered.html, ParseMode.HTML, None)
        except BadRequest as exc:
            if "parse entities" not in exc.message.lower():
                raise
            # Our HTML should always parse; if Telegram disagrees, the words still go out.
            logger.error("telegram: HTML refused ({}); sending plain text", exc.message)
            await self._send_message(target, rendered.unformatted, None, reply_to)
        return target

    async def _send_message(
        self, target: Target, text: str, mode: str | None, reply_to: int | None
    ) -> None:
        replying = (
            ReplyParameters(reply_to, allow_sending_without_reply=True)
            if reply_to is not None
            else None
        )
        # Negative ids are groups, supergroups and channels.
        waited = await self._pacer.wait(
            str(target.chat_id), group=target.chat_id < 0, max_wait=PACING_MAX_WAIT
        )
        if waited > 1:
            logger.debug("telegram: a message waited {:.1f} s for its turn", waited)
        await self._call(
            "sendMessage",
            lambda: self._bot.send_message(
                target.chat_id,
                text,
                parse_mode=mode,
                message_thread_id=target.thread_id,
                reply_parameters=replying,
                # Model output must not pull third-party previews into the chat.
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            ),
        )

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """``call()``, retried after a 429 (its delay, when within the cap) and network errors
        (backoff). A 429 asking for a longer wait is raised at once."""
        policy = self._retry
        for attempt in range(1, policy.attempts + 1):
            try:
                return await call()
            except RetryAfter as exc:
                wait = _retry_after(exc)
                if attempt == policy.attempts or wait > policy.retry_after_cap:
                    raise
                logger.warning("telegram {}: rate limited, retrying in {:.1f} s", what, wait)
            except BadRequest:
                raise  # a NetworkError subclass, but sending it again cannot help
            except NetworkError as exc:
                if attempt == policy.attempts:
                    raise
                wait = policy.backoff * 2 ** (attempt - 1)
                logger.warning(
                    "telegram {}: {}; retrying in {:.1f} s", what, self._reason(exc), wait
                )
            await asyncio.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    # -- helpers ---------------------------------------------------------------------------

    def _reason(self, exc: BaseException) -> str:
        """An error as a log line: its type and message, never the token (URLs carry it)."""
        text = str(exc).replace(self._token, "[token]") if self._token else str(exc)
        kind = type(exc).__name__
        # Telegram's own descriptions often start with the kind already ("Forbidden: ...").
        return text if text.startswith(f"{kind}: ") else f"{kind}: {text}"

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _retry_after(exc: RetryAfter) -> float:
    # Reading it as a number is deprecated in PTB 22 (it will become a timedelta): accept both.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _file_url(base_url: str) -> str:
    """The file endpoint beside the Bot API base (``.../bot`` -> ``.../file/bot``)."""
    root, slash, last = base_url.rstrip("/").rpartition("/")
    return f"{root}{slash}file/{last}" if slash else base_url
