"""How long to wait before retrying a provider: exponential backoff with full jitter.

Full jitter (a uniform draw between 0 and the exponential bound) spreads the retries of many
users hit by one outage, instead of sending them back in synchronized waves. A provider's own
``Retry-After`` wins when it fits under the cap; when it asks for longer, waiting is not worth
it and the ladder moves to the next rung.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import ProviderError, RateLimitedError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 2  # per provider per turn; 1 means no retry
    base_delay: float = 0.25
    max_delay: float = 2.0
    retry_after_cap: float = 5.0

    def delay(
        self, attempt: int, error: ProviderError, draw: Callable[[], float] = random.random
    ) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to move on to the next rung."""
        if attempt >= self.attempts:
            return None
        if isinstance(error, RateLimitedError) and error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.retry_after_cap else None
        return draw() * min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
