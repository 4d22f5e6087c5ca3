"""Pure conversions between Slack's payloads and the core model; no I/O here.

Slack delivers what users write as Events API payloads (``message`` in direct messages,
``app_mention`` in channels) and slash-command payloads; the same shapes arrive over HTTP and
over Socket Mode. Each is turned into an ``IncomingMessage``, a note to send ("I can read text
only"), or nothing, following these rules:

- the bot never answers itself or another bot (``bot_id``, ``bot_message``, its own user id);
- a direct message is always answered; in a channel only a mention is, and then the later
  replies in that thread of the user who mentioned the bot (and of nobody else, unless they
  mention it too); with ``group_replies == "commands"`` only the slash command;
- edits and files get the note in a direct message and are ignored in channels; joins,
  deletions and the other subtypes are ignored everywhere;
- the message id is the message's ``ts``, which Slack keeps when it retries a delivery, and the
  conversation key holds the channel (and thread), so the core's inbox answers a retry once.

What a reply needs (channel, thread, response URL) rides in ``extras`` as plain JSON values, so
a reply can still be sent after a restart replays the message from the durable inbox.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from core.commands import parse_command
from core.model import ChatRef, Command, IncomingMessage, UserRef
from core.stages.commands import command_menu

PLATFORM = "slack"
GroupReplies = Literal["addressed", "commands"]

TEXT_ONLY_NOTE = (
    "I can only read new text messages: edits, files and images don't reach me. "
    "Please type your question as a new message."
)
# The commands the core answers; anything else after the slash command is a question.
KNOWN_COMMANDS = frozenset(name for name, _ in command_menu(handoff_enabled=True))
# Subtypes that are someone's own words: answered like a plain message.
_TEXT_SUBTYPES = frozenset({"thread_broadcast"})

_MENTION = re.compile(r"<@(?P<id>[UW][A-Z0-9]+)(?:\|(?P<name>[^>]*))?>")
_CHANNEL = re.compile(r"<#(?P<id>C[A-Z0-9]+)(?:\|(?P<name>[^>]*))?>")
_SPECIAL = re.compile(r"<!(?P<name>[^>|^]+)(?:\^[^>|]*)?(?:\|(?P<label>[^>]*))?>")
_LINK = re.compile(r"<(?P<url>[a-z][a-z0-9+.-]*:[^>|]*)(?:\|(?P<label>[^>]*))?>", re.I)
_SPACES = re.compile(r"[ \t]{2,}")


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is in this workspace, from ``auth.test`` at start."""

    user_id: str
    bot_id: str = ""


@dataclass(frozen=True, slots=True)
class TextOnlyNote:
    """Something the bot cannot read (an edit, a file) in a DM: answered with a short note."""

    channel: str
    thread_ts: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """Where a reply goes: a channel (and thread) by ``chat.postMessage``, or a response URL."""

    channel: str
    thread_ts: str | None = None
    response_url: str | None = None


Intake = IncomingMessage | TextOnlyNote | None


def event_to_intake(
    event: Mapping[str, Any],
    bot: BotIdentity,
    *,
    group_replies: GroupReplies = "addressed",
    followed: Callable[[str], bool] = lambda _key: False,
) -> Intake:
    """What to do with one Events API ``event`` (the inner object of an ``event_callback``).

    ``followed`` tells whether a ``follow_key(channel, thread_ts, user)`` is known: a user the
    bot answered in a thread after they addressed it there. Their later replies in that thread
    are answered without a mention; anyone else's are not.
    """
    if _from_a_bot(event, bot) or not event.get("channel"):
        return None
    kind = event.get("type")
    if kind == "app_mention":
        return _mention(event, bot, group_replies)
    if kind != "message":
        return None
    if _is_direct(event):
        return _direct_message(event, bot)
    if group_replies == "addressed":
        return _thread_follow_up(event, bot, followed)
    return None


def command_to_message(
    payload: Mapping[str, Any], *, now: datetime | None = None
) -> IncomingMessage | None:
    """A slash-command payload (``/bastion help``, ``/bastion where is my order?``).

    A known first word becomes a ``Command``; anything else is a question; nothing at all is
    ``help``. The reply goes to the command's ``response_url``, visible only to the user
    (nobody else saw the question). In a DM the conversation is that DM's, so ``/bastion
    reset`` there resets it; elsewhere each user has their own, so one user's answers never
    reach the model in another user's turn.
    """
    user_id, channel = str(payload.get("user_id", "")), str(payload.get("channel_id", ""))
    if not user_id or not channel:
        return None
    text = plain_text(str(payload.get("text", ""))).strip()
    word, rest = (*text.split(maxsplit=1), "", "")[:2]
    name = word.lower().lstrip("/") if text else "help"
    command: Command | None = None
    if name in KNOWN_COMMANDS:
        command = Command(name, rest.strip())
        text = f"/{name} {command.args}".strip()
    direct = channel.startswith("D")
    return IncomingMessage(
        # Slack does not retry slash commands; a Socket Mode redelivery keeps the trigger id.
        message_id=str(payload.get("trigger_id") or uuid.uuid4().hex),
        user=UserRef(PLATFORM, user_id, str(payload.get("user_name", ""))),
        chat=ChatRef(
            PLATFORM,
            channel,
            "" if direct else f"command:{user_id}",
            is_group=not direct,
        ),
        text=text,
        sent_at=now or datetime.now(UTC),
        command=command,
        extras={
            "channel": channel,
            "thread_ts": None,
            "response_url": str(payload.get("response_url") or "") or None,
        },
    )


def reply_target(extras: Mapping[str, Any], chat: ChatRef) -> Target:
    """Where to post the reply to a message built by this module (or replayed from the inbox)."""
    channel = extras.get("channel") or chat.chat_id
    thread_ts = extras.get("thread_ts") or None
    response_url = extras.get("response_url") or None
    return Target(str(channel), thread_ts and str(thread_ts), response_url and str(response_url))


def follow_key(channel: str, thread_ts: str, user: str) -> str:
    """The key under which a user followed up in a thread is remembered (see ``followed``)."""
    return f"{channel}\x1f{thread_ts}\x1f{user}"


def plain_text(text: str) -> str:
    """Slack's wire text as a person reads it: ``<@U1|ann>`` -> ``@ann``, entities decoded."""
    text = _MENTION.sub(lambda m: f"@{m['name'] or m['id']}", text)
    text = _CHANNEL.sub(lambda m: f"#{m['name'] or m['id']}", text)
    text = _SPECIAL.sub(lambda m: m["label"] or f"@{m['name']}", text)
    text = _LINK.sub(_link_text, text)
    # Slack escapes exactly these three; &amp; last so "&amp;lt;" stays "&lt;".
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def sent_at(ts: str) -> datetime:
    """A message ``ts`` ("1712345678.000100": seconds and a sequence) as a time."""
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError):
        return datetime.now(UTC)


def _mention(event: Mapping[str, Any], bot: BotIdentity, group_replies: GroupReplies) -> Intake:
    # Slack sends an edited mention again as app_mention with "edited": an edit, ignored.
    if group_replies == "commands" or _carries_files(event) or event.get("edited"):
        return None
    if not event.get("ts"):
        return None
    text = _without_mentions_of(bot, str(event.get("text", "")))
    if not text:
        return None
    ts = str(event["ts"])
    # Answered in a thread: under the message itself, or in the thread it was written in.
    thread_ts = str(event.get("thread_ts") or ts)
    return _message(event, text, thread_ts=thread_ts, reply_in=thread_ts, is_group=True)


def _direct_message(event: Mapping[str, Any], bot: BotIdentity) -> Intake:
    channel = str(event.get("channel", ""))
    subtype = event.get("subtype")
    thread_ts = event.get("thread_ts")
    note = TextOnlyNote(channel, thread_ts and str(thread_ts))
    if subtype == "message_changed":
        return note if _edited_by_a_person(event, bot) else None
    if subtype == "file_share" or (subtype is None and _carries_files(event)):
        return note
    if (subtype is not None and subtype not in _TEXT_SUBTYPES) or not event.get("ts"):
        return None
    text = _without_mentions_of(bot, str(event.get("text", "")))
    if not text:
        return None
    # A DM is answered in place; only a message written in a thread is answered there.
    thread = str(thread_ts) if thread_ts else ""
    return _message(event, text, thread_ts=thread, reply_in=thread or None, is_group=False)


def _thread_follow_up(
    event: Mapping[str, Any], bot: BotIdentity, followed: Callable[[str], bool]
) -> Intake:
    """A reply without a mention, in a thread the bot answered its writer in, or started.

    Needs ``message.channels``. A thread is not a conversation with the bot for everyone in
    it: only the user who addressed the bot there is followed up.
    """
    subtype, ts, thread_ts = event.get("subtype"), event.get("ts"), event.get("thread_ts")
    if subtype is not None and subtype not in _TEXT_SUBTYPES:
        return None
    if not thread_ts or thread_ts == ts or _carries_files(event):
        return None
    raw = str(event.get("text", ""))
    if f"<@{bot.user_id}" in raw:
        return None  # the app_mention event for the same message answers it
    following = followed(
        follow_key(str(event.get("channel", "")), str(thread_ts), str(event["user"]))
    )
    if not following and event.get("parent_user_id") != bot.user_id:
        return None
    text = _without_mentions_of(bot, raw)
    if not text:
        return None
    return _message(event, text, thread_ts=str(thread_ts), reply_in=str(thread_ts), is_group=True)


def _message(
    event: Mapping[str, Any], text: str, *, thread_ts: str, reply_in: str | None, is_group: bool
) -> IncomingMessage:
    channel, ts = str(event["channel"]), str(event["ts"])
    return IncomingMessage(
        message_id=ts,
        user=UserRef(PLATFORM, str(event["user"])),
        chat=ChatRef(PLATFORM, channel, thread_ts, is_group=is_group),
        text=text,
        sent_at=sent_at(ts),
        command=parse_command(text),
        extras={"channel": channel, "thread_ts": reply_in, "response_url": None},
    )


def _from_a_bot(event: Mapping[str, Any], bot: BotIdentity) -> bool:
    if event.get("bot_id") or event.get("subtype") == "bot_message" or event.get("bot_profile"):
        return True
    user = event.get("user")
    if event.get("subtype") == "message_changed":
        return False  # who wrote it is inside; checked by _edited_by_a_person
    return not user or user in (bot.user_id, "USLACKBOT")


def _edited_by_a_person(event: Mapping[str, Any], bot: BotIdentity) -> bool:
    """An edit a person made, not the unfurl or re-render Slack reports the same way."""
    new, old = event.get("message") or {}, event.get("previous_message") or {}
    if new.get("bot_id") or new.get("user") in (None, bot.user_id):
        return False
    return bool(new.get("edited")) and new.get("text") != old.get("text")


def _is_direct(event: Mapping[str, Any]) -> bool:
    return event.get("channel_type") == "im" or str(event.get("channel", "")).startswith("D")


def _carries_files(event: Mapping[str, Any]) -> bool:
    return bool(event.get("files"))


def _without_mentions_of(bot: BotIdentity, text: str) -> str:
    own = re.compile(rf"<@{re.escape(bot.user_id)}(?:\|[^>]*)?>")
    return _SPACES.sub(" ", plain_text(own.sub("", text))).strip()


def _link_text(match: re.Match[str]) -> str:
    url, label = match["url"], match["label"]
    if url.lower().startswith("mailto:"):
        return label or url[len("mailto:") :]
    return f"{label} ({url})" if label and label != url else url
