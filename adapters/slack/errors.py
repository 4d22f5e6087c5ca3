"""Slack's refusals as our errors: ``SlackDeliveryError`` and the error code Slack gave."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from adapters.slack.retry import retry_after_header
from core.errors import DeliveryError


class SlackDeliveryError(DeliveryError):
    """Slack refused a reply; ``code`` is Slack's error (``channel_not_found``, ...)."""

    def __init__(self, code: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"Slack refused the reply: {code}", retry_after=retry_after)
        self.code = code


def asked_wait(exc: SlackApiError) -> float | None:
    """The Retry-After of a 429 that outlasted our own retries; None for any other error."""
    response = exc.response
    if getattr(response, "status_code", None) != 429:
        return None
    return retry_after_header(getattr(response, "headers", None) or {})


def error_code(exc: SlackApiError) -> str:
    """Slack's error code from a failed call (``channel_not_found``, ``ratelimited``...)."""
    try:
        code = exc.response.get("error")
    except Exception:  # a body that is not JSON has no code
        code = None
    return str(code) if code else f"http_{getattr(exc.response, 'status_code', 'error')}"
