"""The Discord adapter end to end: real discord.py, a fake Discord on 127.0.0.1, the real core.

Each test opens the production runtime (admission, durable SQLite inbox, lanes, workers, every
stage, the ladder) with a scripted model, connects the adapter to its gateway, and plays a user
on the fake Discord; what the bot posted is read back from the fake.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from discord.gateway import KeepAliveHandler
from loguru import logger

from adapters.common.notes import NO_EDITS, TEXT_ONLY
from adapters.discord.adapter import DiscordAdapter
from adapters.discord.format import MESSAGE_LIMIT, discord_messages
from bot.app import run_bot
from bot.platforms import configured_adapters
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from core.errors import ConfigurationError, DeliveryError
from core.gateway import Gateway
from core.model import (
    ChatMessage,
    ChatRef,
    Completion,
    IncomingMessage,
    Reply,
    Turn,
    UserRef,
)
from core.ports import Outbound, PushSink
from core.stages.commands import HUMAN_UNAVAILABLE, command_menu
from tests.platforms.discord_server import (
    APP_ID,
    CHANNEL_ID,
    GUILD_ID,
    THREAD_ID,
    TOKEN,
    FakeDiscord,
    user_object,
)

ANNA = 402_516_386_531_540_992
BOB = 402_516_386_531_540_993
CARL = 402_516_386_531_540_994
NO_PINGS: dict[str, list[str]] = {"parse": []}
PING = re.compile(r"@(everyone|here)|<@[!&]?\d+>")


@dataclass
class ScriptedModel:
    """The language model: answers from a script, else echoes; remembers every question."""

    script: dict[str, str] = field(default_factory=dict)
    delay: float = 0.05  # long enough for the typing indicator to go out first
    questions: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "scripted"

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        question = prompt[-1].text
        self.questions.append(question)
        await asyncio.sleep(self.delay)
        return Completion(self.script.get(question, f"answer: {question}"), provider="scripted")


@dataclass
class Bot:
    dc: FakeDiscord
    model: ScriptedModel
    runtime: Runtime
    adapter: DiscordAdapter


@pytest.fixture
async def dc() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        with fake.patched():
            yield fake
    await asyncio.sleep(0)  # let closed transports finish their callbacks
    leaked = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leaked == [], f"tasks left running: {leaked}"
    # discord.py sends heartbeats from a thread per socket: each must stop with its socket.
    for thread in threading.enumerate():
        if isinstance(thread, KeepAliveHandler):
            thread.join(2)
            assert not thread.is_alive(), "a gateway heartbeat thread outlived its socket"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    # Every answer comes from the scripted model: no rules-first shortcut, no cache, and
    # room for the 10,000-character reply.
    return make_settings(rules_first_confidence=0, cache_enabled=False, max_reply_chars=20_000)


@pytest.fixture
async def bot(dc: FakeDiscord, settings: Settings) -> AsyncIterator[Bot]:
    model = ScriptedModel()
    async with (
        open_runtime(settings, llm=[model]) as runtime,
        discord_adapter(runtime.gateway) as adapter,
    ):
        yield Bot(dc, model, runtime, adapter)


@pytest.fixture
def logs() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m.record["message"])), level="DEBUG")
    yield lines
    logger.remove(sink)


class RecordingSink:
    """A ``PushSink`` that only records, for tests of the adapter alone."""

    def __init__(self) -> None:
        self.delivered: list[IncomingMessage] = []
        self.outbound: Outbound | None = None

    def connect(self, platform: str, outbound: Outbound) -> None:
        self.outbound = outbound

    async def deliver(self, message: IncomingMessage) -> None:
        self.delivered.append(message)


def discord_adapter(sink: PushSink | None = None, **options: Any) -> DiscordAdapter:
    """The adapter for the fake (which has its guild ready at once), by default without the
    core: for what the adapter does on its own."""
    options.setdefault("guild_ready_timeout", 0.05)
    return DiscordAdapter(TOKEN, RecordingSink() if sink is None else sink, **options)


async def until(condition: Callable[[], bool], what: str, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {within} s")
        await asyncio.sleep(0.01)


# -- acceptance ------------------------------------------------------------------------------


async def test_a_dm_question_is_answered_in_the_dm_as_a_reply(bot: Bot) -> None:
    dc = bot.dc
    message_id = await dc.send_dm(ANNA, "do you ship to Norway?")
    [reply] = await dc.wait_for_sent(1)

    assert reply["content"] == "answer: do you ship to Norway?"
    assert dc.sent_calls[0].path == f"/channels/{dc.dm_channel(ANNA)}/messages"
    assert reply["message_reference"]["message_id"] == message_id
    assert reply["message_reference"]["fail_if_not_exists"] is False
    assert reply["allowed_mentions"] == NO_PINGS
    # Typing was shown in that DM while the turn ran.
    assert str(dc.dm_channel(ANNA)) in dc.typing_in()


async def test_a_guild_message_is_answered_only_when_it_mentions_the_bot(bot: Bot) -> None:
    dc = bot.dc
    await dc.send_guild_message(ANNA, "anyone tried the blue kettle?")
    mentioned = await dc.send_guild_message(BOB, "do you ship to Norway?", mention_bot=True)
    [reply] = await dc.wait_for_sent(1)

    assert reply["content"] == "answer: do you ship to Norway?"  # the mention is stripped
    assert reply["message_reference"]["message_id"] == mentioned
    assert dc.sent_calls[0].path == f"/channels/{CHANNEL_ID}/messages"
    assert bot.model.questions == ["do you ship to Norway?"]
    await asyncio.sleep(0.2)
    assert len(dc.sent) == 1  # the message without a mention got nothing


async def test_a_reply_to_the_bot_and_a_thread_mention_are_answered(bot: Bot) -> None:
    dc = bot.dc
    await dc.send_guild_message(ANNA, "do you ship to Norway?", mention_bot=True)
    await dc.wait_for_sent(1)
    await dc.send_guild_message(ANNA, "and how long?", reply_to=dc.sent_ids[0])
    await dc.send_guild_message(BOB, "price?", mention_bot=True, channel_id=THREAD_ID)
    await dc.wait_for_sent(3)

    assert {call.path for call in dc.sent_calls[1:]} == {
        f"/channels/{CHANNEL_ID}/messages",
        f"/channels/{THREAD_ID}/messages",
    }
    assert sorted(bot.model.questions[1:]) == ["and how long?", "price?"]


async def test_help_as_a_slash_command_is_deferred_then_answered_by_follow_up(bot: Bot) -> None:
    dc = bot.dc
    assert {c["name"] for c in dc.commands["global"]} == {
        "start",
        "help",
        "reset",
        "forget",
        "human",
    }
    interaction_id = await dc.send_slash_command("help", ANNA)
    [reply] = await dc.wait_for_sent(1)

    [ack] = dc.interaction_responses
    assert ack.path.startswith(f"/interactions/{interaction_id}/")
    assert ack.body["type"] == 5  # deferred: "Bastion is thinking…"
    assert dc.sent_calls[0].path == f"/webhooks/{APP_ID}/interaction-token-{interaction_id}"
    assert "/reset" in reply["content"] and "/forget" in reply["content"]
    assert reply["allowed_mentions"] == NO_PINGS
    assert bot.model.questions == []  # commands never reach the model


async def test_a_slash_command_after_its_token_expired_is_answered_in_the_channel(
    bot: Bot,
) -> None:
    dc = bot.dc
    old = datetime.now(UTC) - timedelta(minutes=20)
    await dc.send_slash_command("help", ANNA, created_at=old)
    [reply] = await dc.wait_for_sent(1)
    assert dc.sent_calls[0].path == f"/channels/{CHANNEL_ID}/messages"
    assert "/reset" in reply["content"]


async def test_a_10000_character_reply_is_split_into_messages_in_order(bot: Bot) -> None:
    dc = bot.dc
    long = "\n\n".join(f"Part {n}. " + "The kettle is blue and sturdy. " * 16 for n in range(20))
    assert len(long) >= 10_000
    bot.model.script["tell me everything"] = long
    await dc.send_dm(ANNA, "tell me everything")
    await dc.wait_until(lambda: sum(len(s["content"]) for s in dc.sent) >= 9_900, 5, "long reply")
    await asyncio.sleep(0.1)

    contents = [s["content"] for s in dc.sent]
    assert len(contents) >= 6
    assert all(len(c) <= MESSAGE_LIMIT for c in contents)
    assert " ".join(contents).split() == long.split()  # in order, nothing lost
    assert "message_reference" in dc.sent[0]
    assert all("message_reference" not in s for s in dc.sent[1:])


SUPPRESS_EMBEDS = 1 << 2  # Discord's message flag


async def test_mentions_and_broken_markup_from_the_model_are_harmless(bot: Bot) -> None:
    dc = bot.dc
    bot.model.script["hi"] = (
        "@everyone @here look <@123456789012345678> and <@&987654321098765432>, "
        "this is **important. Run `x ** 2` like so:\n```python\nprint(2 ** 8)\n```"
    )
    await dc.send_dm(ANNA, "hi")
    [reply] = await dc.wait_for_sent(1)

    assert reply["allowed_mentions"] == NO_PINGS
    assert reply["flags"] & SUPPRESS_EMBEDS  # no previews of links the model wrote
    assert PING.search(reply["content"]) is None
    assert "\\*\\*important" in reply["content"]  # the lone ** cannot bold the rest
    assert "`x ** 2`" in reply["content"] and "print(2 ** 8)" in reply["content"]


async def test_an_unclosed_code_fence_is_closed_in_the_message_sent(dc: FakeDiscord) -> None:
    # The core's validator already refuses a model reply with an unclosed fence; notices and
    # replies kept from an older version go through the adapter all the same.
    text = "Try this:\n```python\nprint('unclosed')\nand everything after it"
    async with discord_adapter() as adapter:
        await adapter.send(_message_in(CHANNEL_ID), Reply(text))
    [sent] = dc.sent
    assert sent["content"].count("```") == 2 and sent["content"].endswith("\n```")


async def test_a_429_is_retried_after_the_delay_discord_asks_for(bot: Bot) -> None:
    dc = bot.dc
    dc.fail_next("POST", r"^/channels/\d+/messages$", 429, retry_after=0.4)
    await dc.send_dm(ANNA, "are you there?")
    [reply] = await dc.wait_for_sent(1, timeout=5)

    posts = [c for c in dc.calls if c.method == "POST" and c.path.endswith("/messages")]
    assert len(posts) == 2
    assert posts[1].at - posts[0].at >= 0.4
    assert reply["content"] == "answer: are you there?"


async def test_the_same_message_delivered_twice_is_answered_once(bot: Bot) -> None:
    dc = bot.dc
    first = await dc.send_dm(ANNA, "where is my order?")
    await dc.send_dm(ANNA, "where is my order?", id=str(first))  # a redelivery
    await dc.wait_for_sent(1)
    await until(lambda: bot.runtime.gateway.counts["duplicates"] == 1, "duplicate noticed")
    await asyncio.sleep(0.2)
    assert len(dc.sent) == 1
    assert bot.model.questions == ["where is my order?"]


# -- intake details --------------------------------------------------------------------------


async def test_a_sticker_in_a_dm_gets_one_text_only_note(bot: Bot) -> None:
    dc = bot.dc
    sticker = [{"id": "749054660769218631", "name": "Wave", "format_type": 3}]
    await dc.send_dm(CARL, "", sticker_items=sticker)
    await dc.send_dm(CARL, "", sticker_items=sticker)
    [note] = await dc.wait_for_sent(1)
    assert note["content"] == TEXT_ONLY
    await asyncio.sleep(0.2)
    assert len(dc.sent) == 1  # the second within the cool-down gets nothing
    assert bot.model.questions == []


async def test_an_edited_dm_gets_a_note_and_no_second_answer(bot: Bot) -> None:
    dc = bot.dc
    first = await dc.send_dm(ANNA, "when are you open on saturday?")
    await dc.wait_for_sent(1)
    await dc.edit_message(first, ANNA, "when are you open on sunday?")
    _, note = await dc.wait_for_sent(2)
    assert note["content"] == NO_EDITS
    assert bot.model.questions == ["when are you open on saturday?"]


async def test_other_bots_and_the_bots_own_messages_are_ignored(bot: Bot) -> None:
    dc = bot.dc
    robot = user_object(CARL, "robot", bot=True)
    await dc.send_guild_message(CARL, "hello", mention_bot=True, author=robot)
    await dc.send_dm(CARL, "hi", author=dc.bot_user())
    await dc.send_dm(ANNA, "real question")
    [reply] = await dc.wait_for_sent(1)
    assert reply["content"] == "answer: real question"
    assert bot.model.questions == ["real question"]


async def test_a_lost_gateway_connection_resumes_and_keeps_answering(
    bot: Bot, logs: list[str]
) -> None:
    dc = bot.dc
    await dc.drop_connection()
    await dc.wait_until(lambda: dc.resumes == 1, 5, "RESUME")
    await dc.send_dm(ANNA, "still there?")
    [reply] = await dc.wait_for_sent(1)
    assert reply["content"] == "answer: still there?"
    assert any("gateway connection lost" in line for line in logs)
    assert dc.identifies == 1  # resumed, not a new session


async def test_an_event_discord_py_cannot_parse_does_not_stop_the_bot(
    bot: Bot, logs: list[str]
) -> None:
    dc = bot.dc
    broken = {"id": str(CARL)}  # an author without the fields discord.py reads
    await dc.send_guild_message(CARL, "hello", mention_bot=True, author=broken)
    await dc.wait_until(lambda: dc.identifies == 2, 10, "a new IDENTIFY")  # the loop restarted
    await dc.send_dm(ANNA, "still there?")
    [reply] = await dc.wait_for_sent(1)
    assert reply["content"] == "answer: still there?"
    assert any("gateway loop failed" in line for line in logs)


async def test_the_bot_asks_for_message_content_and_not_for_members(bot: Bot) -> None:
    assert bot.dc.identify is not None
    intents = bot.dc.identify["intents"]
    assert intents & (1 << 15)  # MESSAGE_CONTENT
    assert intents & (1 << 9) and intents & (1 << 12)  # guild and direct messages
    assert not intents & (1 << 1) and not intents & (1 << 8)  # members, presences


# -- outbound failures -----------------------------------------------------------------------


def _message_in(channel_id: int, **extras: Any) -> IncomingMessage:
    return IncomingMessage(
        message_id="1",
        user=UserRef("discord", str(ANNA)),
        chat=ChatRef("discord", str(channel_id), is_group=True),
        text="q",
        sent_at=datetime.now(UTC),
        extras={"channel_id": str(channel_id), "guild_id": str(GUILD_ID), **extras},
    )


async def test_a_refused_reply_raises_a_delivery_error_with_the_reason(dc: FakeDiscord) -> None:
    dc.fail_next("POST", r"/messages$", 403, code=50013, message="Missing Permissions")
    async with discord_adapter() as adapter:
        with pytest.raises(DeliveryError, match=r"403 \(code 50013\) Missing Permissions"):
            await adapter.send(_message_in(CHANNEL_ID, reply_to="5"), Reply("hello"))


# Code blocks too long for one message whose fence line is itself very long: a divider of tildes
# and a query written on the fence line. Their rows and columns are numbered to check the order.
CODE_ROWS = "\n".join(f"row {i}: total = price x quantity" for i in range(100))
LONG_QUERY = "SELECT " + ", ".join(f"orders.column_{i}" for i in range(120)) + " FROM orders;"
CROWDED_CODE = {
    "a divider of tildes": f"Here you go:\n{'~' * 1000}\n{CODE_ROWS}\n{'~' * 1000}",
    "a query on the fence line": f"Here you go:\n```{LONG_QUERY}\n{CODE_ROWS}\n```",
}


@pytest.mark.parametrize("answer", CROWDED_CODE.values(), ids=CROWDED_CODE.keys())
async def test_code_with_a_fence_line_too_long_to_repeat_is_delivered(
    dc: FakeDiscord, answer: str
) -> None:
    async with discord_adapter() as adapter:
        await adapter.send(_message_in(CHANNEL_ID), Reply(answer))
    contents = [s["content"] for s in dc.sent]
    assert len(contents) >= 2
    assert all(0 < len(c) <= MESSAGE_LIMIT for c in contents)
    both = "\n".join(contents)
    assert [int(n) for n in re.findall(r"row (\d+):", both)] == list(range(100))
    columns = [int(n) for n in re.findall(r"column_(\d+)", both)]
    assert columns == (list(range(120)) if "SELECT" in answer else [])


async def test_a_reply_that_cannot_be_formatted_fails_as_undelivered_without_its_text(
    dc: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(text: str) -> list[str]:
        raise ValueError(f"cannot format {text!r}")

    monkeypatch.setattr("adapters.discord.adapter.discord_messages", broken)
    async with discord_adapter() as adapter:
        with pytest.raises(DeliveryError, match="ValueError") as failed:
            await adapter.send(_message_in(CHANNEL_ID), Reply("our secret recipe"))
    assert "secret" not in str(failed.value)
    assert dc.sent == []


async def test_a_dead_interaction_token_falls_back_to_the_channel(dc: FakeDiscord) -> None:
    dc.fail_next("POST", r"^/webhooks/", 401, code=50027, message="Invalid Webhook Token")
    message = _message_in(CHANNEL_ID, interaction_token="tok", application_id=str(APP_ID))
    async with discord_adapter() as adapter:
        await adapter.send(message, Reply("hello"))
    assert [c.path for c in dc.sent_calls] == [f"/channels/{CHANNEL_ID}/messages"]


def _three_parts() -> tuple[str, list[str]]:
    text = "\n\n".join(f"Part {n}. " + "The kettle is blue and sturdy. " * 50 for n in range(3))
    parts = discord_messages(text)
    assert len(parts) == 3
    return text, parts


async def test_a_reply_that_failed_part_way_is_resent_from_the_part_that_failed(
    dc: FakeDiscord,
) -> None:
    text, parts = _three_parts()
    # A 503 is not retried by discord.py's REST client (500, 502 and 504 are, for ~25 s).
    dc.fail_next("POST", r"^/channels/\d+/messages$", 503, after=1)
    message = _message_in(CHANNEL_ID, reply_to="5")
    async with discord_adapter() as adapter:
        with pytest.raises(DeliveryError, match="503"):
            await adapter.send(message, Reply(text))
        assert [s["content"] for s in dc.sent] == parts[:1]
        await adapter.send(message, Reply(text))  # the gateway's resend
    assert [s["content"] for s in dc.sent] == parts  # each part once, in order
    assert "message_reference" in dc.sent[0]
    assert all("message_reference" not in s for s in dc.sent[1:])


async def test_follow_ups_that_failed_part_way_are_resent_from_the_part_that_failed(
    dc: FakeDiscord,
) -> None:
    text, parts = _three_parts()
    # Webhook requests are retried on every 5xx: a 4xx fails at once.
    dc.fail_next("POST", r"^/webhooks/", 403, code=50001, message="Missing Access", after=1)
    message = _message_in(CHANNEL_ID, interaction_token="tok", application_id=str(APP_ID))
    async with discord_adapter() as adapter:
        with pytest.raises(DeliveryError, match="403"):
            await adapter.send(message, Reply(text))
        await adapter.send(message, Reply(text))
    assert [s["content"] for s in dc.sent] == parts
    assert {c.path for c in dc.sent_calls} == {f"/webhooks/{APP_ID}/tok"}


async def test_the_gateways_resend_posts_only_the_parts_not_yet_delivered(
    dc: FakeDiscord,
) -> None:
    text, parts = _three_parts()

    async def pipeline(turn: Turn) -> Reply:
        return Reply(text)

    dc.fail_next("POST", r"^/channels/\d+/messages$", 503, after=1)
    async with (
        Gateway(pipeline, resend_delays=(0.01,)) as gateway,
        discord_adapter(gateway),
    ):
        await gateway.deliver(_message_in(CHANNEL_ID, reply_to="5"))
        await dc.wait_for_sent(3)
        await asyncio.sleep(0.2)  # time for any further resend
    assert [s["content"] for s in dc.sent] == parts
    assert gateway.counts["undelivered"] == 1


# -- slash commands without a reply ---------------------------------------------------------


async def test_a_slash_command_nobody_answers_stops_thinking(dc: FakeDiscord) -> None:
    sink = RecordingSink()  # takes the command and never answers, like a silent refusal
    async with discord_adapter(sink, unanswered_command_wait=0.2):
        interaction_id = await dc.send_slash_command("help", ANNA)
        await until(lambda: len(sink.delivered) == 1, "delivery")
        await dc.wait_until(lambda: bool(dc.deleted_originals), 5, "deferral deleted")
    assert dc.deleted_originals == [f"interaction-token-{interaction_id}"]
    assert dc.sent == []


async def test_a_silently_refused_slash_command_stops_thinking_the_answered_ones_stay(
    dc: FakeDiscord, make_settings: Callable[..., Settings]
) -> None:
    # One command a minute: the second gets "slow down", the third is refused silently.
    settings = make_settings(rules_first_confidence=0, rate_burst=1, rate_per_minute=1)
    async with (
        open_runtime(settings, llm=[ScriptedModel()]) as runtime,
        discord_adapter(runtime.gateway, unanswered_command_wait=0.3),
    ):
        first = await dc.send_slash_command("help", ANNA)
        await dc.wait_for_sent(1)
        await dc.send_slash_command("help", ANNA)
        help_text, slow_down = await dc.wait_for_sent(2)
        silent = await dc.send_slash_command("help", ANNA)
        await dc.wait_until(lambda: bool(dc.deleted_originals), 5, "deferral deleted")
        await asyncio.sleep(0.5)  # past the wait for the first two as well

    assert "/reset" in help_text["content"] and "faster" in slow_down["content"]
    assert dc.sent_calls[0].path == f"/webhooks/{APP_ID}/interaction-token-{first}"
    assert dc.deleted_originals == [f"interaction-token-{silent}"]
    assert len(dc.sent) == 2


async def test_a_slash_command_whose_turn_outlasts_the_wait_keeps_thinking(
    dc: FakeDiscord,
) -> None:
    async def slow(turn: Turn) -> Reply:
        await asyncio.sleep(0.5)  # longer than the wait: the typing call shows it runs
        return Reply("done")

    async with (
        Gateway(slow) as gateway,
        discord_adapter(gateway, unanswered_command_wait=0.1),
    ):
        interaction_id = await dc.send_slash_command("help", ANNA)
        [reply] = await dc.wait_for_sent(1)
        await asyncio.sleep(0.2)
    assert reply["content"] == "done"
    assert dc.sent_calls[0].path == f"/webhooks/{APP_ID}/interaction-token-{interaction_id}"
    assert dc.deleted_originals == []


# -- start-up --------------------------------------------------------------------------------


async def test_slash_commands_sync_to_each_configured_guild(dc: FakeDiscord) -> None:
    other = GUILD_ID + 1
    sink = RecordingSink()
    async with discord_adapter(sink, guild_ids=[GUILD_ID, other]):
        pass
    assert set(dc.commands) == {str(GUILD_ID), str(other)}  # nothing global
    assert len(dc.commands[str(GUILD_ID)]) == 5


async def test_without_a_hand_off_the_human_command_promises_no_person(dc: FakeDiscord) -> None:
    sink = RecordingSink()
    async with discord_adapter(sink, handoff_enabled=False):
        pass
    registered = {c["name"]: c["description"] for c in dc.commands["global"]}
    assert registered == dict(command_menu(handoff_enabled=False))
    assert registered["human"] == HUMAN_UNAVAILABLE


async def test_a_refused_token_stops_start_up_with_a_clear_error(dc: FakeDiscord) -> None:
    dc.fail_next("GET", r"^/users/@me$", 401, code=0, message="401: Unauthorized")
    with pytest.raises(ConfigurationError, match="DISCORD_BOT_TOKEN"):
        async with discord_adapter():
            pass


async def test_a_missing_message_content_intent_stops_start_up_saying_so(
    dc: FakeDiscord,
) -> None:
    dc.close_on_identify = 4014
    with pytest.raises(ConfigurationError, match="MESSAGE CONTENT INTENT"):
        async with discord_adapter():
            pass


async def test_a_gateway_that_never_gets_ready_times_out_clearly(dc: FakeDiscord) -> None:
    dc.ignore_identify = True
    with pytest.raises(TimeoutError, match=r"not connected and ready after 0\.5 s"):
        async with discord_adapter(ready_timeout=0.5):
            pass


def test_the_adapter_is_built_only_with_a_token(make_settings: Callable[..., Settings]) -> None:
    sink = RecordingSink()
    assert configured_adapters(make_settings(), sink) == []
    [adapter] = configured_adapters(make_settings(discord_bot_token=TOKEN), sink)
    assert isinstance(adapter, DiscordAdapter)
    assert adapter.platform == "discord" and list(adapter.routes()) == []


async def test_bastion_run_answers_a_dm_through_the_configured_adapter(
    dc: FakeDiscord, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(discord_bot_token=TOKEN, web_enabled=False, rules_first_confidence=0)
    stop = asyncio.Event()
    running = asyncio.create_task(run_bot(settings, stop=stop, llm=[ScriptedModel()]))
    try:
        await dc.wait_until(lambda: dc.identifies == 1, 10, "IDENTIFY")
        await dc.send_dm(ANNA, "hello from discord")
        [reply] = await dc.wait_for_sent(1, timeout=10)
        assert reply["content"] == "answer: hello from discord"
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
