"""Builds the Telegram adapter from the settings (owned by the Telegram adapter's author)."""

from __future__ import annotations

from adapters.common import PlatformAdapter
from bot.settings import Settings
from core.ports import PushSink


def build(settings: Settings, sink: PushSink) -> PlatformAdapter | None:
    """The Telegram adapter, or None when its credentials are not set."""
    return None
