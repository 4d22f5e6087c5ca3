"""Graceful shutdown in process: a turn in flight when the stop comes still gets its answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from bot.app import run_bot
from bot.settings import Settings
from tests.fakes import EchoProvider


async def test_a_turn_in_flight_at_shutdown_is_answered_and_then_everything_stops(
    make_settings: Callable[..., Settings],
) -> None:
    provider = EchoProvider(delay=0.5)
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    bot = asyncio.create_task(
        run_bot(make_settings(), stop=stop, on_ready=ready.set_result, llm=[provider])
    )
    url = await asyncio.wait_for(ready, timeout=10)

    async with httpx.AsyncClient(base_url=url) as client:
        in_flight = asyncio.create_task(
            client.post("/api/chat", json={"user_id": "u1", "text": "slow question"})
        )
        await asyncio.wait_for(provider.called.wait(), timeout=10)  # the turn is running
        stop.set()
        response = await asyncio.wait_for(in_flight, timeout=10)

    assert response.status_code == 200
    assert response.json()["replies"] == [{"text": "echo: slow question", "kind": "answer"}]
    await asyncio.wait_for(bot, timeout=10)  # run_bot returns: the process would exit 0
    async with httpx.AsyncClient(base_url=url) as client:
        try:
            await client.get("/healthz")
        except httpx.ConnectError:
            pass
        else:
            raise AssertionError("the server still accepts connections after shutdown")
