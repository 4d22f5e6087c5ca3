"""Hand-off to people: the last rung of the fallback ladder, and what ``/human`` asks for."""

from core.handoff.handoff import (
    REASON_PROVIDERS_FAILED,
    REASON_USER_ASKED,
    Handoff,
)
from core.handoff.notifier import LogNotifier

__all__ = ["REASON_PROVIDERS_FAILED", "REASON_USER_ASKED", "Handoff", "LogNotifier"]
