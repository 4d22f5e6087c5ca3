"""Slack payloads (recorded shapes in ``payloads/``) to the core model, and back to a target."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.slack.convert import (
    BotIdentity,
    Target,
    TextOnlyNote,
    command_to_message,
    event_to_intake,
    follow_key,
    plain_text,
    reply_target,
)
from core.model import ChatRef, Command, IncomingMessage

PAYLOADS = Path(__file__).parent / "payloads"
BOT = BotIdentity("U0LAN0Z89", "B0LAN0Z89")


def payload(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text())
    return loaded


def event(name: str) -> dict[str, Any]:
    inner: dict[str, Any] = payload(name)["event"]
    return inner


def message(name: str, **options: Any) -> IncomingMessage:
    converted = event_to_intake(event(name), BOT, **options)
    assert isinstance(converted, IncomingMessage)
    return converted


def test_a_direct_message_becomes_a_one_to_one_message_with_slack_entities_decoded() -> None:
    converted = message("dm_message")
    assert converted.message_id == "1712345678.000100"
    assert converted.user.key == "slack:U061F7AUR"
    assert converted.chat == ChatRef("slack", "D0LAN2Q65", "", is_group=False)
    assert converted.text == "Where is my order? It was <urgent> & paid"
    assert converted.sent_at == datetime.fromtimestamp(1712345678.0001, UTC)
    assert converted.command is None
    # Answered in the DM itself, not in a thread.
    assert reply_target(converted.extras, converted.chat) == Target("D0LAN2Q65")


def test_extras_are_plain_json_so_a_replay_can_still_reply() -> None:
    for converted in (message("dm_message"), message("app_mention")):
        assert json.loads(json.dumps(dict(converted.extras))) == dict(converted.extras)


def test_a_mention_loses_the_bot_mention_and_is_answered_in_a_thread_under_it() -> None:
    converted = message("app_mention")
    assert converted.text == (
        "what are your opening hours? cc @ben see hours page (https://shop.example/hours)"
    )
    assert converted.chat == ChatRef("slack", "C0LAN2Q65", "1712345700.000200", is_group=True)
    assert reply_target(converted.extras, converted.chat) == Target(
        "C0LAN2Q65", "1712345700.000200"
    )


def test_a_mention_inside_a_thread_continues_that_threads_conversation() -> None:
    first, later = message("app_mention"), message("mention_in_thread")
    assert later.chat == first.chat
    assert later.message_id != first.message_id
    assert reply_target(later.extras, later.chat).thread_ts == "1712345700.000200"


def test_a_channel_message_without_a_mention_is_ignored() -> None:
    assert event_to_intake(event("channel_message"), BOT) is None


THREAD = ("C0LAN2Q65", "1712345700.000200")
ASKER = "U061F7AUR"  # wrote the mention that started THREAD, and thread_reply


def test_a_thread_reply_is_answered_only_in_a_thread_the_bot_is_in() -> None:
    reply = event("thread_reply")
    assert event_to_intake(reply, BOT) is None
    followed = {follow_key(*THREAD, ASKER)}.__contains__
    converted = event_to_intake(reply, BOT, followed=followed)
    assert isinstance(converted, IncomingMessage)
    assert converted.chat == message("app_mention").chat
    # ... and never in commands-only mode.
    assert event_to_intake(reply, BOT, group_replies="commands", followed=followed) is None


def test_in_a_thread_the_bot_follows_up_only_with_the_user_who_addressed_it() -> None:
    followed = {follow_key(*THREAD, ASKER)}.__contains__
    others = {**event("thread_reply"), "user": "U0G9QF9C6"}
    assert event_to_intake(others, BOT, followed=followed) is None
    # Followed up in this thread says nothing about the same user in another thread.
    elsewhere = {**event("thread_reply"), "thread_ts": "1712340000.000100"}
    assert event_to_intake(elsewhere, BOT, followed=followed) is None
    # Someone else who mentions the bot in the thread is answered (by the app_mention).
    mentioned = {**event("mention_in_thread"), "user": "U0G9QF9C6"}
    converted = event_to_intake(mentioned, BOT, followed=followed)
    assert isinstance(converted, IncomingMessage)
    assert converted.chat == message("app_mention").chat
    assert converted.user.user_id == "U0G9QF9C6"


def test_a_thread_started_by_the_bot_counts_as_its_thread() -> None:
    reply = {**event("thread_reply"), "parent_user_id": BOT.user_id}
    assert isinstance(event_to_intake(reply, BOT), IncomingMessage)


def test_a_thread_reply_that_mentions_the_bot_is_left_to_its_app_mention_event() -> None:
    reply = {**event("thread_reply"), "text": f"<@{BOT.user_id}> and returns?"}
    followed = {follow_key(*THREAD, ASKER)}.__contains__
    assert event_to_intake(reply, BOT, followed=followed) is None


def test_commands_mode_ignores_mentions() -> None:
    assert event_to_intake(event("app_mention"), BOT, group_replies="commands") is None
    # Direct messages are always answered.
    assert isinstance(
        event_to_intake(event("dm_message"), BOT, group_replies="commands"), IncomingMessage
    )


@pytest.mark.parametrize("name", ["bot_message", "own_message"])
def test_bots_and_the_bot_itself_are_never_answered(name: str) -> None:
    assert event_to_intake(event(name), BOT) is None


def test_a_mention_written_by_another_bot_is_ignored() -> None:
    from_a_bot = {**event("app_mention"), "bot_id": "B0ZZZZZZZ"}
    assert event_to_intake(from_a_bot, BOT) is None


def test_an_edit_in_a_dm_gets_the_text_only_note() -> None:
    assert event_to_intake(event("message_changed"), BOT) == TextOnlyNote("D0LAN2Q65")


def test_an_unfurl_reported_as_a_change_gets_nothing() -> None:
    assert event_to_intake(event("message_changed_unfurl"), BOT) is None


def test_the_bots_own_edited_message_gets_nothing() -> None:
    edited = event("message_changed")
    edited["message"] = {**edited["message"], "user": BOT.user_id, "bot_id": BOT.bot_id}
    assert event_to_intake(edited, BOT) is None


def test_a_file_in_a_dm_gets_the_note_even_with_text() -> None:
    assert event_to_intake(event("file_share"), BOT) == TextOnlyNote("D0LAN2Q65")


def test_files_and_edits_in_a_channel_are_ignored() -> None:
    in_channel = {"channel": "C0LAN2Q65", "channel_type": "channel"}
    assert event_to_intake({**event("file_share"), **in_channel}, BOT) is None
    assert event_to_intake({**event("message_changed"), **in_channel}, BOT) is None
    mention_with_file = {**event("app_mention"), "files": event("file_share")["files"]}
    assert event_to_intake(mention_with_file, BOT) is None
    edited_mention = {**event("app_mention"), "edited": {"user": "U2147483697", "ts": "1.0"}}
    assert event_to_intake(edited_mention, BOT) is None


def test_joins_and_other_subtypes_are_ignored() -> None:
    assert event_to_intake(event("channel_join"), BOT) is None
    deleted = {**event("dm_message"), "subtype": "message_deleted"}
    assert event_to_intake(deleted, BOT) is None


def test_a_mention_with_nothing_else_is_ignored() -> None:
    bare = {**event("app_mention"), "text": f"<@{BOT.user_id}>  "}
    assert event_to_intake(bare, BOT) is None


def test_a_text_command_in_a_message_is_recognised() -> None:
    converted = event_to_intake({**event("dm_message"), "text": "/reset now"}, BOT)
    assert isinstance(converted, IncomingMessage)
    assert converted.command == Command("reset", "now")


def test_a_redelivered_event_converts_to_the_same_message_id_and_conversation() -> None:
    envelope = payload("socket_mode_events_api")
    first = event_to_intake(envelope["payload"]["event"], BOT)
    again = event_to_intake(json.loads(json.dumps(envelope))["payload"]["event"], BOT)
    assert isinstance(first, IncomingMessage) and isinstance(again, IncomingMessage)
    assert (first.message_id, first.chat.key) == (again.message_id, again.chat.key)


def test_a_slash_command_with_a_known_name_becomes_that_command() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    converted = command_to_message(payload("slash_command"), now=now)
    assert converted is not None
    assert converted.command == Command("reset", "please")
    assert converted.text == "/reset please"
    assert converted.message_id == "13345224609.738474920.8088930838d88f008e0"
    assert converted.user.display_name == "ann"
    assert converted.sent_at == now
    # In a channel each user has their own command conversation, and nobody else sees it.
    assert converted.chat == ChatRef("slack", "C0LAN2Q65", "command:U061F7AUR", is_group=True)
    target = reply_target(converted.extras, converted.chat)
    assert target.response_url == "https://hooks.slack.com/commands/T061EG9R6/1234567890/abcDEF123"


@pytest.mark.parametrize(
    ("text", "command", "question"),
    [
        ("help", Command("help"), "/help"),
        ("", Command("help"), "/help"),
        ("HUMAN", Command("human"), "/human"),
        ("/forget", Command("forget"), "/forget"),
        ("start", Command("start"), "/start"),
        ("reset\n  all of it", Command("reset", "all of it"), "/reset all of it"),
        ("where is my parcel?", None, "where is my parcel?"),
        ("helpful tips &amp; tricks", None, "helpful tips & tricks"),
    ],
)
def test_slash_command_text_maps_to_a_command_or_a_question(
    text: str, command: Command | None, question: str
) -> None:
    converted = command_to_message({**payload("slash_command"), "text": text})
    assert converted is not None
    assert (converted.command, converted.text) == (command, question)


def test_a_slash_command_in_a_dm_shares_the_dm_conversation() -> None:
    in_dm = {**payload("slash_command"), "channel_id": "D0LAN2Q65"}
    converted = command_to_message(in_dm)
    assert converted is not None
    assert converted.chat == message("dm_message").chat


def test_plain_text_reads_slack_markup_as_a_person_would() -> None:
    wire = (
        "<!here> ask <@U1> or <@U2|bo> in <#C1|general>: <mailto:a@b.example|a@b.example> "
        "<https://x.example> &amp;lt; <!subteam^S1|@support>"
    )
    assert plain_text(wire) == (
        "@here ask @U1 or @bo in #general: a@b.example https://x.example &lt; @support"
    )


@pytest.mark.parametrize("missing", ["ts", "channel", "user"])
def test_an_event_without_what_a_reply_needs_is_ignored(missing: str) -> None:
    for name in ("dm_message", "app_mention"):
        incomplete = {k: v for k, v in event(name).items() if k != missing}
        assert event_to_intake(incomplete, BOT) is None
