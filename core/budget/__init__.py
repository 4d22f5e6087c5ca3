"""Token and cost budgets per user (UTC day and month) and for the whole bot (UTC day)."""

from core.budget.ledger import BudgetLedger, Snapshot
from core.budget.limits import BudgetLimits, Scope, Verdict, assess
from core.budget.periods import Period, describe_reset, next_reset, period_start
from core.budget.source import SpendSource, Spent

__all__ = [
    "BudgetLedger",
    "BudgetLimits",
    "Period",
    "Scope",
    "Snapshot",
    "SpendSource",
    "Spent",
    "Verdict",
    "assess",
    "describe_reset",
    "next_reset",
    "period_start",
]
