"""The behaviour that raises a user's risk, and what each signal weighs.

Risk lives in one ``RiskLedger`` (``core/guardrails/screening.py``): scores add up and halve
every half-life. ``AdmissionLimits`` reads it to shrink the user's limit (never below
``min_scale``). The signals and where each is recorded:

- input-screening flags, near-duplicate messages among them (``abuse.repetition``):
  ``ScreeningStage``, weights in ``screening.py``;
- validator rejections of the answers a user's messages drew: ``ScreeningStage`` again,
  from the reply's trail, weights in ``screening.py``;
- bursts, a user refused by their own rate limit: ``Admission``, ``BURST_RISK`` below;
- an earlier block, given when an admin lifts it: ``BlockList``, ``UNBLOCKED_RISK`` below.

For scale: the risk ``r`` leaves ``1 / (1 + r)`` of the base limit, so 0.5 is two thirds,
1 half, 3 a quarter, and 4 or more the floor (``min_scale`` 0.2 by default).
"""

from __future__ import annotations

from typing import Protocol

# Two thirds of the limit for about one half-life: a burst alone is what eager people do too.
# Added once per notice window, not per refused message: a flood of refusals would otherwise
# pile up a risk that takes hours to decay, long after the flood and its floor are over.
BURST_RISK = 0.5

# An unblocked user starts at a quarter of the base limit and is back above 80% after four
# half-lives (40 minutes by default): trust comes back with time, not at once.
UNBLOCKED_RISK = 3.0


class RiskRecorder(Protocol):
    """Where a risk signal goes (``RiskLedger`` is one): adds ``score``, returns the new risk."""

    def record(self, user_key: str, score: float) -> float: ...
