"""Telegram updates -> the core model, on payloads in the Bot API's own shapes (payloads/)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from adapters.common.notes import NO_EDITS, TEXT_ONLY
from adapters.telegram.convert import (
    JUST_MENTIONED,
    Accept,
    BotIdentity,
    Ignore,
    Note,
    Target,
    decide,
    reply_target,
)
from core.model import ChatRef, Command, IncomingMessage, UserRef
from core.stages.commands import HUMAN_UNAVAILABLE, command_menu
from core.storage.sqlite.inbox import dump_message, load_message

PAYLOADS = Path(__file__).parent / "payloads"
BOT = BotIdentity(7000001, "BastionTestBot")
ANN = UserRef("telegram", "111222333", "Ann Lee")
GROUP = "-1001234567890"


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text("utf-8"))
    return data


def update(name: str) -> Update:
    return Update.de_json(payload(name), None)


def accepted(name: str, *, commands_only: bool = False) -> IncomingMessage:
    decision = decide(update(name), BOT, commands_only=commands_only)
    assert isinstance(decision, Accept), decision
    return decision.message


def test_a_private_text_becomes_a_message_with_what_its_reply_needs() -> None:
    message = accepted("private_text")
    assert message == IncomingMessage(
        message_id="101",
        user=ANN,
        chat=ChatRef("telegram", "111222333", "", is_group=False),
        text="When do you open on Saturday?",
        sent_at=datetime(2026, 1, 1, 10, 0, tzinfo=UTC),
    )
    assert dict(message.extras) == {"message_id": 101}
    assert reply_target(message) == Target(111222333, reply_to=101, thread_id=None)


def test_extras_survive_the_inbox_so_a_replayed_reply_still_finds_its_message() -> None:
    message = accepted("forum_topic_mention")
    replayed = load_message(dump_message(message))
    assert replayed.replayed
    assert reply_target(replayed) == reply_target(message) == Target(-1009876543210, 77, 70)


def test_a_native_command_keeps_its_arguments() -> None:
    message = accepted("private_command_start")
    assert message.command == Command("start", "ref_42")
    assert message.text == "/start ref_42"


@pytest.mark.parametrize("name", ["group_plain", "group_mention_other"])
def test_a_group_message_not_addressed_to_the_bot_is_ignored(name: str) -> None:
    assert decide(update(name), BOT) == Ignore("not addressed")


def test_a_mention_is_stripped_counting_offsets_in_utf16_units() -> None:
    message = accepted("group_mention")
    # The emoji before the mention is two UTF-16 units: a naive slice would cut the name.
    assert message.text == "👋 when do you open?"
    assert message.chat == ChatRef("telegram", GROUP, "", is_group=True)
    assert message.command is None


def test_a_text_mention_of_the_bot_addresses_it() -> None:
    assert accepted("group_text_mention").text == "what are the shipping costs?"


def test_a_reply_to_the_bot_addresses_it_and_stays_in_the_group_conversation() -> None:
    assert accepted("group_reply_to_bot").text == "and on Sundays?"
    # Outside forums a reply carries message_thread_id too; it is not a separate conversation.
    message = accepted("group_reply_plain_thread")
    assert message.chat.thread_id == ""
    assert "message_thread_id" not in message.extras


def test_group_commands_for_this_bot_are_taken_and_for_others_ignored() -> None:
    addressed = accepted("group_command_addressed")
    assert (addressed.command, addressed.text) == (Command("help"), "/help")
    assert accepted("group_command_plain").command == Command("reset", "now please")
    assert accepted("group_mention_then_command").command == Command("forget")
    assert decide(update("group_command_other_bot"), BOT) == Ignore("another bot's command")


def test_a_mention_then_a_command_for_another_bot_runs_nothing() -> None:
    data = payload("group_mention_then_command")
    data["message"]["text"] = "@BastionTestBot /forget@OtherBot"
    data["message"]["entities"][1]["length"] = len("/forget@OtherBot")
    decision = decide(Update.de_json(data, None), BOT)
    assert decision == Ignore("another bot's command")


def command_update(text: str, *, group: bool = True) -> Update:
    """``text`` as a command, in the group or in Ann's private chat."""
    data = payload("group_command_plain" if group else "private_command_start")
    data["message"]["text"] = text
    length = len(text.split(maxsplit=1)[0])
    data["message"]["entities"] = [{"offset": 0, "length": length, "type": "bot_command"}]
    return Update.de_json(data, None)


@pytest.mark.parametrize("text", ["/stats", "/settings now", "/Weather", "/ban @someone"])
def test_a_bare_group_command_that_is_not_ours_is_left_to_the_other_bots(text: str) -> None:
    # Several bots share a group; "/stats" with no addressee is most likely for another one.
    assert decide(command_update(text), BOT) == Ignore("not our command")
    assert decide(command_update(text), BOT, commands_only=True) == Ignore("not our command")


@pytest.mark.parametrize("name", ["start", "help", "reset", "forget", "human", "HELP"])
def test_a_bare_group_command_of_ours_is_taken(name: str) -> None:
    decision = decide(command_update(f"/{name} please"), BOT)
    assert isinstance(decision, Accept), decision
    assert decision.message.command == Command(name.lower(), "please")


def test_an_unknown_command_addressed_to_the_bot_or_in_private_is_taken() -> None:
    # The core answers it ("unknown command"): it was clearly meant for this bot.
    for update_, expected in [
        (command_update("/stats@BastionTestBot today"), Command("stats", "today")),
        (command_update("/stats@bastiontestbot"), Command("stats")),
        (command_update("/stats today", group=False), Command("stats", "today")),
    ]:
        decision = decide(update_, BOT)
        assert isinstance(decision, Accept), decision
        assert decision.message.command == expected


def test_commands_only_mode_answers_commands_in_groups_but_everything_in_private() -> None:
    assert decide(update("group_mention"), BOT, commands_only=True) == Ignore("not a command")
    assert decide(update("group_reply_to_bot"), BOT, commands_only=True) == Ignore("not a command")
    assert accepted("group_command_addressed", commands_only=True).command == Command("help")
    # "@Bot /forget" is a command addressed to the bot, in either mode.
    assert accepted("group_mention_then_command", commands_only=True).command == Command("forget")
    assert accepted("private_text", commands_only=True).text == "When do you open on Saturday?"


def test_a_forum_topic_is_its_own_conversation_and_replies_go_to_it() -> None:
    message = accepted("forum_topic_mention")
    assert message.chat == ChatRef("telegram", "-1009876543210", "70", is_group=True)
    assert dict(message.extras) == {"message_id": 77, "message_thread_id": 70}


def test_a_topic_the_bot_started_does_not_make_every_message_in_it_addressed() -> None:
    assert decide(update("forum_topic_plain"), BOT) == Ignore("not addressed")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("group_from_bot", "from a bot"),
        ("group_anonymous_admin", "sent on behalf of a chat"),
        ("group_new_members", "not text"),
        ("group_photo_mention", "not text"),
        ("group_edited", "edited"),
        ("channel_post", "not a message"),
        ("my_chat_member", "not a message"),
    ],
)
def test_what_the_bot_must_not_answer_is_ignored(name: str, reason: str) -> None:
    assert decide(update(name), BOT) == Ignore(reason)


def test_the_bots_own_message_is_ignored() -> None:
    data = payload("private_text")
    data["message"]["from"] = {"id": BOT.user_id, "is_bot": True, "first_name": "Bastion"}
    assert decide(Update.de_json(data, None), BOT) == Ignore("own message")


@pytest.mark.parametrize("name", ["private_sticker", "private_photo", "private_document"])
def test_media_in_a_private_chat_get_the_text_only_note(name: str) -> None:
    decision = decide(update(name), BOT)
    assert isinstance(decision, Note)
    assert decision.text == TEXT_ONLY
    assert decision.target.chat_id == 111222333
    assert decision.target.reply_to == payload(name)["message"]["message_id"]


def test_an_edit_in_a_private_chat_gets_a_note_not_a_second_answer() -> None:
    assert decide(update("private_edited"), BOT) == Note(
        Target(111222333, 101, None), NO_EDITS, "edited"
    )


def test_a_bare_mention_asks_for_the_question() -> None:
    decision = decide(update("private_only_mention"), BOT)
    assert isinstance(decision, Note) and decision.text == JUST_MENTIONED


def test_extras_are_plain_json() -> None:
    for path in sorted(PAYLOADS.glob("*.json")):
        decision = decide(Update.de_json(json.loads(path.read_text("utf-8")), None), BOT)
        if isinstance(decision, Accept):
            extras = dict(decision.message.extras)
            assert json.loads(json.dumps(extras)) == extras, path.name


def test_the_registered_commands_are_the_cores_and_valid_for_telegram() -> None:
    commands = command_menu(handoff_enabled=True)
    assert [name for name, _ in commands] == ["start", "help", "reset", "forget", "human"]
    for name, description in commands:
        assert re.fullmatch(r"[a-z0-9_]{1,32}", name)
        assert 3 <= len(description) <= 256
    without = dict(command_menu(handoff_enabled=False))
    assert without["human"] == HUMAN_UNAVAILABLE
