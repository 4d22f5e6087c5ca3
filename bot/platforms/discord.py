"""Builds the Discord adapter from the settings (owned by the Discord adapter's author)."""

from __future__ import annotations

from adapters.common import PlatformAdapter
from bot.settings import Settings
from core.ports import PushSink


def build(settings: Settings, sink: PushSink) -> PlatformAdapter | None:
    """The Discord adapter, or None when its credentials are not set."""
    return None
