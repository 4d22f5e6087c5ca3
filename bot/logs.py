"""Loguru set-up: readable lines by default, one JSON object a line with LOG_FORMAT=json.

Third-party libraries log through the standard ``logging`` module; their records are routed into
loguru so there is one stream with one format. Configured secrets are masked in every message.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

if TYPE_CHECKING:
    from loguru import Message, Record

MASK = "[redacted]"
_TEXT_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    "<cyan>{name}</cyan> {message}"
)


def configure_logging(
    level: str, fmt: str, secrets: Iterable[str] = (), stream: TextIO | None = None
) -> None:
    """Replace every loguru sink with one on ``stream`` (stderr by default)."""
    out = stream or sys.stderr
    masked = sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True)

    def write(text: str) -> None:
        # Masked on the final text, so tracebacks (a token inside a URL) are covered too.
        for secret in masked:
            text = text.replace(secret, MASK)
        out.write(text)
        out.flush()

    logger.remove()
    # diagnose=False: variable values in tracebacks could carry messages or tokens.
    if fmt == "json":
        logger.add(_json_sink(write), level=level, format="{message}", diagnose=False)
    else:
        logger.add(write, level=level, format=_TEXT_FORMAT, colorize=out.isatty(), diagnose=False)
    logging.basicConfig(handlers=[_ToLoguru()], level=logging.INFO, force=True)
    # aiosqlite logs every statement with its parameters (message text) at DEBUG: never let
    # those through, whatever LOG_LEVEL says.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    # The platform SDKs log message texts at DEBUG, and httpx logs every request URL at INFO
    # (a Telegram URL carries the bot token; it would be masked, but it is noise anyway).
    for name, floor in (
        ("httpx", logging.WARNING),
        ("telegram", logging.INFO),
        ("discord", logging.INFO),
        ("slack_bolt", logging.WARNING),
        ("slack_sdk", logging.INFO),
    ):
        logging.getLogger(name).setLevel(floor)
    # uvicorn installs its own handlers; make it use ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


def _json_sink(write: Callable[[str], None]) -> Callable[[Message], None]:
    def sink(message: Message) -> None:
        record = message.record
        entry: dict[str, Any] = {
            "time": record["time"].isoformat(),
            "level": record["level"].name,
            "logger": record["name"],
            "message": record["message"],
            **record["extra"],
        }
        if record["exception"] is not None:
            entry["exception"] = str(message).rstrip("\n").split("\n", 1)[-1]
        write(json.dumps(entry, default=str) + "\n")

    return sink


class _ToLoguru(logging.Handler):
    """Hands standard-library log records to loguru, keeping their level and origin."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno

        def origin(entry: Record) -> None:
            entry["name"] = record.name

        logger.patch(origin).opt(exception=record.exc_info).log(level, record.getMessage())
