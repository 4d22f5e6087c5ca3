"""A fake Discord on 127.0.0.1: the gateway websocket and the REST API discord.py uses.

It speaks the real protocol, so the real discord.py runs against it unchanged::

    async with FakeDiscord() as dc:
        with dc.patched():  # or set Route.BASE / DEFAULT_GATEWAY to api_base / gateway_url
            async with DiscordAdapter(TOKEN, sink, guild_ready_timeout=0.05):
                await dc.send_dm(USER_ID, "when are you open?")
                [reply] = await dc.wait_for_sent(1)
                await dc.send_guild_message(USER_ID, "and on Sunday?", mention_bot=True)
                await dc.send_slash_command("help")

Gateway: HELLO, heartbeat ACK, IDENTIFY -> READY + one GUILD_CREATE per guild, RESUME ->
RESUMED; tests push MESSAGE_CREATE, MESSAGE_UPDATE and INTERACTION_CREATE events. REST:
``users/@me``, ``oauth2/applications/@me``, channel messages and typing, application commands
(global and per guild), the interaction callback and webhook follow-ups. Every REST call is
recorded in ``calls``; message payloads posted (channel messages and follow-ups) in ``sent``.
``fail_next`` scripts errors, including a 429 with ``retry_after`` and the ``Via`` header
discord.py needs to treat it as Discord's (without ``Via`` it assumes a Cloudflare ban), and
with ``after`` an error part-way through a run of requests. Deferred interaction responses can
be edited and deleted (``deleted_originals`` lists the tokens).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yarl
from aiohttp import WSMsgType, web

from tests.local_server import LocalServer

TOKEN = "fake.discord.bot-token"
BOT_ID = 1_100_000_000_000_000_001
APP_ID = BOT_ID  # a bot's application id is its user id
GUILD_ID = 1_200_000_000_000_000_001
CHANNEL_ID = 1_200_000_000_000_000_010  # #general in the guild
THREAD_ID = 1_200_000_000_000_000_020  # an active thread in #general
BOT_ROLE_ID = 1_200_000_000_000_000_030  # the bot's managed role
BOT_NAME = "Bastion"
USER_ID = 402_516_386_531_540_999  # a user for tests that need just one
_DISCORD_EPOCH_MS = 1_420_070_400_000
_API = "/api/v10"


_increments = itertools.count(1)


def snowflake(at: datetime | None = None) -> int:
    """A Discord id whose timestamp is ``at`` (now by default), unique within this process."""
    ms = int((at or datetime.now(UTC)).timestamp() * 1000) - _DISCORD_EPOCH_MS
    return (ms << 22) | (next(_increments) % (1 << 22))


@dataclass(frozen=True, slots=True)
class Call:
    """One REST request as the fake received it."""

    method: str
    path: str  # without the /api/v10 prefix and the query
    query: dict[str, str]
    body: Any  # the JSON body, or None
    at: float  # time.monotonic() at arrival


@dataclass
class _Fault:
    method: str
    path: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    times: int
    after: int  # matching requests still let through before the first error


@dataclass
class _Gateway:
    """The one websocket the client holds, and what it said."""

    socket: web.WebSocketResponse | None = None
    sequence: int = 0
    identified: asyncio.Event = field(default_factory=asyncio.Event)
    identify: dict[str, Any] | None = None
    identifies: int = 0
    resumes: int = 0


class FakeDiscord(LocalServer):
    """Discord's gateway and REST API on a free port of 127.0.0.1."""

    def __init__(self, *, bot_id: int = BOT_ID, guild_ids: tuple[int, ...] = (GUILD_ID,)) -> None:
        super().__init__()
        self.bot_id = bot_id
        self.guild_ids = guild_ids
        self.calls: list[Call] = []
        self.sent: list[dict[str, Any]] = []
        self.sent_calls: list[Call] = []  # the requests behind ``sent``: channel or webhook
        self.sent_ids: list[int] = []  # the ids those messages got, to reply to one
        self.interaction_responses: list[Call] = []
        self.deleted_originals: list[str] = []  # interaction tokens whose response was deleted
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or a guild id
        self._gateway = _Gateway()
        self._faults: list[_Fault] = []
        self._messages: dict[int, dict[str, Any]] = {}
        self._dm_channels: dict[int, int] = {}
        self._sockets: set[web.WebSocketResponse] = set()
        # Start-up faults: close the socket with this code on IDENTIFY (4014: a privileged
        # intent the bot may not use; 4004: a bad token), or never answer IDENTIFY at all.
        self.close_on_identify: int | None = None
        self.ignore_identify = False

    # -- lifecycle -------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/gw", self._websocket)
        app.router.add_route("*", _API + "/{tail:.*}", self._rest)
        return app

    async def _stopping(self) -> None:
        for socket in list(self._sockets):
            await socket.close()

    def _progress(self) -> str:
        return f"calls: {[(c.method, c.path) for c in self.calls]}"

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` must be."""
        return self._url(_API)

    @property
    def gateway_url(self) -> str:
        """What ``DiscordWebSocket.DEFAULT_GATEWAY`` must be."""
        return self._url("/gw", scheme="ws")

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        """Point discord.py at this fake (REST and gateway), restoring both afterwards."""
        # adapters.discord first: it imports discord.py without its audioop warning.
        import adapters.discord  # noqa: F401, I001
        from discord.gateway import DiscordWebSocket
        from discord.http import Route

        saved = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
        Route.BASE = self.api_base
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved

    # -- scripting -------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path: str,
        status: int,
        *,
        code: int = 0,
        message: str = "",
        retry_after: float | None = None,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """Answer the next ``times`` requests matching ``method`` and the ``path`` regex with an
        error, once ``after`` matching requests went through normally (``after=1``: the second
        fails). A 429 carries ``retry_after`` (seconds) and Discord's headers, ``Via`` included.
        """
        body: dict[str, Any] = {"message": message or f"error {status}", "code": code}
        headers: dict[str, str] = {}
        if status == 429:
            wait = 1.0 if retry_after is None else retry_after
            body = {"message": "You are being rate limited.", "retry_after": wait, "global": False}
            headers = {
                "Via": "1.1 google",
                "Retry-After": str(max(1, round(wait))),
                "X-RateLimit-Scope": "user",
            }
        self._faults.append(_Fault(method, re.compile(path), status, body, headers, times, after))

    async def send_dm(self, user_id: int, text: str, **fields: Any) -> int:
        """A user writes to the bot in a DM; returns the message id."""
        data = self._message(user_id, self.dm_channel(user_id), text, **fields)
        await self.dispatch("MESSAGE_CREATE", data)
        return int(data["id"])

    async def send_guild_message(
        self,
        user_id: int,
        text: str,
        *,
        mention_bot: bool = False,
        reply_to: int | None = None,
        channel_id: int = CHANNEL_ID,
        guild_id: int = GUILD_ID,
        **fields: Any,
    ) -> int:
        """A user writes in a guild channel (or thread), optionally mentioning the bot or
        replying to one of its messages (``reply_to``: an id from ``sent_ids``)."""
        content = f"<@{self.bot_id}> {text}" if mention_bot else text
        data = self._message(user_id, channel_id, content, guild_id=guild_id, **fields)
        if mention_bot:
            data["mentions"] = [self.bot_user()]
        if reply_to is not None:
            data["type"] = 19
            data["message_reference"] = {
                "type": 0,
                "message_id": str(reply_to),
                "channel_id": str(channel_id),
                "guild_id": str(guild_id),
            }
            data["referenced_message"] = self._messages.get(reply_to)
        await self.dispatch("MESSAGE_CREATE", data)
        return int(data["id"])

    async def edit_message(self, message_id: int, user_id: int, text: str, **fields: Any) -> None:
        """The user edits an earlier message (same id, new text)."""
        data = self._message(user_id, self.dm_channel(user_id), text, **fields)
        data["id"] = str(message_id)
        data["edited_timestamp"] = datetime.now(UTC).isoformat()
        await self.dispatch("MESSAGE_UPDATE", data)

    async def send_slash_command(
        self,
        name: str,
        user_id: int = USER_ID,
        *,
        guild: bool = True,
        channel_id: int | None = None,
        created_at: datetime | None = None,
    ) -> int:
        """A user runs ``/name`` from Discord's picker, in the guild or in a DM; returns the
        interaction id (its timestamp is ``created_at``, to age the token)."""
        interaction_id = snowflake(created_at)
        command = next(
            (c for cs in self.commands.values() for c in cs if c["name"] == name),
            {"id": str(snowflake()), "name": name},
        )
        data: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(APP_ID),
            "type": 2,
            "data": {"id": command["id"], "name": name, "type": 1},
            "token": f"interaction-token-{interaction_id}",
            "version": 1,
            "app_permissions": "2248473465835073",
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 10_485_760,
        }
        if guild:
            channel = channel_id or CHANNEL_ID
            data |= {
                "guild_id": str(GUILD_ID),
                "guild_locale": "en-US",
                "channel_id": str(channel),
                "channel": self._channel_object(channel),
                "member": self._member(user_id),
                "authorizing_integration_owners": {"0": str(GUILD_ID)},
                "context": 0,
            }
        else:
            channel = channel_id or self.dm_channel(user_id)
            data |= {
                "channel_id": str(channel),
                "channel": {
                    "id": str(channel),
                    "type": 1,
                    "last_message_id": None,
                    "flags": 0,
                    "recipients": [user_object(user_id)],
                },
                "user": user_object(user_id),
                "authorizing_integration_owners": {"0": str(GUILD_ID)},
                "context": 1,
            }
        await self.dispatch("INTERACTION_CREATE", data)
        return interaction_id

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send any gateway event to the connected client (after its IDENTIFY)."""
        await asyncio.wait_for(self._gateway.identified.wait(), 5)
        await self._dispatch(event, data)

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the gateway socket as Discord does on an error; the client should resume."""
        socket = self._gateway.socket
        self._gateway.identified.clear()
        if socket is not None:
            await socket.close(code=code, message=b"fake: dropped")

    async def wait_for_sent(
        self,
        n: int,
        timeout: float = 5.0,  # noqa: ASYNC109  (reads well at the call site)
    ) -> list[dict[str, Any]]:
        """The first ``n`` message payloads posted; fails if fewer arrive within ``timeout``."""
        await self.wait_until(lambda: len(self.sent) >= n, timeout, f"{n} messages sent")
        return self.sent[:n]

    # -- what tests read -------------------------------------------------------------------

    @property
    def identify(self) -> dict[str, Any] | None:
        """The last IDENTIFY payload (``intents`` among others)."""
        return self._gateway.identify

    @property
    def identifies(self) -> int:
        return self._gateway.identifies

    @property
    def resumes(self) -> int:
        return self._gateway.resumes

    def typing_in(self) -> list[str]:
        """Channel ids of every typing indicator, in order."""
        return [c.path.split("/")[2] for c in self.calls if c.path.endswith("/typing")]

    def dm_channel(self, user_id: int) -> int:
        """The DM channel between the bot and ``user_id`` (one per user, as on Discord)."""
        if user_id not in self._dm_channels:
            self._dm_channels[user_id] = snowflake()
        return self._dm_channels[user_id]

    def bot_user(self) -> dict[str, Any]:
        return user_object(self.bot_id, BOT_NAME, bot=True)

    # -- gateway ---------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.add(socket)
        self._gateway.socket = socket
        try:
            await socket.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 45000}}))
            async for frame in socket:
                if frame.type == WSMsgType.TEXT:
                    await self._on_op(socket, json.loads(frame.data))
        finally:
            self._sockets.discard(socket)
        return socket

    async def _on_op(self, socket: web.WebSocketResponse, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        if op == 1:  # heartbeat
            await socket.send_str(json.dumps({"op": 11}))
        elif op == 2:  # identify
            self._gateway.identify = payload["d"]
            self._gateway.identifies += 1
            if self.close_on_identify is not None:
                await socket.close(code=self.close_on_identify, message=b"fake: refused")
                return
            if self.ignore_identify:
                return
            self._gateway.sequence = 0
            await self._dispatch("READY", self._ready())
            for guild_id in self.guild_ids:
                await self._dispatch("GUILD_CREATE", self._guild(guild_id))
            self._gateway.identified.set()
        elif op == 6:  # resume
            self._gateway.resumes += 1
            await self._dispatch("RESUMED", {})
            self._gateway.identified.set()
        self._changed()

    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        socket = self._gateway.socket
        assert socket is not None, "no client connected to the fake gateway"
        self._gateway.sequence += 1
        frame = {"op": 0, "t": event, "s": self._gateway.sequence, "d": data}
        await socket.send_str(json.dumps(frame))

    def _ready(self) -> dict[str, Any]:
        return {
            "v": 10,
            "user": self.bot_user() | {"verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g), "unavailable": True} for g in self.guild_ids],
            "session_id": "fake-session",
            "resume_gateway_url": self.gateway_url,
            "shard": [0, 1],
            "application": {"id": str(APP_ID), "flags": 0},
            "private_channels": [],
            "relationships": [],
        }

    def _guild(self, guild_id: int) -> dict[str, Any]:
        everyone = {
            "id": str(guild_id),
            "name": "@everyone",
            "permissions": "1071698660929",
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        bot_role = everyone | {
            "id": str(BOT_ROLE_ID),
            "name": BOT_NAME,
            "position": 1,
            "managed": True,
            "tags": {"bot_id": str(self.bot_id)},
        }
        now = datetime.now(UTC).isoformat()
        return {
            "id": str(guild_id),
            "name": "Fake Guild",
            "icon": None,
            "owner_id": "1",
            "unavailable": False,
            "member_count": 3,
            "large": False,
            "joined_at": now,
            "features": [],
            "roles": [everyone, bot_role],
            "emojis": [],
            "stickers": [],
            "channels": [self._channel_object(CHANNEL_ID, guild_id)],
            "threads": [self._channel_object(THREAD_ID, guild_id)],
            "members": [
                {
                    "user": self.bot_user(),
                    "roles": [str(BOT_ROLE_ID)],
                    "joined_at": now,
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                }
            ],
            "voice_states": [],
            "presences": [],
            "premium_tier": 0,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "preferred_locale": "en-US",
            "system_channel_flags": 0,
        }

    def _channel_object(self, channel_id: int, guild_id: int = GUILD_ID) -> dict[str, Any]:
        if channel_id == THREAD_ID:
            return {
                "id": str(THREAD_ID),
                "type": 11,
                "guild_id": str(guild_id),
                "parent_id": str(CHANNEL_ID),
                "owner_id": "1",
                "name": "a thread",
                "last_message_id": None,
                "message_count": 0,
                "member_count": 1,
                "rate_limit_per_user": 0,
                "flags": 0,
                "thread_metadata": {
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": datetime.now(UTC).isoformat(),
                    "locked": False,
                },
            }
        return {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(guild_id),
            "name": "general",
            "position": 0,
            "permission_overwrites": [],
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def _message(
        self,
        user_id: int,
        channel_id: int,
        content: str,
        *,
        guild_id: int | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        data = _message_data(channel_id, content, user_object(user_id))
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
            data["member"] = self._member(user_id)
            data["member"].pop("user")
        return data | fields

    def _member(self, user_id: int) -> dict[str, Any]:
        return {
            "user": user_object(user_id),
            "roles": [],
            "joined_at": datetime.now(UTC).isoformat(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": "2248473465835073",
        }

    # -- REST ------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body = await request.json() if request.can_read_body else None
        call = Call(request.method, path, dict(request.query), body, time.monotonic())
        self.calls.append(call)
        try:
            for fault in self._faults:
                if fault.times > 0 and fault.method == request.method and fault.path.search(path):
                    if fault.after > 0:
                        fault.after -= 1
                        break
                    fault.times -= 1
                    return _json(fault.body, fault.status, fault.headers)
            return self._route(call)
        finally:
            self._changed()

    def _route(self, call: Call) -> web.Response:
        for method, pattern, handler in self._routes():
            if call.method == method and (match := re.fullmatch(pattern, call.path)):
                return handler(call, match)
        message = f"fake Discord: no route {call.method} {call.path}"
        return _json({"message": message, "code": 0}, 404)

    def _routes(self) -> list[tuple[str, str, Callable[[Call, re.Match[str]], web.Response]]]:
        me = self.bot_user() | {"verified": True, "mfa_enabled": False, "flags": 0}
        return [
            ("GET", r"/users/@me", lambda call, m: _json(me)),
            ("GET", r"/oauth2/applications/@me", lambda call, m: _json(self._application())),
            ("PUT", r"/applications/\d+(?:/guilds/(\d+))?/commands", self._put_commands),
            ("POST", r"/channels/(\d+)/messages", self._post_message),
            ("POST", r"/channels/\d+/typing", lambda call, m: web.Response(status=204)),
            ("POST", r"/interactions/\d+/[^/]+/callback", self._interaction_callback),
            ("POST", r"/webhooks/\d+/[^/]+", self._post_message),
            ("PATCH", r"/webhooks/\d+/[^/]+/messages/@original", self._edit_original),
            ("DELETE", r"/webhooks/\d+/([^/]+)/messages/@original", self._delete_original),
        ]

    def _application(self) -> dict[str, Any]:
        return {
            "id": str(APP_ID),
            "name": BOT_NAME,
            "icon": None,
            "description": "",
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": user_object(1, "owner"),
            "verify_key": "0" * 64,
            "flags": 0,
            "team": None,
            "interactions_endpoint_url": None,
            "summary": "",
        }

    def _put_commands(self, call: Call, match: re.Match[str]) -> web.Response:
        guild_id = match[1]
        registered = []
        for command in call.body or []:
            registered.append(
                {
                    "id": str(snowflake()),
                    "application_id": str(APP_ID),
                    "version": str(snowflake()),
                    "type": 1,
                    "options": [],
                    "default_member_permissions": None,
                    "nsfw": False,
                    **command,
                    **({"guild_id": guild_id} if guild_id else {}),
                }
            )
        self.commands[guild_id or "global"] = registered
        return _json(registered)

    def _post_message(self, call: Call, match: re.Match[str]) -> web.Response:
        payload = call.body or {}
        webhook = call.path.startswith("/webhooks/")
        channel_id = 0 if webhook else int(match[1])
        webhook_id = int(call.path.split("/")[2]) if webhook else 0
        message = self._message_object(payload, channel_id, bot=True, webhook_id=webhook_id)
        self._messages[int(message["id"])] = message
        self.sent.append(payload)
        self.sent_calls.append(call)
        self.sent_ids.append(int(message["id"]))
        return _json(message)

    def _edit_original(self, call: Call, match: re.Match[str]) -> web.Response:
        self.interaction_responses.append(call)
        return _json(self._message_object(call.body or {}, 0, bot=True))

    def _delete_original(self, call: Call, match: re.Match[str]) -> web.Response:
        self.interaction_responses.append(call)
        self.deleted_originals.append(match[1])
        return web.Response(status=204)

    def _interaction_callback(self, call: Call, match: re.Match[str]) -> web.Response:
        self.interaction_responses.append(call)
        interaction_id = call.path.split("/")[2]
        kind = (call.body or {}).get("type", 5)
        return _json(
            {
                "interaction": {
                    "id": interaction_id,
                    "type": 2,
                    "response_message_id": str(snowflake()),
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": False,
                },
                "resource": {"type": kind},
            }
        )

    def _message_object(
        self, payload: dict[str, Any], channel_id: int, *, bot: bool, webhook_id: int = 0
    ) -> dict[str, Any]:
        message = _message_data(
            channel_id or CHANNEL_ID,
            payload.get("content", ""),
            self.bot_user() if bot else user_object(1),
            kind=19 if payload.get("message_reference") else 0,
            flags=payload.get("flags", 0),
        )
        if webhook_id:
            message["webhook_id"] = str(webhook_id)
            message["application_id"] = str(APP_ID)
        return message


def _message_data(
    channel_id: int, content: str, author: dict[str, Any], *, kind: int = 0, flags: int = 0
) -> dict[str, Any]:
    """A new message as Discord sends it (events) and returns it (posts): type ``kind``."""
    return {
        "id": str(snowflake()),
        "channel_id": str(channel_id),
        "type": kind,
        "content": content,
        "author": author,
        "timestamp": datetime.now(UTC).isoformat(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "flags": flags,
        "components": [],
    }


def user_object(user_id: int, name: str | None = None, *, bot: bool = False) -> dict[str, Any]:
    """A Discord user as events carry it (``author``, ``mentions``, ``member.user``)."""
    user: dict[str, Any] = {
        "id": str(user_id),
        "username": name or f"user{user_id % 10_000}",
        "discriminator": "0",
        "global_name": name or f"User {user_id % 10_000}",
        "avatar": None,
        "public_flags": 0,
    }
    if bot:
        user["bot"] = True
    return user


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly application/json: discord.py does not parse "application/json; charset=utf-8".
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
