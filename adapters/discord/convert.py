"""Pure conversions from discord.py's parsed gateway objects to the core model; no I/O here.

discord.py turns each gateway event into a ``discord.Message`` or ``discord.Interaction``; these
functions decide what the bot does with it (hand it to the core, answer with a short note, or
ignore it) and build the ``IncomingMessage``. Everything a reply needs later (the channel to
post in, the message to reply to, an interaction's webhook token) goes into ``extras`` as
strings, so it survives the durable inbox's JSON after a restart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import discord

from adapters.common.notes import NO_EDITS, TEXT_ONLY
from core.commands import parse_command
from core.model import ChatRef, Command, IncomingMessage, UserRef

PLATFORM = "discord"
GroupReplies = Literal["addressed", "commands"]

# Discord keeps an interaction's token valid for 15 minutes; a follow-up later than that fails,
# so the reply goes to the channel instead. The margin covers the send itself and clock skew.
INTERACTION_LIFETIME = timedelta(minutes=15)
INTERACTION_MARGIN = timedelta(seconds=30)

# What a user writes; anything else (joins, pins, boosts, thread starts) is a system event.
_USER_MESSAGE_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})


@dataclass(frozen=True, slots=True)
class Ignored:
    """Nothing to do; ``reason`` is for a debug log line and never holds message text."""

    reason: str


@dataclass(frozen=True, slots=True)
class Note:
    """A DM the bot cannot read: answer it with ``text`` in ``channel_id``, replying to it."""

    text: str
    channel_id: int
    message_id: int
    reason: str


Intake = IncomingMessage | Note | Ignored


def message_intake(
    message: discord.Message,
    *,
    bot_id: int,
    group_replies: GroupReplies = "addressed",
    bot_role_id: int | None = None,
) -> Intake:
    """What to do with a new message: hand it to the core, send a note, or ignore it.

    ``bot_role_id`` is the bot's own managed role in the guild: users often pick it from the
    mention list instead of the bot's user, and they mean the bot all the same.
    """
    skipped = _not_from_a_person(message, bot_id)
    if skipped is not None:
        return skipped
    guild_id = _guild_id(message)
    if guild_id is None:
        return _direct(message)
    if not (_mentions_bot(message, bot_id, bot_role_id) or _replies_to_bot(message, bot_id)):
        return Ignored("not addressed to the bot")
    text = strip_bot_mentions(message.content, bot_id, bot_role_id)
    if not text:
        return Ignored("nothing to read in a guild message")
    command = parse_command(text)
    if group_replies == "commands" and command is None:
        return Ignored("not a command (GROUP_REPLIES=commands)")
    return _incoming(message, text, command, guild_id)


def edit_intake(before: discord.Message, after: discord.Message, *, bot_id: int) -> Note | Ignored:
    """An edited message is never answered again; in a DM the user is told to send it anew.

    Discord also sends an "edit" when it adds a link preview: only a changed text counts.
    """
    if after.author.id == bot_id or after.author.bot or after.webhook_id is not None:
        return Ignored("edit by a bot")
    if _guild_id(after) is not None:
        return Ignored("edit in a guild")
    if before.content == after.content:
        return Ignored("edit without a text change")
    return Note(NO_EDITS, after.channel.id, after.id, "edited message")


def interaction_intake(interaction: discord.Interaction, name: str) -> IncomingMessage:
    """A slash command, deferred already: the core answers it through the interaction webhook.

    The token and application id let ``send`` post the follow-up, even after a restart, for
    as long as Discord keeps the token valid.
    """
    user = interaction.user
    channel = interaction.channel
    channel_id = interaction.channel_id or (channel.id if channel is not None else 0)
    chat_id, thread_id = _chat_of(channel, channel_id)
    extras: dict[str, str | None] = {
        "channel_id": str(channel_id),
        "guild_id": _str_or_none(interaction.guild_id),
        "interaction_id": str(interaction.id),
        "interaction_token": interaction.token,
        "application_id": str(interaction.application_id),
    }
    return IncomingMessage(
        message_id=str(interaction.id),
        user=UserRef(PLATFORM, str(user.id), display_name=user.display_name),
        chat=ChatRef(PLATFORM, chat_id, thread_id, is_group=interaction.guild_id is not None),
        text=f"/{name}",
        sent_at=interaction.created_at,
        command=Command(name),
        extras=extras,
    )


def followup_usable(message: IncomingMessage, now: datetime) -> bool:
    """True while the message's interaction token can still post a follow-up."""
    if not message.extras.get("interaction_token") or not message.extras.get("application_id"):
        return False
    return now < message.sent_at + INTERACTION_LIFETIME - INTERACTION_MARGIN


def strip_bot_mentions(content: str, bot_id: int, bot_role_id: int | None = None) -> str:
    """The text without the mentions that addressed the bot (``<@id>``, ``<@!id>``, its role)."""
    pattern = rf"<@!?{bot_id}>"
    if bot_role_id is not None:
        pattern += rf"|<@&{bot_role_id}>"
    return re.sub(r"[ \t]{2,}", " ", re.sub(pattern, " ", content)).strip()


def _not_from_a_person(message: discord.Message, bot_id: int) -> Ignored | None:
    """The bot's own messages, webhooks, other bots and system events are never answered."""
    author = message.author
    if author.id == bot_id:
        return Ignored("own message")
    if message.webhook_id is not None:
        return Ignored("webhook")
    if author.bot or author.system:
        return Ignored("bot")
    if message.type not in _USER_MESSAGE_TYPES:
        return Ignored(f"system message ({message.type.name})")
    return None


def _direct(message: discord.Message) -> Intake:
    text = message.content.strip()
    if not text:
        # A sticker, a file, a voice message, a poll or a forward: nothing the model can read.
        return Note(TEXT_ONLY, message.channel.id, message.id, "no text in a DM")
    return _incoming(message, text, parse_command(text), None)


def _incoming(
    message: discord.Message, text: str, command: Command | None, guild_id: int | None
) -> IncomingMessage:
    author = message.author
    channel = message.channel
    chat_id, thread_id = _chat_of(channel, channel.id)
    extras: dict[str, str | None] = {
        "channel_id": str(channel.id),
        "guild_id": _str_or_none(guild_id),
        "reply_to": str(message.id),
    }
    return IncomingMessage(
        message_id=str(message.id),
        user=UserRef(PLATFORM, str(author.id), display_name=author.display_name),
        chat=ChatRef(PLATFORM, chat_id, thread_id, is_group=guild_id is not None),
        text=text,
        sent_at=message.created_at,
        command=command,
        extras=extras,
    )


def _chat_of(channel: object, channel_id: int) -> tuple[str, str]:
    """A thread is a conversation of its own inside its parent channel: (parent, thread)."""
    if isinstance(channel, discord.Thread) and channel.parent_id:
        return str(channel.parent_id), str(channel.id)
    return str(channel_id), ""


def _guild_id(message: discord.Message) -> int | None:
    if message.guild is not None:
        return message.guild.id
    # A channel discord.py has not cached yet still knows its guild.
    guild_id = getattr(message.channel, "guild_id", None)
    return guild_id if isinstance(guild_id, int) else None


def _mentions_bot(message: discord.Message, bot_id: int, bot_role_id: int | None) -> bool:
    if bot_id in message.raw_mentions or any(user.id == bot_id for user in message.mentions):
        return True
    return bot_role_id is not None and bot_role_id in message.raw_role_mentions


def _replies_to_bot(message: discord.Message, bot_id: int) -> bool:
    reference = message.reference
    if reference is None:
        return False
    resolved = reference.resolved
    return isinstance(resolved, discord.Message) and resolved.author.id == bot_id


def _str_or_none(value: int | None) -> str | None:
    return None if value is None else str(value)
