"""How the Slack Web API client retries: 429s after their Retry-After, and dropped connections.

slack_sdk's own ``AsyncRateLimitErrorRetryHandler`` sleeps for whatever Retry-After says, with
no upper bound, while a worker waits. Ours retries only when the wait is at most ``cap`` seconds;
a longer one fails the send at once (``ratelimited``), which the core records as undelivered
instead of holding a worker for minutes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from loguru import logger
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

# Slack documents Retry-After in whole seconds; without the header, wait this long.
DEFAULT_RETRY_AFTER = 1.0


class CappedRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """Retries a 429 after exactly its Retry-After, when that is at most ``cap`` seconds."""

    def __init__(self, *, max_retry_count: int = 3, cap: float = 30.0) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.cap = cap

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        delay = retry_after(response)
        if delay > self.cap:
            logger.warning("Slack asked to wait {:.0f} s, over the {:.0f} s cap", delay, self.cap)
            return False
        return True

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        assert response is not None  # only a 429 response is retried
        delay = retry_after(response)
        logger.info("Slack rate limit: retrying in {:.1f} s", delay)
        state.next_attempt_requested = True
        await asyncio.sleep(delay)
        state.increment_current_attempt()


def retry_after(response: HttpResponse) -> float:
    """The response's Retry-After in seconds, or ``DEFAULT_RETRY_AFTER`` without a usable one."""
    seconds = retry_after_header(response.headers)
    return DEFAULT_RETRY_AFTER if seconds is None else seconds


def retry_after_header(headers: Mapping[str, object]) -> float | None:
    """The Retry-After in ``headers`` in seconds; None when absent or not a number.

    Names are matched case-insensitively, and a value may be a list (as slack_sdk keeps them).
    """
    for name, values in headers.items():
        if name.lower() == "retry-after":
            value = (values[0] if values else None) if isinstance(values, list) else values
            try:
                return max(0.0, float(str(value)))
            except ValueError:
                return None
    return None


def retry_handlers(rate_limit_cap: float) -> list[AsyncRetryHandler]:
    """Handlers for every Slack client: dropped connections twice, 429s three times."""
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        CappedRateLimitRetryHandler(max_retry_count=3, cap=rate_limit_cap),
    ]
