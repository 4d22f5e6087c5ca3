"""Logging: readable or JSON lines, third-party records routed in, secrets masked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from loguru import logger

from bot.logs import MASK, configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    logger.remove()
    logging.basicConfig(handlers=[], force=True)


def test_json_format_writes_one_object_a_line_including_library_records() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    logger.info("bastion says {}", "hi")
    logging.getLogger("some.library").warning("library says %s", "hello")

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["level"], e["message"]) for e in lines] == [
        ("INFO", "bastion says hi"),
        ("WARNING", "library says hello"),
    ]
    assert lines[1]["logger"] == "some.library"


def test_secrets_are_masked_in_messages_and_tracebacks() -> None:
    out = io.StringIO()
    token = "123456:AAH-secret-token"
    configure_logging("INFO", "text", secrets=[token], stream=out)
    logging.getLogger("httpx").warning("POST https://api.telegram.org/bot%s/getMe", token)
    try:
        raise ValueError(f"bad url /bot{token}/send")
    except ValueError:
        logger.exception("request failed")

    text = out.getvalue()
    assert token not in text
    assert text.count(MASK) == 2


def test_level_filters_lower_records() -> None:
    out = io.StringIO()
    configure_logging("WARNING", "text", stream=out)
    logger.info("quiet")
    logger.warning("loud")
    assert "quiet" not in out.getvalue() and "loud" in out.getvalue()
