"""Parsing of text commands for adapters whose platform has no native command objects."""

from __future__ import annotations

import re

from core.model import Command

# "/name", an optional "@botname" (Telegram groups add it), then free-form arguments.
_COMMAND = re.compile(
    r"^/(?P<name>[A-Za-z][A-Za-z0-9_]{0,31})(?:@(?P<to>\S+))?(?:\s+(?P<args>.*))?$", re.S
)


def parse_command(text: str, me: str | None = None) -> Command | None:
    """``"/reset now"`` -> ``Command("reset", "now")``; anything else -> ``None``.

    With ``me`` (the bot's username), ``"/reset@another_bot"`` is not ours either: ``None``.
    """
    match = _COMMAND.match(text.strip())
    if match is None:
        return None
    if me is not None and match["to"] and match["to"].lower() != me.lower():
        return None
    return Command(match["name"].lower(), (match["args"] or "").strip())
