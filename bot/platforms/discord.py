"""Builds the Discord adapter from the settings when ``DISCORD_BOT_TOKEN`` is set."""

from __future__ import annotations

from adapters.common import PlatformAdapter
from bot.settings import Settings
from core.ports import PushSink


def build(settings: Settings, sink: PushSink) -> PlatformAdapter | None:
    """The Discord adapter, or None when its credentials are not set.

    discord.py is imported only here, so a deployment without Discord never loads it.
    """
    if "discord" not in settings.platforms_configured():
        return None
    token = settings.discord_bot_token
    assert token is not None  # what "configured" means
    from adapters.discord.adapter import DiscordAdapter

    return DiscordAdapter(
        token.get_secret_value(),
        sink,
        guild_ids=settings.discord_guild_ids,
        group_replies=settings.group_replies,
        # /human's slash command must not promise a person when no hand-off is configured.
        handoff_enabled="handoff" in settings.configured_providers(),
    )
