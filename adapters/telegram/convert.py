"""Pure conversions between Telegram updates and the core model; no I/O here.

``decide`` says what to do with one update: hand a message to the core (``Accept``), answer a
short note ourselves (``Note``: media or an edit in a private chat), or drop it (``Ignore``: the
bot's own or another bot's messages, group messages nobody addressed to the bot, group commands
meant for other bots, service messages). Telegram counts entity offsets in UTF-16 code units;
the helpers below convert.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import Message, MessageEntity, Update

from adapters.common.notes import NO_EDITS, TEXT_ONLY
from core.commands import parse_command
from core.model import ChatRef, Command, IncomingMessage, UserRef
from core.stages.commands import command_menu

PLATFORM = "telegram"
# Only what we act on; anything else Telegram would send is not worth the traffic.
ALLOWED_UPDATES = ("message", "edited_message")

JUST_MENTIONED = "Yes? Write your question in the same message as my name."

_GROUPS = frozenset({"group", "supergroup"})
# The commands Bastion answers (as registered with ``setMyCommands``). In a group a bare
# "/name" is taken only if it is one of these: the others are for the group's other bots.
OUR_COMMANDS = frozenset(name for name, _ in command_menu(handoff_enabled=True))
_SPACES = re.compile(r"[ \t]{2,}")
# The punctuation that only served to address the bot: "@Bot, ..." or "@Bot: ...".
_AFTER_MENTION = re.compile(r"^[,:;]?[ \t]*")


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is, from ``getMe``: needed to see when a group message addresses it."""

    user_id: int
    username: str


@dataclass(frozen=True, slots=True)
class Target:
    """Where a message to a chat goes: the chat, the message replied to, the forum topic."""

    chat_id: int
    reply_to: int | None = None
    thread_id: int | None = None


@dataclass(frozen=True, slots=True)
class Accept:
    """Hand this message to the core."""

    message: IncomingMessage


@dataclass(frozen=True, slots=True)
class Note:
    """Answer this short text directly; the core never sees the update."""

    target: Target
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class Ignore:
    """Drop the update; ``reason`` is a short code for debug logs (no personal data)."""

    reason: str


Decision = Accept | Note | Ignore


def decide(update: Update, bot: BotIdentity, *, commands_only: bool = False) -> Decision:
    """What to do with ``update``. ``commands_only``: in groups, answer commands and nothing else
    (``GROUP_REPLIES=commands``); otherwise also mentions of the bot and replies to it."""
    if update.edited_message is not None:
        return _decide_edit(update.edited_message, bot)
    message = update.message
    if message is None:
        return Ignore("not a message")
    if (reason := _not_for_us(message, bot)) is not None:
        return Ignore(reason)
    if message.text is not None:
        return _decide_text(message, message.text, bot, commands_only=commands_only)
    # Media get a note in a private chat; service messages (joins, pins...) nothing.
    if message.effective_attachment is not None and _private(message):
        return Note(_target(message), TEXT_ONLY, "not text")
    return Ignore("not text")


def _decide_edit(edited: Message, bot: BotIdentity) -> Decision:
    # Answering the edited text would answer the same question twice.
    if _private(edited) and _not_for_us(edited, bot) is None:
        return Note(_target(edited), NO_EDITS, "edited")
    return Ignore("edited")


def _not_for_us(message: Message, bot: BotIdentity) -> str | None:
    """Why a message is never answered, whatever it says; None when a person sent it here."""
    sender = message.from_user
    if sender is None or message.sender_chat is not None:
        return "sent on behalf of a chat"
    if sender.id == bot.user_id:
        return "own message"
    if sender.is_bot or message.via_bot is not None:
        return "from a bot"
    if not _private(message) and message.chat.type not in _GROUPS:
        return "channel"
    return None


def _decide_text(
    message: Message, text: str, bot: BotIdentity, *, commands_only: bool
) -> Decision:
    private = _private(message)
    command_entity = next(
        (e for e in message.entities if e.type == MessageEntity.BOT_COMMAND and e.offset == 0),
        None,
    )
    if command_entity is not None:
        return _decide_command(message, text, _span(text, command_entity), bot)
    mentions = _mentions_of(bot, text, message.entities)
    cleaned = _without(text, mentions) if mentions else text.strip()
    # A mention before a command ("@Bot /help") still means the command, unless the command
    # names another bot ("@Bot /forget@OtherBot"): that one is not ours to run.
    command = parse_command(cleaned, bot.username) if mentions else None
    if mentions and command is None and parse_command(cleaned) is not None:
        return Ignore("another bot's command")
    if not private:
        if commands_only and command is None:
            return Ignore("not a command")
        if not mentions and not _replies_to(bot, message):
            return Ignore("not addressed")
    if not cleaned:
        return Note(_target(message), JUST_MENTIONED, "only a mention")
    return Accept(_incoming(message, cleaned, command))


def _decide_command(
    message: Message, text: str, span: tuple[int, int], bot: BotIdentity
) -> Decision:
    start, end = span
    name, _, addressee = text[start + 1 : end].partition("@")
    if addressee and addressee.lower() != bot.username.lower():
        return Ignore("another bot's command")
    # "/name@OurBot" is ours even if unknown (the core says so); a bare "/name" in a group that
    # is not one of ours is most likely for one of the group's other bots.
    if not addressee and not _private(message) and name.lower() not in OUR_COMMANDS:
        return Ignore("not our command")
    args = text[end:].strip()
    return Accept(_incoming(message, f"/{name} {args}".rstrip(), Command(name.lower(), args)))


def reply_target(message: IncomingMessage) -> Target:
    """Where the reply to ``message`` goes: its chat and topic, as a reply to it."""
    extras = message.extras
    reply_to = extras.get("message_id")
    thread = extras.get("message_thread_id")
    return Target(
        int(message.chat.chat_id),
        reply_to if isinstance(reply_to, int) else None,
        thread if isinstance(thread, int) else None,
    )


def conversation_key(update: Update) -> str | None:
    """The key of the conversation ``update`` belongs to (``ChatRef.key``), for logs."""
    message = update.message or update.edited_message
    if message is None:
        return None
    return _chat_ref(message).key


def _incoming(message: Message, text: str, command: Command | None) -> IncomingMessage:
    sender = message.from_user
    assert sender is not None  # checked by decide
    extras: dict[str, int] = {"message_id": message.message_id}
    thread = _thread(message)
    if thread is not None:
        extras["message_thread_id"] = thread
    return IncomingMessage(
        message_id=str(message.message_id),
        user=UserRef(PLATFORM, str(sender.id), sender.full_name),
        chat=_chat_ref(message),
        text=text,
        sent_at=message.date,
        command=command,
        extras=extras,
    )


def _chat_ref(message: Message) -> ChatRef:
    thread = _thread(message)
    return ChatRef(
        PLATFORM,
        str(message.chat.id),
        str(thread) if thread is not None else "",
        is_group=not _private(message),
    )


def _thread(message: Message) -> int | None:
    # Only forum topics are separate conversations; in other groups a reply also carries a
    # message_thread_id, which must not split the group's conversation.
    return message.message_thread_id if message.is_topic_message else None


def _target(message: Message) -> Target:
    return Target(message.chat.id, message.message_id, _thread(message))


def _private(message: Message) -> bool:
    return message.chat.type == "private"


def _replies_to(bot: BotIdentity, message: Message) -> bool:
    replied = message.reply_to_message
    if replied is None or replied.from_user is None:
        return False
    # In a forum every message "replies" to the topic's first (service) message.
    return replied.from_user.id == bot.user_id and replied.forum_topic_created is None


def _mentions_of(
    bot: BotIdentity, text: str, entities: tuple[MessageEntity, ...]
) -> list[tuple[int, int]]:
    """Spans (Python indices) of the mentions of this bot."""
    handle = "@" + bot.username.lower()
    spans = []
    for entity in entities:
        if entity.type == MessageEntity.MENTION:
            start, end = _span(text, entity)
            if text[start:end].lower() == handle:
                spans.append((start, end))
        elif (
            entity.type == MessageEntity.TEXT_MENTION
            and entity.user is not None
            and entity.user.id == bot.user_id
        ):
            spans.append(_span(text, entity))
    return spans


def _without(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` minus the bot's mentions, tidied ("Hi @Bot, when..." -> "Hi when...")."""
    for start, end in sorted(spans, reverse=True):
        text = text[:start].rstrip() + " " + _AFTER_MENTION.sub("", text[end:])
    return _SPACES.sub(" ", text).strip()


def _span(text: str, entity: MessageEntity) -> tuple[int, int]:
    """An entity's UTF-16 offset and length as Python string indices."""
    if text.isascii():
        return entity.offset, entity.offset + entity.length
    units = text.encode("utf-16-le")
    start = len(units[: entity.offset * 2].decode("utf-16-le", errors="ignore"))
    end = start + len(
        units[entity.offset * 2 : (entity.offset + entity.length) * 2].decode(
            "utf-16-le", errors="ignore"
        )
    )
    return start, end
