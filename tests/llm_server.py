"""A fault-injecting fake of the OpenAI and Anthropic HTTP APIs, on 127.0.0.1 only.

The real SDKs are pointed at it (``server.openai_base_url``, ``server.anthropic_base_url``) so
tests exercise the same HTTP, parsing and error paths as production. Each API keeps its own
script of steps, consumed one per generation request in order; when the script is empty the
answer is a normal one. A "down" switch fails every request to an API (models listing included)
until it is brought back up. Every request is recorded, so tests can count attempts.

Routes (each API under its own prefix, so both can serve ``GET /v1/models``)::

    /openai/v1/chat/completions   POST, plain JSON or SSE when "stream": true
    /openai/v1/models             GET
    /anthropic/v1/messages        POST, plain JSON or SSE when "stream": true
    /anthropic/v1/models          GET
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import count
from typing import Any, Literal

from aiohttp import web

from tests.local_server import LocalServer

API = Literal["openai", "anthropic"]

DEFAULT_TEXT = "Hello from the fake model."
DEFAULT_USAGE = (12, 5)  # (input tokens, output tokens)
VALID_KEY = "test-key"


class Kind(StrEnum):
    OK = "ok"
    STATUS = "status"
    SLOW = "slow"
    DROP = "drop"
    MALFORMED = "malformed"
    EMPTY = "empty"
    CONTENT_FILTER = "content_filter"


# The steps that answer without a usable body; the others produce a (possibly odd) answer.
_FAULTS = frozenset({Kind.STATUS, Kind.DROP, Kind.MALFORMED})


@dataclass(frozen=True, slots=True)
class Step:
    """One scripted reaction of the fake; build it with the helpers below, not by hand."""

    kind: Kind
    text: str = DEFAULT_TEXT
    usage: tuple[int, int] = DEFAULT_USAGE
    status: int = 200
    retry_after: str | None = None
    retry_after_ms: str | None = None
    code: str | None = None
    delay: float = 0.0
    no_choices: bool = False


def ok(text: str = DEFAULT_TEXT, usage: tuple[int, int] = DEFAULT_USAGE) -> Step:
    """A normal answer with the given text and (input, output) token counts."""
    return Step(Kind.OK, text=text, usage=usage)


def status(
    http_status: int,
    *,
    retry_after: float | str | None = None,
    retry_after_ms: float | None = None,
    code: str | None = None,
) -> Step:
    """An error response in the API's own body shape.

    ``retry_after`` becomes the ``retry-after`` header (a number of seconds or an HTTP date);
    ``code`` is the structured error code (OpenAI ``error.code``/``error.type``, Anthropic
    ``error.details.error_code``), e.g. ``"insufficient_quota"``.
    """
    return Step(
        Kind.STATUS,
        status=http_status,
        retry_after=None if retry_after is None else str(retry_after),
        retry_after_ms=None if retry_after_ms is None else str(retry_after_ms),
        code=code,
    )


def slow(seconds: float, text: str = DEFAULT_TEXT) -> Step:
    """A normal answer, sent only after ``seconds`` (for timeout tests)."""
    return Step(Kind.SLOW, text=text, delay=seconds)


def drop() -> Step:
    """Close the connection without sending any response."""
    return Step(Kind.DROP)


def malformed() -> Step:
    """HTTP 200 with a JSON content type and a body that is not JSON."""
    return Step(Kind.MALFORMED)


def empty(text: str = "", *, no_choices: bool = False) -> Step:
    """A well-formed answer without usable text (``text`` may be whitespace).

    ``no_choices`` makes the OpenAI answer carry an empty ``choices`` list.
    """
    return Step(Kind.EMPTY, text=text, no_choices=no_choices)


def content_filter(text: str = "I can") -> Step:
    """An answer stopped by the content policy (OpenAI ``content_filter``, Anthropic
    ``refusal``), with the partial ``text`` the model had produced."""
    return Step(Kind.CONTENT_FILTER, text=text)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """What the fake received: path relative to the API prefix, parsed JSON body, headers."""

    method: str
    path: str
    body: Any
    headers: Mapping[str, str]
    at: float = field(default_factory=time.monotonic)  # when it arrived, for retry timing

    @property
    def api_key(self) -> str | None:
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return self.headers.get("x-api-key")


@dataclass
class FakeAPI:
    """The state of one faked API: its script, its down switch and what it received."""

    api: API
    requests: list[RecordedRequest] = field(default_factory=list)
    # None echoes the requested model; a string lets tests see which model field is read.
    served_model: str | None = None
    _script: deque[Step] = field(default_factory=deque)
    _down: Step | None = None

    def script(self, *steps: Step) -> None:
        """Queue steps; each generation request takes the next one."""
        self._script.extend(steps)

    @property
    def pending(self) -> int:
        """How many scripted steps have not been used yet."""
        return len(self._script)

    def down(self, fault: Step | None = None) -> None:
        """Fail every request to this API with ``fault`` (default 503) until ``up()``."""
        self._down = fault if fault is not None else status(503)

    def up(self) -> None:
        self._down = None

    def next_step(self) -> Step:
        return self._script.popleft() if self._script else ok()


class FakeLLMServer(LocalServer):
    """The fake server as an async context manager; both APIs share one port."""

    def __init__(self, valid_key: str | None = VALID_KEY) -> None:
        super().__init__()
        # None accepts any non-empty key.
        self.valid_key = valid_key
        self.openai = FakeAPI("openai")
        self.anthropic = FakeAPI("anthropic")
        self._ids = count(1)

    # -- lifecycle -------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/openai/v1/chat/completions", self._openai_chat)
        app.router.add_get("/openai/v1/models", self._openai_models)
        app.router.add_post("/anthropic/v1/messages", self._anthropic_messages)
        app.router.add_get("/anthropic/v1/models", self._anthropic_models)
        return app

    def _progress(self) -> str:
        counts = (len(self.openai.requests), len(self.anthropic.requests))
        return "requests: openai {}, anthropic {}".format(*counts)

    @property
    def openai_base_url(self) -> str:
        return self._url("/openai/v1")

    @property
    def anthropic_base_url(self) -> str:
        # The Anthropic SDK appends /v1/... itself.
        return self._url("/anthropic")

    def down(self, fault: Step | None = None) -> None:
        """Take both APIs down (an outage of everything)."""
        self.openai.down(fault)
        self.anthropic.down(fault)

    def up(self) -> None:
        self.openai.up()
        self.anthropic.up()

    # -- request handling ------------------------------------------------------------------

    async def _record(self, api: FakeAPI, request: web.Request) -> RecordedRequest:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        prefix = f"/{api.api}"
        recorded = RecordedRequest(
            method=request.method,
            path=request.path.removeprefix(prefix),
            body=body,
            headers={k.lower(): v for k, v in request.headers.items()},
        )
        api.requests.append(recorded)
        self._changed()
        return recorded

    def _key_is_valid(self, recorded: RecordedRequest) -> bool:
        key = recorded.api_key
        if not key:
            return False
        return self.valid_key is None or key == self.valid_key

    async def _gate(
        self, api: FakeAPI, request: web.Request
    ) -> tuple[RecordedRequest, Step | None]:
        """Record the request; return the fault that overrides everything, if any: the outage,
        then a wrong key (a real outage answers before authentication does)."""
        recorded = await self._record(api, request)
        if api._down is not None:
            return recorded, api._down
        if not self._key_is_valid(recorded):
            return recorded, status(401)
        return recorded, None

    async def _openai_models(self, request: web.Request) -> web.StreamResponse:
        models = [{"id": "fake-gpt", "object": "model", "created": CREATED, "owned_by": "x"}]
        return await self._models(self.openai, request, {"object": "list", "data": models})

    async def _anthropic_models(self, request: web.Request) -> web.StreamResponse:
        model = {
            "type": "model",
            "id": "fake-claude",
            "display_name": "Fake Claude",
            "created_at": "2025-01-01T00:00:00Z",
        }
        page = {
            "data": [model],
            "has_more": False,
            "first_id": "fake-claude",
            "last_id": "fake-claude",
        }
        return await self._models(self.anthropic, request, page)

    async def _models(
        self, api: FakeAPI, request: web.Request, listing: dict[str, Any]
    ) -> web.StreamResponse:
        """The models listing (what a health probe asks for); only the down switch and the
        key affect it, never the script."""
        _, fault = await self._gate(api, request)
        if fault is not None and fault.kind is Kind.SLOW:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.kind in _FAULTS:
            return await self._fail(api, request, fault)
        return _json(listing)

    async def _openai_chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(self.openai, request, _openai_completion, _openai_sse)

    async def _anthropic_messages(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(self.anthropic, request, _anthropic_message, _anthropic_sse)

    async def _generate(
        self,
        api: FakeAPI,
        request: web.Request,
        plain: Callable[[_Answer], dict[str, Any]],
        streamed: Callable[[_Answer], list[str]],
    ) -> web.StreamResponse:
        """The generation endpoints of both APIs: gate, take a step, answer in the API's shape."""
        recorded, fault = await self._gate(api, request)
        step = fault or api.next_step()
        if step.kind is Kind.SLOW:
            await asyncio.sleep(step.delay)
        if step.kind in _FAULTS:
            return await self._fail(api, request, step)
        body = recorded.body if isinstance(recorded.body, dict) else {}
        stream_options = body.get("stream_options") or {}
        answer = _Answer(
            ident=f"fake-{api.api}-{next(self._ids)}",
            model=api.served_model or str(body.get("model", "fake-model")),
            step=step,
            include_usage=bool(stream_options.get("include_usage")),
        )
        if body.get("stream"):
            return await _sse(request, streamed(answer))
        return _json(plain(answer))

    async def _fail(self, api: FakeAPI, request: web.Request, step: Step) -> web.StreamResponse:
        """Answer with a fault: an error status, a dropped connection, or a broken body."""
        if step.kind is Kind.DROP:
            if request.transport is not None:
                request.transport.close()
            # Never sent: the transport is closed, so aiohttp drops it quietly.
            return web.Response(status=499)
        if step.kind is Kind.MALFORMED:
            return web.Response(
                status=200, body=b'{"id": "broken", "choices": [', content_type="application/json"
            )
        headers: dict[str, str] = {}
        if step.retry_after is not None:
            headers["retry-after"] = step.retry_after
        if step.retry_after_ms is not None:
            headers["retry-after-ms"] = step.retry_after_ms
        payload = (
            _openai_error(step.status, step.code)
            if api.api == "openai"
            else _anthropic_error(step.status, step.code, next(self._ids))
        )
        return _json(payload, status=step.status, headers=headers)


# -- payload helpers -------------------------------------------------------------------------

CREATED = 1700000000  # a fixed timestamp keeps recorded payloads stable


@dataclass(frozen=True, slots=True)
class _Answer:
    """What one successful generation answers, before it takes an API's shape."""

    ident: str
    model: str
    step: Step
    include_usage: bool

    @property
    def refused(self) -> bool:
        return self.step.kind is Kind.CONTENT_FILTER


def _pieces(text: str) -> Iterator[str]:
    """Split text into streaming deltas (word by word, keeping the spaces)."""
    words = text.split(" ")
    for i, word in enumerate(words):
        yield word if i == len(words) - 1 else f"{word} "


def _openai_usage(step: Step) -> dict[str, int]:
    prompt, completion = step.usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _openai_completion(answer: _Answer) -> dict[str, Any]:
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": answer.step.text, "refusal": None},
        "finish_reason": "content_filter" if answer.refused else "stop",
        "logprobs": None,
    }
    return {
        "id": answer.ident,
        "object": "chat.completion",
        "created": CREATED,
        "model": answer.model,
        "choices": [] if answer.step.no_choices else [choice],
        "usage": _openai_usage(answer.step),
    }


def _openai_sse(answer: _Answer) -> list[str]:
    def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "id": answer.ident,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": answer.model,
            "choices": choices,
            **extra,
        }

    def delta(content: dict[str, str], finish: str | None = None) -> dict[str, Any]:
        return chunk([{"index": 0, "delta": content, "finish_reason": finish}])

    events = [delta({"role": "assistant", "content": ""})]
    events += [delta({"content": piece}) for piece in _pieces(answer.step.text)]
    events.append(delta({}, "content_filter" if answer.refused else "stop"))
    if answer.include_usage:  # as OpenAI does: one last chunk, no choices, only usage
        events.append(chunk([], usage=_openai_usage(answer.step)))
    return [f"data: {json.dumps(e)}\n\n" for e in events] + ["data: [DONE]\n\n"]


def _anthropic_message(answer: _Answer) -> dict[str, Any]:
    text = answer.step.text
    input_tokens, output_tokens = answer.step.usage
    return {
        "id": answer.ident,
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": "refusal" if answer.refused else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


def _anthropic_sse(answer: _Answer) -> list[str]:
    input_tokens, output_tokens = answer.step.usage
    start = {**_anthropic_message(answer), "content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": input_tokens, "output_tokens": 1}
    text_block = {"type": "text", "text": ""}
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": text_block},
    ]
    events += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
        for p in _pieces(answer.step.text)
    ]
    events += [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": "refusal" if answer.refused else "end_turn",
                "stop_sequence": None,
            },
            "usage": {"output_tokens": output_tokens},
        },
        {"type": "message_stop"},
    ]
    return [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events]


_OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Not allowed."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached."),
}


def _openai_error(http_status: int, code: str | None) -> dict[str, Any]:
    kind, default_code, message = _OPENAI_ERRORS.get(
        http_status, ("server_error", None, "The server had an error.")
    )
    if code is not None:
        # OpenAI reports an exhausted quota with the same value in both fields.
        kind = code if code == "insufficient_quota" else kind
        message = "You exceeded your current quota." if code == "insufficient_quota" else message
    return {
        "error": {"message": message, "type": kind, "param": None, "code": code or default_code}
    }


_ANTHROPIC_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _anthropic_error(http_status: int, code: str | None, ident: int) -> dict[str, Any]:
    error: dict[str, Any] = {
        "type": _ANTHROPIC_TYPES.get(http_status, "api_error"),
        "message": "Overloaded" if http_status == 529 else f"Fake error {http_status}.",
    }
    if code is not None:
        error["details"] = {"error_code": code}
    return {"type": "error", "error": error, "request_id": f"req_fake_{ident}"}


def _json(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    # Exactly application/json: some clients are picky about a charset suffix.
    return web.Response(
        status=status,
        body=json.dumps(payload).encode(),
        content_type="application/json",
        headers=headers,
    )


async def _sse(request: web.Request, lines: list[str]) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for line in lines:
        await response.write(line.encode())
    await response.write_eof()
    return response
