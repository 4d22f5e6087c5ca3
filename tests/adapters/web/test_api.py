"""The web chat's HTTP API end to end: HTTP -> real pipeline -> rules tier -> SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing

import httpx
import pytest

from bot.runtime import Runtime
from bot.settings import Settings
from tests.bot.http_helpers import ask, running

JSON = {"content-type": "application/json"}


async def test_opening_hours_question_is_answered_from_the_knowledge_base(
    client: httpx.AsyncClient,
) -> None:
    reply = await ask(client, "when are you open?")
    assert reply["kind"] == "answer"
    assert "Monday" in reply["text"]


async def test_the_exchange_is_in_sqlite_and_survives_a_restart(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    for question in ("when are you open?", "what are your opening hours?"):
        async with running(settings) as (_, client):
            await ask(client, question)
    with closing(sqlite3.connect(settings.sqlite_path)) as db:
        rows = db.execute("SELECT direction, text FROM messages ORDER BY id").fetchall()
    assert [d for d, _ in rows] == ["in", "out", "in", "out"]
    assert rows[0][1] == "when are you open?" and "Monday" in rows[1][1]
    assert rows[2][1] == "what are your opening hours?" and "Monday" in rows[3][1]


async def test_reset_and_forget_through_the_api(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await ask(client, "how much is shipping?")
    reset = await ask(client, "/reset")
    assert reset["kind"] == "notice"
    forget = await ask(client, "/forget")
    assert "2 messages" in forget["text"]
    async with runtime.store.db.execute("SELECT COUNT(*) FROM messages") as cursor:
        assert await cursor.fetchone() == (0,)


async def test_a_question_outside_the_knowledge_base_gets_an_honest_answer(
    client: httpx.AsyncClient,
) -> None:
    reply = await ask(client, "can you write me a poem about the sea?")
    assert "/human" in reply["text"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b'{"user_id": "u1", "text": ', JSON, 400, "not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, JSON, 400, "too deep or too large"),
        (b'{"user_id": "u1", "text": ' + b"9" * 5000 + b"}", JSON, 400, "too deep or too large"),
        (b'{"user_id": "u1", "text": "caf\xe9"}', JSON, 400, "not valid UTF-8"),
        (b'["u1", "hi"]', JSON, 422, "must be a JSON object"),
        (b'{"text": "hi"}', JSON, 422, "missing field: user_id"),
        (b'{"user_id": "u1"}', JSON, 422, "missing field: text"),
        (b'{"user_id": "u1", "text": 42}', JSON, 422, "text must be a string"),
        (b'{"user_id": 7, "text": "hi"}', JSON, 422, "user_id must be a string"),
        (b'{"user_id": "", "text": "hi"}', JSON, 422, "user_id must be 1 to 128"),
        (b'{"user_id": "u1", "text": ""}', JSON, 422, "text is empty"),
        (b'{"user_id": "u1", "text": " \\n\\t "}', JSON, 422, "text is empty"),
        (b'{"user_id": "u1", "text": "\\ud800"}', JSON, 400, "lone surrogate"),
        (b'{"user_id": "u1", "text": "hi"}', {"content-type": "text/plain"}, 415, "JSON"),
    ],
)
async def test_bad_input_gets_a_4xx_that_says_what_is_wrong(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    response = await client.post("/api/chat", content=body, headers=headers)
    assert response.status_code == status
    assert message in response.json()["error"]["message"]


async def test_text_over_the_maximum_is_refused_with_the_limit(
    make_settings: Callable[..., Settings],
) -> None:
    async with running(make_settings(max_message_chars=10)) as (_, client):
        at_limit = await client.post("/api/chat", json={"user_id": "u", "text": "x" * 10})
        over = await client.post("/api/chat", json={"user_id": "u", "text": "x" * 11})
        huge = await client.post("/api/chat", content=b"{" + b" " * 1_000_000 + b"}", headers=JSON)
    assert at_limit.status_code == 200
    assert over.status_code == 422
    assert over.json()["error"]["message"] == "text is 11 characters; the maximum is 10"
    assert huge.status_code == 413
    assert "larger than" in huge.json()["error"]["message"]


async def test_unknown_paths_and_methods_answer_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/nope")
    wrong_method = await client.get("/api/chat")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_the_chat_page_is_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/api/chat" in page.text and "textContent" in page.text


async def test_healthz_reports_ok_with_storage_and_providers(client: httpx.AsyncClient) -> None:
    health = await client.get("/healthz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["storage"] == {"engine": "sqlite", "status": "ok"}
    available = {"state": "available", "last_error": None, "latency_ms": None}
    # No OPS_TOKEN: nobody could see a ticket, so the hand-off rung is off.
    assert body["providers"] == {"rules": available}


async def test_healthz_says_down_when_storage_fails(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await runtime.store.db.close()
    health = await client.get("/healthz")
    assert (health.status_code, health.json()["status"]) == (503, "down")


async def test_metrics_count_turns(client: httpx.AsyncClient) -> None:
    await ask(client, "when are you open?")
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert 'bastion_turns_total{kind="answer",outcome="answered",provider="rules"} 1.0' in (
        metrics.text
    )


async def test_a_flooding_user_gets_429_with_retry_after_and_others_are_not_slowed(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(rate_burst=2, rate_per_minute=6)  # one message every 10 s
    async with running(settings) as (_, client):
        flood = [
            await client.post("/api/chat", json={"user_id": "flooder", "text": f"hi {n}"})
            for n in range(5)
        ]
        other = await client.post("/api/chat", json={"user_id": "calm", "text": "hello"})
    assert [r.status_code for r in flood] == [200, 200, 429, 429, 429]
    refused = flood[2]
    assert 1 <= int(refused.headers["retry-after"]) <= 10
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "try again in" in refused.json()["error"]["message"]
    assert other.status_code == 200
