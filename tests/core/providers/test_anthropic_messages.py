"""The Anthropic provider, driving the real ``anthropic`` SDK against the fake server."""

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
from core.providers.anthropic_messages import AnthropicMessagesProvider, to_anthropic_prompt
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
async def provider(server: FakeLLMServer) -> AsyncIterator[AnthropicMessagesProvider]:
    async with AnthropicMessagesProvider(
        VALID_KEY, "claude-test", base_url=server.anthropic_base_url, timeout=2.0, max_tokens=64
    ) as opened:
        yield opened


async def test_answer_carries_text_served_model_and_usage(
    server: FakeLLMServer, provider: AnthropicMessagesProvider
) -> None:
    server.anthropic.served_model = "claude-test-20260101"
    server.anthropic.script(ok("The answer is 42.", usage=(40, 9)))

    completion = await provider.complete(PROMPT, USER)

    assert completion.text == "The answer is 42."
    assert completion.provider == "anthropic"
    assert completion.model == "claude-test-20260101"
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (40, 9)
    assert completion.usage.cost_usd == 0.0


async def test_system_prompt_goes_to_the_system_parameter(
    server: FakeLLMServer, provider: AnthropicMessagesProvider
) -> None:
    await provider.complete(PROMPT, USER)

    [sent] = server.anthropic.requests
    assert sent.path == "/v1/messages"
    assert sent.body["model"] == "claude-test"
    assert sent.body["max_tokens"] == 64
    assert sent.body["system"] == "You are the support bot."
    assert sent.body["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": SECRET_QUESTION},
    ]
    assert sent.api_key == VALID_KEY


async def test_prompt_without_system_sends_no_system_parameter(
    server: FakeLLMServer, provider: AnthropicMessagesProvider
) -> None:
    await provider.complete([ChatMessage(Role.USER, "Hi")], USER)

    assert "system" not in server.anthropic.requests[0].body


def test_consecutive_turns_of_one_role_are_merged() -> None:
    system, messages = to_anthropic_prompt(
        [
            ChatMessage(Role.SYSTEM, "Be brief."),
            ChatMessage(Role.USER, "Hello"),
            ChatMessage(Role.USER, "Are you there?"),
            ChatMessage(Role.ASSISTANT, "Yes."),
            ChatMessage(Role.ASSISTANT, "How can I help?"),
            ChatMessage(Role.SYSTEM, "Answer in English."),
            ChatMessage(Role.USER, "Opening hours?"),
        ]
    )

    assert system == "Be brief.\n\nAnswer in English."
    assert messages == [
        {"role": "user", "content": "Hello\n\nAre you there?"},
        {"role": "assistant", "content": "Yes.\n\nHow can I help?"},
        {"role": "user", "content": "Opening hours?"},
    ]


def test_history_starting_with_our_reply_is_cut_to_start_with_the_user() -> None:
    _, messages = to_anthropic_prompt(
        [
            ChatMessage(Role.ASSISTANT, "…and that is how refunds work."),
            ChatMessage(Role.USER, "Thanks. And shipping?"),
        ]
    )

    assert messages == [{"role": "user", "content": "Thanks. And shipping?"}]


def test_empty_turns_are_dropped_before_merging() -> None:
    _, messages = to_anthropic_prompt(
        [
            ChatMessage(Role.USER, "First"),
            ChatMessage(Role.ASSISTANT, "   "),
            ChatMessage(Role.USER, "Second"),
        ]
    )

    assert messages == [{"role": "user", "content": "First\n\nSecond"}]


async def test_prompt_without_a_user_turn_is_refused_without_a_request(
    server: FakeLLMServer, provider: AnthropicMessagesProvider
) -> None:
    with pytest.raises(FinalProviderError):
        await provider.complete([ChatMessage(Role.SYSTEM, "Be brief.")], USER)

    assert server.anthropic.requests == []


FAULTS = [
    pytest.param(status(429, retry_after=2), RateLimitedError, id="rate limited"),
    pytest.param(
        status(429, code="enforced_spend_limit_reached"), NeedsOperatorError, id="spend limit"
    ),
    pytest.param(status(402), NeedsOperatorError, id="billing"),
    pytest.param(status(401), NeedsOperatorError, id="unauthorized"),
    pytest.param(status(403), NeedsOperatorError, id="forbidden"),
    pytest.param(status(400), FinalProviderError, id="bad request"),
    pytest.param(status(404), NeedsOperatorError, id="unknown model"),
    pytest.param(status(413), FinalProviderError, id="too large"),
    pytest.param(status(500), RetryableProviderError, id="server error"),
    pytest.param(status(503), RetryableProviderError, id="unavailable"),
    pytest.param(status(529), RetryableProviderError, id="overloaded"),
    pytest.param(drop(), RetryableProviderError, id="dropped connection"),
    pytest.param(malformed(), RetryableProviderError, id="malformed json"),
    pytest.param(empty(), RetryableProviderError, id="no content"),
    pytest.param(empty(" \n"), RetryableProviderError, id="whitespace text"),
    pytest.param(content_filter(), FinalProviderError, id="refusal"),
]


@pytest.mark.parametrize(("fault", "expected"), FAULTS)
async def test_each_fault_costs_one_request_and_raises_its_error_type(
    server: FakeLLMServer,
    provider: AnthropicMessagesProvider,
    fault: Step,
    expected: type[ProviderError],
) -> None:
    server.anthropic.script(fault)

    with pytest.raises(ProviderError) as caught:
        await provider.complete(PROMPT, USER)

    assert type(caught.value) is expected
    assert len(server.anthropic.requests) == 1  # the SDK's own retries are off
    assert caught.value.provider == "anthropic"
    answered = fault.kind in {Kind.EMPTY, Kind.CONTENT_FILTER}
    assert (caught.value.__cause__ is None) == answered
    assert SECRET_QUESTION not in str(caught.value)
    assert VALID_KEY not in str(caught.value)


async def test_rate_limit_reports_the_retry_after_seconds(
    server: FakeLLMServer, provider: AnthropicMessagesProvider
) -> None:
    server.anthropic.script(status(429, retry_after=2))

    with pytest.raises(RateLimitedError) as caught:
        await provider.complete(PROMPT, USER)

    assert caught.value.retry_after == 2.0


async def test_a_custom_name_is_kept_on_errors(server: FakeLLMServer) -> None:
    server.anthropic.script(status(500))
    async with AnthropicMessagesProvider(
        VALID_KEY, "claude-test", base_url=server.anthropic_base_url, name="claude-eu"
    ) as provider:
        with pytest.raises(RetryableProviderError) as caught:
            await provider.complete(PROMPT, USER)

    assert caught.value.provider == "claude-eu"


async def test_wrong_key_needs_the_operator(server: FakeLLMServer) -> None:
    async with AnthropicMessagesProvider(
        "sk-ant-wrong", "claude-test", base_url=server.anthropic_base_url
    ) as provider:
        with pytest.raises(NeedsOperatorError) as caught:
            await provider.complete(PROMPT, USER)

    assert len(server.anthropic.requests) == 1
    assert "sk-ant-wrong" not in str(caught.value)


async def test_slow_answer_fails_within_about_the_timeout(server: FakeLLMServer) -> None:
    server.anthropic.script(slow(30.0))
    async with AnthropicMessagesProvider(
        VALID_KEY, "claude-test", base_url=server.anthropic_base_url, timeout=0.3
    ) as provider:
        started = time.monotonic()
        with pytest.raises(RetryableProviderError):
            await provider.complete(PROMPT, USER)
        elapsed = time.monotonic() - started

    assert 0.25 < elapsed < 10  # far below the 30 s answer: the timeout cut it
    assert len(server.anthropic.requests) == 1


async def test_probe_succeeds_when_up_and_raises_when_down(
    server: FakeLLMServer, provider: AnthropicMessagesProvider
) -> None:
    await provider.probe()
    server.anthropic.down(status(529))
    with pytest.raises(RetryableProviderError):
        await provider.probe()
    server.anthropic.up()
    await provider.probe()

    assert [r.path for r in server.anthropic.requests] == ["/v1/messages"] * 3


async def test_probe_that_hangs_fails_within_about_the_timeout(server: FakeLLMServer) -> None:
    server.anthropic.down(slow(30.0))
    async with AnthropicMessagesProvider(
        VALID_KEY, "claude-test", base_url=server.anthropic_base_url, timeout=0.3
    ) as provider:
        started = time.monotonic()
        with pytest.raises(RetryableProviderError):
            await provider.probe()

    assert time.monotonic() - started < 10  # far below the 30 s hang


async def test_official_endpoint_is_used_even_when_the_environment_names_another(
    monkeypatch: pytest.MonkeyPatch, server: FakeLLMServer
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_base_url)
    async with AnthropicMessagesProvider(VALID_KEY, "claude-test") as provider:
        assert provider._opened().base_url.host == "api.anthropic.com"
