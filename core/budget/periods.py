"""Budget periods: the UTC day and the UTC month, when each began and when it resets.

UTC for everyone, so a budget resets at one instant the operators can state, whatever the
user's time zone; the stored spend is kept per UTC day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum


class Period(StrEnum):
    DAY = "day"
    MONTH = "month"


def period_start(period: Period, now: datetime) -> datetime:
    """Midnight UTC that began the day or the month ``now`` is in."""
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if period is Period.DAY else midnight.replace(day=1)


def next_reset(period: Period, now: datetime) -> datetime:
    """The instant the period after ``now``'s begins: its budget starts afresh then."""
    start = period_start(period, now)
    if period is Period.DAY:
        return start + timedelta(days=1)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def describe_reset(reset: datetime, now: datetime) -> str:
    """When a budget resets, for a user: "at 00:00 UTC, in 3 h 20 min".

    The date is named only when the reset is not the coming midnight, i.e. for a month.
    """
    when = "at 00:00 UTC"
    if reset - now > timedelta(days=1):
        when = f"on {reset.day} {reset:%B} at 00:00 UTC"
    return f"{when}, in {_duration(reset - now)}"


def _duration(left: timedelta) -> str:
    # Rounded up to the minute: "in 0 min" would promise a reset that has not happened yet.
    minutes = max(1, -(-int(left.total_seconds()) // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} day{'s' if days > 1 else ''}" + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{minutes} min"
