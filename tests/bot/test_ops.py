"""The ops endpoints on a real SQLite store: listing and closing tickets behind a token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from starlette.applications import Starlette

from bot.ops import ops_routes
from core.model import ChatRef, Role, StoredMessage, UserRef
from core.storage.sqlite import SqliteStore
from tests.fakes import message

TOKEN = "ops-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

Client = Callable[[str | None], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def ops_client(store: SqliteStore) -> Client:
    @asynccontextmanager
    async def open_client(token: str | None) -> AsyncIterator[httpx.AsyncClient]:
        app = Starlette(routes=ops_routes(store, token))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bastion.test") as c:
            yield c

    return open_client


async def test_the_listing_shows_open_tickets_with_their_transcript(
    store: SqliteStore, ops_client: Client
) -> None:
    asked = message("where is my parcel?", user="alice")
    transcript = [StoredMessage(1, Role.USER, asked.text, asked.sent_at)]
    ticket = await store.open_ticket(asked.user, asked.chat, "user asked for a person", transcript)
    closed = await store.open_ticket(UserRef("test", "bob"), ChatRef("test", "bob"), "x", [])
    await store.close_ticket(closed.id)

    async with ops_client(TOKEN) as client:
        response = await client.get("/ops/tickets", headers=AUTH)

    assert response.status_code == 200
    assert response.json() == {
        "tickets": [
            {
                "id": ticket.id,
                "user_key": "test:alice",
                "chat_key": "test:alice:",
                "reason": "user asked for a person",
                "opened_at": ticket.opened_at.isoformat(),
                "transcript": [
                    {"role": "user", "text": asked.text, "at": asked.sent_at.isoformat()}
                ],
            }
        ]
    }


async def test_closing_a_ticket_hands_the_conversation_back(
    store: SqliteStore, ops_client: Client
) -> None:
    asked = message("help")
    ticket = await store.open_ticket(asked.user, asked.chat, "why", [])

    async with ops_client(TOKEN) as client:
        closed = await client.post(f"/ops/tickets/{ticket.id}/close", headers=AUTH)
        again = await client.post(f"/ops/tickets/{ticket.id}/close", headers=AUTH)
        listing = await client.get("/ops/tickets", headers=AUTH)

    assert closed.status_code == 200
    assert closed.json() == {"ticket": {"id": ticket.id, "status": "closed"}}
    assert await store.open_ticket_for(asked.chat) is None
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "ticket_not_found"
    assert listing.json() == {"tickets": []}


@pytest.mark.parametrize("ticket_id", ["999", "abc", "-1", "0", "1" * 40, "١"])
async def test_closing_something_that_is_no_open_ticket_is_a_json_404(
    ops_client: Client, ticket_id: str
) -> None:
    async with ops_client(TOKEN) as client:
        response = await client.post(f"/ops/tickets/{ticket_id}/close", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ticket_not_found"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        b"Bearer wrong-token",
        f"Basic {TOKEN}".encode(),
        TOKEN.encode(),
        f"Bearer {TOKEN}x".encode(),
        "Bearer t\u00f6ken".encode("latin-1"),
    ],
    ids=["missing", "wrong", "basic", "no-scheme", "longer", "non-ascii"],
)
async def test_without_the_right_token_the_answer_is_401(
    store: SqliteStore, ops_client: Client, authorization: bytes | None
) -> None:
    headers = [] if authorization is None else [(b"authorization", authorization)]
    asked = message("help")
    ticket = await store.open_ticket(asked.user, asked.chat, "why", [])
    async with ops_client(TOKEN) as client:
        listing = await client.get("/ops/tickets", headers=headers)
        closing = await client.post(f"/ops/tickets/{ticket.id}/close", headers=headers)

    for response in (listing, closing):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert await store.open_ticket_for(asked.chat) is not None


async def test_the_scheme_is_case_insensitive(ops_client: Client) -> None:
    async with ops_client(TOKEN) as client:
        response = await client.get("/ops/tickets", headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200


@pytest.mark.parametrize("token", [None, ""])
async def test_without_an_ops_token_the_endpoints_say_how_to_enable_them(
    ops_client: Client, token: str | None
) -> None:
    async with ops_client(token) as client:
        listing = await client.get("/ops/tickets", headers={"Authorization": "Bearer "})
        closing = await client.post("/ops/tickets/1/close")

    for response in (listing, closing):
        assert response.status_code == 404
        assert response.json() == {
            "error": {
                "code": "ops_disabled",
                "message": "set OPS_TOKEN to enable the ops endpoints",
            }
        }
