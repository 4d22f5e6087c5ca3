"""Conversion of recorded Discord gateway payloads, parsed by discord.py itself, to the model."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest

from adapters.common.notes import NO_EDITS, TEXT_ONLY
from adapters.discord.adapter import gateway_intents
from adapters.discord.convert import (
    Ignored,
    Note,
    edit_intake,
    followup_usable,
    interaction_intake,
    message_intake,
    strip_bot_mentions,
)
from core.model import ChatRef, Command, IncomingMessage, UserRef
from core.storage.sqlite.inbox import dump_message, load_message

PAYLOADS = Path(__file__).parent / "payloads"
BOT_ID = 1183046432911527946
BOT_ROLE_ID = 1183047745153368127
GUILD_ID = "1183047100854042624"
GENERAL = "1183047101340569662"
THREAD = "1190210583153664082"
DM_CHANNEL = "1190207412830425118"
ANNA = "402516386531540992"


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


@pytest.fixture
def state() -> Any:
    """discord.py's own state, holding the guild as GUILD_CREATE delivers it (no network)."""
    client = discord.Client(intents=gateway_intents())
    state: Any = client._connection
    # As after login (GET /users/@me): the bot user, here as the guild lists it.
    bot_user = payload("guild_create.json")["members"][0]["user"]
    state.user = discord.ClientUser(state=state, data=bot_user)
    state._add_guild_from_data(payload("guild_create.json"))
    return state


def parse_message(state: Any, name: str) -> discord.Message:
    """A MESSAGE_CREATE payload turned into a Message the way discord.py's gateway does."""
    data = payload(name)
    channel, _ = state._get_guild_channel(data)
    return discord.Message(state=state, channel=channel, data=data)


def intake(state: Any, name: str, **options: Any) -> object:
    return message_intake(
        parse_message(state, name), bot_id=BOT_ID, bot_role_id=BOT_ROLE_ID, **options
    )


def test_a_dm_becomes_a_private_conversation_with_what_a_reply_needs(state: Any) -> None:
    message = intake(state, "message_create_dm.json")
    assert isinstance(message, IncomingMessage)
    assert message.message_id == "1196041862999019550"
    assert message.user == UserRef("discord", ANNA, "Anna")
    assert message.chat == ChatRef("discord", DM_CHANNEL, "", is_group=False)
    assert message.text == "when are you open on saturday?"
    assert message.command is None
    # The time inside the snowflake id: what Discord stamps, whatever a client claims.
    assert message.sent_at == datetime(2024, 1, 14, 10, 43, 21, 522000, tzinfo=UTC)
    assert dict(message.extras) == {
        "channel_id": DM_CHANNEL,
        "guild_id": None,
        "reply_to": "1196041862999019550",
    }


def test_extras_survive_the_durable_inbox_json(state: Any) -> None:
    message = intake(state, "message_create_guild_mention.json")
    assert isinstance(message, IncomingMessage)
    replayed = load_message(dump_message(message))
    assert replayed == message
    assert replayed.extras == message.extras


def test_a_text_command_in_a_dm_is_a_command(state: Any) -> None:
    message = intake(state, "message_create_dm_command.json")
    assert isinstance(message, IncomingMessage)
    assert message.command == Command("reset")


def test_a_guild_message_without_mention_is_ignored(state: Any) -> None:
    assert intake(state, "message_create_guild_plain.json") == Ignored("not addressed to the bot")


def test_a_guild_mention_is_answered_without_the_mention(state: Any) -> None:
    message = intake(state, "message_create_guild_mention.json")
    assert isinstance(message, IncomingMessage)
    assert message.text == "do you ship to Norway?"
    assert message.chat == ChatRef("discord", GENERAL, "", is_group=True)
    assert message.extras["guild_id"] == GUILD_ID
    assert message.extras["reply_to"] == "1196041863263260702"


def test_the_bots_managed_role_counts_as_a_mention(state: Any) -> None:
    message = intake(state, "message_create_guild_role_mention.json")
    assert isinstance(message, IncomingMessage)
    assert message.text == "what is the return window?"


def test_a_thread_is_its_own_conversation_inside_its_channel(state: Any) -> None:
    message = intake(state, "message_create_thread_mention.json")
    assert isinstance(message, IncomingMessage)
    assert message.text == "and the price?"  # the <@!id> form is stripped too
    assert message.chat == ChatRef("discord", GENERAL, THREAD, is_group=True)
    assert message.extras["channel_id"] == THREAD  # the reply goes into the thread


def test_a_reply_to_the_bot_is_addressed_to_it(state: Any) -> None:
    message = intake(state, "message_create_guild_reply_to_bot.json")
    assert isinstance(message, IncomingMessage)
    assert message.text == "and how long does it take?"


def test_a_reply_to_someone_else_is_not(state: Any) -> None:
    assert intake(state, "message_create_guild_reply_to_user.json") == Ignored(
        "not addressed to the bot"
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("message_create_own.json", "own message"),
        ("message_create_other_bot.json", "bot"),
        ("message_create_webhook.json", "webhook"),
        ("message_create_guild_join.json", "system message (new_member)"),
        ("message_create_guild_sticker_mention.json", "nothing to read in a guild message"),
    ],
)
def test_what_is_never_answered(state: Any, name: str, reason: str) -> None:
    assert intake(state, name) == Ignored(reason)


@pytest.mark.parametrize(
    "name", ["message_create_dm_sticker.json", "message_create_dm_attachment.json"]
)
def test_a_dm_without_text_gets_the_text_only_note(state: Any, name: str) -> None:
    note = intake(state, name)
    assert isinstance(note, Note)
    assert note.text == TEXT_ONLY
    assert str(note.channel_id) == DM_CHANNEL


def test_a_dm_with_a_file_and_text_is_answered_from_the_text(state: Any) -> None:
    message = intake(state, "message_create_dm_attachment_with_text.json")
    assert isinstance(message, IncomingMessage)
    assert message.text == "here is my receipt, order NW-20231"


def test_commands_mode_answers_only_commands_in_guilds(state: Any) -> None:
    question = intake(state, "message_create_guild_mention.json", group_replies="commands")
    assert question == Ignored("not a command (GROUP_REPLIES=commands)")
    command = intake(state, "message_create_guild_mention_command.json", group_replies="commands")
    assert isinstance(command, IncomingMessage)
    assert command.command == Command("help")
    # DMs are always answered.
    assert isinstance(
        intake(state, "message_create_dm.json", group_replies="commands"), IncomingMessage
    )


def test_an_edited_dm_gets_a_note_and_a_link_preview_does_not(state: Any) -> None:
    before = parse_message(state, "message_create_dm.json")
    after = parse_message(state, "message_update_dm.json")
    note = edit_intake(before, after, bot_id=BOT_ID)
    assert isinstance(note, Note) and note.text == NO_EDITS
    assert edit_intake(after, after, bot_id=BOT_ID) == Ignored("edit without a text change")


def test_an_edit_in_a_guild_is_ignored(state: Any) -> None:
    before = parse_message(state, "message_create_guild_mention.json")
    assert edit_intake(before, before, bot_id=BOT_ID) == Ignored("edit in a guild")


def interaction(state: Any, name: str) -> discord.Interaction:
    return discord.Interaction(data=payload(name), state=state)


def test_a_slash_command_in_a_guild_keeps_its_token_for_the_follow_up(state: Any) -> None:
    message = interaction_intake(interaction(state, "interaction_create_guild_help.json"), "help")
    assert message.message_id == "1196041864397496330"
    assert message.command == Command("help") and message.text == "/help"
    assert message.user == UserRef("discord", ANNA, "Anna")
    assert message.chat == ChatRef("discord", GENERAL, "", is_group=True)
    assert message.extras["interaction_token"].startswith("aW50ZXJhY3Rpb24")
    assert message.extras["application_id"] == str(BOT_ID)
    assert message.extras["channel_id"] == GENERAL
    assert json.loads(json.dumps(dict(message.extras))) == dict(message.extras)


def test_a_slash_command_in_a_dm_and_in_a_thread(state: Any) -> None:
    dm = interaction_intake(interaction(state, "interaction_create_dm_reset.json"), "reset")
    assert dm.chat == ChatRef("discord", DM_CHANNEL, "", is_group=False)
    thread = interaction_intake(
        interaction(state, "interaction_create_thread_forget.json"), "forget"
    )
    assert thread.chat == ChatRef("discord", GENERAL, THREAD, is_group=True)
    assert thread.extras["channel_id"] == THREAD


def test_a_follow_up_is_possible_for_fifteen_minutes_less_a_margin(state: Any) -> None:
    message = interaction_intake(interaction(state, "interaction_create_guild_help.json"), "help")
    assert followup_usable(message, message.sent_at + timedelta(minutes=14))
    assert not followup_usable(message, message.sent_at + timedelta(minutes=15))
    plain = intake(state, "message_create_dm.json")
    assert isinstance(plain, IncomingMessage)
    assert not followup_usable(plain, plain.sent_at)


def test_mentions_of_the_bot_are_stripped_and_others_kept() -> None:
    text = f"<@{BOT_ID}> ask <@42> and <@&{BOT_ROLE_ID}>  please"
    assert strip_bot_mentions(text, BOT_ID, BOT_ROLE_ID) == "ask <@42> and please"
