"""kill -9 with 200 messages accepted and unanswered; after a restart each is answered once.

The real process (``python -m bot run``) with the real OpenAI SDK against the fake LLM server:
while the model hangs, 200 web-chat messages from 20 users are accepted (each in the durable
inbox), then the process is killed with SIGKILL. The model comes back, the bot is started again,
and each user collects what was answered while nobody was connected.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import httpx

from tests.bot.test_run import running_bot
from tests.llm_server import VALID_KEY, FakeLLMServer, slow

USERS = 20
PER_USER = 10


def _env(tmp_path: Path, llm: FakeLLMServer) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bastion.db'}",
        "PROVIDERS": "openai,rules",
        "OPENAI_API_KEY": VALID_KEY,
        "OPENAI_BASE_URL": llm.openai_base_url,
        # Long enough that nothing is answered before the kill.
        "PROVIDER_TIMEOUT_SECONDS": "120",
        "TURN_DEADLINE_SECONDS": "300",
        "RULES_FIRST_CONFIDENCE": "0",
        "CACHE_ENABLED": "false",
        "FACTS_DIR": "off",
        "RATE_BURST": "1000",
        "GLOBAL_RATE_BURST": "10000",
        "CHAT_RATE_BURST": "1000",
    }


def _inbox_states(db: Path) -> Counter[str]:
    with closing(sqlite3.connect(db)) as conn:
        return Counter(state for (state,) in conn.execute("SELECT state FROM inbox"))


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(600):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_kill_9_loses_nothing_and_answers_nothing_twice(tmp_path: Path) -> None:
    db = tmp_path / "bastion.db"
    async with FakeLLMServer() as llm:
        llm.openai.down(slow(600))  # the model hangs: every turn stays unanswered
        env = _env(tmp_path, llm)
        with running_bot(tmp_path, **env) as (process, url):
            # One connection per waiting request: httpx would otherwise queue past 100.
            limits = httpx.Limits(max_connections=USERS * PER_USER)
            async with httpx.AsyncClient(base_url=url, timeout=None, limits=limits) as http:
                posts = [
                    asyncio.create_task(
                        http.post(
                            "/api/chat",
                            json={
                                "user_id": f"user{u}",
                                "message_id": f"user{u}-{n}",
                                "text": f"question {n} of user {u}",
                            },
                        )
                    )
                    for u in range(USERS)
                    for n in range(PER_USER)
                ]
                await _until(
                    lambda: _inbox_states(db)["pending"] == USERS * PER_USER,
                    "200 pending messages in the inbox",
                )
                process.send_signal(signal.SIGKILL)
                await asyncio.to_thread(process.wait)
                await asyncio.gather(*posts, return_exceptions=True)
        assert process.returncode == -signal.SIGKILL
        assert _inbox_states(db) == {"pending": USERS * PER_USER}  # nothing was answered
        asked_before = len(llm.openai.requests)

        llm.openai.up()
        with running_bot(tmp_path, **env) as (process, url):
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                # The replayed turns finish with nobody connected: their replies are held.
                await _until(
                    lambda: _inbox_states(db) == {"answered": USERS * PER_USER},
                    "every replayed message answered",
                )
                collected = {}
                for u in range(USERS):
                    response = await http.get("/api/chat/held", params={"user_id": f"user{u}"})
                    assert response.status_code == 200
                    collected[u] = response.json()["replies"]
                    again = await http.get("/api/chat/held", params={"user_id": f"user{u}"})
                    assert again.json()["replies"] == []  # handed over once
                # A platform's late second delivery of an answered message gets no answer.
                duplicate = await http.post(
                    "/api/chat",
                    json={"user_id": "user0", "message_id": "user0-0", "text": "question 0"},
                )
                assert duplicate.status_code == 409
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.communicate, timeout=30)

    assert all(len(replies) == PER_USER for replies in collected.values())
    assert {r["text"] for replies in collected.values() for r in replies} == {
        "Hello from the fake model."
    }
    # Each question reached the model exactly once after the restart.
    after = [r for r in llm.openai.requests[asked_before:] if r.path.endswith("completions")]
    asked = Counter(_question(r.body) for r in after)
    assert len(asked) == USERS * PER_USER and set(asked.values()) == {1}
    # In storage: each conversation alternates one message in, one reply out, in the order
    # the messages arrived (the inbox's order: a user's ten requests raced each other there).
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            """SELECT c.key, m.direction, m.platform_message_id FROM messages m
               JOIN conversations c ON c.id = m.conversation_id ORDER BY m.id"""
        ).fetchall()
        arrived = conn.execute("SELECT chat_key, message_id FROM inbox ORDER BY id").fetchall()
    by_chat: dict[str, list[tuple[str, str]]] = {}
    for key, direction, message_id in rows:
        by_chat.setdefault(key, []).append((direction, message_id))
    order: dict[str, list[str]] = {}
    for key, message_id in arrived:
        order.setdefault(key, []).append(message_id)
    assert len(by_chat) == USERS and by_chat.keys() == order.keys()
    for key, entries in by_chat.items():
        assert len(order[key]) == PER_USER
        assert entries == [step for mid in order[key] for step in (("in", mid), ("out", ""))]


def _question(body: object) -> str:
    """The user's message in an OpenAI chat request: the last message's content."""
    assert isinstance(body, dict)
    return str(body["messages"][-1]["content"])
