"""Builds the Telegram adapter from the settings (owned by the Telegram adapter's author)."""

from __future__ import annotations

from adapters.common import PlatformAdapter
from bot.settings import Settings
from core.ports import PushSink


def build(settings: Settings, sink: PushSink) -> PlatformAdapter | None:
    """The Telegram adapter, or None when ``TELEGRAM_BOT_TOKEN`` is not set."""
    if "telegram" not in settings.platforms_configured():
        return None
    token = settings.telegram_bot_token
    assert token is not None  # what "configured" means
    # Imported here: a deployment without Telegram never loads python-telegram-bot.
    from adapters.telegram import TelegramAdapter

    secret = settings.telegram_webhook_secret
    return TelegramAdapter(
        token.get_secret_value(),
        sink,
        base_url=settings.telegram_base_url,
        mode=settings.telegram_mode,
        webhook_url=settings.telegram_webhook_url,
        webhook_secret=secret.get_secret_value() if secret is not None else None,
        commands_only=settings.group_replies == "commands",
        # /human's menu entry must not promise a person when no hand-off is configured.
        handoff_enabled="handoff" in settings.configured_providers(),
    )
