"""The budgets from settings, and what a user's spend means against them.

Three scopes: the user's UTC day, the user's UTC month, and the whole bot's UTC day. Each has
a token and a dollar limit (the bot's day only dollars); 0 means no limit. The share used is
the larger of the two, so whichever runs out first decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from core.budget.periods import Period
from core.budget.source import Spent
from core.model import Spend


class Scope(StrEnum):
    USER_DAY = "user_day"
    USER_MONTH = "user_month"
    GLOBAL_DAY = "global_day"

    @property
    def period(self) -> Period:
        return Period.MONTH if self is Scope.USER_MONTH else Period.DAY


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    """Limits per scope (0 = unlimited) and the share of one at which the user is warned."""

    user_daily_tokens: int = 0
    user_monthly_tokens: int = 0
    user_daily_cost_usd: float = 0.0
    user_monthly_cost_usd: float = 0.0
    global_daily_cost_usd: float = 0.0
    warn_fraction: float = 0.8

    def __post_init__(self) -> None:
        if min(self._all()) < 0:
            raise ValueError("budget limits must not be negative (0 means no limit)")
        if not 0 < self.warn_fraction < 1:
            raise ValueError("warn_fraction must be between 0 and 1")

    @property
    def any(self) -> bool:
        """Whether any budget is set; with none, the budget stage has nothing to do."""
        return any(self._all())

    def used(self, scope: Scope, spent: Spent) -> float:
        """The share of the scope's limits ``spent`` uses: 1.0 is a limit reached, 0 if none."""
        tokens, cost = self._limits(scope)
        return max(
            spent.tokens / tokens if tokens else 0.0,
            spent.cost_usd / cost if cost else 0.0,
        )

    def _limits(self, scope: Scope) -> tuple[int, float]:
        if scope is Scope.USER_DAY:
            return self.user_daily_tokens, self.user_daily_cost_usd
        if scope is Scope.USER_MONTH:
            return self.user_monthly_tokens, self.user_monthly_cost_usd
        return 0, self.global_daily_cost_usd

    def _all(self) -> tuple[float, ...]:
        return (
            self.user_daily_tokens,
            self.user_monthly_tokens,
            self.user_daily_cost_usd,
            self.user_monthly_cost_usd,
            self.global_daily_cost_usd,
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """How much a turn may spend, and which budgets are near (warn fraction) or spent."""

    spend: Spend
    near: tuple[Scope, ...] = ()  # at or past the warn fraction, spent ones included
    exhausted: tuple[Scope, ...] = ()


def assess(limits: BudgetLimits, spending: Mapping[Scope, Spent]) -> Verdict:
    """FREE when any budget is spent, ECONOMY when any is near, FULL otherwise."""
    used = {scope: limits.used(scope, spent) for scope, spent in spending.items()}
    exhausted = tuple(scope for scope, share in used.items() if share >= 1.0)
    near = tuple(scope for scope, share in used.items() if share >= limits.warn_fraction)
    if exhausted:
        return Verdict(Spend.FREE, near, exhausted)
    return Verdict(Spend.ECONOMY if near else Spend.FULL, near)
