"""Slack: Socket Mode or signed HTTP events in, Web API out (slack-bolt and slack_sdk)."""

from adapters.slack.adapter import SlackAdapter, SlackConfig
from adapters.slack.errors import SlackDeliveryError

__all__ = ["SlackAdapter", "SlackConfig", "SlackDeliveryError"]
