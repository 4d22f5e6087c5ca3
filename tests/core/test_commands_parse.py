"""Text command parsing for adapters without native commands."""

from __future__ import annotations

import pytest

from core.commands import parse_command
from core.model import Command


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/help", Command("help")),
        ("  /Reset  ", Command("reset")),
        ("/forget please now", Command("forget", "please now")),
        ("/start@bastion_bot", Command("start")),
        ("when are you open?", None),
        ("a /help in the middle", None),
        ("/", None),
        ("/ help", None),
    ],
)
def test_commands_are_recognised_only_at_the_start(text: str, expected: Command | None) -> None:
    assert parse_command(text) == expected
