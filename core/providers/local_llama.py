"""The local provider: a llama.cpp server running inside our own process.

The prebuilt ``xllamacpp`` wheel (the ``local`` extra) loads a GGUF model and serves llama.cpp's
OpenAI-compatible HTTP API on a free port of 127.0.0.1. We talk to it with the ordinary
``OpenAIChatProvider``, so requests, timeouts and error classification are exactly those of any
other OpenAI-compatible server; this class only owns the server's life:

* ``__aenter__`` loads the model in a worker thread, then polls the server until it answers,
  all within ``startup_timeout``;
* ``__aexit__`` closes the client and stops the server, again in a worker thread.

A limit of the wheel, measured with xllamacpp 2026.10: ``xllamacpp.Server(...)`` keeps the GIL
for the whole load, so the event loop still stalls while a model loads (0.25-0.4 s for a 135M
model) and ``startup_timeout`` can only fire once the load has returned. This happens once, at
start-up, before any adapter serves; requests afterwards run in llama.cpp's own threads and do
not hold the GIL. If loading ever has to happen while the bot serves, run the server in a child
process instead.

The server is given a random API key for its lifetime: llama.cpp allows every CORS origin, so
without one any web page open in a browser on this machine could use the model.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Protocol

from core.errors import ConfigurationError, RetryableProviderError
from core.model import ChatMessage, Completion, UserRef
from core.providers.openai_chat import OpenAIChatProvider

MODEL_SETTING = "LOCAL_MODEL_PATH"
MISSING_EXTRA = "local needs its extra: pip install 'bastion[local]'"
GGUF_MAGIC = b"GGUF"  # the first four bytes of every GGUF file
READY_POLL_SECONDS = 0.05
# llama.cpp's log threshold: 1 prints errors only, so a failed load says why on stderr while a
# good one stays quiet (the default, 3, prints dozens of lines per load and per request).
LOG_ERRORS_ONLY = 1


class _Server(Protocol):
    """The part of ``xllamacpp.Server`` we use; it starts in its constructor."""

    @property
    def listening_address(self) -> str: ...


class _RunningServer:
    """Holds the only reference to a started server, so that dropping it stops the server.

    ``xllamacpp.Server`` has no stop method: its destructor shuts the HTTP loop down and frees
    the model, which blocks for a moment. ``stop`` is therefore meant to run in a worker thread.
    """

    def __init__(self, server: _Server) -> None:
        self._server: _Server | None = server
        self.address = server.listening_address

    def stop(self) -> None:
        self._server = None  # the last reference: the destructor runs here, in this thread


class LocalLlamaProvider:
    """A ``Provider`` and ``HealthProbe`` answering from a GGUF model served in-process."""

    def __init__(
        self,
        model_path: Path,
        *,
        context_size: int = 2048,
        threads: int | None = None,
        timeout: float = 30.0,
        max_tokens: int = 256,
        startup_timeout: float = 120.0,
        name: str = "local",
    ) -> None:
        """Check the configuration; nothing is loaded until ``async with``.

        ``timeout`` bounds each request, ``startup_timeout`` the model load plus the wait for the
        server to answer. ``threads=None`` leaves the thread count to llama.cpp (it counts cores).
        """
        if context_size < 1:
            raise ValueError(f"context_size must be positive, not {context_size}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be positive or None, not {threads}")
        check_model_file(model_path)
        self._xllamacpp = import_xllamacpp()
        self._model_path = model_path
        # Reported as the completion's model (and so priced and stored under this name) instead
        # of the full path llama.cpp would use.
        self._model = model_path.stem
        self._context_size = context_size
        self._threads = threads
        self._timeout = timeout
        self._max_tokens = max_tokens
        self._startup_timeout = startup_timeout
        self._name = name
        self._server: _RunningServer | None = None
        self._client: OpenAIChatProvider | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def model(self) -> str:
        return self._model

    @property
    def base_url(self) -> str | None:
        """The running server's OpenAI API root, or None outside ``async with``."""
        return f"{self._server.address}/v1" if self._server is not None else None

    async def __aenter__(self) -> LocalLlamaProvider:
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already open")
        api_key = secrets.token_urlsafe(24)
        server: _RunningServer | None = None
        client: OpenAIChatProvider | None = None
        try:
            async with asyncio.timeout(self._startup_timeout):
                server = await asyncio.to_thread(self._start, api_key)
                client = OpenAIChatProvider(
                    api_key,
                    self._model,
                    base_url=f"{server.address}/v1",
                    timeout=self._timeout,
                    max_tokens=self._max_tokens,
                    name=self._name,
                )
                await client.__aenter__()
                await _until_ready(client)
        except TimeoutError:
            await _close(client, server)
            # A load still running in its thread finishes there; its server is dropped unused.
            raise ConfigurationError(
                MODEL_SETTING,
                f"{self._model_path} was not serving within {self._startup_timeout:g} s; "
                "use a smaller model or allow more start-up time",
            ) from None
        except BaseException:
            await _close(client, server)
            raise
        self._server, self._client = server, client
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        server, self._server = self._server, None
        await _close(client, server)

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        """One chat completion from the local model; failures raise a ``ProviderError``."""
        return await self._opened().complete(prompt, user)

    async def probe(self) -> None:
        """Ask the server for its model list: no tokens generated, answers in milliseconds."""
        await self._opened().probe()

    def _opened(self) -> OpenAIChatProvider:
        if self._client is None:
            raise RuntimeError(f"{type(self).__name__} is used outside 'async with'")
        return self._client

    def _start(self, api_key: str) -> _RunningServer:
        """Load the model and start serving; blocking, so it runs in a worker thread."""
        params = self._xllamacpp.CommonParams()
        params.model.path = str(self._model_path)
        params.model_alias = {self._model}
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # the OS picks a free one; the server reports it
        params.api_keys = [api_key]
        params.n_ctx = self._context_size
        if self._threads is not None:
            params.cpuparams.n_threads = self._threads
            params.cpuparams_batch.n_threads = self._threads
        params.verbosity = LOG_ERRORS_ONLY
        try:
            server: _Server = self._xllamacpp.Server(params)
        except RuntimeError as exc:  # xllamacpp's only word for "could not load or start"
            raise ConfigurationError(
                MODEL_SETTING,
                f"llama.cpp could not load {self._model_path} ({exc}); its log above says why "
                "(usually not enough memory or a model architecture it does not support)",
            ) from exc
        return _RunningServer(server)


def check_model_file(path: Path) -> None:
    """Fail fast, naming the setting, unless ``path`` is a readable GGUF file."""
    try:
        with path.open("rb") as file:
            magic = file.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise ConfigurationError(
            MODEL_SETTING, f"cannot read the model file {path}: {exc.strerror or exc}"
        ) from exc
    if magic != GGUF_MAGIC:
        raise ConfigurationError(MODEL_SETTING, f"{path} is not a GGUF model file")


def import_xllamacpp() -> ModuleType:
    """The ``xllamacpp`` module, or a configuration error saying which extra to install."""
    try:
        # xllamacpp ships a compiled module without type stubs or a py.typed marker; what we
        # use of it is described by ``_Server`` above.
        import xllamacpp  # type: ignore[import-untyped]
    except ImportError as exc:
        # The cause tells "not installed" from "installed but broken" (a wheel for another CPU).
        raise ConfigurationError("PROVIDERS", f"{MISSING_EXTRA} ({exc})") from exc
    module: ModuleType = xllamacpp
    return module


async def _until_ready(client: OpenAIChatProvider) -> None:
    """Poll until the server answers; the caller's ``asyncio.timeout`` bounds the wait.

    ``xllamacpp.Server`` returns once it listens, so this normally succeeds at once; it guards
    against a build that starts listening before the model is ready (llama.cpp answers 503 then).
    """
    while True:
        try:
            await client.probe()
        except RetryableProviderError:
            await asyncio.sleep(READY_POLL_SECONDS)
        else:
            return


async def _close(client: OpenAIChatProvider | None, server: _RunningServer | None) -> None:
    """Close the client, then stop the server in a worker thread (its destructor blocks)."""
    try:
        if client is not None:
            await client.__aexit__(None, None, None)
    finally:
        if server is not None:
            await asyncio.to_thread(server.stop)
