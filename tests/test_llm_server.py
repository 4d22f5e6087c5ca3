"""The fake LLM server itself: the real SDKs (streaming included) understand it, and its script,
outage switch, key check and request record behave as tests rely on."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import anthropic
import openai
import pytest

from tests.llm_server import VALID_KEY, FakeLLMServer, content_filter, ok, status


@pytest.fixture
async def openai_client(server: FakeLLMServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        api_key=VALID_KEY, base_url=server.openai_base_url, max_retries=0, timeout=2.0
    ) as client:
        yield client


@pytest.fixture
async def anthropic_client(server: FakeLLMServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(
        api_key=VALID_KEY, base_url=server.anthropic_base_url, max_retries=0, timeout=2.0
    ) as client:
        yield client


def test_server_listens_on_loopback_only(server: FakeLLMServer) -> None:
    assert server.openai_base_url.startswith("http://127.0.0.1:")
    assert server.anthropic_base_url.startswith("http://127.0.0.1:")
    assert server.port > 0


async def test_openai_streaming_delivers_text_usage_and_done(
    server: FakeLLMServer, openai_client: openai.AsyncOpenAI
) -> None:
    server.openai.script(ok("Streaming works fine.", usage=(9, 4)))

    stream = await openai_client.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    finish: list[str] = []
    usage: list[tuple[int, int]] = []
    async for chunk in stream:
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            if choice.finish_reason:
                finish.append(choice.finish_reason)
        if chunk.usage is not None:
            usage.append((chunk.usage.prompt_tokens, chunk.usage.completion_tokens))

    assert "".join(pieces) == "Streaming works fine."
    assert len([p for p in pieces if p]) == 3  # word by word, really streamed
    assert finish == ["stop"]
    assert usage == [(9, 4)]
    assert server.openai.requests[0].body["stream"] is True


async def test_openai_streaming_reports_a_content_filter_stop(
    server: FakeLLMServer, openai_client: openai.AsyncOpenAI
) -> None:
    server.openai.script(content_filter())

    stream = await openai_client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    reasons = [c.finish_reason async for chunk in stream for c in chunk.choices if c.finish_reason]

    assert reasons == ["content_filter"]


async def test_anthropic_message_stream_delivers_text_and_final_usage(
    server: FakeLLMServer, anthropic_client: anthropic.AsyncAnthropic
) -> None:
    server.anthropic.script(ok("Streaming works fine.", usage=(11, 6)))

    async with anthropic_client.messages.stream(
        model="claude-test", max_tokens=32, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        deltas = [text async for text in stream.text_stream]
        final = await stream.get_final_message()

    assert "".join(deltas) == "Streaming works fine."
    assert len(deltas) == 3
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (11, 6)
    assert server.anthropic.requests[0].body["stream"] is True


async def test_anthropic_raw_stream_events_come_in_protocol_order(
    anthropic_client: anthropic.AsyncAnthropic,
) -> None:
    stream = await anthropic_client.messages.create(
        model="claude-test",
        max_tokens=32,
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
    )
    kinds = [event.type async for event in stream]

    assert kinds[:2] == ["message_start", "content_block_start"]
    assert set(kinds[2:-3]) == {"content_block_delta"}
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]


async def test_streaming_request_can_fail_like_a_plain_one(
    server: FakeLLMServer, anthropic_client: anthropic.AsyncAnthropic
) -> None:
    server.anthropic.script(status(529))

    with pytest.raises(anthropic.OverloadedError):
        async with anthropic_client.messages.stream(
            model="claude-test", max_tokens=32, messages=[{"role": "user", "content": "Hi"}]
        ) as stream:
            await stream.get_final_message()


async def test_script_is_consumed_in_order_then_answers_normally(
    server: FakeLLMServer, openai_client: openai.AsyncOpenAI
) -> None:
    server.openai.script(status(500), ok("second"))
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": "Hi"}
    ]

    with pytest.raises(openai.InternalServerError):
        await openai_client.chat.completions.create(model="m", messages=messages)
    second = await openai_client.chat.completions.create(model="m", messages=messages)
    third = await openai_client.chat.completions.create(model="m", messages=messages)

    assert second.choices[0].message.content == "second"
    assert third.choices[0].message.content  # the default answer
    assert server.openai.pending == 0
    assert len(server.openai.requests) == 3


async def test_scripts_of_the_two_apis_are_independent(
    server: FakeLLMServer,
    openai_client: openai.AsyncOpenAI,
    anthropic_client: anthropic.AsyncAnthropic,
) -> None:
    server.openai.script(status(503))

    answer = await anthropic_client.messages.create(
        model="claude-test", max_tokens=8, messages=[{"role": "user", "content": "Hi"}]
    )

    assert answer.stop_reason == "end_turn"
    assert server.openai.pending == 1
    assert server.openai.requests == []


async def test_down_fails_everything_until_up_without_using_the_script(
    server: FakeLLMServer, openai_client: openai.AsyncOpenAI
) -> None:
    server.openai.script(ok("kept for later"))
    server.down(status(503))

    with pytest.raises(openai.InternalServerError):
        await openai_client.models.list()
    with pytest.raises(openai.InternalServerError):
        await openai_client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Hi"}]
        )
    server.up()
    answer = await openai_client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Hi"}]
    )

    assert answer.choices[0].message.content == "kept for later"


async def test_rate_limit_carries_an_http_date_retry_after(server: FakeLLMServer) -> None:
    date = "Wed, 21 Oct 2037 07:28:00 GMT"
    server.anthropic.script(status(429, retry_after=date))
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.anthropic_base_url}/v1/messages",
            json={"model": "m", "max_tokens": 8, "messages": []},
            headers={"x-api-key": VALID_KEY},
        ) as response,
    ):
        body = await response.json()

    assert response.status == 429
    assert response.headers["retry-after"] == date
    assert body["error"]["type"] == "rate_limit_error"


async def test_x_api_key_header_is_accepted_and_a_wrong_key_gets_401(
    server: FakeLLMServer,
) -> None:
    url = f"{server.anthropic_base_url}/v1/models"
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"x-api-key": VALID_KEY}) as good:
            good_status = good.status
        async with http.get(url, headers={"x-api-key": "wrong"}) as bad:
            bad_status = bad.status
            bad_body = await bad.json()
        async with http.get(url) as missing:
            missing_status = missing.status

    assert (good_status, bad_status, missing_status) == (200, 401, 401)
    assert bad_body["error"]["type"] == "authentication_error"


async def test_requests_are_recorded_with_path_body_and_headers(
    server: FakeLLMServer, anthropic_client: anthropic.AsyncAnthropic
) -> None:
    await anthropic_client.messages.create(
        model="claude-test",
        max_tokens=8,
        system="Be brief.",
        messages=[{"role": "user", "content": "Hi"}],
    )

    [recorded] = server.anthropic.requests
    assert (recorded.method, recorded.path) == ("POST", "/v1/messages")
    assert recorded.body["system"] == "Be brief."
    assert recorded.api_key == VALID_KEY
    assert "anthropic-version" in recorded.headers


async def test_any_key_is_accepted_when_no_valid_key_is_configured() -> None:
    async with (
        FakeLLMServer(valid_key=None) as server,
        openai.AsyncOpenAI(
            api_key="whatever", base_url=server.openai_base_url, max_retries=0, timeout=2.0
        ) as client,
    ):
        page = await client.models.list()

    assert [m.id for m in page.data] == ["fake-gpt"]
