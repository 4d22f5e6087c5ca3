"""UTC days and months: when each began, when it resets, and how that is said to a user."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.budget import Period, describe_reset, next_reset, period_start


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_day_and_a_month_begin_at_midnight_utc_whatever_the_callers_zone() -> None:
    # 01:30 in UTC+3 on 1 March is still 28 February in UTC.
    now = datetime(2025, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=3)))
    assert period_start(Period.DAY, now) == at("2025-02-28T00:00:00+00:00")
    assert period_start(Period.MONTH, now) == at("2025-02-01T00:00:00+00:00")


@pytest.mark.parametrize(
    ("period", "now", "reset"),
    [
        (Period.DAY, "2025-02-28T23:59:59+00:00", "2025-03-01T00:00:00+00:00"),
        (Period.DAY, "2024-02-28T12:00:00+00:00", "2024-02-29T00:00:00+00:00"),
        (Period.MONTH, "2025-02-10T08:00:00+00:00", "2025-03-01T00:00:00+00:00"),
        (Period.MONTH, "2025-12-31T23:00:00+00:00", "2026-01-01T00:00:00+00:00"),
    ],
)
def test_each_period_resets_when_the_next_one_begins(period: Period, now: str, reset: str) -> None:
    assert next_reset(period, at(now)) == at(reset)


def test_a_daily_reset_is_said_with_the_time_left() -> None:
    now = datetime(2025, 6, 10, 20, 40, tzinfo=UTC)
    assert describe_reset(next_reset(Period.DAY, now), now) == "at 00:00 UTC, in 3 h 20 min"


def test_a_monthly_reset_names_the_date() -> None:
    now = datetime(2025, 6, 18, 20, 0, tzinfo=UTC)
    assert (
        describe_reset(next_reset(Period.MONTH, now), now)
        == "on 1 July at 00:00 UTC, in 12 days 4 h"
    )


def test_the_last_seconds_before_a_reset_round_up_to_a_minute() -> None:
    now = datetime(2025, 6, 10, 23, 59, 50, tzinfo=UTC)
    assert describe_reset(next_reset(Period.DAY, now), now) == "at 00:00 UTC, in 1 min"
