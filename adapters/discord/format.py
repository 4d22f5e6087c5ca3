"""Model output made safe for Discord: no mention can ping, no markup can run past a message.

Discord markdown passes through as written, with three repairs:

- every mention is broken with a zero-width space (``@`` + ZWSP + ``everyone``), so even a
  misconfigured ``allowed_mentions`` cannot ping anyone;
- the text is cut into messages of at most 2,000 characters by the shared splitter, counted
  after the repairs and in UTF-16 units (an emoji counts two), which is never less than what
  Discord counts;
- in each message an unclosed code fence is closed and a lone ``**``, ``__``, ``~~`` or ``||``
  is escaped, so one message's markup never swallows the rest of it.
"""

from __future__ import annotations

import re

from adapters.common.split import split_text
from adapters.common.text import utf16_length

MESSAGE_LIMIT = 2000
ZWSP = "\u200b"
_FENCE = "```"
# Room kept in each piece for the repairs made after splitting: a closing fence (4) and four
# escaped markers (2 each).
_REPAIR_ROOM = 16

_MASS_MENTION = re.compile(r"@(everyone|here)", re.IGNORECASE)
_TAG_MENTION = re.compile(r"<@([!&]?)(\d+)>")
# Code where markup means nothing: a fenced block (possibly unclosed) or an inline span.
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]+`", re.DOTALL)
_PAIRED_MARKERS = ("**", "__", "~~", "||")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def neutralise_mentions(text: str) -> str:
    """Break ``@everyone``, ``@here``, user and role mentions so that none can ping."""
    text = _MASS_MENTION.sub(lambda m: f"@{ZWSP}{m.group(1)}", text)
    return _TAG_MENTION.sub(lambda m: f"<@{ZWSP}{m.group(1)}{m.group(2)}>", text)


def discord_messages(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """``text`` as the Discord messages to send, in order, each at most ``limit`` characters."""
    safe = neutralise_mentions(text).strip()
    if not safe:
        return []
    # Most replies hold no character beyond the BMP: then both counts agree, and len is faster.
    size = utf16_length if _ASTRAL.search(safe) else len
    pieces = split_text(safe, limit - _REPAIR_ROOM, size=size)
    # The repairs fit in the room kept for them.
    return [balance_markup(piece) for piece in pieces if piece.strip()]


def balance_markup(piece: str) -> str:
    """Close an unclosed code fence and escape an unpaired emphasis or spoiler marker."""
    if piece.count(_FENCE) % 2:
        piece = piece + ("" if piece.endswith("\n") else "\n") + _FENCE
    segments = _prose_segments(piece)
    for marker in _PAIRED_MARKERS:
        where = [
            (start + found.start())
            for start, prose in segments
            for found in re.finditer(rf"(?<!\\){re.escape(marker)}", prose)
        ]
        if len(where) % 2:
            at = where[-1]
            escaped = "".join(f"\\{char}" for char in marker)
            piece = piece[:at] + escaped + piece[at + len(marker) :]
            segments = _prose_segments(piece)
    return piece


def _prose_segments(piece: str) -> list[tuple[int, str]]:
    """The parts of ``piece`` outside code, each with its offset."""
    segments: list[tuple[int, str]] = []
    cursor = 0
    for code in _CODE.finditer(piece):
        segments.append((cursor, piece[cursor : code.start()]))
        cursor = code.end()
    segments.append((cursor, piece[cursor:]))
    return segments
