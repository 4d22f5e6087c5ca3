"""Builds the Discord adapter from the settings when ``DISCORD_BOT_TOKEN`` is set."""

from __future__ import annotations

from adapters.common import PlatformAdapter
from bot.settings import Settings
from core.ports import PushSink


def build(settings: Settings, sink: PushSink) -> PlatformAdapter | None:
    """The Discord adapter, or None when its credentials are not set.

    discord.py is imported only here, so a deployment without Discord never loads it.
    """
    if settings.discord_bot_token is None:
        return None
    from adapters.discord.adapter import DiscordAdapter

    return DiscordAdapter(
        settings.discord_bot_token.get_secret_value(),
        sink,
        guild_ids=settings.discord_guild_ids,
        group_replies=settings.group_replies,
    )
