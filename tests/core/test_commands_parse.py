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


def test_a_command_addressed_to_another_bot_is_not_ours() -> None:
    assert parse_command("/forget@other_bot", me="bastion_bot") is None
    assert parse_command("/forget@Bastion_Bot now", me="bastion_bot") == Command("forget", "now")
    assert parse_command("/forget", me="bastion_bot") == Command("forget")
