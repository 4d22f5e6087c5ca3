"""A fake Telegram Bot API on 127.0.0.1, for driving python-telegram-bot without the internet.

Point the library (or ``TELEGRAM_BASE_URL``) at ``tg.base_url`` with ``tg.token``::

    async with FakeTelegram() as tg:
        tg.push_private_text(42, "when do you open?")
        sent = await tg.wait_for_sent(1)

It speaks the real protocol: every method is ``POST /bot<token>/<method>`` with a form-encoded
(or JSON) body, answered ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": ...,
"description": ..., "parameters": {...}}``. ``getUpdates`` long-polls over the pushed updates
(honouring ``offset`` as the real server does); ``release()`` makes every poll return at once.
``sendMessage`` checks what Telegram checks: HTML that parses with Telegram's tags only, at
most 4,096 characters after entity parsing, not empty; the user-visible text and the mentions
Telegram would find in it (``mentions_in``: none inside code) are kept in ``tg.delivered``.
Faults are scripted per method (``fail_next``, ``drop_next``) and every call is recorded with
its time, in ``tg.calls``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections import defaultdict, deque
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from itertools import count
from typing import Any

from aiohttp import web

from adapters.common.text import utf16_length
from tests.local_server import LocalServer

DEFAULT_TOKEN = "7000001:fake-telegram-token-for-tests"
BOT_USERNAME = "BastionTestBot"
GROUP_ID = -1001234567890
MAX_TEXT = 4096

# Parameters that are plain strings even when they look like JSON ("123" as a text stays text).
_STRING_PARAMS = frozenset({"text", "caption", "secret_token", "url", "description"})
# The tags Telegram's HTML parse mode accepts.
_TELEGRAM_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
        "a", "tg-emoji", "code", "pre", "blockquote",
    }
)  # fmt: skip
# What Telegram turns into a mention entity in a message's text: an "@" not right after a letter,
# digit or "_" (after another "@" or punctuation it counts), then a username. On the generous
# side (2 characters and up, nothing checked after it) so that a test errs towards a mention.
MENTION = re.compile(r"(?<!\w)@[A-Za-z0-9_]{2,32}")
_COMMAND = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")


@dataclass(frozen=True, slots=True)
class Call:
    """One request the fake received: the method, its decoded parameters, when, and the status."""

    method: str
    params: dict[str, Any]
    at: float  # time.monotonic()
    status: int


@dataclass(frozen=True, slots=True)
class Fault:
    """A scripted failure of the next call to one method."""

    error_code: int = 0
    description: str = ""
    retry_after: int | None = None
    migrate_to_chat_id: int | None = None
    drop: bool = False  # close the connection without an answer (a network error)
    after: int = 0  # let this many calls succeed first


class FakeTelegram(LocalServer):
    """The fake Bot API as an async context manager (one port, one bot)."""

    def __init__(
        self, token: str = DEFAULT_TOKEN, username: str = BOT_USERNAME, poll_cap: float = 1.0
    ) -> None:
        super().__init__()
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = username
        # A long poll returns empty after this long even when asked to wait longer (Telegram
        # may too); keeps a library's shutdown quick.
        self.poll_cap = poll_cap
        self.calls: list[Call] = []
        self.sent: list[dict[str, Any]] = []  # parameters of each accepted sendMessage
        self.delivered: list[dict[str, Any]] = []  # the Message each of those became
        self.commands: list[dict[str, Any]] = []  # the last setMyCommands
        self.webhook: dict[str, Any] | None = None  # the last setWebhook, None once deleted
        self._updates: list[dict[str, Any]] = []
        self._update_ids = count(1)
        self._message_ids = count(1000)
        self._faults: defaultdict[str, deque[Fault]] = defaultdict(deque)
        self._chats: dict[int, dict[str, Any]] = {}
        self._news = asyncio.Event()  # set when an update is pushed: ends a long poll
        self._released = False

    # -- lifecycle -------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        return app

    async def _stopping(self) -> None:
        self.release()

    def _progress(self) -> str:
        return f"calls: {[call.method for call in self.calls]}"

    @property
    def base_url(self) -> str:
        """For ``TELEGRAM_BASE_URL`` (the library appends the token and the method)."""
        return self._url("/bot")

    # -- updates ---------------------------------------------------------------------------

    def private_text(
        self, user_id: int, text: str, *, message_id: int | None = None, name: str = "Ann"
    ) -> dict[str, Any]:
        """An update with a text message in the private chat of ``user_id`` (not queued)."""
        chat = {"id": user_id, "type": "private", "first_name": name}
        return self._text_update(user_id, name, chat, text, message_id=message_id)

    def group_text(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int = GROUP_ID,
        message_id: int | None = None,
        reply_to_bot: bool = False,
        thread_id: int | None = None,
        name: str = "Ann",
    ) -> dict[str, Any]:
        """An update with a text message in a supergroup (not queued).

        ``reply_to_bot`` makes it a reply to one of the bot's messages; ``thread_id`` puts it in
        that forum topic. Mentions and a leading command get their entities, as Telegram adds.
        """
        chat = {"id": chat_id, "type": "supergroup", "title": "Shop customers"}
        if thread_id is not None:
            chat["is_forum"] = True
        update = self._text_update(user_id, name, chat, text, message_id=message_id)
        message = update["message"]
        if reply_to_bot:
            message["reply_to_message"] = {
                "message_id": next(self._message_ids),
                "date": int(time.time()) - 60,
                "chat": chat,
                "from": self._bot_user(),
                "text": "An earlier answer.",
            }
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        return update

    def push_private_text(self, user_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
        """Queue a private text message for ``getUpdates``; returns the update."""
        return self.push_update(self.private_text(user_id, text, **kwargs))

    def push_group_text(self, user_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
        """Queue a group text message (see ``group_text``); returns the update."""
        return self.push_update(self.group_text(user_id, text, **kwargs))

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue any update; it gets the next ``update_id`` (a redelivery gets a new one too)."""
        queued = {**update, "update_id": next(self._update_ids)}
        for key in ("message", "edited_message"):
            if key in queued:
                self._chats[queued[key]["chat"]["id"]] = queued[key]["chat"]
        self._updates.append(queued)
        self._news.set()
        self._news = asyncio.Event()
        return queued

    def release(self) -> None:
        """From now on every ``getUpdates`` returns at once (pending ones too)."""
        self._released = True
        self._news.set()

    # -- faults and inspection -------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        error_code: int = 429,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        after: int = 0,
    ) -> None:
        """The next call to ``method`` (or the one ``after`` calls later) fails with this Bot API
        error; faults are queued, in order."""
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after}",
                403: "Forbidden: bot was blocked by the user",
                400: "Bad Request: chat not found",
                502: "Bad Gateway",
            }.get(error_code, "Error")
        self._faults[method].append(
            Fault(error_code, description, retry_after, migrate_to_chat_id, after=after)
        )

    def drop_next(self, method: str) -> None:
        """The next call to ``method`` gets its connection closed without an answer."""
        self._faults[method].append(Fault(drop=True))

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    # ``timeout`` by that name, as the other fakes do: it reads well in a test.
    async def wait_for_sent(
        self,
        n: int,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Wait until at least ``n`` messages were sent; returns ``sent``."""
        await self.wait_until(lambda: len(self.sent) >= n, timeout, f"{n} sent messages")
        return self.sent

    # -- the API ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await _params(request)
        if request.match_info["token"] != self.token:
            return self._record(method, params, _error(401, "Unauthorized"))
        faults = self._faults.get(method)
        if faults and faults[0].after:
            faults[0] = replace(faults[0], after=faults[0].after - 1)
        elif faults:
            fault = faults.popleft()
            if fault.drop:
                self._record(method, params, web.Response(status=499))
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=499)  # never sent: the transport is closed
            extra: dict[str, Any] = {}
            if fault.retry_after is not None:
                extra["retry_after"] = fault.retry_after
            if fault.migrate_to_chat_id is not None:
                extra["migrate_to_chat_id"] = fault.migrate_to_chat_id
            return self._record(method, params, _error(fault.error_code, fault.description, extra))
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return self._record(method, params, _error(404, "Not Found"))
        if method == "getUpdates":
            # Recorded when asked, not when answered: a long poll's time is the request's.
            call_at = time.monotonic()
            response: web.Response = await handler(params)
            self.calls.append(Call(method, params, call_at, response.status))
            self._changed()
            return response
        return self._record(method, params, await handler(params))

    def _record(self, method: str, params: dict[str, Any], response: web.Response) -> web.Response:
        self.calls.append(Call(method, params, time.monotonic(), response.status))
        self._changed()
        return response

    async def _api_getMe(self, params: dict[str, Any]) -> web.Response:
        return _ok(
            {
                **self._bot_user(),
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )

    async def _api_getUpdates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params.get("offset") or 0)
        if offset:  # confirms everything before it, as Telegram does
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        timeout = float(params.get("timeout") or 0)
        news = self._news
        if not self._updates and timeout > 0 and not self._released:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(news.wait(), min(timeout, self.poll_cap))
        limit = int(params.get("limit") or 100)
        return _ok(self._updates[:limit])

    async def _api_sendMessage(self, params: dict[str, Any]) -> web.Response:
        text = str(params.get("text", ""))
        if params.get("parse_mode") == "HTML":
            try:
                visible = visible_text(text)
            except ValueError as exc:
                return _error(400, f"Bad Request: can't parse entities: {exc}")
        else:
            visible = text
        if not visible.strip():
            return _error(400, "Bad Request: message text is empty")
        if utf16_length(visible) > MAX_TEXT:
            return _error(400, "Bad Request: message is too long")
        chat_id = int(params["chat_id"])
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": self._bot_user(),
            "text": visible,
        }
        mentions = [
            {
                "type": "mention",
                "offset": utf16_length(visible[:start]),
                "length": utf16_length(name),
            }
            for start, name in mentions_in(text, params.get("parse_mode"))
        ]
        if mentions:
            message["entities"] = mentions
        if "message_thread_id" in params:
            message["message_thread_id"] = params["message_thread_id"]
        self.sent.append(params)
        self.delivered.append(message)
        return _ok(message)

    async def _api_sendChatAction(self, params: dict[str, Any]) -> web.Response:
        return _ok(True)

    async def _api_setMyCommands(self, params: dict[str, Any]) -> web.Response:
        self.commands = list(params.get("commands", []))
        return _ok(True)

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = None
        return _ok(True)

    async def _api_setWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = params
        return _ok(True)

    # -- helpers ---------------------------------------------------------------------------

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Bastion",
            "username": self.bot_username,
        }

    def _chat(self, chat_id: int) -> dict[str, Any]:
        known = self._chats.get(chat_id)
        if known is not None:
            return known
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "Ann"}
        return {"id": chat_id, "type": "supergroup", "title": "Shop customers"}

    def _text_update(
        self,
        user_id: int,
        name: str,
        chat: dict[str, Any],
        text: str,
        *,
        message_id: int | None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": message_id if message_id is not None else next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": user_id, "is_bot": False, "first_name": name, "language_code": "en"},
            "text": text,
        }
        entities = text_entities(text)
        if entities:
            message["entities"] = entities
        return {"update_id": 0, "message": message}


def text_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram adds to a user's text: a leading command and @mentions."""
    entities = []
    command = _COMMAND.match(text)
    if command is not None:
        entities.append(
            {"type": "bot_command", "offset": 0, "length": utf16_length(command.group())}
        )
    for mention in MENTION.finditer(text):
        entities.append(
            {
                "type": "mention",
                "offset": utf16_length(text[: mention.start()]),
                "length": utf16_length(mention.group()),
            }
        )
    return sorted(entities, key=lambda e: e["offset"])


def visible_text(html: str) -> str:
    """The text of a ``parse_mode=HTML`` message after entity parsing; ``ValueError`` if
    Telegram would refuse it (a tag it does not know, or tags not closed in order)."""
    return _parse_html(html).text


def mentions_in(text: str, parse_mode: str | None = "HTML") -> list[tuple[int, str]]:
    """The mentions Telegram would find in a message we send: ``(index, "@name")`` in its
    visible text. Telegram looks for them in the whole text (formatting does not separate
    words) but drops those inside code and code blocks; without a parse mode nothing is code."""
    parsed = _parse_html(text) if parse_mode == "HTML" else _Parsed(text, [])
    return [
        (m.start(), m.group())
        for m in MENTION.finditer(parsed.text)
        if not any(start < m.end() and m.start() < end for start, end in parsed.code)
    ]


@dataclass(frozen=True, slots=True)
class _Parsed:
    text: str
    code: list[tuple[int, int]]  # spans of ``text`` shown as code (<code>, <pre>)


def _parse_html(html: str) -> _Parsed:
    parser = _TelegramHTML()
    parser.feed(html)
    parser.close()
    if parser.stack:
        raise ValueError(f"can't find end tag corresponding to start tag {parser.stack[-1][0]}")
    return _Parsed("".join(parser.text), parser.code)


class _TelegramHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, int]] = []  # open tags and where their text starts
        self.text: list[str] = []
        self.code: list[tuple[int, int]] = []
        self._length = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TELEGRAM_TAGS:
            raise ValueError(f'unsupported start tag "{tag}"')
        self.stack.append((tag, self._length))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            raise ValueError(f'unmatched end tag "{tag}"')
        _, start = self.stack.pop()
        if tag in ("code", "pre"):
            self.code.append((start, self._length))

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        self._length += len(data)


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    form = await request.post()
    params: dict[str, Any] = {}
    for key, value in form.items():
        if not isinstance(value, str):
            continue  # an uploaded file: not used by these tests
        if key in _STRING_PARAMS:
            params[key] = value
            continue
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)
