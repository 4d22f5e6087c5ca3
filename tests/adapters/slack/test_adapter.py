"""The Slack adapter end to end: real Bolt and slack_sdk, the fake Slack, the real core.

Messages go in as Slack sends them (signed HTTP requests to ``/slack/events`` on the shared
HTTP app, or envelopes over the Socket Mode websocket) and come out as the Web API calls the
fake records. The core is the production runtime (admission, SQLite inbox, pipeline) with a
scripted model in place of an LLM.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import pytest
from loguru import logger

from adapters.common.pacing import Pacer, Rate
from adapters.slack import SlackAdapter, SlackConfig, SlackDeliveryError
from adapters.slack.adapter import RESPONSE_URL_MAX_POSTS
from adapters.slack.convert import TEXT_ONLY_NOTE, BotIdentity, event_to_intake
from adapters.slack.format import MAX_MESSAGE_CHARS, format_reply
from bot.http import build_http_app
from bot.platforms import configured_adapters
from bot.platforms.slack import build
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from core.errors import ConfigurationError, DeliveryError
from core.model import ChatMessage, Completion, IncomingMessage, Reply, UserRef
from tests.fakes import VirtualTime
from tests.platforms.slack_server import (
    CHANNEL,
    DM_CHANNEL,
    FakeSlack,
    Post,
    channel_message,
    dm,
    mention,
)

ANSWER = "Our shop is open every day from nine in the morning."
ANN, BEN = "UANN0001", "UBEN0001"
# Letters only: the output validator checks figures, and these must pass it untouched.
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
         "juliet", "kilo", "lima")  # fmt: skip
Mode = Literal["http", "socket"]


@dataclass
class Scripted:
    """A model that answers ``answer`` and remembers what it was asked."""

    answer: str = ANSWER
    asked: list[str] = field(default_factory=list)
    name: str = "scripted"

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        self.asked.append(prompt[-1].text)
        return Completion(self.answer, provider=self.name, model="scripted-1")


@dataclass
class Stuck:
    """A model that never answers (until its turn is cancelled)."""

    called: asyncio.Event = field(default_factory=asyncio.Event)
    name: str = "stuck"

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        self.called.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@dataclass
class Bot:
    """A running Bastion with its Slack adapter, and the fake Slack it talks to."""

    runtime: Runtime
    adapter: SlackAdapter
    slack: FakeSlack
    model: Scripted
    http: httpx.AsyncClient

    async def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.http.post("/slack/events", content=body, headers=headers)

    async def event(self, event: dict[str, Any], **options: Any) -> httpx.Response:
        response = await self.post(*self.slack.signed_event_request(event, **options))
        assert response.status_code == 200, response.text
        return response

    async def command(self, text: str, **fields: str) -> httpx.Response:
        response = await self.post(*self.slack.signed_command_request(text, **fields))
        assert response.status_code == 200, response.text
        return response

    async def inbox_rows(self) -> int:
        rows = await self.runtime.store.db.execute_fetchall("SELECT COUNT(*) FROM inbox")
        return int(next(iter(rows))[0])

    async def settled(self) -> list[Post]:
        """Every post, once no turn is running any more."""
        assert await self.runtime.gateway.drain(5)
        return list(self.slack.posts)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def start(make_settings: Callable[..., Settings], slack: FakeSlack) -> Callable[..., Any]:
    @asynccontextmanager
    async def running(
        mode: Mode = "http", answer: str = ANSWER, **overrides: Any
    ) -> AsyncIterator[Bot]:
        settings = make_settings(
            slack_bot_token=slack.bot_token,
            slack_app_token=slack.app_token if mode == "socket" else None,
            slack_signing_secret=slack.signing_secret if mode == "http" else None,
            slack_base_url=slack.base_url,
            # Every question reaches the scripted model: no rules-first answer, no cache.
            rules_first_confidence=0,
            cache_enabled=False,
            max_reply_chars=20_000,
            **overrides,
        )
        model = Scripted(answer)
        async with open_runtime(settings, llm=[model]) as runtime:
            adapter = build(settings, runtime.gateway)
            assert isinstance(adapter, SlackAdapter)
            async with adapter:
                app = build_http_app(runtime, adapter.routes())
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                    yield Bot(runtime, adapter, slack, model, http)
                assert await runtime.gateway.drain(5)

    return running


# -- acceptance: intake and replies ---------------------------------------------------------


async def test_a_dm_question_is_answered_in_the_dm(start: Callable[..., Any]) -> None:
    async with start() as bot:
        await bot.event(dm("When are you open?"))
        [post] = await bot.slack.wait_for_posts(1)
        assert post.method == "chat.postMessage"
        assert (post.channel, post.thread_ts, post.text) == (DM_CHANNEL, None, ANSWER)
        assert bot.model.asked == ["When are you open?"]
        # Nothing in the text may be read as a mention or a link by Slack.
        assert post.payload["parse"] == "none"
        assert post.payload["link_names"] is False


async def test_a_channel_message_without_a_mention_is_ignored_and_a_mention_is_answered(
    start: Callable[..., Any],
) -> None:
    async with start() as bot:
        await bot.event(channel_message("when are you open?"))
        assert await bot.inbox_rows() == 0
        asked = mention("when are you open?")
        await bot.event(asked)
        [post] = await bot.slack.wait_for_posts(1)
        # In the thread under the mention, with the mention itself stripped for the model.
        assert (post.channel, post.thread_ts, post.text) == (CHANNEL, asked["ts"], ANSWER)
        assert bot.model.asked == ["when are you open?"]
        assert len(await bot.settled()) == 1


async def test_a_reply_in_the_bots_thread_is_answered_without_a_mention(
    start: Callable[..., Any],
) -> None:
    async with start() as bot:
        first = mention("when are you open?")
        await bot.event(first)
        await bot.slack.wait_for_posts(1)
        await bot.event(channel_message("and on Sundays?", thread_ts=first["ts"]))
        second = await bot.slack.wait_for_posts(2)
        assert second[1].thread_ts == first["ts"]
        # A reply in somebody else's thread is none of the bot's business.
        await bot.event(channel_message("unrelated", thread_ts="1700000000.000001"))
        assert len(await bot.settled()) == 2
        assert bot.model.asked == ["when are you open?", "and on Sundays?"]


async def test_in_the_bots_thread_only_the_user_who_addressed_it_is_followed_up(
    start: Callable[..., Any],
) -> None:
    async with start() as bot:
        first = mention("when are you open?", user=ANN)
        await bot.event(first)
        await bot.slack.wait_for_posts(1)
        thread = first["ts"]
        # Somebody else talking in the thread is not talking to the bot...
        await bot.event(channel_message("lunch anyone?", user=BEN, thread_ts=thread))
        await bot.event(channel_message("and sundays?", user=ANN, thread_ts=thread))
        posts = await bot.slack.wait_for_posts(2)
        assert posts[1].thread_ts == thread
        assert await bot.inbox_rows() == 2
        # ... until they mention it; then they are followed up too.
        await bot.event(mention("do you deliver?", user=BEN, thread_ts=thread))
        await bot.slack.wait_for_posts(3)
        await bot.event(channel_message("and to Lyon?", user=BEN, thread_ts=thread))
        await bot.slack.wait_for_posts(4)
        # Being followed up in one thread says nothing about another.
        await bot.event(channel_message("hello?", user=ANN, thread_ts="1700000000.000001"))
        assert len(await bot.settled()) == 4
        assert bot.model.asked == [
            "when are you open?",
            "and sundays?",
            "do you deliver?",
            "and to Lyon?",
        ]


async def test_slash_command_help_is_answered_privately_after_an_immediate_ack(
    start: Callable[..., Any],
) -> None:
    async with start() as bot:
        started = time.perf_counter()
        response = await bot.command("help")
        assert time.perf_counter() - started < 3  # Slack's acknowledgement deadline
        assert response.text == ""  # acknowledged without echoing anything into the channel
        [post] = await bot.slack.wait_for_posts(1)
        assert post.method == "response_url"
        assert post.payload["response_type"] == "ephemeral"
        assert "/reset" in post.text and "/forget" in post.text
        assert bot.model.asked == []  # a command never costs a model call


async def test_slash_command_with_a_question_is_answered(start: Callable[..., Any]) -> None:
    async with start() as bot:
        await bot.command("when are you open?", channel_id=CHANNEL)
        [post] = await bot.slack.wait_for_posts(1)
        assert (post.method, post.channel, post.text) == ("response_url", CHANNEL, ANSWER)
        assert bot.model.asked == ["when are you open?"]


async def test_commands_mode_answers_the_slash_command_but_not_mentions(
    start: Callable[..., Any],
) -> None:
    async with start(group_replies="commands") as bot:
        await bot.event(mention("when are you open?"))
        assert await bot.inbox_rows() == 0
        await bot.command("reset", channel_id=CHANNEL)
        [post] = await bot.slack.wait_for_posts(1)
        assert post.text.startswith("Done: we're starting afresh")


def _long_answer() -> str:
    """Over 10,000 characters in 24 marked sections, with a code block in the middle."""
    words = WORDS
    paragraphs = [
        f"Section {words[n % 12]}-{words[n // 12]} covers " + " ".join(words * 6) + "."
        for n in range(24)
    ]
    paragraphs.insert(12, "```\n" + "\n".join(f"step {w} <ok> & done" for w in words) + "\n```")
    return "\n\n".join(paragraphs)


async def test_a_10000_character_reply_is_split_into_valid_messages_in_order(
    start: Callable[..., Any],
) -> None:
    words = WORDS
    long_answer = _long_answer()
    assert len(long_answer) >= 10_000
    async with start(answer=long_answer) as bot:
        await bot.event(dm("tell me everything"))
        posts = await bot.settled()
    assert len(posts) >= 4
    assert all(p.channel == DM_CHANNEL and len(p.text) <= 3000 for p in posts)
    assert all(p.text.count("```") % 2 == 0 for p in posts)  # no code block cut open
    joined = "\n\n".join(p.text for p in posts)
    markers = [f"Section {words[n % 12]}-{words[n // 12]}" for n in range(24)]
    positions = [joined.index(marker) for marker in markers]
    assert positions == sorted(positions)
    assert joined.count("step alpha &lt;ok&gt; &amp; done") == 1
    assert [p.at for p in posts] == sorted(p.at for p in posts)


async def test_each_message_of_a_reply_waits_its_turn_with_the_pacer(slack: FakeSlack) -> None:
    time = VirtualTime()  # nothing waits for real
    # One message, then one a second, in every channel.
    pacer = Pacer(Rate(1, 1), clock=time.clock, sleep=time.sleep)
    config = SlackConfig(
        bot_token=slack.bot_token, signing_secret=slack.signing_secret, base_url=slack.base_url
    )
    async with SlackAdapter(_NullSink(), config, pacer) as adapter:
        await adapter.send(_dm_message(adapter.bot, "tell me everything"), Reply(_long_answer()))
    assert len(slack.posts) >= 4
    assert time.slept == [1.0] * (len(slack.posts) - 1)


async def test_mentions_and_broken_markup_in_model_output_are_delivered_harmlessly(
    start: Callable[..., Any],
) -> None:
    hostile = (
        "Attention <!channel> <!here> <!everyone>, ask <@U1> or <#C1|general>. "
        "Entities &lt;b&gt; stay text, **bold never ends and _half and `tick and ~~strike."
    )
    async with start(answer=hostile) as bot:
        await bot.event(dm("say something"))
        [post] = await bot.slack.wait_for_posts(1)
    assert "<" not in post.text and ">" not in post.text
    for shown in ("&lt;!channel&gt;", "&lt;!here&gt;", "&lt;!everyone&gt;", "&lt;@U1&gt;"):
        assert shown in post.text
    assert "&amp;lt;b&amp;gt;" in post.text


async def test_an_unclosed_code_fence_is_closed_before_posting(
    start: Callable[..., Any],
) -> None:
    # The core's validator already rejects such replies; the adapter is safe on its own too.
    async with start() as bot:
        message = _dm_message(bot.adapter.bot, "show code")
        await bot.adapter.send(message, Reply("Here:\n```python\nprint('<!here>')"))
        [post] = await bot.slack.wait_for_posts(1)
    assert post.text == "Here:\n```\nprint('&lt;!here&gt;')\n```"


# -- acceptance: platform limits and failures ------------------------------------------------


async def test_a_429_is_retried_after_its_retry_after(start: Callable[..., Any]) -> None:
    async with start() as bot:
        bot.slack.rate_limit_next("chat.postMessage", retry_after=1)
        await bot.event(dm("when are you open?"))
        [post] = await bot.slack.wait_for_posts(1, timeout=10)
        first, second = bot.slack.calls_to("chat.postMessage")
        assert second.at - first.at >= 1.0
        assert post.text == ANSWER
        assert len(await bot.settled()) == 1


async def test_a_retry_after_over_the_cap_fails_the_send_at_once(
    start: Callable[..., Any],
) -> None:
    async with start() as bot:
        bot.slack.rate_limit_next("chat.postMessage", retry_after=3600)
        started = time.perf_counter()
        with pytest.raises(SlackDeliveryError) as refused:
            await bot.adapter.send(_dm_message(bot.adapter.bot, "hi"), Reply("hello"))
        assert refused.value.code == "ratelimited"
        assert refused.value.retry_after == 3600  # the core waits that long before a resend
        assert time.perf_counter() - started < 60  # nowhere near the hour it was told to wait


async def test_a_reply_that_fails_part_way_is_resent_from_the_first_unsent_part(
    start: Callable[..., Any],
) -> None:
    expected = format_reply(_long_answer(), MAX_MESSAGE_CHARS)
    assert len(expected) >= 4
    async with start(answer=_long_answer()) as bot:
        bot.slack.fail_next("chat.postMessage", "internal_error", after=1)
        await bot.event(dm("tell me everything"))
        # The core sends the reply again 2 s after the failure.
        await bot.slack.wait_for_posts(len(expected), timeout=10)
        posts = await bot.settled()
        assert [p.text for p in posts] == expected  # each part once, in order
        assert len(bot.slack.calls_to("chat.postMessage")) == len(expected) + 1
        assert bot.runtime.gateway.counts["undelivered"] == 1


async def test_a_command_reply_that_fails_part_way_is_resent_from_the_first_unsent_part(
    start: Callable[..., Any],
) -> None:
    expected = format_reply(_long_answer(), MAX_MESSAGE_CHARS)
    # Every part fits the URL's five posts, as long as none is posted twice.
    assert 3 <= len(expected) <= RESPONSE_URL_MAX_POSTS
    async with start(answer=_long_answer()) as bot:
        bot.slack.fail_next("response_url", "internal_error", after=1)
        await bot.command("tell me everything", channel_id=CHANNEL)
        await bot.slack.wait_for_posts(len(expected), timeout=10)
        posts = await bot.settled()
        assert [p.text for p in posts] == expected
        assert {p.method for p in posts} == {"response_url"}


@pytest.mark.parametrize("code", ["channel_not_found", "not_in_channel", "is_archived"])
async def test_a_refused_reply_raises_delivery_error_with_slacks_code(
    start: Callable[..., Any], code: str
) -> None:
    async with start() as bot:
        bot.slack.fail_next("chat.postMessage", code)
        with pytest.raises(DeliveryError, match=code) as refused:
            await bot.adapter.send(_dm_message(bot.adapter.bot, "hi"), Reply("hello"))
        assert isinstance(refused.value, SlackDeliveryError) and refused.value.code == code


async def test_an_undeliverable_reply_is_counted_by_the_core(start: Callable[..., Any]) -> None:
    async with start() as bot:
        bot.slack.unknown_channels.add(DM_CHANNEL)
        await bot.event(dm("when are you open?"))
        assert await bot.settled() == []
        assert bot.runtime.gateway.counts["undelivered"] == 1


async def test_a_slack_retry_of_the_same_event_is_answered_once(
    start: Callable[..., Any],
) -> None:
    async with start() as bot:
        event = dm("when are you open?")
        await bot.event(event)
        await bot.event(event, retry_num=1)
        await bot.event(event, retry_num=2)
        assert len(await bot.settled()) == 1
        assert await bot.inbox_rows() == 1
        assert bot.runtime.gateway.counts["duplicates"] == 2


async def test_a_message_a_restart_left_unanswered_is_answered_in_its_thread(
    make_settings: Callable[..., Settings], slack: FakeSlack
) -> None:
    settings = make_settings(
        slack_bot_token=slack.bot_token,
        slack_signing_secret=slack.signing_secret,
        slack_base_url=slack.base_url,
        rules_first_confidence=0,
        cache_enabled=False,
    )
    asked = mention("when are you open?", thread_ts="1712345000.000100")
    stuck = Stuck()
    async with open_runtime(settings, llm=[stuck]) as runtime:
        adapter = build(settings, runtime.gateway)
        assert adapter is not None
        async with adapter:
            transport = httpx.ASGITransport(app=build_http_app(runtime, adapter.routes()))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                body, headers = slack.signed_event_request(asked)
                assert (await http.post("/slack/events", content=body, headers=headers)).is_success
            await stuck.called.wait()
            runtime.gateway.stop_intake(grace=0)  # as a shutdown cuts a turn short
            await runtime.gateway.drain(5)
    assert slack.posts == []
    # The next start: the message comes back from the inbox, extras and all, and its reply
    # goes out once the adapter has connected.
    async with open_runtime(settings, llm=[Scripted()]) as runtime:
        assert runtime.gateway.counts["replayed"] == 1
        adapter = build(settings, runtime.gateway)
        assert adapter is not None
        async with adapter:
            [post] = await slack.wait_for_posts(1)
            assert await runtime.gateway.drain(5)
    assert (post.channel, post.thread_ts, post.text) == (CHANNEL, "1712345000.000100", ANSWER)


# -- acceptance: security ----------------------------------------------------------------------


def _forged(slack: FakeSlack, body: bytes) -> dict[str, str]:
    return slack.sign(body, secret="not-the-signing-secret")


def _stale(slack: FakeSlack, body: bytes) -> dict[str, str]:
    return slack.sign(body, timestamp=time.time() - 6 * 60)


def _missing(slack: FakeSlack, body: bytes) -> dict[str, str]:
    return {}


def _tampered(slack: FakeSlack, body: bytes) -> dict[str, str]:
    return slack.sign(body.replace(b"hello", b"HELLO"))


@pytest.mark.parametrize("signing", [_forged, _stale, _missing, _tampered])
@pytest.mark.parametrize("kind", ["event", "command"])
async def test_a_bad_signature_gets_401_and_reaches_nothing(
    start: Callable[..., Any],
    signing: Callable[[FakeSlack, bytes], dict[str, str]],
    kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with start() as bot:
        if kind == "event":
            body, good = bot.slack.signed_event_request(dm("hello"))
        else:
            body, good = bot.slack.signed_command_request("hello")
        headers = {"Content-Type": good["Content-Type"], **signing(bot.slack, body)}
        response = await bot.post(body, headers)
        assert response.status_code == 401
        assert await bot.inbox_rows() == 0
        assert await bot.settled() == []
        assert bot.model.asked == []
    assert "hello" not in caplog.text  # Bolt's log of the refused body is kept out


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"\xff\xfe{}", {}),
        (b"{not json", {}),
        (b"[1, 2]", {}),
        (b"{}", {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"}),
    ],
)
async def test_an_unsigned_broken_body_gets_401_not_a_server_error(
    start: Callable[..., Any],
    body: bytes,
    headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with start() as bot:
        response = await bot.post(body, {"Content-Type": "application/json", **headers})
        assert response.status_code == 401
        assert await bot.inbox_rows() == 0
    assert "ERROR" not in caplog.text and "Traceback" not in caplog.text


async def test_url_verification_is_echoed_only_when_signed(start: Callable[..., Any]) -> None:
    challenge = {"type": "url_verification", "token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV"}
    async with start() as bot:
        response = await bot.event(challenge)
        assert response.json()["challenge"] == "3eZbrw1aBm2rZgRNFdxV"
        body, _ = bot.slack.signed_event_request(challenge)
        refused = await bot.post(
            body, {"Content-Type": "application/json", **_forged(bot.slack, body)}
        )
        assert refused.status_code == 401
        assert "3eZbrw1aBm2rZgRNFdxV" not in refused.text


# -- acceptance: Socket Mode -----------------------------------------------------------------


async def test_socket_mode_event_is_acked_and_answered(start: Callable[..., Any]) -> None:
    async with start(mode="socket") as bot:
        assert bot.adapter.routes() == []  # no public endpoint in Socket Mode
        envelope = await bot.slack.push_socket_event(dm("when are you open?"))
        assert await bot.slack.wait_for_ack(envelope) == {"envelope_id": envelope}
        [post] = await bot.slack.wait_for_posts(1)
        assert (post.channel, post.text) == (DM_CHANNEL, ANSWER)


async def test_socket_mode_slash_command_is_acked_and_answered(
    start: Callable[..., Any],
) -> None:
    async with start(mode="socket") as bot:
        envelope = await bot.slack.push_socket_command("help")
        await bot.slack.wait_for_ack(envelope)
        [post] = await bot.slack.wait_for_posts(1)
        assert post.method == "response_url" and "/reset" in post.text


async def test_socket_mode_redelivery_is_acked_and_answered_once(
    start: Callable[..., Any],
) -> None:
    async with start(mode="socket") as bot:
        event = dm("when are you open?")
        first = await bot.slack.push_socket_event(event)
        again = await bot.slack.push_socket_event(event, retry_attempt=1)
        await bot.slack.wait_for_ack(first)
        await bot.slack.wait_for_ack(again)
        assert len(await bot.settled()) == 1
        assert await bot.inbox_rows() == 1


async def test_socket_mode_reconnects_when_slack_asks_or_drops_and_says_so(
    start: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    sink = logger.add(lambda m: seen.append(m.record["message"]), level="INFO")
    try:
        async with start(mode="socket") as bot:
            await bot.slack.wait_for_connections(1)
            await bot.slack.ask_to_reconnect("refresh_requested")
            await bot.slack.wait_for_connections(2)
            await bot.slack.drop_socket()
            await bot.slack.wait_for_connections(3)
            envelope = await bot.slack.push_socket_event(dm("still there?"))
            await bot.slack.wait_for_ack(envelope)
            [post] = await bot.slack.wait_for_posts(1)
            assert post.text == ANSWER
    finally:
        logger.remove(sink)
    assert any("asked to reconnect (refresh_requested)" in line for line in seen)
    assert any("connection closed by Slack" in line for line in seen)
    # slack_sdk's own account, through the standard logging that bot.logs routes to loguru.
    sdk_lines = [r.getMessage() for r in caplog.records if r.name == "bastion.slack.socket_mode"]
    assert any("Reconnecting" in line for line in sdk_lines)
    assert all("still there" not in line for line in [*seen, *sdk_lines])  # never message text


# -- what is never answered -------------------------------------------------------------------


async def test_edits_and_files_in_a_dm_get_the_text_only_note_and_reach_nothing(
    start: Callable[..., Any],
) -> None:
    async with start() as bot:
        files = [{"id": "F1", "name": "invoice.pdf", "mimetype": "application/pdf"}]
        await bot.event(dm("what is this?", subtype="file_share", files=files))
        [note] = await bot.slack.wait_for_posts(1)
        assert (note.channel, note.text) == (DM_CHANNEL, TEXT_ONLY_NOTE)
        await bot.event(dm("again?", subtype="file_share", files=files))
        # In a channel: ignored.
        await bot.event(channel_message("x", subtype="file_share", files=files))
        await bot.event(channel_message("", subtype="channel_join"))
        assert await bot.inbox_rows() == 0
        assert len(await bot.settled()) == 1  # one note per minute per DM, not one per file


async def test_the_bot_and_other_bots_are_never_answered(start: Callable[..., Any]) -> None:
    async with start() as bot:
        await bot.event(dm("echo", user=bot.slack.bot_user_id, bot_id=bot.slack.bot_id))
        await bot.event(dm("Deploy finished", subtype="bot_message", bot_id="B0OTHER"))
        await bot.event(mention("hi", bot_id="B0OTHER"))
        assert await bot.inbox_rows() == 0
        assert await bot.settled() == []


# -- configuration and lifecycle --------------------------------------------------------------


async def test_build_follows_the_settings(make_settings: Callable[..., Settings]) -> None:
    runtime_free_sink = _NullSink()
    assert build(make_settings(), runtime_free_sink) is None
    http_only = build(
        make_settings(slack_bot_token="xoxb-1", slack_signing_secret="s" * 32), runtime_free_sink
    )
    assert isinstance(http_only, SlackAdapter)
    assert [getattr(r, "path", "") for r in http_only.routes()] == ["/slack/events"]
    socket_only = build(
        make_settings(slack_bot_token="xoxb-1", slack_app_token="xapp-1"), runtime_free_sink
    )
    assert isinstance(socket_only, SlackAdapter) and socket_only.routes() == []
    both = build(
        make_settings(
            slack_bot_token="xoxb-1", slack_app_token="xapp-1", slack_signing_secret="s" * 32
        ),
        runtime_free_sink,
    )
    assert isinstance(both, SlackAdapter) and both.routes() == []  # Socket Mode wins
    adapters = configured_adapters(
        make_settings(slack_bot_token="xoxb-1", slack_app_token="xapp-1"), runtime_free_sink
    )
    assert [a.platform for a in adapters] == ["slack"]


@pytest.mark.parametrize(
    ("variable", "overrides"),
    [
        ("SLACK_BOT_TOKEN", {"slack_bot_token": "xoxb-wrong"}),
        ("SLACK_APP_TOKEN", {"slack_app_token": "xapp-wrong"}),
    ],
)
async def test_a_refused_token_stops_start_up_naming_it(
    make_settings: Callable[..., Settings],
    slack: FakeSlack,
    variable: str,
    overrides: dict[str, str],
) -> None:
    values = {
        "slack_bot_token": slack.bot_token,
        "slack_app_token": slack.app_token,
        "slack_base_url": slack.base_url,
        **overrides,
    }
    adapter = build(make_settings(**values), _NullSink())
    assert adapter is not None
    with pytest.raises(ConfigurationError) as refused:
        async with adapter:
            pass
    assert refused.value.variable == variable
    assert "invalid_auth" in str(refused.value)
    assert "wrong" not in str(refused.value)  # the token itself is never repeated


def _dm_message(bot: BotIdentity, text: str) -> IncomingMessage:
    converted = event_to_intake(dm(text), bot)
    assert isinstance(converted, IncomingMessage)
    return converted


class _NullSink:
    """A sink for adapters that are built but never started."""

    def connect(self, platform: str, outbound: object) -> None:
        return None

    async def deliver(self, message: IncomingMessage) -> None:
        return None
