"""How SDK failures and odd answers map onto our error tree, in the cases the fake cannot show."""

from __future__ import annotations

from datetime import UTC, datetime

import anthropic
import httpx2
import openai
import pytest

from core.errors import (
    FinalProviderError,
    NeedsOperatorError,
    ProviderTimeoutError,
    RateLimitedError,
    RetryableProviderError,
)
from core.providers.classify import (
    checked_text,
    classify_anthropic_error,
    classify_openai_error,
    retry_after_seconds,
    token_count,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the precise one wins
        ({"retry-after": "Thu, 01 Jan 2026 12:00:30 GMT"}, 30.0),
        ({"retry-after": "Thu, 01 Jan 2026 11:59:00 GMT"}, 0.0),  # already past
        ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-1"}, None),
        ({"retry-after": "nan"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_from_either_header_in_either_form(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after_seconds(headers, now=NOW) == seconds


def test_retry_after_header_names_are_case_insensitive_on_sdk_headers() -> None:
    assert retry_after_seconds(httpx2.Headers({"Retry-After": "4"})) == 4.0


def _response(status: int, headers: dict[str, str] | None = None) -> httpx2.Response:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/x")
    return httpx2.Response(status, headers=headers, request=request)


def test_openai_request_timeout_status_is_retryable() -> None:
    error = openai.APIStatusError("timeout", response=_response(408), body=None)

    assert type(classify_openai_error("openai", error)) is RetryableProviderError


def test_openai_conflict_and_other_client_errors_are_final() -> None:
    error = openai.ConflictError("conflict", response=_response(409), body=None)

    assert type(classify_openai_error("openai", error)) is FinalProviderError


def test_openai_quota_is_recognised_by_the_structured_type_alone() -> None:
    body = {"type": "insufficient_quota", "code": None, "message": "anything at all"}
    error = openai.RateLimitError("quota", response=_response(429), body=body)

    assert type(classify_openai_error("openai", error)) is NeedsOperatorError


def test_openai_quota_wording_in_the_message_alone_is_still_a_rate_limit() -> None:
    body = {"type": "requests", "code": "rate_limit_exceeded", "message": "insufficient_quota"}
    error = openai.RateLimitError("insufficient_quota", response=_response(429), body=body)

    assert type(classify_openai_error("openai", error)) is RateLimitedError


def test_openai_timeout_and_schema_errors_are_retryable() -> None:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/x")
    timeout = openai.APITimeoutError(request)
    invalid = openai.APIResponseValidationError(_response(200), body={})

    assert type(classify_openai_error("openai", timeout)) is ProviderTimeoutError
    assert type(classify_openai_error("openai", invalid)) is RetryableProviderError


def test_an_unforeseen_sdk_error_moves_on_rather_than_retrying() -> None:
    error = openai.OpenAIError("something new")

    assert type(classify_openai_error("openai", error)) is FinalProviderError


def test_anthropic_billing_error_type_needs_the_operator_whatever_the_status() -> None:
    body = {"type": "error", "error": {"type": "billing_error", "message": "x"}}
    error = anthropic.BadRequestError("billing", response=_response(400), body=body)

    assert type(classify_anthropic_error("anthropic", error)) is NeedsOperatorError


def test_anthropic_rate_limit_keeps_retry_after_ms() -> None:
    response = _response(429, {"retry-after-ms": "750"})
    error = anthropic.RateLimitError("slow down", response=response, body=None)

    classified = classify_anthropic_error("anthropic", error)

    assert isinstance(classified, RateLimitedError)
    assert classified.retry_after == 0.75


def test_messages_carry_status_code_and_request_id_but_not_the_vendor_text() -> None:
    body = {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key sk-ant-123"},
    }
    response = _response(401, {"request-id": "req_abc"})
    error = anthropic.AuthenticationError("invalid sk-ant-123", response=response, body=body)

    message = str(classify_anthropic_error("anthropic", error))

    assert "HTTP 401" in message
    assert "req_abc" in message
    assert "sk-ant" not in message


def test_refusal_wins_over_partial_text() -> None:
    with pytest.raises(FinalProviderError):
        checked_text("p", "Here is how to", refused=True)


@pytest.mark.parametrize("text", [None, "", "  \n", 42])
def test_missing_or_blank_text_is_retryable(text: object) -> None:
    with pytest.raises(RetryableProviderError):
        checked_text("p", text, refused=False)


def test_token_counts_that_are_not_counts_become_zero() -> None:
    assert [token_count(v) for v in (7, None, "7", -1)] == [7, 0, 0, 0]
