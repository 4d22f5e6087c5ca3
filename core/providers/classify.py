"""The one place where LLM SDK exceptions and odd answers become our ``ProviderError`` tree.

Classification is by exception type and structured fields (status code, error code/type,
headers), never by the wording of a message, which vendors change freely. Our messages carry
the status, the error code and the vendor's request id, never the prompt, the key or the
vendor's own message text (OpenAI echoes part of a wrong key in its 401 message).

    =============================================  ===========================================
    what happened                                  what we raise
    =============================================  ===========================================
    timeout, connection error, HTTP 408            RetryableProviderError
    HTTP 429                                       RateLimitedError (with Retry-After seconds)
    HTTP 5xx, Anthropic 529 overloaded             RetryableProviderError
    200 with a body that is not JSON               RetryableProviderError
    answer without text                            RetryableProviderError
    401, 403, 404, quota or spend limit            NeedsOperatorError (a 404 is a wrong model)
    400, 422, other 4xx, content policy stop       FinalProviderError
    any other SDK error                            FinalProviderError
    =============================================  ===========================================

The SDKs are imported inside the functions that need them: a deployment with only one
provider's extra installed must still be able to import this module.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from core.errors import (
    FinalProviderError,
    NeedsOperatorError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    RetryableProviderError,
)

if TYPE_CHECKING:
    import anthropic
    import openai

# OpenAI reports an exhausted prepaid balance as a 429, with this value in error.code/type; it
# will not clear by waiting, so it goes to the operator rather than to the retry loop.
OPENAI_QUOTA_CODE = "insufficient_quota"
# Anthropic's account-level "no more money" signals (error.type and details.error_code).
ANTHROPIC_BILLING_TYPE = "billing_error"


# -- Retry-After ---------------------------------------------------------------------------


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait, from ``retry-after-ms`` or ``retry-after``.

    ``retry-after`` may be a number of seconds or an HTTP date. Unparseable or negative values
    give ``None`` (no advice) or ``0.0`` (the date has passed); capping is the ladder's job.
    """
    millis = _finite_float(headers.get("retry-after-ms"))
    if millis is not None and millis >= 0:
        return millis / 1000
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = _finite_float(raw)
    if seconds is not None:
        return seconds if seconds >= 0 else None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT; be lenient about a missing zone
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _finite_float(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# -- SDK exceptions ------------------------------------------------------------------------


def classify_openai_error(provider: str, error: BaseException) -> ProviderError:
    """Map an exception from an ``openai`` SDK call to our error tree."""
    import openai

    if isinstance(error, openai.APIStatusError):
        return _openai_status(provider, error)
    if isinstance(error, openai.APITimeoutError):
        return ProviderTimeoutError(provider, "request timed out")
    if isinstance(error, openai.APIConnectionError):
        return RetryableProviderError(provider, "connection failed")
    if isinstance(error, openai.APIResponseValidationError):
        return RetryableProviderError(provider, "response did not match the API schema")
    return _common(provider, error)


def _openai_status(provider: str, error: openai.APIStatusError) -> ProviderError:
    import openai

    where = _where(error.status_code, error.request_id, error.code or error.type)
    if isinstance(error, openai.RateLimitError) and OPENAI_QUOTA_CODE in (error.code, error.type):
        return NeedsOperatorError(provider, f"quota exhausted {where}")
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return NeedsOperatorError(provider, f"credentials rejected {where}")
    if isinstance(error, openai.NotFoundError):
        # The configured model or endpoint does not exist: every call would fail the same way.
        return NeedsOperatorError(provider, f"model or endpoint not found {where}")
    return _by_status(provider, error.status_code, error.response.headers, where)


def classify_anthropic_error(provider: str, error: BaseException) -> ProviderError:
    """Map an exception from an ``anthropic`` SDK call to our error tree."""
    import anthropic

    if isinstance(error, anthropic.APIStatusError):
        return _anthropic_status(provider, error)
    if isinstance(error, anthropic.APITimeoutError):
        return ProviderTimeoutError(provider, "request timed out")
    if isinstance(error, anthropic.APIConnectionError):
        return RetryableProviderError(provider, "connection failed")
    if isinstance(error, anthropic.APIResponseValidationError):
        return RetryableProviderError(provider, "response did not match the API schema")
    return _common(provider, error)


def _anthropic_status(provider: str, error: anthropic.APIStatusError) -> ProviderError:
    import anthropic

    where = _where(error.status_code, error.request_id, error.error_code or error.type)
    # The SDK picks these classes from the structured details.error_code of the body.
    out_of_money = (
        anthropic.PaymentRequiredError
        | anthropic.ContractSpendLimitReachedError
        | anthropic.EnforcedSpendLimitReachedError
    )
    if isinstance(error, out_of_money) or error.type == ANTHROPIC_BILLING_TYPE:
        return NeedsOperatorError(provider, f"spend limit or billing problem {where}")
    if isinstance(error, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        return NeedsOperatorError(provider, f"credentials rejected {where}")
    if isinstance(error, anthropic.NotFoundError):
        return NeedsOperatorError(provider, f"model or endpoint not found {where}")
    if isinstance(error, anthropic.OverloadedError):
        return RetryableProviderError(provider, f"overloaded {where}")
    return _by_status(provider, error.status_code, error.response.headers, where)


@contextmanager
def openai_errors(provider: str, deadline: float) -> Iterator[None]:
    """Turn what an ``openai`` call in the block fails with into our error, raised ``from`` it.

    ``deadline`` is the ``asyncio.timeout`` the caller put around the call, for the message.
    Anything else (a bug of ours) propagates untouched.
    """
    import openai

    try:
        yield
    except TimeoutError as error:
        raise deadline_exceeded(provider, deadline) from error
    except (openai.OpenAIError, json.JSONDecodeError) as error:
        raise classify_openai_error(provider, error) from error


@contextmanager
def anthropic_errors(provider: str, deadline: float) -> Iterator[None]:
    """Turn what an ``anthropic`` call in the block fails with into our error, ``from`` it."""
    import anthropic

    try:
        yield
    except TimeoutError as error:
        raise deadline_exceeded(provider, deadline) from error
    except (anthropic.AnthropicError, json.JSONDecodeError) as error:
        raise classify_anthropic_error(provider, error) from error


def deadline_exceeded(provider: str, deadline: float) -> ProviderTimeoutError:
    """Our own ``asyncio.timeout`` expired: it catches a server that trickles bytes slowly,
    which the SDK's per-read timeout never does."""
    return ProviderTimeoutError(provider, f"no answer within {deadline:g} s")


def _common(provider: str, error: BaseException) -> ProviderError:
    """What neither SDK wraps: a 200 whose body is not JSON, and anything unforeseen."""
    if isinstance(error, json.JSONDecodeError):
        # Both SDKs let the decoder's error escape unwrapped when a 200 carries broken JSON.
        return RetryableProviderError(provider, "response body is not valid JSON")
    return FinalProviderError(provider, f"unexpected SDK error {type(error).__name__}")


def _by_status(
    provider: str, status: int, headers: Mapping[str, str], where: str
) -> ProviderError:
    """The status-code part of the table, once both SDKs' special types are handled."""
    if status == 429:
        return RateLimitedError(provider, f"rate limited {where}", retry_after_seconds(headers))
    if status >= 500:
        return RetryableProviderError(provider, f"server error {where}")
    if status == 408:  # the server timed out waiting for us: transient, like our own timeout
        return RetryableProviderError(provider, f"request timeout {where}")
    return FinalProviderError(provider, f"request refused {where}")


def _where(status: int, request_id: str | None, code: str | None) -> str:
    parts = [f"HTTP {status}"]
    if code:
        parts.append(code)
    if request_id:
        parts.append(f"request {request_id}")
    return f"({', '.join(parts)})"


# -- odd answers ---------------------------------------------------------------------------


def checked_text(provider: str, text: object, *, refused: bool) -> str:
    """The answer's text if it is usable; raise if the model refused or said nothing.

    A refusal is checked first: it may come with partial text that must not reach the user.
    ``text`` is typed loosely because the SDKs build responses without validating them.
    """
    if refused:
        raise FinalProviderError(provider, "stopped by the content policy")
    if not isinstance(text, str) or not text.strip():
        raise RetryableProviderError(provider, "empty completion")
    return text


def token_count(value: object) -> int:
    """A usage number from the response, or 0 when it is missing or not a count."""
    # bool is an int subclass, but True is not a token count.
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(value, 0)
