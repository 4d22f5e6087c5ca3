"""The Discord adapter's I/O shell: discord.py's gateway client, slash commands and sending.

Decisions live in ``convert.py`` (what to answer) and ``format.py`` (what a reply looks like);
this module only connects, receives, and sends. discord.py keeps the gateway alive itself
(heartbeats, resume, reconnect with backoff) and honours Discord's rate-limit buckets, waiting
out a 429 before trying again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import discord
from discord import app_commands
from loguru import logger
from starlette.routing import BaseRoute

from adapters.common.notes import note_throttle
from adapters.common.progress import SentParts
from adapters.discord.convert import (
    PLATFORM,
    GroupReplies,
    Ignored,
    Note,
    edit_intake,
    followup_usable,
    interaction_intake,
    message_intake,
)
from adapters.discord.format import discord_messages
from core.errors import ConfigurationError, DeliveryError
from core.logref import pseudonym
from core.model import IncomingMessage, Reply
from core.ports import PushSink
from core.stages.commands import command_menu

# A 429 asking for a longer wait than this fails the send instead of holding a worker; the
# gateway then keeps the reply and tries again (after 2, 10 and 60 s, then at the next start).
# discord.py's minimum is 30.
MAX_RATE_LIMIT_WAIT = 60.0
# A deferred slash command ("Bastion is thinking…") whose turn has not started and whose reply
# has not come this long after the core took it is taken for refused in silence, and its
# "thinking…" is deleted (see ``on_slash_command``).
UNANSWERED_COMMAND_WAIT = 15.0
# A gateway loop that ran this long before failing counts as healthy: the pause starts over.
_HEALTHY_RUN = 60.0
_MAX_RESTART_PAUSE = 60.0
_NO_PINGS = discord.AllowedMentions.none()


def gateway_intents() -> discord.Intents:
    """What the bot subscribes to: guilds (channels, threads), guild and DM messages.

    ``message_content`` is privileged: without it Discord blanks the text of guild messages
    that do not mention the bot, such as a reply to one of its messages. Members and presences
    are not needed and stay off.
    """
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = True
    return intents


class DiscordAdapter:
    """Discord over the gateway: DMs, guild channels and threads, and slash commands."""

    def __init__(
        self,
        token: str,
        sink: PushSink,
        *,
        guild_ids: Sequence[int] = (),
        group_replies: GroupReplies = "addressed",
        handoff_enabled: bool = True,
        ready_timeout: float = 30.0,
        guild_ready_timeout: float = 2.0,
        unanswered_command_wait: float = UNANSWERED_COMMAND_WAIT,
    ) -> None:
        self._token = token
        self._sink = sink
        self._guild_ids = tuple(guild_ids)
        self._group_replies: GroupReplies = group_replies
        self._handoff_enabled = handoff_enabled
        self._ready_timeout = ready_timeout
        self._guild_ready_timeout = guild_ready_timeout
        # Notes ("I can read text only") at most once a minute per DM channel.
        self._notes = note_throttle()
        self._unanswered_command_wait = unanswered_command_wait
        # Deferred slash commands with no sign of a reply yet, by interaction id: None until
        # the core took the command, then the timer that deletes the "thinking…".
        self._thinking: dict[str, asyncio.Task[None] | None] = {}
        self._deleting: set[str] = set()  # interaction ids whose timer is past its wait
        # Parts of a reply already posted, so the gateway's resend posts only the rest.
        self._sent_parts = SentParts()
        self._client: _GatewayClient | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def platform(self) -> str:
        return PLATFORM

    @property
    def client(self) -> discord.Client:
        """The running discord.py client; only between ``__aenter__`` and ``__aexit__``."""
        if self._client is None:
            raise RuntimeError("the Discord adapter is not started: use `async with adapter`")
        return self._client

    def routes(self) -> Sequence[BaseRoute]:
        return []  # the gateway is an outgoing websocket: nothing to mount

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        # Connected first: messages can arrive as soon as the gateway is up.
        self._sink.connect(PLATFORM, self)
        # The bot never joins voice; without this discord.py warns on every start.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        client = _GatewayClient(
            self,
            intents=gateway_intents(),
            guild_ready_timeout=self._guild_ready_timeout,
            max_ratelimit_timeout=MAX_RATE_LIMIT_WAIT,
            # Only the last messages are kept: enough to tell an edit from a link preview.
            max_messages=1000,
        )
        self._client = client
        try:
            async with asyncio.timeout(self._ready_timeout):
                await self._connect(client)
        except TimeoutError:
            await self._stop()
            raise TimeoutError(
                f"Discord: not connected and ready after {self._ready_timeout:g} s; "
                "check the network and https://discordstatus.com"
            ) from None
        except BaseException:
            await self._stop()
            raise
        logger.info(
            "discord: connected as bot {} in {} guilds",
            client.user and client.user.id,
            len(client.guilds),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()

    async def _connect(self, client: _GatewayClient) -> None:
        try:
            await client.login(self._token)  # REST: who am I, which application; then setup_hook
        except discord.LoginFailure as exc:
            raise ConfigurationError(
                "DISCORD_BOT_TOKEN", "Discord refused the token; copy it again from the Bot page"
            ) from exc
        self._task = asyncio.create_task(self._run_gateway(client), name="discord-gateway")
        ready = asyncio.create_task(client.wait_until_ready(), name="discord-ready")
        try:
            await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if not client.is_ready():
            self._task.result()  # raises what ended the connection
            raise ConnectionError("Discord closed the gateway connection before it was ready")

    async def _run_gateway(self, client: _GatewayClient) -> None:
        """The gateway loop, kept running until the adapter stops.

        discord.py reconnects and resumes by itself after network errors; anything else that
        ends its loop (an event it fails to parse, say) is logged and the loop is started
        again after a growing pause, unless discord.py closed the client because retrying
        cannot help (a revoked token).
        """
        failures = 0
        while not client.is_closed():
            started = time.monotonic()
            try:
                await client.connect(reconnect=True)
            except discord.PrivilegedIntentsRequired as exc:
                error = ConfigurationError(
                    "DISCORD_BOT_TOKEN",
                    "this bot's MESSAGE CONTENT INTENT is off: switch it on under Bot > "
                    "Privileged Gateway Intents in the Discord Developer Portal",
                )
                logger.error("discord: the gateway stopped for good: {}", error)
                raise error from exc
            except Exception as exc:
                if client.is_closed():
                    logger.error("discord: the gateway stopped for good: {}", _describe(exc))
                    raise
                await _close_websocket(client)
                failures = 1 if time.monotonic() - started > _HEALTHY_RUN else failures + 1
                pause = min(_MAX_RESTART_PAUSE, 2.0**failures)
                logger.opt(exception=exc).error(
                    "discord: the gateway loop failed; starting it again in {:g} s", pause
                )
                await asyncio.sleep(pause)

    async def _stop(self) -> None:
        client, task = self._client, self._task
        self._client = self._task = None
        timers = [timer for timer in self._thinking.values() if timer is not None]
        self._thinking.clear()
        for timer in timers:
            timer.cancel()
        await asyncio.gather(*timers, return_exceptions=True)
        if client is not None:
            try:
                await asyncio.wait_for(client.close(), 10)
            except Exception as exc:
                logger.warning("discord: closing the client failed: {}", type(exc).__name__)
        if task is not None:
            # The loop ends by itself once the client is closed; cancel it if it does not.
            await asyncio.wait({task}, timeout=5)
            task.cancel()
            # Its failure, if any, was logged where it happened (or raised by __aenter__).
            await asyncio.gather(task, return_exceptions=True)

    # -- intake --------------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        client = self.client
        if client.user is None:
            return
        role = message.guild.self_role if message.guild is not None else None
        intake = message_intake(
            message,
            bot_id=client.user.id,
            group_replies=self._group_replies,
            bot_role_id=role.id if role is not None else None,
        )
        if isinstance(intake, Ignored):
            logger.trace("discord: ignored a message: {}", intake.reason)
        elif isinstance(intake, Note):
            await self._send_note(intake)
        else:
            logger.debug(
                "discord: message from {} in {}",
                pseudonym(intake.user.key),
                pseudonym(intake.chat.key),
            )
            await self._sink.deliver(intake)

    async def on_message_edit(self, before: discord.Message, after: discord.Message) -> None:
        client = self.client
        if client.user is None:
            return
        intake = edit_intake(before, after, bot_id=client.user.id)
        if isinstance(intake, Note):
            await self._send_note(intake)

    async def on_slash_command(self, interaction: discord.Interaction, name: str) -> None:
        """Acknowledge within Discord's 3 s ("thinking…"), then hand the command to the core.

        The deferral promises a reply, but the core sends nothing for a silent refusal (a
        repeated "slow down" or "blocked" notice), and ``deliver`` does not say whether it
        took the command. So the adapter watches for a sign that a reply will come: the turn
        starting (``typing``) or the reply itself (``send``). With neither within
        ``unanswered_command_wait`` seconds the "thinking…" is deleted: Discord then shows
        nothing, and the one visible outcome was the notice sent earlier in that window.
        A command that was taken but waited longer than that for its turn (a busy channel's
        lane) loses its "thinking…" too, and its answer still comes: as a follow-up, or in
        the channel when Discord refuses follow-ups after the deletion.
        """
        try:
            await interaction.response.defer(thinking=True)
        except discord.HTTPException as exc:
            # Too late or refused: Discord already showed the user a failure, so the command
            # is not carried out either (a /forget the user saw fail must not happen anyway).
            logger.warning("discord: could not acknowledge /{}: {}", name, _reason(exc))
            return
        key = str(interaction.id)
        # Before ``deliver``: the turn, or a refusal notice, may start before it returns.
        self._thinking[key] = None
        try:
            await self._sink.deliver(interaction_intake(interaction, name))
        finally:
            if key in self._thinking and self._client is not None:
                self._thinking[key] = asyncio.create_task(
                    self._stop_thinking(interaction, key), name="discord-unanswered-command"
                )
            else:
                self._thinking.pop(key, None)

    async def _stop_thinking(self, interaction: discord.Interaction, key: str) -> None:
        """Delete the "thinking…" of a command that shows no sign of a reply."""
        try:
            await asyncio.sleep(self._unanswered_command_wait)
            self._deleting.add(key)  # a reply arriving now waits for the deletion
            logger.info("discord: no reply on its way to a slash command; stopped thinking")
            await interaction.delete_original_response()
        except discord.HTTPException as exc:
            logger.warning("discord: could not stop a slash command thinking: {}", _reason(exc))
        finally:
            self._deleting.discard(key)
            self._thinking.pop(key, None)  # interaction ids are never reused

    async def _reply_coming(self, message: IncomingMessage) -> None:
        """A reply to ``message`` is on its way: keep its slash command's "thinking…"."""
        key = message.extras.get("interaction_id")
        if not key or key not in self._thinking:
            return
        timer = self._thinking.pop(key)
        if timer is None:
            return
        if key in self._deleting:
            # Too late to keep it: let the deletion finish, or it could delete the answer (the
            # first follow-up takes the place of the "thinking…" message).
            await asyncio.wait({timer})
        else:
            timer.cancel()

    async def _send_note(self, note: Note) -> None:
        if not self._notes.should_notify(str(note.channel_id)):
            return
        channel = self.client.get_partial_messageable(note.channel_id)
        reference = discord.MessageReference(
            message_id=note.message_id, channel_id=note.channel_id, fail_if_not_exists=False
        )
        try:
            await channel.send(note.text, reference=reference, allowed_mentions=_NO_PINGS)
        except discord.HTTPException as exc:
            logger.warning("discord: a note ({}) was not delivered: {}", note.reason, _reason(exc))

    # -- outbound ------------------------------------------------------------------------

    async def send(self, message: IncomingMessage, reply: Reply) -> None:
        """Post ``reply``: as interaction follow-ups for a slash command, else in the channel."""
        await self._reply_coming(message)
        try:
            pieces = discord_messages(reply.text)
        except Exception as exc:
            # A bug of ours, and every resend would fail the same way. Only the error's type:
            # its message could quote the reply, and this reason is logged.
            raise DeliveryError(
                f"could not format the reply for Discord ({type(exc).__name__})"
            ) from exc
        if not pieces:
            logger.warning("discord: an empty reply was not sent")
            return
        try:
            # A resend of a reply that failed part-way starts after the parts already posted.
            await self._sent_parts.send(message, pieces, self._poster(message))
        except discord.RateLimited as exc:
            raise DeliveryError(
                f"Discord asked to wait {exc.retry_after:.0f} s, longer than we hold a reply",
                retry_after=exc.retry_after,
            ) from exc
        except discord.HTTPException as exc:
            raise DeliveryError(f"Discord refused the reply: {_reason(exc)}") from exc

    async def typing(self, message: IncomingMessage) -> None:
        await self._reply_coming(message)  # the turn runs: its reply, or an apology, follows
        if followup_usable(message, datetime.now(UTC)):
            return  # a deferred slash command already shows "Bastion is thinking…"
        await self._channel(message).typing()  # one indicator; the gateway repeats the call

    def _poster(self, message: IncomingMessage) -> Callable[[int, str], Awaitable[None]]:
        """Posts one piece of the reply to ``message``: as a follow-up to its slash command
        while the interaction's token works, then (and for a message) in the channel."""
        webhook = (
            discord.Webhook.partial(
                int(message.extras["application_id"]),
                str(message.extras["interaction_token"]),
                client=self.client,
            )
            if followup_usable(message, datetime.now(UTC))
            else None
        )

        async def post(index: int, piece: str) -> None:
            nonlocal webhook
            if webhook is not None:
                try:
                    await webhook.send(
                        piece, allowed_mentions=_NO_PINGS, suppress_embeds=True, wait=True
                    )
                    return
                except discord.HTTPException as exc:
                    if exc.status not in (401, 404):
                        raise
                    # The token expired (or the interaction is gone): the channel gets the rest.
                    logger.info("discord: interaction token no longer valid ({})", exc.status)
                    webhook = None
            await self._post_in_channel(message, index, piece)

        return post

    async def _post_in_channel(self, message: IncomingMessage, index: int, piece: str) -> None:
        """Post piece ``index`` of a reply in the message's channel."""
        channel = self._channel(message)
        reply_to = message.extras.get("reply_to")
        kwargs: dict[str, Any] = {}
        # Only the first message points at the user's: the rest follow it in order.
        if index == 0 and reply_to:
            kwargs["reference"] = discord.MessageReference(
                message_id=int(reply_to),
                channel_id=channel.id,
                guild_id=channel.guild_id,
                fail_if_not_exists=False,
            )
        await channel.send(piece, allowed_mentions=_NO_PINGS, suppress_embeds=True, **kwargs)

    def _channel(self, message: IncomingMessage) -> discord.PartialMessageable:
        extras = message.extras
        channel_id = extras.get("channel_id") or message.chat.thread_id or message.chat.chat_id
        guild_id = extras.get("guild_id")
        return self.client.get_partial_messageable(
            int(channel_id), guild_id=int(guild_id) if guild_id else None
        )


class _GatewayClient(discord.Client):
    """discord.py's client with its events routed to the adapter, and the slash commands."""

    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)
        self.adapter = adapter
        self.tree = app_commands.CommandTree(self)
        # The core's commands, each handed to it as ``Command(name)``: /help picked in Discord
        # and /help typed on another platform get the same answer.
        for name, description in command_menu(handoff_enabled=adapter._handoff_enabled):
            self.tree.add_command(
                app_commands.Command(
                    name=name, description=description, callback=_slash_callback(adapter, name)
                )
            )
        self.tree.on_error = self._on_command_error  # type: ignore[method-assign]

    async def setup_hook(self) -> None:
        """Runs inside ``login``: register the slash commands before the gateway connects."""
        guild_ids = self.adapter._guild_ids
        targets: list[discord.Object | None] = (
            [discord.Object(id=gid) for gid in guild_ids] if guild_ids else [None]
        )
        for guild in targets:
            if guild is not None:
                self.tree.copy_global_to(guild=guild)
            where = f"guild {guild.id}" if guild is not None else "globally"
            try:
                synced = await self.tree.sync(guild=guild)
            except discord.DiscordException as exc:
                # Messages still work without slash commands: say why, do not stop.
                logger.error("discord: slash commands not registered {}: {}", where, _reason(exc))
            else:
                logger.info("discord: {} slash commands registered {}", len(synced), where)

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)

    async def on_message_edit(self, before: discord.Message, after: discord.Message) -> None:
        await self.adapter.on_message_edit(before, after)

    async def on_disconnect(self) -> None:
        if not self.is_closed():
            logger.warning("discord: gateway connection lost; reconnecting")

    async def on_resumed(self) -> None:
        logger.info("discord: gateway session resumed")

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        # Never the event's arguments: they hold message texts.
        logger.opt(exception=True).error("discord: handling {} failed", event_method)

    async def _on_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        name = interaction.command.name if interaction.command is not None else "?"
        logger.opt(exception=error).error("discord: slash command /{} failed", name)


def _slash_callback(adapter: DiscordAdapter, name: str) -> Any:
    async def callback(interaction: discord.Interaction) -> None:
        await adapter.on_slash_command(interaction, name)

    return callback


async def _close_websocket(client: discord.Client) -> None:
    """Close the socket a failed loop left open, stopping its heartbeat thread with it."""
    socket = client.ws
    if socket is None:
        return
    try:
        await socket.close(code=4000)
    except Exception as exc:  # it is being replaced: a failure here changes nothing
        logger.debug("discord: closing a failed gateway socket: {}", type(exc).__name__)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, discord.ConnectionClosed):
        return f"connection closed with code {exc.code} {exc.reason}".strip()
    return type(exc).__name__


def _reason(exc: discord.DiscordException) -> str:
    """Why Discord refused, without anything the user wrote: status, code and Discord's text."""
    if isinstance(exc, discord.HTTPException):
        return f"{exc.status} (code {exc.code}) {exc.text}".strip()
    return type(exc).__name__
