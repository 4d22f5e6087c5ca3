"""Parsing of text commands for adapters whose platform has no native command objects."""

from __future__ import annotations

import re

from core.model import Command

# "/name", an optional "@botname" (Telegram groups add it), then free-form arguments.
_COMMAND = re.compile(
    r"^/(?P<name>[A-Za-z][A-Za-z0-9_]{0,31})(?:@\S+)?(?:\s+(?P<args>.*))?$", re.S
)


def parse_command(text: str) -> Command | None:
    """``"/reset now"`` -> ``Command("reset", "now")``; anything else -> ``None``."""
    match = _COMMAND.match(text.strip())
    if match is None:
        return None
    return Command(match["name"].lower(), (match["args"] or "").strip())
