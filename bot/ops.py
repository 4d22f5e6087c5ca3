"""Ops endpoints on the shared HTTP app: the open hand-off tickets, and closing one.

Off unless ``OPS_TOKEN`` is set; then every request must carry ``Authorization: Bearer <token>``.
Transcripts hold what users wrote, so the listing is never served without the token.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.model import Ticket
from core.ports import TicketStore

Endpoint = Callable[[Request], Awaitable[Response]]

# SQLite row ids are signed 64-bit: 19 digits at most, and a longer number names no ticket.
_MAX_ID_DIGITS = 19


def ops_routes(tickets: TicketStore, token: str | None) -> list[Route]:
    """``GET /ops/tickets`` and ``POST /ops/tickets/{id}/close``, guarded by ``token``.

    With ``token`` None (or empty) the routes exist but answer 404 ``ops_disabled``, so an
    operator probing them learns which setting is missing.
    """
    expected = token.encode() if token else None

    def guarded(endpoint: Endpoint) -> Endpoint:
        async def check(request: Request) -> Response:
            if expected is None:
                return _error(404, "ops_disabled", "set OPS_TOKEN to enable the ops endpoints")
            if not _authorized(request.headers.get("authorization", ""), expected):
                return _error(
                    401,
                    "unauthorized",
                    "send the ops token as: Authorization: Bearer <OPS_TOKEN>",
                    headers={"WWW-Authenticate": 'Bearer realm="ops"'},
                )
            return await endpoint(request)

        return check

    async def list_open(request: Request) -> Response:
        found = await tickets.open_tickets()
        return JSONResponse({"tickets": [ticket_body(t) for t in found]})

    async def close(request: Request) -> Response:
        raw = str(request.path_params["ticket_id"])
        valid = raw.isascii() and raw.isdigit() and len(raw) <= _MAX_ID_DIGITS
        ticket_id = int(raw) if valid else 0
        if not ticket_id or not await tickets.close_ticket(ticket_id):
            named = f"#{ticket_id}" if ticket_id else "with that id"
            return _error(404, "ticket_not_found", f"there is no open ticket {named}")
        logger.info("hand-off ticket #{} closed through the ops endpoint", ticket_id)
        return JSONResponse({"ticket": {"id": ticket_id, "status": "closed"}})

    return [
        Route("/ops/tickets", guarded(list_open), methods=["GET"]),
        Route("/ops/tickets/{ticket_id}/close", guarded(close), methods=["POST"]),
    ]


def ticket_body(ticket: Ticket) -> dict[str, Any]:
    """A ticket as the ops listing shows it."""
    return {
        "id": ticket.id,
        "user_key": ticket.user.key,
        "chat_key": ticket.chat.key,
        "reason": ticket.reason,
        "opened_at": ticket.opened_at.isoformat(),
        "transcript": [
            {"role": str(m.role), "text": m.text, "at": m.created_at.isoformat()}
            for m in ticket.transcript
        ],
    }


def _authorized(header: str, expected: bytes) -> bool:
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Bytes, not str: compare_digest refuses non-ASCII strings, and a header may carry any.
    return hmac.compare_digest(credentials.strip().encode(), expected)


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )
