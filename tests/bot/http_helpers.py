"""Talking to the whole bot through its web API, as a user would (in process, no socket)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from bot.http import build_http_app
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    """The bot's runtime on these settings, and an HTTP client on its app."""
    async with open_runtime(settings) as runtime:
        transport = httpx.ASGITransport(app=build_http_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://bastion.test") as http:
            yield runtime, http


async def ask(http: httpx.AsyncClient, text: str, user: str = "u1") -> dict[str, str]:
    """Send ``text`` to ``/api/chat`` as ``user``; returns the one reply it must get."""
    response = await http.post("/api/chat", json={"user_id": user, "text": text})
    assert response.status_code == 200, response.text
    replies: list[dict[str, str]] = response.json()["replies"]
    assert len(replies) == 1  # exactly one reply, whatever happened behind it
    return replies[0]
