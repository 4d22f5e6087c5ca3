"""Builds the Slack adapter from the settings, importing slack-bolt only when it is configured."""

from __future__ import annotations

from pydantic import SecretStr

from adapters.common import PlatformAdapter
from bot.settings import Settings
from core.ports import PushSink


def build(settings: Settings, sink: PushSink) -> PlatformAdapter | None:
    """The Slack adapter when ``SLACK_BOT_TOKEN`` is set, else None.

    Socket Mode runs when ``SLACK_APP_TOKEN`` is set; otherwise ``SLACK_SIGNING_SECRET`` mounts
    ``/slack/events`` on the shared HTTP app (the settings insist on one of the two, and
    Socket Mode wins when both are set: no public endpoint is opened that nothing uses).
    """
    if "slack" not in settings.platforms_configured():
        return None
    token = settings.slack_bot_token
    assert token is not None  # what "configured" means
    from adapters.slack import SlackAdapter, SlackConfig

    config = SlackConfig(
        bot_token=token.get_secret_value(),
        app_token=_reveal(settings.slack_app_token),
        signing_secret=(
            _reveal(settings.slack_signing_secret) if settings.slack_http_events_on else None
        ),
        base_url=_with_slash(settings.slack_base_url),
        command=settings.slack_command,
        group_replies=settings.group_replies,
    )
    return SlackAdapter(sink, config)


def _with_slash(url: str) -> str:
    """slack_sdk joins method names onto the base URL, which must end with a slash."""
    return url if url.endswith("/") else url + "/"


def _reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None
