"""The two clocks the core takes as arguments, so tests can hold time still.

``Clock`` measures intervals (``time.monotonic``); ``WallClock`` tells the date, in UTC, for
what resets at midnight or is stored with a timestamp.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]
WallClock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
