"""The part every fake server shares: an aiohttp app on a free port of 127.0.0.1, and waits.

A fake subclasses ``LocalServer``, builds its routes in ``_build_app`` and calls ``_changed()``
whenever it records something a test may wait for; tests then wait with ``wait_until``::

    class FakeThing(LocalServer):
        def _build_app(self) -> web.Application:
            app = web.Application()
            app.router.add_post("/thing", self._thing)
            return app

    async with FakeThing() as fake:
        await fake.wait_until(lambda: fake.things >= 1, 5, "a thing")
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from aiohttp import web

HOST = "127.0.0.1"


class LocalServer:
    """An async context manager serving ``_build_app()`` on ``HOST``, port chosen by the OS."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._wakeup = asyncio.Event()

    # -- to override -----------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        raise NotImplementedError

    async def _stopping(self) -> None:
        """Called on exit before the server shuts down (close websockets, end long polls)."""

    def _progress(self) -> str:
        """What the fake has seen so far, for the message of a wait that timed out."""
        return ""

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        # handler_cancellation: a client that gave up (timeout) cancels a slow handler, and a
        # short shutdown_timeout keeps teardown bounded even if one is still running.
        runner = web.AppRunner(
            self._build_app(), handler_cancellation=True, shutdown_timeout=0.5, access_log=None
        )
        await runner.setup()
        await web.TCPSite(runner, HOST, 0).start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stopping()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        return self._port

    def _url(self, path: str, scheme: str = "http") -> str:
        """``path`` (starting with "/") on this server."""
        return f"{scheme}://{HOST}:{self._port}{path}"

    # -- waiting ---------------------------------------------------------------------------

    def _changed(self) -> None:
        """Wake every ``wait_until``: something they may be waiting for was recorded."""
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    async def wait_until(self, condition: Callable[[], bool], within: float, what: str) -> None:
        """Return once ``condition()`` holds (checked now and after each ``_changed()``);
        ``AssertionError`` naming ``what`` if it does not within ``within`` seconds."""
        deadline = time.monotonic() + within
        while not condition():
            left = deadline - time.monotonic()
            wakeup = self._wakeup
            try:
                if left <= 0:
                    raise TimeoutError
                await asyncio.wait_for(wakeup.wait(), left)
            except TimeoutError:
                if condition():
                    return
                seen = self._progress()
                detail = f" ({seen})" if seen else ""
                name = type(self).__name__
                raise AssertionError(f"{name}: no {what} within {within} s{detail}") from None
