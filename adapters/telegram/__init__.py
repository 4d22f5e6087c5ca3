"""Telegram: python-telegram-bot's Bot API client behind the ``PlatformAdapter`` contract."""

from adapters.telegram.adapter import RetryPolicy, TelegramAdapter

__all__ = ["RetryPolicy", "TelegramAdapter"]
