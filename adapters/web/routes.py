"""The web chat's I/O shell: the page at ``/`` and ``POST /api/chat``."""

from __future__ import annotations

import math
from importlib import resources
from typing import Protocol

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from adapters.common.http import read_bounded
from adapters.web.convert import (
    BadChatRequest,
    held_request_chat,
    max_body_bytes,
    parse_chat_request,
    reply_body,
)
from core.model import ChatRef, IncomingMessage, Reply, TurnOutcome

# Replies that are refusals, not answers, as HTTP statuses a client knows how to handle.
_REFUSALS = {
    TurnOutcome.RATE_LIMITED: (429, "rate_limited"),
    TurnOutcome.BUSY: (503, "busy"),
    TurnOutcome.BLOCKED: (403, "blocked"),
    TurnOutcome.DUPLICATE: (409, "duplicate_message_id"),
}


class WebSink(Protocol):
    """What the web chat needs from the core (the ``Gateway``)."""

    async def submit(self, message: IncomingMessage) -> Reply: ...

    async def held_replies(self, chat: ChatRef) -> list[Reply]: ...


def web_chat_routes(sink: WebSink, max_chars: int) -> list[Route]:
    """Routes to mount on the shared HTTP application."""
    page = resources.files("adapters.web").joinpath("static/index.html").read_text("utf-8")
    body_limit = max_body_bytes(max_chars)

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def chat(request: Request) -> Response:
        try:
            body = await read_bounded(request, body_limit)
            if body is None:
                raise _too_large(body_limit)
            message = parse_chat_request(body, request.headers.get("content-type", ""), max_chars)
        except BadChatRequest as bad:
            return JSONResponse(bad.body(), status_code=bad.status)
        reply = await sink.submit(message)
        refusal = _REFUSALS.get(reply.outcome)
        if refusal is None:
            return JSONResponse(reply_body([reply]))
        status, code = refusal
        refused: dict[str, object] = {"error": {"code": code, "message": reply.text}}
        headers = {}
        if reply.retry_after is not None:
            # The standard signal for an HTTP client to back off, in whole seconds.
            wait = max(1, math.ceil(reply.retry_after))
            refused["retry_after"] = wait
            headers["Retry-After"] = str(wait)
        return JSONResponse(refused, status_code=status, headers=headers)

    async def held(request: Request) -> Response:
        try:
            chat = held_request_chat(request.query_params.get("user_id"))
        except BadChatRequest as bad:
            return JSONResponse(bad.body(), status_code=bad.status)
        return JSONResponse(reply_body(await sink.held_replies(chat)))

    return [
        Route("/", index, methods=["GET"]),
        Route("/api/chat", chat, methods=["POST"]),
        Route("/api/chat/held", held, methods=["GET"]),
    ]


def _too_large(limit: int) -> BadChatRequest:
    return BadChatRequest(413, "body_too_large", f"the body is larger than {limit} bytes")
