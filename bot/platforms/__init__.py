"""Which platform adapters run: one module per platform maps the settings to its adapter.

Each ``build`` returns None unless ``Settings.platforms_configured()`` names its platform (the
same list the runtime uses), and imports its SDK only when it does, so a deployment without
Discord never imports discord.py.
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
