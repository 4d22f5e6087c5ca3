"""The shared HTTP application: the web chat, ``/healthz`` and ``/metrics``.

Platform adapters mount their webhooks (Slack events, Telegram) here too, so one port serves all.
Starlette rather than FastAPI: we need raw control over bodies (non-UTF-8, size limits, exact
error messages), Bolt ships a Starlette handler, and nothing here wants generated OpenAPI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.web import web_chat_routes
from bot.ops import ops_routes
from bot.runtime import Runtime

HEALTH_TIMEOUT_SECONDS = 2.0


def build_http_app(runtime: Runtime, platform_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The app on the one port: web chat, health, metrics, ops, and platform webhooks."""
    settings = runtime.settings
    ops_token = settings.ops_token.get_secret_value() if settings.ops_token else None

    async def healthz(request: Request) -> Response:
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
                await runtime.store.ping()
            storage = "ok"
        except Exception as exc:  # health must answer, whatever the store does
            logger.warning("health check: storage failed: {}", type(exc).__name__)
            storage = "failing"
        ladder = runtime.health.report()
        status = ladder["status"] if storage == "ok" else "down"
        body = {
            "status": status,  # ok, degraded (an LLM rung is out) or down
            "storage": {"engine": "sqlite", "status": storage},
            "providers": ladder["providers"],
            "turns_in_flight": runtime.gateway.in_flight,
        }
        # 503 only when this instance is broken (storage). A provider outage hits every
        # instance alike and the hand-off still answers users, so traffic should keep coming.
        return JSONResponse(body, status_code=503 if storage != "ok" else 200)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": {"code": code, "message": str(exc.detail)}},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    async def server_error(request: Request, exc: Exception) -> Response:
        # Last resort: everything expected is handled nearer its cause; say so in JSON anyway.
        logger.opt(exception=exc).error("unhandled error on {}", request.url.path)
        return JSONResponse(
            {"error": {"code": "internal_error", "message": "something went wrong on our side"}},
            status_code=500,
        )

    routes = [
        *web_chat_routes(runtime.gateway, settings.max_message_chars),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *ops_routes(runtime.store, ops_token),
        *platform_routes,
    ]
    return Starlette(
        routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error}
    )
