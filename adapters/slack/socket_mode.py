"""Socket Mode: Bolt's aiohttp handler, opened and closed so that neither hangs nor leaks.

slack_sdk reconnects by itself (on Slack's "disconnect" envelope, a closed socket or failed
pings); what this module adds is a start-up that fails fast on a refused app token (the
client's own ``connect`` retries that forever), a close that first lets envelopes in hand be
acknowledged and then waits for the client's tasks, and our own log line for each reconnect.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from loguru import logger
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.request import SocketModeRequest

from adapters.slack.errors import error_code
from core.errors import ConfigurationError


class SocketMode(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler, counting envelopes in hand so closing can wait for them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._busy = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    async def open(self, within: float) -> None:
        """Connect, or raise ``ConfigurationError`` naming ``SLACK_APP_TOKEN``."""
        client = self.client
        client.on_message_listeners.append(_log_disconnect_request)
        client.on_close_listeners.append(_log_close)
        client.on_error_listeners.append(_log_error)
        try:
            async with asyncio.timeout(within):
                client.wss_uri = await client.issue_new_wss_url()
                await self.connect_async()  # type: ignore[no-untyped-call]
        except SlackApiError as exc:
            raise ConfigurationError(
                "SLACK_APP_TOKEN", f"Slack refused it (apps.connections.open: {error_code(exc)})"
            ) from exc
        except TimeoutError as exc:
            raise ConfigurationError(
                "SLACK_APP_TOKEN", f"Socket Mode did not connect within {within:.0f} s"
            ) from exc

    async def close(self, within: float) -> None:
        """Acknowledge what is in hand (up to ``within`` seconds), then disconnect."""
        try:
            async with asyncio.timeout(within):
                await self._quiet.wait()
        except TimeoutError:
            logger.warning("Slack: closing with {} envelopes still in hand", self._busy)
        await self.close_async()  # type: ignore[no-untyped-call]
        client = self.client
        # close() cancels the client's tasks without waiting for them.
        tasks = (client.message_processor, client.current_session_monitor, client.message_receiver)
        await asyncio.gather(*(task for task in tasks if task is not None), return_exceptions=True)

    async def handle(self, client: Any, req: SocketModeRequest) -> None:
        self._busy += 1
        self._quiet.clear()
        try:
            await super().handle(client, req)
        finally:
            self._busy -= 1
            if self._busy == 0:
                self._quiet.set()


async def _log_disconnect_request(message: aiohttp.WSMessage) -> None:
    """Slack's "disconnect" envelope (a refresh every few hours, or the app was disabled)."""
    data = message.data
    if not isinstance(data, str) or '"disconnect"' not in data:
        return
    try:
        envelope = json.loads(data)
    except ValueError:
        return
    if isinstance(envelope, dict) and envelope.get("type") == "disconnect":
        reason = envelope.get("reason")
        logger.info("Slack: Socket Mode asked to reconnect ({}); reconnecting", reason)


async def _log_close(message: aiohttp.WSMessage) -> None:
    # Called once slack_sdk has started the reconnect, in a task it has just cancelled: this
    # must not suspend, or it would never run.
    logger.warning(
        "Slack: Socket Mode connection closed by Slack (code {}); reconnecting", message.data
    )


async def _log_error(message: aiohttp.WSMessage) -> None:
    logger.warning(
        "Slack: Socket Mode connection error ({}); reconnecting", type(message.data).__name__
    )
