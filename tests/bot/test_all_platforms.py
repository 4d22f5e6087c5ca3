"""One ``bastion run`` with Telegram, Discord, Slack and the web chat, each against its fake.

The real SDKs (python-telegram-bot polling, discord.py's gateway, Bolt over signed HTTP events)
talk to fake platform servers on 127.0.0.1; a message on each platform gets its answer on the
same platform, through one core.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from bot.app import run_bot
from bot.settings import Settings
from tests.fakes import EchoProvider
from tests.platforms.discord_server import TOKEN as DISCORD_TOKEN
from tests.platforms.discord_server import USER_ID as DISCORD_USER
from tests.platforms.discord_server import FakeDiscord
from tests.platforms.slack_server import FakeSlack, dm
from tests.platforms.telegram_server import FakeTelegram


async def test_every_platform_and_the_web_chat_answer_in_one_process(
    make_settings: Callable[..., Settings],
) -> None:
    async with FakeTelegram() as tg, FakeDiscord() as dc, FakeSlack() as sl:
        settings = make_settings(
            telegram_bot_token=tg.token,
            telegram_base_url=tg.base_url,
            discord_bot_token=DISCORD_TOKEN,
            slack_bot_token=sl.bot_token,
            slack_signing_secret=sl.signing_secret,
            slack_base_url=sl.base_url,
            rules_first_confidence=0,
            cache_enabled=False,
        )
        ready: asyncio.Queue[str] = asyncio.Queue()
        stop = asyncio.Event()
        with dc.patched():
            running = asyncio.create_task(
                run_bot(settings, stop=stop, on_ready=ready.put_nowait, llm=[EchoProvider()])
            )
            try:
                url = await asyncio.wait_for(ready.get(), timeout=30)
                tg.push_private_text(501, "hello from telegram")
                await dc.send_dm(DISCORD_USER, "hello from discord")
                body, headers = sl.signed_event_request(dm("hello from slack"))
                async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                    slack = await http.post("/slack/events", content=body, headers=headers)
                    web = await http.post(
                        "/api/chat", json={"user_id": "web-1", "text": "hello from the web"}
                    )
                [telegram] = await tg.wait_for_sent(1, timeout=10)
                [discord] = await dc.wait_for_sent(1, timeout=10)
                [posted] = await sl.wait_for_posts(1, timeout=10)
            finally:
                stop.set()
                await asyncio.wait_for(running, timeout=30)

    assert slack.status_code == 200
    assert web.json()["replies"][0]["text"] == "echo: hello from the web"
    assert telegram["chat_id"] in (501, "501")
    assert "echo: hello from telegram" in str(telegram["text"])
    assert discord["content"] == "echo: hello from discord"
    assert posted.text == "echo: hello from slack"
