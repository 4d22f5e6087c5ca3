"""Pure conversions between the web chat's JSON and the core model; no I/O here."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.commands import parse_command
from core.model import ChatRef, IncomingMessage, Reply, UserRef

PLATFORM = "web"
MAX_ID_CHARS = 128


@dataclass(frozen=True, slots=True)
class BadChatRequest(Exception):
    """A request we refuse, with the status and a message that says what to fix."""

    status: int
    code: str
    message: str

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def max_body_bytes(max_chars: int) -> int:
    """The largest body worth reading: the longest text as \\u-escapes plus room for the rest."""
    return max_chars * 12 + 4096


def parse_chat_request(
    body: bytes, content_type: str, max_chars: int, now: datetime | None = None
) -> IncomingMessage:
    """Validate a ``POST /api/chat`` body; raise ``BadChatRequest`` saying what is wrong."""
    if content_type.split(";", maxsplit=1)[0].strip().lower() != "application/json":
        raise BadChatRequest(
            415,
            "unsupported_media_type",
            "send the body as JSON with content-type: application/json",
        )
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadChatRequest(400, "invalid_encoding", "the body is not valid UTF-8") from None
    try:
        payload = json.loads(decoded)
    except json.JSONDecodeError as exc:
        raise BadChatRequest(
            400, "invalid_json", f"the body is not valid JSON ({exc.msg} at character {exc.pos})"
        ) from None
    except (ValueError, RecursionError):  # a huge integer literal, or nesting too deep to parse
        raise BadChatRequest(
            400, "invalid_json", "the body is JSON this API cannot read (too deep or too large)"
        ) from None
    if not isinstance(payload, dict):
        raise BadChatRequest(
            422,
            "invalid_body",
            'the body must be a JSON object: {"user_id": "...", "text": "..."}',
        )
    user_id = _identifier(payload, "user_id", required=True)
    message_id = _identifier(payload, "message_id", required=False) or uuid.uuid4().hex
    text = _text(payload, max_chars)
    return IncomingMessage(
        message_id=message_id,
        user=UserRef(PLATFORM, user_id),
        chat=ChatRef(PLATFORM, user_id),
        text=text,
        sent_at=now or datetime.now(UTC),
        command=parse_command(text),
    )


def held_request_chat(user_id: str | None) -> ChatRef:
    """The conversation whose held replies ``GET /api/chat/held?user_id=`` asks for."""
    if user_id is None:
        raise BadChatRequest(422, "missing_field", "missing query parameter: user_id")
    # The same rules as the user_id of POST /api/chat, so both name the same conversation.
    return ChatRef(PLATFORM, _identifier({"user_id": user_id}, "user_id", required=True))


def reply_body(replies: list[Reply]) -> dict[str, Any]:
    return {"replies": [{"text": r.text, "kind": str(r.kind)} for r in replies]}


def _identifier(payload: dict[str, Any], field: str, *, required: bool) -> str:
    value = payload.get(field)
    if value is None:
        if required:
            raise BadChatRequest(422, "missing_field", f"missing field: {field}")
        return ""
    if not isinstance(value, str):
        raise BadChatRequest(422, "invalid_field", f"{field} must be a string")
    value = value.strip()
    if not value or len(value) > MAX_ID_CHARS or not value.isprintable():
        raise BadChatRequest(
            422, "invalid_field", f"{field} must be 1 to {MAX_ID_CHARS} printable characters"
        )
    _require_encodable(value, field)
    return value


def _text(payload: dict[str, Any], max_chars: int) -> str:
    if "text" not in payload:
        raise BadChatRequest(422, "missing_field", "missing field: text")
    text = payload["text"]
    if not isinstance(text, str):
        raise BadChatRequest(422, "invalid_field", "text must be a string")
    text = text.strip()
    if not text:
        raise BadChatRequest(422, "empty_text", "text is empty")
    if len(text) > max_chars:
        raise BadChatRequest(
            422, "text_too_long", f"text is {len(text)} characters; the maximum is {max_chars}"
        )
    _require_encodable(text, "text")
    return text


def _require_encodable(value: str, field: str) -> None:
    # JSON may carry lone surrogates ("\ud800") that no database or platform can store.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadChatRequest(
            400, "invalid_encoding", f"{field} contains invalid Unicode (a lone surrogate)"
        ) from None
