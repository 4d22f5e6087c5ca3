"""The Slack adapter's I/O shell: Bolt receives, the Web API client sends, nothing else here.

Intake comes through Socket Mode (``SLACK_APP_TOKEN``: an outbound websocket, no public URL)
and/or signed HTTP requests on ``/slack/events`` of the shared HTTP app
(``SLACK_SIGNING_SECRET``). Either way Bolt verifies what it must (the signature of an HTTP
request, the bot's own events) and our listeners hand the converted message to the core.

Bolt runs with ``process_before_response``: Slack is acknowledged only after the core stored
the message, so a crash before that gets a redelivery, and a redelivery of a stored message is
a duplicate the core answers once. Intake that takes unusually long is acknowledged after
``ack_budget`` seconds anyway (it keeps running), inside Slack's 3-second deadline.

A reply split into several messages that fails part-way is sent again by the core; the parts
already posted are remembered (``SentParts``) and skipped, so nobody reads them twice and a
response URL's five posts are not spent on repeats.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiohttp
from loguru import logger
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.common.notes import note_throttle
from adapters.common.pacing import Pacer, Rate
from adapters.common.progress import SentParts
from adapters.slack.convert import (
    PLATFORM,
    TEXT_ONLY_NOTE,
    BotIdentity,
    GroupReplies,
    Target,
    TextOnlyNote,
    command_to_message,
    event_to_intake,
    follow_key,
    reply_target,
)
from adapters.slack.errors import SlackDeliveryError, asked_wait, error_code
from adapters.slack.format import MAX_MESSAGE_CHARS, format_reply
from adapters.slack.retry import retry_handlers
from adapters.slack.socket_mode import SocketMode
from core.cache.lru import BoundedCache
from core.errors import ConfigurationError, DeliveryError
from core.logref import pseudonym
from core.model import IncomingMessage, Reply
from core.ports import PushSink

EVENTS_PATH = "/slack/events"
# Slack event and command payloads are a few kilobytes; anything far larger is not Slack.
MAX_BODY_BYTES = 1 << 20
# A response_url takes five messages within 30 minutes.
RESPONSE_URL_MAX_POSTS = 5
TRUNCATED_NOTE = (
    "(This answer is too long for a command reply. Ask me in a direct message to see all of it.)"
)
_FOLLOWED_MEMORY = 10_000  # (channel, thread, user) followed up in threads
_ERROR_CODE = re.compile(r"[a-z0-9_]{1,64}")

# slack_sdk and Bolt log through the standard library; these loggers keep them at levels where
# no message text is written (their DEBUG lines print request and event bodies).
_SDK_LOGGER = "bastion.slack.sdk"
_BOLT_LOGGER = "bastion.slack.bolt"
_SOCKET_LOGGER = "bastion.slack.socket_mode"


# The longest a post waits for its turn in a busy channel while holding a worker; longer, and
# the core sends it again when its turn comes.
PACING_MAX_WAIT = 10.0


@dataclass(frozen=True, slots=True)
class SlackConfig:
    """What the adapter needs from the settings; secrets never appear in its repr."""

    bot_token: str = field(repr=False)
    app_token: str | None = field(default=None, repr=False)
    signing_secret: str | None = field(default=None, repr=False)
    base_url: str = "https://slack.com/api/"
    command: str = "/bastion"
    group_replies: GroupReplies = "addressed"
    max_message_chars: int = MAX_MESSAGE_CHARS
    # The longest Retry-After a send waits for before it gives up (ratelimited).
    rate_limit_cap: float = 30.0
    request_timeout: float = 10.0
    # Inside Slack's 3 s acknowledgement deadline, with room for the network.
    ack_budget: float = 2.0
    connect_timeout: float = 30.0
    ping_interval: float = 10.0
    close_timeout: float = 5.0


class SlackAdapter:
    """Slack for the core: intake through Bolt, replies through the Web API or response URLs.

    Use it with ``async with``: entering checks the bot token (``auth.test``), connects Socket
    Mode when an app token is set and connects to the sink; leaving closes all of it.
    """

    def __init__(self, sink: PushSink, config: SlackConfig, pacer: Pacer | None = None) -> None:
        self._sink = sink
        self._config = config
        # chat.postMessage's published limit: about one message a second in a channel, short
        # bursts allowed.
        self._pacer = pacer or Pacer(Rate(1, 3))
        self._bot: BotIdentity | None = None
        self._client: AsyncWebClient | None = None
        self._session: aiohttp.ClientSession | None = None
        self._http: AsyncSlackRequestHandler | None = None
        self._verifier: SignatureVerifier | None = None
        self._stack: AsyncExitStack | None = None
        # (channel, thread_ts, user): who addressed the bot in which thread, followed up there.
        # The oldest is forgotten first; that user then mentions the bot again to be answered.
        self._followed: BoundedCache[bool] = BoundedCache(_FOLLOWED_MEMORY)
        self._sent = SentParts()
        self._notes = note_throttle()
        self._tasks: set[asyncio.Task[None]] = set()
        self._sdk_logger = _std_logger(_SDK_LOGGER, logging.INFO)
        self._bolt_logger = _std_logger(_BOLT_LOGGER, logging.WARNING)
        # slack_sdk's own lines about sessions and reconnects are worth keeping, at INFO.
        self._socket_logger = _std_logger(_SOCKET_LOGGER, logging.INFO)

    @property
    def platform(self) -> str:
        return PLATFORM

    @property
    def bot(self) -> BotIdentity:
        """The bot's identity in the workspace (after ``async with``)."""
        if self._bot is None:
            raise RuntimeError("the Slack adapter is not started")
        return self._bot

    def routes(self) -> Sequence[BaseRoute]:
        """``POST /slack/events`` (events, slash commands, url_verification) in HTTP mode."""
        if not self._config.signing_secret:
            return []
        return [Route(EVENTS_PATH, self._events, methods=["POST"])]

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        stack = AsyncExitStack()
        try:
            await self._start(stack)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()

    async def _start(self, stack: AsyncExitStack) -> None:
        config = self._config
        session = aiohttp.ClientSession()
        stack.push_async_callback(session.close)
        client = AsyncWebClient(
            token=config.bot_token,
            base_url=config.base_url,
            session=session,
            timeout=max(1, round(config.request_timeout)),
            logger=self._sdk_logger,
            retry_handlers=retry_handlers(config.rate_limit_cap),
        )
        self._bot = await self._who_am_i(client)
        app = AsyncApp(
            client=client,
            signing_secret=config.signing_secret or "",
            process_before_response=True,
            logger=self._bolt_logger,
            name="bastion",
        )
        self._listen(app)
        self._session, self._client = session, client
        stack.callback(self._forget_connection)
        stack.push_async_callback(self._finish_tasks)
        if config.signing_secret:
            self._verifier = SignatureVerifier(config.signing_secret)
            self._http = AsyncSlackRequestHandler(app)
        self._sink.connect(PLATFORM, self)
        if config.app_token:
            socket = SocketMode(
                app,
                config.app_token,
                logger=self._socket_logger,
                ping_interval=config.ping_interval,
            )
            stack.push_async_callback(socket.close, config.close_timeout)
            await socket.open(config.connect_timeout)
        modes = " and ".join(
            mode
            for mode, on in (("Socket Mode", config.app_token), ("HTTP events", self._http))
            if on
        )
        logger.info("Slack: connected as bot {} ({})", self._bot.user_id, modes)

    async def _who_am_i(self, client: AsyncWebClient) -> BotIdentity:
        try:
            found = await client.auth_test()
        except SlackApiError as exc:
            raise ConfigurationError(
                "SLACK_BOT_TOKEN", f"Slack refused it (auth.test: {error_code(exc)})"
            ) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ConfigurationError(
                "SLACK_BASE_URL", f"cannot reach Slack's Web API ({type(exc).__name__})"
            ) from exc
        return BotIdentity(str(found.get("user_id", "")), str(found.get("bot_id") or ""))

    def _forget_connection(self) -> None:
        self._http = None
        self._client = None
        self._session = None

    async def _finish_tasks(self) -> None:
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=self._config.close_timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # -- intake ----------------------------------------------------------------------------

    def _listen(self, app: AsyncApp) -> None:
        config = self._config

        async def on_event(event: dict[str, Any]) -> None:
            bot = self.bot
            intake = event_to_intake(
                event,
                bot,
                group_replies=config.group_replies,
                followed=lambda key: self._followed.get(key) is not None,
            )
            if isinstance(intake, IncomingMessage):
                await self._hand_over(intake)
            elif isinstance(intake, TextOnlyNote):
                self._spawn(self._note(intake))

        async def on_command(ack: AsyncAck, command: dict[str, Any]) -> None:
            await ack()
            message = command_to_message(command)
            if message is not None:
                await self._hand_over(message)

        async def on_anything_else(event: dict[str, Any]) -> None:
            return None  # subscribed to, or sent by Slack unasked: acknowledged and ignored

        app.event("message")(on_event)
        app.event("app_mention")(on_event)
        app.command(config.command)(on_command)
        # Without it Bolt logs each unhandled event as a warning.
        app.event(re.compile(".*"))(on_anything_else)

    async def _hand_over(self, message: IncomingMessage) -> None:
        """Give ``message`` to the core; return once it is stored, or after ``ack_budget``."""
        task = self._spawn(self._sink.deliver(message))
        done, _ = await asyncio.wait({task}, timeout=self._config.ack_budget)
        if not done:
            logger.warning(
                "Slack: intake took over {:.1f} s (conversation {}); acknowledged anyway",
                self._config.ack_budget,
                pseudonym(message.chat.key),
            )
            task.add_done_callback(_log_late_failure)
            return
        # An error here fails the request, so Slack delivers the message again.
        task.result()

    async def _events(self, request: Request) -> Response:
        handler = self._http
        if handler is None:
            return JSONResponse({"error": "the Slack adapter is not running"}, status_code=503)
        declared = request.headers.get("content-length", "")
        if not declared.isdigit():
            return JSONResponse({"error": "a Content-Length is required"}, status_code=411)
        if int(declared) > MAX_BODY_BYTES:
            return JSONResponse({"error": "the body is too large"}, status_code=413)
        # Checked here, before Bolt parses anything: Bolt decodes the body first, so an
        # unsigned request with a broken body would be a 500 and a traceback, not a 401.
        if not self._signed(await request.body(), request.headers):
            logger.warning("Slack: refused a request with a missing, stale or forged signature")
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        response = await handler.handle(request)
        if retry := request.headers.get("x-slack-retry-num"):
            logger.debug(
                "Slack: redelivery #{} ({})", retry, request.headers.get("x-slack-retry-reason")
            )
        return response

    def _signed(self, body: bytes, headers: Mapping[str, str]) -> bool:
        verifier = self._verifier
        if verifier is None:
            return False
        try:
            return verifier.is_valid(
                body, headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
            )
        except ValueError:  # a timestamp that is not a number
            return False

    # -- outbound --------------------------------------------------------------------------

    async def send(self, message: IncomingMessage, reply: Reply) -> None:
        """Post ``reply`` where ``message`` came from, split and formatted, parts in order.

        Raises ``SlackDeliveryError`` (a ``DeliveryError``) when Slack refuses a part. The
        parts posted before the failure are remembered: when the core sends the same reply
        again, it starts with the first part that did not go out.
        """
        client, session = self._client, self._session
        if client is None or session is None:
            raise DeliveryError("the Slack adapter is not running")
        parts = format_reply(reply.text, self._config.max_message_chars)
        if not parts:
            logger.warning("Slack: an empty reply was not sent")
            return
        target = reply_target(message.extras, message.chat)
        if target.response_url:
            await self._respond(session, target.response_url, message, parts)
            return
        if message.chat.is_group and target.thread_ts:
            # The user who addressed the bot in this thread is followed up there, nobody else.
            # Noted before posting: a follow-up can arrive as soon as the first part shows.
            key = follow_key(target.channel, target.thread_ts, message.user.user_id)
            self._followed.put(key, True)

        async def post(_index: int, part: str) -> None:
            await self._post(client, target, part)

        await self._sent.send(message, parts, post)

    async def typing(self, message: IncomingMessage) -> None:
        """Nothing: Slack has no typing indicator for bots.

        The RTM API's typing event is gone, and ``assistant.threads.setStatus`` only works in
        an app's assistant threads (the "Agents & AI Apps" feature, ``assistant:write``),
        which are not the DMs and channels this adapter serves.
        """
        return None

    async def _post(self, client: AsyncWebClient, target: Target, text: str) -> None:
        await self._pacer.wait(target.channel, max_wait=PACING_MAX_WAIT)
        try:
            await client.chat_postMessage(
                channel=target.channel,
                text=text,
                thread_ts=target.thread_ts,
                mrkdwn=True,
                # Never let Slack turn plain "@channel" or names into mentions or links, and
                # never preview a link the model wrote.
                parse="none",
                link_names=False,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            raise SlackDeliveryError(error_code(exc), retry_after=asked_wait(exc)) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"could not reach Slack ({type(exc).__name__})") from exc

    async def _respond(
        self,
        session: aiohttp.ClientSession,
        url: str,
        message: IncomingMessage,
        parts: list[str],
    ) -> None:
        """Answer a slash command through its response URL, visible to its user only.

        Parts a failed earlier try delivered are skipped, like ``send`` does.
        """
        if len(parts) > RESPONSE_URL_MAX_POSTS:
            parts = [*parts[: RESPONSE_URL_MAX_POSTS - 1], TRUNCATED_NOTE]
        webhook = AsyncWebhookClient(
            url,
            session=session,
            timeout=max(1, round(self._config.request_timeout)),
            logger=self._sdk_logger,
            retry_handlers=retry_handlers(self._config.rate_limit_cap),
        )

        async def post(_index: int, part: str) -> None:
            try:
                response = await webhook.send(
                    text=part,
                    response_type="ephemeral",
                    replace_original=False,
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise DeliveryError(f"could not reach Slack ({type(exc).__name__})") from exc
            if response.status_code != 200:
                body = str(response.body or "").strip()
                code = body if _ERROR_CODE.fullmatch(body) else f"http_{response.status_code}"
                raise SlackDeliveryError(code)

        await self._sent.send(message, parts, post)

    async def _note(self, note: TextOnlyNote) -> None:
        """Tell a DM that what was sent cannot be read; once a minute per channel at most."""
        if not self._notes.should_notify(note.channel):
            return
        client = self._client
        if client is None:
            return
        try:
            await self._post(client, Target(note.channel, note.thread_ts), TEXT_ONLY_NOTE)
        except Exception as exc:  # a note is a courtesy: never let it fail anything else
            logger.warning("Slack: could not send the text-only note: {}", exc)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _log_late_failure(task: asyncio.Task[None]) -> None:
    """Intake acknowledged before it finished: its failure has nobody left to raise to."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        logger.opt(exception=exc).error("Slack: intake failed after Slack was acknowledged")


def _std_logger(name: str, level: int) -> logging.Logger:
    found = logging.getLogger(name)
    found.setLevel(level)
    return found
