"""What a user (or the whole bot) has spent, and the storage port the ledger reads it from.

Storage is the record of truth: the replies are stored with their tokens and cost anyway, so
a restart or a user evicted from memory is read back from there instead of starting at zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.model import Usage, UserRef


@dataclass(frozen=True, slots=True)
class Spent:
    """Tokens (input plus output) and US dollars spent in one period."""

    tokens: int = 0
    cost_usd: float = 0.0

    def plus(self, usage: Usage) -> Spent:
        # Rounded like the ladder's bill, so sums of small costs do not drift below a limit.
        return Spent(
            self.tokens + usage.input_tokens + usage.output_tokens,
            round(self.cost_usd + usage.cost_usd, 8),
        )


class SpendSource(Protocol):
    """Sums of what replies cost, kept per user and UTC day (``core/storage/sqlite/spend.py``)."""

    async def user_spend(
        self, user: UserRef, day_start: datetime, month_start: datetime
    ) -> tuple[Spent, Spent]:
        """What the replies to ``user`` cost since each start: ``(day, month)``."""
        ...

    async def global_spend(self, day_start: datetime) -> Spent:
        """What every reply since ``day_start`` cost, all users together."""
        ...
