"""What spend means against the limits: full, economy near a limit, free once one is spent."""

from __future__ import annotations

import pytest

from core.budget import BudgetLimits, Scope, Spent, assess
from core.model import Spend, Usage

LIMITS = BudgetLimits(
    user_daily_tokens=1000,
    user_monthly_tokens=10_000,
    user_daily_cost_usd=0.10,
    user_monthly_cost_usd=1.00,
    global_daily_cost_usd=50.0,
    warn_fraction=0.8,
)


NOTHING = Spent()


def spending(
    day: Spent = NOTHING, month: Spent = NOTHING, everyone: Spent = NOTHING
) -> dict[Scope, Spent]:
    return {Scope.USER_DAY: day, Scope.USER_MONTH: month, Scope.GLOBAL_DAY: everyone}


def test_under_every_warn_fraction_the_turn_spends_in_full() -> None:
    verdict = assess(LIMITS, spending(Spent(799, 0.079), Spent(7999, 0.79), Spent(0, 39.9)))
    assert (verdict.spend, verdict.near, verdict.exhausted) == (Spend.FULL, (), ())


def test_at_the_warn_fraction_of_any_budget_the_turn_economises() -> None:
    verdict = assess(LIMITS, spending(day=Spent(800, 0.0)))
    assert (verdict.spend, verdict.near) == (Spend.ECONOMY, (Scope.USER_DAY,))


def test_whichever_of_tokens_and_dollars_runs_out_first_decides() -> None:
    verdict = assess(LIMITS, spending(day=Spent(10, 0.10)))
    assert (verdict.spend, verdict.exhausted) == (Spend.FREE, (Scope.USER_DAY,))


def test_the_bots_own_day_spent_means_free_for_everyone() -> None:
    verdict = assess(LIMITS, spending(everyone=Spent(0, 50.0)))
    assert (verdict.spend, verdict.exhausted) == (Spend.FREE, (Scope.GLOBAL_DAY,))


def test_zero_means_no_limit() -> None:
    unlimited = BudgetLimits()
    assert not unlimited.any
    huge = Spent(10**12, 10**6)
    assert assess(unlimited, spending(huge, huge, huge)).spend is Spend.FULL


def test_sums_of_small_costs_reach_the_limit_exactly() -> None:
    spent = Spent()
    for _ in range(10):
        spent = spent.plus(Usage(cost_usd=0.01))
    assert assess(LIMITS, spending(day=spent)).spend is Spend.FREE  # 0.1, not 0.0999...


@pytest.mark.parametrize(
    "bad", [{"user_daily_tokens": -1}, {"warn_fraction": 0.0}, {"warn_fraction": 1.0}]
)
def test_nonsense_limits_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BudgetLimits(**bad)  # type: ignore[arg-type]
