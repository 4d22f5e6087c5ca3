"""Admission rate limits: an exact GCRA limiter and the adaptive user/chat/global gate on it."""

from __future__ import annotations

from core.ratelimit.adaptive import AdmissionLimits, SlowDownNotices, risk_scale
from core.ratelimit.gcra import Decision, Gcra, Limit

__all__ = ["AdmissionLimits", "Decision", "Gcra", "Limit", "SlowDownNotices", "risk_scale"]
