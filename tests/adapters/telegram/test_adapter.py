"""The Telegram adapter end to end: python-telegram-bot against the fake Bot API, the real core.

Each test runs the whole bot (``open_runtime``: admission, inbox, pipeline, validator, SQLite)
with a scripted model, the adapter built from settings as ``bastion run`` builds it, and talks
to it the way Telegram does: updates on ``getUpdates`` or POSTs to the webhook.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from loguru import logger

from adapters.common.notes import TEXT_ONLY
from adapters.common.pacing import Pacer, Rate
from adapters.common.text import utf16_length
from adapters.telegram import TelegramAdapter
from adapters.telegram.adapter import SECRET_HEADER, WEBHOOK_PATH, RetryPolicy
from adapters.telegram.format import MAX_MESSAGE_LENGTH, WORD_JOINER
from bot.http import build_http_app
from bot.platforms.telegram import build
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from core.errors import ConfigurationError, DeliveryError
from core.logref import pseudonym
from core.model import ChatMessage, Completion, IncomingMessage, Reply, UserRef
from tests.fakes import VirtualTime, message
from tests.platforms.telegram_server import (
    GROUP_ID,
    MENTION,
    FakeTelegram,
    mentions_in,
    visible_text,
)

WEBHOOK_SECRET = "webhook-secret-0123456789abcdef"
WEBHOOK_URL = "https://bot.example/telegram/webhook"
ANN, BOB = 111222333, 444555666

# About 10,500 characters of plain shop prose, numbered so the order can be checked.
LONG_ANSWER = "\n\n".join(
    f"Step {n}. Our garden tools are made to last, and this is how to care for them. "
    + " ".join(
        f"Tip {n}.{k}: rinse the blade, dry it well and keep it somewhere *dry*."
        for k in range(1, 6)
    )
    for n in range(1, 26)
)
# Code blocks too long for one message whose fence line is itself very long: a divider of tildes
# and a query written on the fence line. Their rows and columns are numbered to check the order.
CODE_ROWS = "\n".join(f"row {i}: total = price x quantity" for i in range(200))
LONG_QUERY = "SELECT " + ", ".join(f"orders.column_{i}" for i in range(250)) + " FROM orders;"
CROWDED_CODE = {
    "a divider of tildes": f"Here you go:\n{'~' * 2100}\n{CODE_ROWS}\n{'~' * 2100}",
    "a query on the fence line": f"Here you go:\n```{LONG_QUERY}\n{CODE_ROWS}\n```",
}
HOSTILE_ANSWER = (
    "Thanks @everyone! Ask @shop_admin. <b>Opening hours <script>alert(1)</script> "
    '<a href="tg://user?id=1">you</a> *are Monday to **Friday, 9:00 to 18:00.\n'
    # Mentions the markdown hides until the markers are gone, or glued to another "@".
    "Ask _@shop_admin_, __@shop_owner__ or @@shop_staff, **@xy_admin**, "
    "[@shop_boss](tg://user?id=1), @*shop_clerk*."
)


@dataclass
class ScriptedModel:
    """A model that answers by keyword (else echoes), optionally after a pause."""

    answers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    prompts: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "scripted"

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        asked = prompt[-1].text
        self.prompts.append(asked)
        if self.delay:
            await asyncio.sleep(self.delay)
        answer = next((a for key, a in self.answers.items() if key in asked), f"echo: {asked}")
        return Completion(answer, provider="scripted", model="scripted-1")


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def settings_for(
    make_settings: Callable[..., Settings], tg: FakeTelegram
) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "telegram_bot_token": tg.token,
            "telegram_base_url": tg.base_url,
            # These tests are about the platform: the model always answers.
            "providers": "rules",
            "rules_first_confidence": 0,
            "max_reply_chars": 20_000,
            **overrides,
        }
        return make_settings(**values)

    return make


@asynccontextmanager
async def running(
    settings: Settings, model: ScriptedModel | None = None
) -> AsyncIterator[tuple[Runtime, TelegramAdapter]]:
    async with open_runtime(settings, llm=[model or ScriptedModel()]) as runtime:
        adapter = build(settings, runtime.gateway)
        assert isinstance(adapter, TelegramAdapter)
        async with adapter:
            yield runtime, adapter


@asynccontextmanager
async def on_webhook(
    settings_for: Callable[..., Settings],
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    """The bot in webhook mode, and a client of its HTTP app (where Telegram posts updates)."""
    settings = settings_for(
        telegram_mode="webhook",
        telegram_webhook_url=WEBHOOK_URL,
        telegram_webhook_secret=WEBHOOK_SECRET,
    )
    async with running(settings) as (runtime, adapter):
        transport = httpx.ASGITransport(app=build_http_app(runtime, adapter.routes()))
        async with httpx.AsyncClient(transport=transport, base_url="http://bastion.test") as http:
            yield runtime, http


async def count_rows(runtime: Runtime, table: str) -> int:
    async with runtime.store.db.execute(f"SELECT COUNT(*) FROM {table}") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def shown(params: dict[str, Any]) -> str:
    """What the user sees of a sent message (fails if Telegram would refuse its HTML)."""
    assert params.get("parse_mode") == "HTML"
    return visible_text(params["text"])


# -- acceptance ----------------------------------------------------------------------------


async def test_a_direct_question_is_answered_in_reply_to_it(
    tg: FakeTelegram, settings_for: Callable[..., Settings]
) -> None:
    async with running(settings_for()) as (runtime, _):
        asked = tg.push_private_text(ANN, "when do you open?")
        sent = await tg.wait_for_sent(1)
        stored = await count_rows(runtime, "messages")
    assert shown(sent[0]) == "echo: when do you open?"
    assert sent[0]["chat_id"] == ANN
    assert sent[0]["reply_parameters"] == {
        "message_id": asked["message"]["message_id"],
        "allow_sending_without_reply": True,
    }
    assert stored == 2  # the question and the answer
    assert tg.calls_to("deleteWebhook")  # polling needs no webhook set


async def test_a_group_message_is_answered_only_when_the_bot_is_mentioned(
    tg: FakeTelegram, settings_for: Callable[..., Settings]
) -> None:
    model = ScriptedModel()
    async with running(settings_for(), model) as _:
        tg.push_group_text(ANN, "does anyone know when the shop opens?")
        mentioned = tg.push_group_text(BOB, f"@{tg.bot_username} when do you open?")
        tg.push_group_text(ANN, "thanks!")
        replied = tg.push_group_text(ANN, "and on Sundays?", reply_to_bot=True)
        # Intake is in order: anything answered by mistake would come before the last answer.
        sent = await tg.wait_for_sent(2)
    assert model.prompts == ["when do you open?", "and on Sundays?"]
    assert [s["chat_id"] for s in sent] == [GROUP_ID, GROUP_ID]
    assert [s["reply_parameters"]["message_id"] for s in sent] == [
        mentioned["message"]["message_id"],
        replied["message"]["message_id"],
    ]
    assert len(tg.sent) == 2


async def test_help_as_a_native_command_is_answered_and_commands_are_registered(
    tg: FakeTelegram, settings_for: Callable[..., Settings]
) -> None:
    model = ScriptedModel()
    async with running(settings_for(), model) as _:
        tg.push_private_text(ANN, "/help")
        tg.push_group_text(BOB, "/help@SomeOtherBot")
        tg.push_group_text(BOB, f"/help@{tg.bot_username}")
        sent = await tg.wait_for_sent(2)
    assert all("/reset" in shown(s) and "/forget" in shown(s) for s in sent)
    assert [s["chat_id"] for s in sent] == [ANN, GROUP_ID]
    assert model.prompts == []  # commands never reach the model
    assert [c["command"] for c in tg.commands] == ["start", "help", "reset", "forget", "human"]
    assert all(c["description"] for c in tg.commands)


async def test_in_a_group_only_our_commands_or_ones_addressed_to_us_are_answered(
    tg: FakeTelegram, settings_for: Callable[..., Settings]
) -> None:
    model = ScriptedModel()
    async with running(settings_for(), model) as _:
        tg.push_group_text(ANN, "/stats")  # another bot's command
        tg.push_group_text(ANN, "/weather Paris")
        addressed = tg.push_group_text(BOB, f"/stats@{tg.bot_username}")
        ours = tg.push_group_text(BOB, "/help")
        sent = await tg.wait_for_sent(2)
    assert [s["reply_parameters"]["message_id"] for s in sent] == [
        addressed["message"]["message_id"],
        ours["message"]["message_id"],
    ]
    assert shown(sent[0]) == "I don't know the command /stats. Type /help to see what I can do."
    assert "/reset" in shown(sent[1])
    assert len(tg.sent) == 2 and model.prompts == []


async def test_a_10000_character_reply_arrives_as_valid_messages_in_order(
    tg: FakeTelegram, settings_for: Callable[..., Settings]
) -> None:
    assert len(LONG_ANSWER) > 10_000
    model = ScriptedModel({"care": LONG_ANSWER})
    async with running(settings_for(), model) as _:
        tg.push_private_text(ANN, "how do I care for my tools?")
        sent = await tg.wait_for_sent(3, timeout=10)
        texts = [shown(s) for s in sent]  # each parses as Telegram HTML
    assert len(sent) == 3
    assert all(0 < utf16_length(t) <= MAX_MESSAGE_LENGTH for t in texts)
    steps = [int(n) for t in texts for n in re.findall(r"Step (\d+)\.", t)]
    assert steps == list(range(1, 26))  # nothing lost, nothing repeated, in order
    assert all(t.rstrip().endswith(".") for t in texts)  # cut at paragraph ends
    assert "<i>dry</i>" in sent[0]["text"]
    # Only the first part replies to the question; the rest follow it.
    assert "reply_parameters" in sent[0]
    assert all("reply_parameters" not in s for s in sent[1:])


async def test_hostile_model_output_is_delivered_harmlessly(
    tg: FakeTelegram, settings_for: Callable[..., Settings]
) -> None:
    model = ScriptedModel({"hours": HOSTILE_ANSWER})
    async with running(settings_for(), model) as _:
        tg.push_group_text(ANN, f"@{tg.bot_username} opening hours?")
        sent = await tg.wait_for_sent(1)
    html = sent[0]["text"]
    text = shown(sent[0])  # Telegram accepted the HTML
    # None of the model's tags became markup; only its markdown did.
    assert set(re.findall(r"<(\w+)", html)) == {"b", "i"}
    assert "<script>alert(1)</script>" in text and "<b>Opening hours" in text
    assert "[@" in text and "](tg://user?id=1)" in text  # a link only as text
    assert MENTION.findall(text) == []  # nobody is pinged
    assert mentions_in(html) == []
    assert tg.delivered[0].get("entities") is None
    for name in ("everyone", "shop_admin", "shop_owner", "shop_staff", "xy_admin", "shop_boss"):
        assert f"@{WORD_JOINER}{name}" in text  # still reads as written


async def test_a_429_is_retried_after_its_retry_after(
    tg: FakeTelegram, settings_for: Callable[..., Settings]
) -> None:
    tg.fail_next("sendMessage", 429, retry_after=1)
    async with running(settings_for()) as (runtime, _):
        tg.push_private_text(ANN, "when do you open?")
        await tg.wait_for_sent(1, timeout=10)
        assert runtime.gateway.counts["undelivered"] == 0  # the adapter retried, not the core
    first, second = tg.calls_to("sendMessage")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0  # waited what Telegram asked, then sent
    assert shown(tg.sent[0]) == "echo: when do you open?"


async def test_webhook_refuses_a_wrong_or_missing_secret_and_answers_the_right_one(
    tg: FakeTelegram, settings_for: Callable[..., Settings]
) -> None:
    async with on_webhook(settings_for) as (runtime, http):
        update = tg.private_text(ANN, "when do you open?")
        wrong = await http.post(
            WEBHOOK_PATH, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET[:-1] + "X"}
        )
        missing = await http.post(WEBHOOK_PATH, json=update)
        assert (wrong.status_code, missing.status_code) == (403, 403)
        assert await count_rows(runtime, "inbox") == 0  # nothing reached the core

        right = await http.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET})
        assert right.status_code == 200
        assert await count_rows(runtime, "inbox") == 1  # stored before the 200
        sent = await tg.wait_for_sent(1)
    assert shown(sent[0]) == "echo: when do you open?"
    assert tg.webhook == {
        "url": WEBHOOK_URL,
        "secret_token": WEBHOOK_SECRET,
        "allowed_updates": ["message", "edited_message"],
    }
    assert tg.calls_to("getUpdates") == []


async def test_a_duplicate_delivery_is_answered_once(
    tg: FakeTelegram, settings_for: Callable[..., Settings]
) -> None:
    async with running(settings_for()) as _:
        first = tg.push_private_text(ANN, "when do you open?")
        tg.push_update(first)  # Telegram delivers the same message again
        tg.push_private_text(ANN, "and where are you?")
        sent = await tg.wait_for_sent(2)
        # One conversation's turns run in order: a second answer would precede this one.
    assert [shown(s) for s in sent] == ["echo: when do you open?", "echo: and where are you?"]
    assert len(tg.sent) == 2


async def test_a_webhook_retry_of_the_same_update_is_answered_once(
    tg: FakeTelegram, settings_for: Callable[..., Settings]
) -> None:
    headers = {SECRET_HEADER: WEBHOOK_SECRET}
    async with on_webhook(settings_for) as (_, http):
        update = {**tg.private_text(ANN, "when do you open?"), "update_id": 5}
        later = {**tg.private_text(ANN, "and where are you?"), "update_id": 6}
        statuses = [
            (await http.post(WEBHOOK_PATH, json=body, headers=headers)).status_code
            for body in (update, update, later)
        ]
        sent = await tg.wait_for_sent(2)
    assert statuses == [200, 200, 200]
    assert [shown(s) for s in sent] == ["echo: when do you open?", "echo: and where are you?"]
    assert len(tg.sent) == 2


# -- more behaviour ------------------------------------------------------------------------


async def test_polling_reconnects_after_a_lost_connection(
    tg: FakeTelegram, settings_for: Callable[..., Settings]
) -> None:
    tg.drop_next("getUpdates")
    tg.fail_next("getUpdates", 502)
    async with running(settings_for()) as _:
        tg.push_private_text(ANN, "still there?")
        sent = await tg.wait_for_sent(1, timeout=10)
    assert shown(sent[0]) == "echo: still there?"
    assert [c.status for c in tg.calls_to("getUpdates")[:2]] == [499, 502]


async def test_a_blocked_bot_raises_delivery_error_with_the_reason(
    tg: FakeTelegram, settings_for: Callable[..., Settings]
) -> None:
    async with running(settings_for()) as (_, adapter):
        tg.fail_next("sendMessage", 403)
        incoming = message("hi", user=str(ANN), platform="telegram")
        with pytest.raises(DeliveryError, match="blocked by the user"):
            await adapter.send(incoming, Reply("hello"))
    assert len(tg.calls_to("sendMessage")) == 1  # a refusal is not retried


async def test_media_in_a_private_chat_get_a_note_and_never_reach_the_core(
    tg: FakeTelegram, settings_for: Callable[..., Settings]
) -> None:
    sticker = tg.private_text(ANN, "x")
    del sticker["message"]["text"]
    sticker["message"]["sticker"] = {
        "file_id": "CAACAgIAAxkBAAIBaG",
        "file_unique_id": "AgADbwAD",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    async with running(settings_for()) as (runtime, _):
        tg.push_update(sticker)
        sent = await tg.wait_for_sent(1)
        assert await count_rows(runtime, "inbox") == 0
    assert shown(sent[0]) == TEXT_ONLY


async def test_a_burst_of_media_gets_one_note_a_minute_per_chat(
    tg: FakeTelegram, settings_for: Callable[..., Settings]
) -> None:
    def photo(user: int) -> dict[str, Any]:
        update = tg.private_text(user, "x")
        del update["message"]["text"]
        update["message"]["photo"] = [
            {"file_id": "AgACAgIAAxkBAAIB", "file_unique_id": "AQADbw", "width": 90, "height": 90}
        ]
        return update

    async with running(settings_for()) as _:
        for _ in range(3):
            tg.push_update(photo(ANN))
        tg.push_update(photo(BOB))  # another chat gets its own note
        tg.push_private_text(ANN, "when do you open?")
        await tg.wait_for_sent(3)
        await asyncio.sleep(0.2)
    notes = [call for call in tg.calls_to("sendMessage") if shown(call.params) == TEXT_ONLY]
    assert sorted(call.params["chat_id"] for call in notes) == sorted([ANN, BOB])
    assert len(tg.calls_to("sendMessage")) == 3  # two notes and the answer


async def test_typing_is_shown_while_the_model_thinks(
    tg: FakeTelegram, settings_for: Callable[..., Settings]
) -> None:
    async with running(settings_for(), ScriptedModel(delay=0.3)) as _:
        tg.push_private_text(ANN, "when do you open?")
        await tg.wait_for_sent(1)
    typing = tg.calls_to("sendChatAction")
    assert typing and typing[0].params == {"chat_id": ANN, "action": "typing"}
    assert typing[0].at < tg.calls_to("sendMessage")[0].at


async def test_a_reply_in_a_forum_topic_goes_to_that_topic(
    tg: FakeTelegram, settings_for: Callable[..., Settings]
) -> None:
    async with running(settings_for()) as _:
        tg.push_group_text(ANN, f"@{tg.bot_username} is my order shipped?", thread_id=70)
        sent = await tg.wait_for_sent(1)
    assert sent[0]["message_thread_id"] == 70


async def test_stopping_confirms_the_updates_taken_in(
    tg: FakeTelegram, settings_for: Callable[..., Settings]
) -> None:
    async with running(settings_for()) as _:
        pushed = tg.push_private_text(ANN, "when do you open?")
        await tg.wait_for_sent(1)
    last = tg.calls_to("getUpdates")[-1]
    assert last.params["offset"] == pushed["update_id"] + 1


@asynccontextmanager
async def adapter_alone(
    tg: FakeTelegram, pacer: Pacer | None = None
) -> AsyncIterator[TelegramAdapter]:
    """The adapter without the core, for what ``send`` does on its own."""
    async with TelegramAdapter(
        tg.token, _QuietSink(), base_url=tg.base_url, pacer=pacer
    ) as adapter:
        yield adapter


async def test_each_message_of_a_reply_waits_its_turn_with_the_pacer(
    tg: FakeTelegram,
) -> None:
    time = VirtualTime()  # nothing waits for real
    # One message, then one a second, in every chat: a three-part reply waits twice.
    pacer = Pacer(Rate(1, 1), clock=time.clock, sleep=time.sleep)
    incoming = message("tips?", user=str(ANN), platform="telegram")
    async with adapter_alone(tg, pacer) as adapter:
        await adapter.send(incoming, Reply(LONG_ANSWER))
    assert len(tg.calls_to("sendMessage")) == 3
    assert time.slept == [1.0, 1.0]


async def test_a_reply_cut_off_part_way_resumes_where_it_stopped(tg: FakeTelegram) -> None:
    incoming = message("tips?", user=str(ANN), platform="telegram")
    tg.fail_next("sendMessage", 400, "Bad Request: chat not found", after=1)
    async with adapter_alone(tg) as adapter:
        with pytest.raises(DeliveryError, match="part 2 of 3"):
            await adapter.send(incoming, Reply(LONG_ANSWER))
        await adapter.send(incoming, Reply(LONG_ANSWER))  # the core sends it again
    steps = [int(n) for s in tg.sent for n in re.findall(r"Step (\d+)\.", shown(s))]
    assert steps == list(range(1, 26))  # the first part was not repeated


async def test_html_telegram_refuses_still_goes_out_as_plain_text(tg: FakeTelegram) -> None:
    incoming = message("hi", user=str(ANN), platform="telegram")
    tg.fail_next("sendMessage", 400, "Bad Request: can't parse entities: unsupported tag")
    async with adapter_alone(tg) as adapter:
        await adapter.send(incoming, Reply("We open at **nine**."))
    assert tg.sent == [
        {"chat_id": ANN, "text": "We open at nine.", "link_preview_options": {"is_disabled": True}}
    ]


async def test_the_plain_text_fallback_pings_nobody_even_from_code(tg: FakeTelegram) -> None:
    # Without a parse mode code is plain text, and Telegram finds mentions in it.
    incoming = message("hi", user=str(ANN), platform="telegram")
    answer = "Ask `@shop_admin`:\n```\n@everyone please help\n```\nor mail help@shop.example"
    tg.fail_next("sendMessage", 400, "Bad Request: can't parse entities: unsupported tag")
    async with adapter_alone(tg) as adapter:
        await adapter.send(incoming, Reply(answer))
    [sent] = tg.sent
    assert "parse_mode" not in sent
    assert MENTION.findall(sent["text"]) == []
    assert tg.delivered[0].get("entities") is None
    assert sent["text"].replace(WORD_JOINER, "") == (
        "Ask @shop_admin:\n@everyone please help\nor mail help@shop.example"
    )


@pytest.mark.parametrize("answer", CROWDED_CODE.values(), ids=CROWDED_CODE.keys())
async def test_code_with_a_fence_line_too_long_to_repeat_is_delivered(
    tg: FakeTelegram, answer: str
) -> None:
    incoming = message("the query?", user=str(ANN), platform="telegram")
    async with adapter_alone(tg) as adapter:
        await adapter.send(incoming, Reply(answer))
    texts = [shown(s) for s in tg.sent]  # each parses as Telegram HTML
    assert len(texts) >= 2
    assert all(0 < utf16_length(t) <= MAX_MESSAGE_LENGTH for t in texts)
    both = "\n".join(texts)
    assert [int(n) for n in re.findall(r"row (\d+):", both)] == list(range(200))
    columns = [int(n) for n in re.findall(r"column_(\d+)", both)]
    assert columns == (list(range(250)) if "SELECT" in answer else [])


async def test_a_chat_at_its_limit_for_long_fails_the_send_with_the_wait(tg: FakeTelegram) -> None:
    # One message a minute in a chat: the second would hold a worker past PACING_MAX_WAIT.
    pacer = Pacer(Rate(1 / 60, 1))
    incoming = message("hi", user=str(ANN), platform="telegram")
    async with adapter_alone(tg, pacer) as adapter:
        await adapter.send(incoming, Reply("first"))
        with pytest.raises(DeliveryError) as refused:
            await adapter.send(incoming, Reply("second"))
    assert refused.value.retry_after is not None and refused.value.retry_after > 50
    assert len(tg.calls_to("sendMessage")) == 1


async def test_a_retry_after_over_the_cap_fails_the_send_at_once(tg: FakeTelegram) -> None:
    incoming = message("hi", user=str(ANN), platform="telegram")
    tg.fail_next("sendMessage", 429, retry_after=3600)
    async with adapter_alone(tg) as adapter:
        started = time.perf_counter()
        with pytest.raises(DeliveryError, match="asked to wait 3600 s") as refused:
            await adapter.send(incoming, Reply("hello"))
        assert time.perf_counter() - started < 60  # nowhere near the hour it was told to wait
    assert refused.value.retry_after == 3600  # the core waits that long before a resend
    assert len(tg.calls_to("sendMessage")) == 1  # not tried again inside the penalty window


async def test_a_reply_that_cannot_be_formatted_fails_as_undelivered_without_its_text(
    tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(text: str) -> list[Any]:
        raise ValueError(f"cannot format {text!r}")

    monkeypatch.setattr("adapters.telegram.adapter.format_reply", broken)
    incoming = message("hi", user=str(ANN), platform="telegram")
    async with adapter_alone(tg) as adapter:
        with pytest.raises(DeliveryError, match="ValueError") as failed:
            await adapter.send(incoming, Reply("our secret recipe"))
    assert "secret" not in str(failed.value)
    assert tg.sent == []


async def test_a_group_upgraded_to_a_supergroup_gets_the_reply_at_its_new_id(
    tg: FakeTelegram,
) -> None:
    incoming = message("hi", user=str(ANN), chat="-4001", platform="telegram")
    tg.fail_next(
        "sendMessage",
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        migrate_to_chat_id=GROUP_ID,
    )
    async with adapter_alone(tg) as adapter:
        await adapter.send(incoming, Reply("hello"))
        await adapter.send(incoming, Reply("hello again"))
    assert [s["chat_id"] for s in tg.sent] == [GROUP_ID, GROUP_ID]
    assert len(tg.calls_to("sendMessage")) == 3  # the move is remembered after the first


def test_no_adapter_without_a_token(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    assert build(settings, _NoSink()) is None


async def test_a_rejected_token_stops_start_up_naming_the_variable(
    tg: FakeTelegram, settings_for: Callable[..., Settings]
) -> None:
    settings = settings_for(telegram_bot_token="7000001:not-the-right-token")
    adapter = build(settings, _NoSink())
    assert adapter is not None
    with pytest.raises(ConfigurationError) as caught:
        async with adapter:
            pass
    assert caught.value.variable == "TELEGRAM_BOT_TOKEN"
    assert "not-the-right-token" not in str(caught.value)


class _FlakySink:
    """Stores messages, but fails the first ``failures`` tries and every try of ``poison``."""

    def __init__(self, failures: int = 0, poison: str | None = None) -> None:
        self.failures = failures
        self.poison = poison
        self.tries: list[str] = []
        self.stored: list[IncomingMessage] = []
        self._more = asyncio.Event()

    def connect(self, platform: str, outbound: Any) -> None:
        pass

    async def deliver(self, message: IncomingMessage) -> None:
        self.tries.append(message.text)
        if len(self.tries) <= self.failures or message.text == self.poison:
            raise RuntimeError(f"database is locked while storing {message.text!r}")
        self.stored.append(message)
        self._more.set()

    async def wait_for_stored(self, n: int) -> None:
        async with asyncio.timeout(5):
            while len(self.stored) < n:
                await self._more.wait()
                self._more.clear()


QUICK_INTAKE = RetryPolicy(intake_attempts=3, intake_backoff=0.01)


async def test_a_polled_update_whose_intake_fails_is_tried_again(tg: FakeTelegram) -> None:
    sink = _FlakySink(failures=2)
    async with TelegramAdapter(tg.token, sink, base_url=tg.base_url, retry=QUICK_INTAKE):
        tg.push_private_text(ANN, "when do you open?")
        tg.push_private_text(ANN, "and where are you?")
        await sink.wait_for_stored(2)
    assert [m.text for m in sink.stored] == ["when do you open?", "and where are you?"]
    assert sink.tries == ["when do you open?"] * 3 + ["and where are you?"]


async def test_an_update_that_never_goes_in_is_skipped_after_a_few_tries_and_logged(
    tg: FakeTelegram,
) -> None:
    sink = _FlakySink(poison="my card number is 4111")
    lines: list[str] = []
    handler = logger.add(lambda m: lines.append(str(m)), level="DEBUG", format="{message}")
    try:
        async with TelegramAdapter(tg.token, sink, base_url=tg.base_url, retry=QUICK_INTAKE):
            poison = tg.push_group_text(
                ANN, f"@{tg.bot_username} my card number is 4111", message_id=987654321
            )
            later = tg.push_private_text(BOB, "when do you open?")
            await sink.wait_for_stored(1)
    finally:
        logger.remove(handler)
    assert sink.tries == ["my card number is 4111"] * 3 + ["when do you open?"]
    assert tg.calls_to("getUpdates")[-1].params["offset"] == later["update_id"] + 1
    [skipped] = [line for line in lines if "skipped" in line]
    assert pseudonym(f"telegram:{GROUP_ID}:") in skipped and "RuntimeError" in skipped
    logged = "".join(lines)
    assert "4111" not in logged and "card" not in logged
    assert str(ANN) not in logged and str(GROUP_ID) not in logged
    assert str(poison["message"]["message_id"]) not in logged


class _QuietSink:
    def connect(self, platform: str, outbound: Any) -> None:
        pass

    async def deliver(self, message: Any) -> None:
        raise AssertionError("not expected")


class _NoSink:
    def connect(self, platform: str, outbound: Any) -> None:
        raise AssertionError("not expected")

    async def deliver(self, message: Any) -> None:
        raise AssertionError("not expected")
