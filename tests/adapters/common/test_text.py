"""Text measured as the platforms count it."""

from __future__ import annotations

from adapters.common.text import utf16_length


def test_utf16_length_counts_characters_beyond_the_bmp_twice() -> None:
    assert utf16_length("") == 0
    assert utf16_length("héllo") == 5
    assert utf16_length("hi 😀") == 5  # the emoji is a surrogate pair
    assert utf16_length("🇫🇷") == 4  # a flag: two regional indicators
