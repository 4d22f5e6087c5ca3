"""Replies made safe for Discord: no ping possible, no markup running on, 2,000 per message."""

from __future__ import annotations

import re

import pytest

from adapters.common.text import utf16_length
from adapters.discord.format import (
    MESSAGE_LIMIT,
    ZWSP,
    balance_markup,
    discord_messages,
    neutralise_mentions,
)

# What Discord would turn into a ping if it were allowed to.
PING = re.compile(r"@(everyone|here)|<@[!&]?\d+>")


@pytest.mark.parametrize(
    "mention", ["@everyone", "@here", "@Everyone", "<@123456789012345678>", "<@!42>", "<@&77>"]
)
def test_no_mention_survives(mention: str) -> None:
    safe = neutralise_mentions(f"hello {mention}, read this")
    assert PING.search(safe) is None
    # Readers still see the same characters, only with an invisible break.
    assert safe.replace(ZWSP, "") == f"hello {mention}, read this"


def test_channel_links_and_emails_are_left_alone() -> None:
    text = "see <#1183047101340569662> or write to support@northwindgoods.example"
    assert neutralise_mentions(text) == text


def test_a_long_reply_is_cut_into_messages_in_order() -> None:
    paragraphs = [f"Paragraph {n}. " + "words go here " * 40 for n in range(20)]
    text = "\n\n".join(paragraphs)
    assert len(text) > 10_000
    messages = discord_messages(text)
    assert len(messages) > 5
    assert all(len(m) <= MESSAGE_LIMIT for m in messages)
    # Nothing lost, nothing reordered: only the whitespace at the cuts.
    assert " ".join(messages).split() == text.split()


def test_the_limit_is_counted_after_mentions_are_broken() -> None:
    text = "@everyone " * 400  # 4,000 characters, 4,400 once broken
    messages = discord_messages(text)
    assert all(len(m) <= MESSAGE_LIMIT for m in messages)
    assert sum(m.count(f"@{ZWSP}everyone") for m in messages) == 400


def test_emoji_count_double_so_no_message_can_exceed_discords_count() -> None:
    messages = discord_messages("🙂 " * 1500)  # 3,000 characters, 4,500 UTF-16 units
    assert all(utf16_length(m) <= MESSAGE_LIMIT for m in messages)
    assert sum(m.count("🙂") for m in messages) == 1500


def test_an_unclosed_code_fence_is_closed() -> None:
    [message] = discord_messages("Try this:\n```python\nprint('hi')\nand then the rest")
    assert message.count("```") == 2 and message.endswith("\n```")


def test_a_lone_bold_marker_is_escaped_and_pairs_are_kept() -> None:
    assert balance_markup("**really** good **deal") == "**really** good \\*\\*deal"
    assert balance_markup("a ~~b~~ and ||spoiler") == "a ~~b~~ and \\|\\|spoiler"
    assert balance_markup("**fine**") == "**fine**"


def test_markers_inside_code_are_not_touched() -> None:
    text = "use `a ** b` and\n```\nx = 2 ** 8\n```\nthen **bold**"
    assert balance_markup(text) == text


def test_an_empty_reply_gives_no_message() -> None:
    assert discord_messages("  \n ") == []
