"""The web chat's I/O shell: the page at ``/`` and ``POST /api/chat``."""

from __future__ import annotations

import math
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from adapters.web.convert import BadChatRequest, max_body_bytes, parse_chat_request, reply_body
from core.ports import MessageSink


def web_chat_routes(sink: MessageSink, max_chars: int) -> list[Route]:
    """Routes to mount on the shared HTTP application."""
    page = resources.files("adapters.web").joinpath("static/index.html").read_text("utf-8")
    body_limit = max_body_bytes(max_chars)

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def chat(request: Request) -> Response:
        try:
            body = await _read_bounded(request, body_limit)
            message = parse_chat_request(body, request.headers.get("content-type", ""), max_chars)
        except BadChatRequest as bad:
            return JSONResponse(bad.body(), status_code=bad.status)
        reply = await sink.submit(message)
        if reply.retry_after is not None:
            # Refused at admission: HTTP clients get the standard signal to back off.
            wait = max(1, math.ceil(reply.retry_after))
            return JSONResponse(
                {"error": {"code": "rate_limited", "message": reply.text}, "retry_after": wait},
                status_code=429,
                headers={"Retry-After": str(wait)},
            )
        return JSONResponse(reply_body([reply]))

    return [Route("/", index, methods=["GET"]), Route("/api/chat", chat, methods=["POST"])]


async def _read_bounded(request: Request, limit: int) -> bytes:
    """Read the body, refusing it as soon as it passes ``limit`` bytes (no unbounded buffer)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> BadChatRequest:
    return BadChatRequest(413, "body_too_large", f"the body is larger than {limit} bytes")
