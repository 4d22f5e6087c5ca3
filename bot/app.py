"""The application lifecycle: start everything configured, stop it in order on a signal.

On SIGINT/SIGTERM intake stops first (the HTTP server stops accepting, new messages get a
"restarting" notice), turns in flight get ``SHUTDOWN_GRACE_SECONDS`` to finish, then resources
close in reverse order of opening.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AsyncExitStack

import uvicorn
from loguru import logger
from starlette.routing import BaseRoute

from adapters.common import PlatformAdapter
from adapters.console import ConsoleChat
from bot.http import build_http_app
from bot.platforms import configured_adapters
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from core.errors import ConfigurationError
from core.ports import Provider

RESPONSE_MARGIN_SECONDS = 2


class _Server(uvicorn.Server):
    """uvicorn, minus its signal handling: the application owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_bot(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
    llm: Sequence[Provider] | None = None,
) -> None:
    """``bastion run``: the web chat and every platform adapter whose credentials are set."""
    stop = stop or asyncio.Event()
    grace = settings.shutdown_grace_seconds
    # Bind first: a taken port should stop start-up before anything else is opened.
    sock = _bind(settings.web_host, settings.web_port) if settings.web_enabled else None
    with _stop_on_signals(stop), _closing(sock):
        async with open_runtime(settings, llm) as runtime, AsyncExitStack() as platforms:
            # Adapters close after the drain below (exit order), so late replies still go out.
            adapters = [
                await _start(platforms, adapter)
                for adapter in configured_adapters(settings, runtime.gateway)
            ]
            for adapter in adapters:
                logger.info("{} adapter started", adapter.platform)
            routes = [route for adapter in adapters for route in adapter.routes()]
            async with asyncio.TaskGroup() as tasks:
                server = None
                if sock is not None:
                    server = _web_server(runtime, routes, grace)
                    tasks.create_task(server.serve(sockets=[sock]))
                    host, port = sock.getsockname()[:2]
                    logger.info("web chat listening on http://{}:{}", host, port)
                    if on_ready:
                        on_ready(f"http://{host}:{port}")
                else:
                    logger.info("web chat disabled (WEB_ENABLED=false)")
                await stop.wait()
                logger.info("stopping: intake closed, finishing turns in flight")
                runtime.gateway.stop_intake(grace)
                if server is not None:
                    server.should_exit = True
            await runtime.gateway.drain(grace + RESPONSE_MARGIN_SECONDS)
    logger.info("stopped")


class AdapterStartError(Exception):
    """A configured platform could not be reached at start (bad network, platform down)."""


async def _start(stack: AsyncExitStack, adapter: PlatformAdapter) -> PlatformAdapter:
    try:
        return await stack.enter_async_context(adapter)
    except ConfigurationError:
        raise  # already names the variable to fix
    except Exception as exc:
        raise AdapterStartError(f"{adapter.platform}: {exc}") from exc


def _web_server(runtime: Runtime, routes: Sequence[BaseRoute], grace: float) -> _Server:
    config = uvicorn.Config(
        build_http_app(runtime, routes),
        log_config=None,
        lifespan="off",
        access_log=False,
        # Longer than the gateway's grace, so a turn cut short by it can still deliver its
        # "restarting" notice before uvicorn cancels the request.
        timeout_graceful_shutdown=math.ceil(grace) + RESPONSE_MARGIN_SECONDS,
    )
    return _Server(config)


@contextlib.contextmanager
def _closing(sock: socket.socket | None) -> Iterator[None]:
    """Close the listening socket however start-up or shutdown ends (uvicorn may have already)."""
    try:
        yield
    finally:
        if sock is not None:
            sock.close()


async def chat_in_console(settings: Settings) -> None:
    """``bastion chat``: the same pipeline, one user, in this terminal."""
    async with open_runtime(settings) as runtime:
        await ConsoleChat(runtime.gateway, sys.stdin, sys.stdout).run()


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    handled = (signal.SIGINT, signal.SIGTERM)
    for sig in handled:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


def _bind(host: str, port: int) -> socket.socket:
    """Bind before serving, so a taken port is one readable line, not a uvicorn exit."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except socket.gaierror as exc:
        raise ConfigurationError("WEB_HOST", f"cannot resolve {host!r}: {exc.strerror}") from exc
    except OSError as exc:
        problem = f"cannot listen on {host}:{port}: {exc.strerror}"
        raise ConfigurationError("WEB_PORT", problem) from exc
    sock.listen(2048)
    sock.setblocking(False)
    return sock
