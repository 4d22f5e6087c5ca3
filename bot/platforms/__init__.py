"""Which platform adapters run: one module per platform maps the settings to its adapter.

Each ``build`` returns None when the platform's credentials are not set, and imports its SDK
only when they are, so a deployment without Discord never imports discord.py.
"""

from __future__ import annotations

from adapters.common import PlatformAdapter
from bot.platforms import discord, slack, telegram
from bot.settings import Settings
from core.ports import PushSink


def configured_adapters(settings: Settings, sink: PushSink) -> list[PlatformAdapter]:
    """The adapters whose credentials are set, not yet started."""
    built = (module.build(settings, sink) for module in (telegram, discord, slack))
    return [adapter for adapter in built if adapter is not None]
