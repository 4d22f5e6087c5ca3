"""The OpenAI provider, driving the real ``openai`` SDK against the fake server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from core.errors import (
    FinalProviderError,
    NeedsOperatorError,
    ProviderError,
    RateLimitedError,
    RetryableProviderError,
)
from core.model import ChatMessage, Role, UserRef
from core.providers.openai_chat import (
    OpenAIChatProvider,
    is_official_endpoint,
    to_openai_messages,
)
from tests.llm_server import (
    VALID_KEY,
    FakeLLMServer,
    Kind,
    Step,
    content_filter,
    drop,
    empty,
    malformed,
    ok,
    slow,
    status,
)

USER = UserRef("test", "u1")
SECRET_QUESTION = "What is the door code for the server room?"
PROMPT = (
    ChatMessage(Role.SYSTEM, "You are the support bot."),
    ChatMessage(Role.USER, "Hi"),
    ChatMessage(Role.ASSISTANT, "Hello! How can I help?"),
    ChatMessage(Role.USER, SECRET_QUESTION),
)


@pytest.fixture
async def provider(server: FakeLLMServer) -> AsyncIterator[OpenAIChatProvider]:
    async with OpenAIChatProvider(
        VALID_KEY, "gpt-test", base_url=server.openai_base_url, timeout=2.0, max_tokens=64
    ) as opened:
        yield opened


async def test_answer_carries_text_served_model_and_usage(
    server: FakeLLMServer, provider: OpenAIChatProvider
) -> None:
    server.openai.served_model = "gpt-test-2026-01-01"
    server.openai.script(ok("The answer is 42.", usage=(31, 7)))

    completion = await provider.complete(PROMPT, USER)

    assert completion.text == "The answer is 42."
    assert completion.provider == "openai"
    assert completion.model == "gpt-test-2026-01-01"
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (31, 7)
    assert completion.usage.cost_usd == 0.0  # the ladder prices it


async def test_prompt_is_sent_as_role_and_content_messages(
    server: FakeLLMServer, provider: OpenAIChatProvider
) -> None:
    await provider.complete(PROMPT, USER)

    [sent] = server.openai.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "gpt-test"
    assert sent.body["messages"] == [
        {"role": "system", "content": "You are the support bot."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": SECRET_QUESTION},
    ]
    # Compatible servers only know max_tokens; the official API gets max_completion_tokens.
    assert sent.body["max_tokens"] == 64
    assert "max_completion_tokens" not in sent.body
    assert not sent.body.get("stream")
    assert sent.api_key == VALID_KEY


@pytest.mark.parametrize(
    ("base_url", "official"),
    [
        (None, True),
        ("https://api.openai.com/v1", True),
        ("http://localhost:11434/v1", False),
        ("http://127.0.0.1:8080/v1", False),
    ],
)
def test_only_openai_itself_gets_the_newer_token_limit_field(
    base_url: str | None, official: bool
) -> None:
    assert is_official_endpoint(base_url) is official


def test_messages_keep_their_order_and_roles() -> None:
    assert [m["role"] for m in to_openai_messages(PROMPT)] == [
        "system",
        "user",
        "assistant",
        "user",
    ]


FAULTS = [
    pytest.param(status(429, retry_after=2), RateLimitedError, id="rate limited"),
    pytest.param(status(429, code="insufficient_quota"), NeedsOperatorError, id="quota"),
    pytest.param(status(401), NeedsOperatorError, id="unauthorized"),
    pytest.param(status(403), NeedsOperatorError, id="forbidden"),
    pytest.param(status(400), FinalProviderError, id="bad request"),
    pytest.param(status(404), NeedsOperatorError, id="unknown model"),
    pytest.param(status(422), FinalProviderError, id="unprocessable"),
    pytest.param(status(500), RetryableProviderError, id="server error"),
    pytest.param(status(503), RetryableProviderError, id="unavailable"),
    pytest.param(status(529), RetryableProviderError, id="overloaded"),
    pytest.param(drop(), RetryableProviderError, id="dropped connection"),
    pytest.param(malformed(), RetryableProviderError, id="malformed json"),
    pytest.param(empty(), RetryableProviderError, id="empty text"),
    pytest.param(empty("  \n "), RetryableProviderError, id="whitespace text"),
    pytest.param(empty(no_choices=True), RetryableProviderError, id="no choices"),
    pytest.param(content_filter(), FinalProviderError, id="content filter"),
]


@pytest.mark.parametrize(("fault", "expected"), FAULTS)
async def test_each_fault_costs_one_request_and_raises_its_error_type(
    server: FakeLLMServer,
    provider: OpenAIChatProvider,
    fault: Step,
    expected: type[ProviderError],
) -> None:
    server.openai.script(fault)

    with pytest.raises(ProviderError) as caught:
        await provider.complete(PROMPT, USER)

    assert type(caught.value) is expected
    assert len(server.openai.requests) == 1  # the SDK's own retries are off
    assert caught.value.provider == "openai"
    # An SDK exception is kept as the cause; an odd answer has none to keep.
    answered = fault.kind in {Kind.EMPTY, Kind.CONTENT_FILTER}
    assert (caught.value.__cause__ is None) == answered
    assert SECRET_QUESTION not in str(caught.value)
    assert VALID_KEY not in str(caught.value)


async def test_rate_limit_reports_the_retry_after_seconds(
    server: FakeLLMServer, provider: OpenAIChatProvider
) -> None:
    server.openai.script(status(429, retry_after=2), status(429, retry_after_ms=1500))

    with pytest.raises(RateLimitedError) as seconds:
        await provider.complete(PROMPT, USER)
    with pytest.raises(RateLimitedError) as millis:
        await provider.complete(PROMPT, USER)

    assert seconds.value.retry_after == 2.0
    assert millis.value.retry_after == 1.5


async def test_rate_limit_without_advice_has_no_retry_after(
    server: FakeLLMServer, provider: OpenAIChatProvider
) -> None:
    server.openai.script(status(429))

    with pytest.raises(RateLimitedError) as caught:
        await provider.complete(PROMPT, USER)

    assert caught.value.retry_after is None


async def test_wrong_key_needs_the_operator_and_is_not_echoed(server: FakeLLMServer) -> None:
    async with OpenAIChatProvider(
        "sk-wrong-key-123", "gpt-test", base_url=server.openai_base_url
    ) as provider:
        with pytest.raises(NeedsOperatorError) as caught:
            await provider.complete(PROMPT, USER)

    assert len(server.openai.requests) == 1
    assert "sk-wrong" not in str(caught.value)


async def test_slow_answer_fails_within_about_the_timeout(server: FakeLLMServer) -> None:
    server.openai.script(slow(30.0))
    async with OpenAIChatProvider(
        VALID_KEY, "gpt-test", base_url=server.openai_base_url, timeout=0.3
    ) as provider:
        started = time.monotonic()
        with pytest.raises(RetryableProviderError):
            await provider.complete(PROMPT, USER)
        elapsed = time.monotonic() - started

    assert 0.25 < elapsed < 10  # far below the 30 s answer: the timeout cut it
    assert len(server.openai.requests) == 1


async def test_a_fault_does_not_break_the_next_call(
    server: FakeLLMServer, provider: OpenAIChatProvider
) -> None:
    server.openai.script(drop(), ok("Back again."))

    with pytest.raises(RetryableProviderError):
        await provider.complete(PROMPT, USER)
    completion = await provider.complete(PROMPT, USER)

    assert completion.text == "Back again."


async def test_probe_succeeds_when_up_and_raises_when_down(
    server: FakeLLMServer, provider: OpenAIChatProvider
) -> None:
    await provider.probe()
    server.openai.down(status(503))
    with pytest.raises(RetryableProviderError):
        await provider.probe()
    server.openai.down(status(401))
    with pytest.raises(NeedsOperatorError):
        await provider.probe()
    server.openai.up()
    await provider.probe()

    assert [r.path for r in server.openai.requests] == ["/v1/chat/completions"] * 4


async def test_probe_of_an_unreachable_server_is_retryable() -> None:
    async with FakeLLMServer() as gone:
        url = gone.openai_base_url
    async with OpenAIChatProvider(VALID_KEY, "gpt-test", base_url=url, timeout=1.0) as provider:
        with pytest.raises(RetryableProviderError):
            await provider.probe()


async def test_official_endpoint_is_used_even_when_the_environment_names_another(
    monkeypatch: pytest.MonkeyPatch, server: FakeLLMServer
) -> None:
    # Settings are the only source of the base URL; the SDK must not pick up its env variable.
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
    async with OpenAIChatProvider(VALID_KEY, "gpt-test") as provider:
        assert provider._opened().base_url.host == "api.openai.com"


async def test_using_the_provider_outside_async_with_is_an_error() -> None:
    provider = OpenAIChatProvider(VALID_KEY, "gpt-test", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(RuntimeError, match="async with"):
        await provider.complete(PROMPT, USER)
