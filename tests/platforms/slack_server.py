"""A fake Slack on 127.0.0.1 for the real slack_sdk and Bolt: Web API, response URLs, Socket Mode.

Point the client at ``sl.base_url`` (``SLACK_BASE_URL``). What it serves:

- ``/api/{method}``: ``auth.test``, ``chat.postMessage``, ``apps.connections.open`` (others
  answer ``unknown_method``), in the three shapes slack_sdk uses (form POST, JSON POST, GET),
  with the token from ``Authorization: Bearer`` or a ``token`` field. Every call is recorded in
  ``calls``; posted messages in ``posts``. ``fail_next`` and ``rate_limit_next`` script errors.
- ``/respond/{id}``: the ``response_url`` of the slash commands it builds; posts are recorded
  in ``posts`` too (``method == "response_url"``), five per URL as on Slack. ``fail_next``
  with the method ``"response_url"`` scripts their errors too.
- ``/socket``: the Socket Mode websocket ``apps.connections.open`` hands out; it sends
  ``hello``, then the envelopes pushed with ``push_socket_event``/``push_socket_command``, and
  collects their acknowledgements in ``acks``.

For HTTP mode it signs requests as Slack does (``signed_event_request``,
``signed_command_request`` return the body and headers to POST to ``/slack/events``).

    async with FakeSlack() as sl:
        ... SLACK_BASE_URL=sl.base_url, SLACK_BOT_TOKEN=sl.bot_token ...
        body, headers = sl.signed_event_request(dm("hello"))
        posts = await sl.wait_for_posts(1, timeout=5)
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, web

from tests.local_server import LocalServer

BOT_USER_ID = "UBOT0001"
BOT_ID = "BBOT0001"
TEAM_ID = "T0000001"
APP_ID = "A0000001"
USER_ID = "UUSER001"
DM_CHANNEL = "D0000001"
CHANNEL = "C0000001"
MAX_RESPONSES_PER_URL = 5
# How long a push waits for the adapter's Socket Mode connection to be open.
SOCKET_WAIT_SECONDS = 5.0

_ts = itertools.count(1)


def next_ts() -> str:
    """A fresh message ``ts``, shaped like Slack's ("1712345678.000100"), never repeated."""
    return f"{1_712_345_678 + next(_ts)}.{next(_ts) % 1_000_000:06d}"


def _event(kind: str, text: str, user: str, channel: str) -> dict[str, Any]:
    """The fields every user-written event carries, with a fresh ``ts``."""
    ts = next_ts()
    return {
        "client_msg_id": f"msg-{ts}",
        "type": kind,
        "text": text,
        "user": user,
        "ts": ts,
        "team": TEAM_ID,
        "channel": channel,
        "event_ts": ts,
    }


def dm(
    text: str, *, user: str = USER_ID, channel: str = DM_CHANNEL, **extra: Any
) -> dict[str, Any]:
    """A ``message`` event in a direct message with the bot."""
    return {**_event("message", text, user, channel), "channel_type": "im", **extra}


def channel_message(
    text: str, *, user: str = USER_ID, channel: str = CHANNEL, **extra: Any
) -> dict[str, Any]:
    """A ``message`` event in a channel (what ``message.channels`` delivers)."""
    return {**dm(text, user=user, channel=channel), "channel_type": "channel", **extra}


def mention(
    text: str, *, user: str = USER_ID, channel: str = CHANNEL, **extra: Any
) -> dict[str, Any]:
    """An ``app_mention`` event: ``text`` after the bot's mention, as Slack writes it."""
    return {**_event("app_mention", f"<@{BOT_USER_ID}> {text}", user, channel), **extra}


@dataclass(frozen=True, slots=True)
class Post:
    """A message the bot sent: by ``chat.postMessage`` or to a ``response_url``."""

    method: str
    channel: str
    text: str
    thread_ts: str | None
    payload: Mapping[str, Any]
    at: float


@dataclass(frozen=True, slots=True)
class Call:
    """One Web API request as the fake saw it."""

    method: str
    params: Mapping[str, Any]
    token: str
    at: float


@dataclass(frozen=True, slots=True)
class _Scripted:
    status: int
    error: str
    retry_after: str | None = None


@dataclass
class _Hook:
    channel: str
    uses: int = 0


@dataclass
class FakeSlack(LocalServer):
    """The fake; use with ``async with``. Knows one workspace, one bot and one app."""

    signing_secret: str = "fake-signing-secret-0123456789abcdef"
    bot_token: str = "xoxb-fake-bot-token-0123456789"
    app_token: str = "xapp-fake-app-token-0123456789"
    bot_user_id: str = BOT_USER_ID
    bot_id: str = BOT_ID
    team_id: str = TEAM_ID
    # Channels chat.postMessage answers with channel_not_found.
    unknown_channels: set[str] = field(default_factory=set)
    posts: list[Post] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    connections: int = 0

    def __post_init__(self) -> None:
        LocalServer.__init__(self)  # the dataclass __init__ does not call it
        # None: that call goes through as usual (``fail_next(..., after=n)``).
        self._script: dict[str, deque[_Scripted | None]] = defaultdict(deque)
        self._hooks: dict[str, _Hook] = {}
        self._sockets: list[web.WebSocketResponse] = []
        self._envelopes = itertools.count(1)

    # -- lifecycle -------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/respond/{hook}", self._respond)
        app.router.add_get("/socket", self._socket)
        return app

    async def _stopping(self) -> None:
        for ws in list(self._sockets):
            await ws.close()

    def _progress(self) -> str:
        return f"calls: {[call.method for call in self.calls]}, posts: {len(self.posts)}"

    @property
    def base_url(self) -> str:
        """The Web API base URL, with the trailing slash slack_sdk needs."""
        return self._url("/api/")

    # -- scripting -------------------------------------------------------------------------

    def fail_next(
        self, method: str, error: str, *, status: int = 200, times: int = 1, after: int = 0
    ) -> None:
        """The next ``times`` calls of ``method`` answer ``{"ok": false, "error": error}``.

        ``after`` calls go through as usual first (``after=1``: the second call fails). For
        ``"response_url"`` the failure is the HTTP ``status`` (500 for 200) with ``error`` as
        its body, as Slack answers a response URL.
        """
        self._script[method].extend(None for _ in range(after))
        self._script[method].extend(_Scripted(status, error) for _ in range(times))

    def rate_limit_next(self, method: str, retry_after: float = 1, *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` get a 429 with this ``Retry-After``."""
        value = f"{retry_after:g}"
        self._script[method].extend(
            _Scripted(429, "ratelimited", retry_after=value) for _ in range(times)
        )

    def _scripted(self, method: str) -> _Scripted | None:
        """The scripted answer to this call of ``method``; None to answer it as usual."""
        script = self._script[method]
        return script.popleft() if script else None

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    # -- requests as Slack sends them ------------------------------------------------------

    def event_callback(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The Events API envelope around ``event``, as delivered over HTTP or Socket Mode."""
        return {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "api_app_id": APP_ID,
            "event": dict(event),
            "type": "event_callback",
            "event_id": f"Ev{event.get('ts', next_ts()).replace('.', '')}",
            "event_time": int(float(str(event.get("ts", time.time())))),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-fake-event-context",
        }

    def command_payload(
        self,
        text: str,
        *,
        user_id: str = USER_ID,
        channel_id: str = DM_CHANNEL,
        command: str = "/bastion",
    ) -> dict[str, str]:
        """A slash command's fields, with a ``response_url`` on this fake."""
        hook = f"h{len(self._hooks) + 1}"
        self._hooks[hook] = _Hook(channel_id)
        return {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "team_domain": "fake",
            "channel_id": channel_id,
            "channel_name": "directmessage" if channel_id.startswith("D") else "general",
            "user_id": user_id,
            "user_name": "ann",
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self._url(f"/respond/{hook}"),
            "trigger_id": f"trigger-{hook}-{next_ts()}",
        }

    def sign(
        self, body: bytes, *, timestamp: float | None = None, secret: str | None = None
    ) -> dict[str, str]:
        """Slack's request-signing headers for ``body`` (v0 HMAC-SHA256 of "v0:ts:body")."""
        ts = str(int(time.time() if timestamp is None else timestamp))
        key = (secret if secret is not None else self.signing_secret).encode()
        digest = hmac.new(key, f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}

    def signed_event_request(
        self,
        event: Mapping[str, Any],
        *,
        retry_num: int | None = None,
        timestamp: float | None = None,
        secret: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """An Events API delivery of ``event`` (a retry when ``retry_num`` is given)."""
        payload = event if event.get("type") == "url_verification" else self.event_callback(event)
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            **self.sign(body, timestamp=timestamp, secret=secret),
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return body, headers

    def signed_command_request(
        self,
        text: str,
        *,
        timestamp: float | None = None,
        secret: str | None = None,
        **fields: str,
    ) -> tuple[bytes, dict[str, str]]:
        """A slash command delivery (form-encoded), e.g. ``/bastion help``."""
        body = urlencode(self.command_payload(text, **fields)).encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            **self.sign(body, timestamp=timestamp, secret=secret),
        }
        return body, headers

    # -- Socket Mode -----------------------------------------------------------------------

    async def push_socket_event(self, event: Mapping[str, Any], *, retry_attempt: int = 0) -> str:
        """Send ``event`` over the open Socket Mode connection; returns its envelope id."""
        return await self._push(
            {
                "payload": self.event_callback(event),
                "type": "events_api",
                "accepts_response_payload": False,
                "retry_attempt": retry_attempt,
                "retry_reason": "timeout" if retry_attempt else "",
            }
        )

    async def push_socket_command(self, text: str, **fields: str) -> str:
        """Send a slash command over Socket Mode; returns its envelope id."""
        return await self._push(
            {
                "payload": self.command_payload(text, **fields),
                "type": "slash_commands",
                "accepts_response_payload": True,
            }
        )

    async def ask_to_reconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``disconnect`` envelope, as Slack does every few hours."""
        ws = await self._open_socket()
        await ws.send_str(json.dumps({"type": "disconnect", "reason": reason}))

    async def drop_socket(self) -> None:
        """Close the connection from Slack's side, as a network cut or a deploy would."""
        ws = await self._open_socket()
        await ws.close()

    # The waits take ``timeout`` by that name (ASYNC109 prefers asyncio.timeout around the
    # call): tests on every platform read the same way, ``await sl.wait_for_posts(n, 5)``.
    async def wait_for_ack(self, envelope_id: str, timeout: float = 5) -> dict[str, Any]:  # noqa: ASYNC109
        await self.wait_until(lambda: envelope_id in self.acks, timeout, f"ack of {envelope_id}")
        return self.acks[envelope_id]

    async def wait_for_connections(self, n: int, timeout: float = 5) -> None:  # noqa: ASYNC109
        """Until ``n`` Socket Mode connections have been opened in all (reconnects count)."""

        def ready() -> bool:
            return self.connections >= n and bool(self._live())

        await self.wait_until(ready, timeout, f"{n} Socket Mode connections")

    async def _push(self, envelope: dict[str, Any]) -> str:
        ws = await self._open_socket()
        envelope_id = f"env-{next(self._envelopes)}"
        await ws.send_str(json.dumps({"envelope_id": envelope_id, **envelope}))
        return envelope_id

    async def _open_socket(self) -> web.WebSocketResponse:
        await self.wait_until(
            lambda: bool(self._live()), SOCKET_WAIT_SECONDS, "open Socket Mode connection"
        )
        return self._live()[-1]

    def _live(self) -> list[web.WebSocketResponse]:
        return [ws for ws in self._sockets if not ws.closed]

    # -- waiting ---------------------------------------------------------------------------

    async def wait_for_posts(self, n: int, timeout: float = 5) -> list[Post]:  # noqa: ASYNC109
        """The first ``n`` posts, once there are that many."""
        await self.wait_until(lambda: len(self.posts) >= n, timeout, f"{n} posts")
        return self.posts[:n]

    # -- handlers --------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update({k: str(v) for k, v in (await request.post()).items()})
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        token = token or str(params.pop("token", ""))
        loop = asyncio.get_running_loop()
        self.calls.append(Call(method, params, token, loop.time()))
        self._changed()
        if (step := self._scripted(method)) is not None:
            headers = {"Retry-After": step.retry_after} if step.retry_after else None
            return _json({"ok": False, "error": step.error}, status=step.status, headers=headers)
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if not token:
            return _json({"ok": False, "error": "not_authed"})
        if token != expected:
            return _json({"ok": False, "error": "invalid_auth"})
        handlers = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._connections_open,
            "chat.postMessage": self._post_message,
        }
        handler = handlers.get(method)
        if handler is None:
            return _json({"ok": False, "error": "unknown_method"})
        return await handler(params)

    async def _auth_test(self, params: Mapping[str, Any]) -> web.Response:
        return _json(
            {
                "ok": True,
                "url": "https://fake.slack.test/",
                "team": "Fake",
                "user": "bastion",
                "team_id": self.team_id,
                "user_id": self.bot_user_id,
                "bot_id": self.bot_id,
                "is_enterprise_install": False,
            }
        )

    async def _connections_open(self, params: Mapping[str, Any]) -> web.Response:
        return _json({"ok": True, "url": self._url("/socket", scheme="ws")})

    async def _post_message(self, params: Mapping[str, Any]) -> web.Response:
        channel, text = str(params.get("channel", "")), str(params.get("text", ""))
        if not channel or channel in self.unknown_channels:
            return _json({"ok": False, "error": "channel_not_found"})
        if not text:
            return _json({"ok": False, "error": "no_text"})
        ts = next_ts()
        thread_ts = params.get("thread_ts")
        at = asyncio.get_running_loop().time()
        self.posts.append(Post("chat.postMessage", channel, text, thread_ts, dict(params), at))
        self._changed()
        message = {"type": "message", "text": text, "user": self.bot_user_id, "ts": ts}
        return _json({"ok": True, "channel": channel, "ts": ts, "message": message})

    async def _respond(self, request: web.Request) -> web.Response:
        hook = self._hooks.get(request.match_info["hook"])
        if hook is None:
            return web.Response(status=404, text="invalid_token")
        if (step := self._scripted("response_url")) is not None:
            return web.Response(status=step.status if step.status != 200 else 500, text=step.error)
        if hook.uses >= MAX_RESPONSES_PER_URL:
            return web.Response(status=404, text="used_url")
        hook.uses += 1
        payload = await request.json()
        at = asyncio.get_running_loop().time()
        text = str(payload.get("text", ""))
        self.posts.append(Post("response_url", hook.channel, text, None, payload, at))
        self._changed()
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        self.connections += 1
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": len(self._live()),
                    "debug_info": {"host": "fake", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": APP_ID},
                }
            )
        )
        self._changed()
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                ack = json.loads(frame.data)
                if isinstance(ack, dict) and "envelope_id" in ack:
                    self.acks[str(ack["envelope_id"])] = ack
                    self._changed()
        finally:
            self._changed()
        return ws


def _json(
    body: Mapping[str, Any], *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(dict(body), status=status, headers=headers)
