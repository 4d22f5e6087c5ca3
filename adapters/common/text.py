"""Measuring text as chat platforms count it."""

from __future__ import annotations


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, as JavaScript (Discord) and Telegram's limits and entity
    offsets count: a character beyond the BMP (most emoji) counts two."""
    return len(text.encode("utf-16-le")) // 2
