"""Settings that lift admission limits, for benchmarks that measure everything but admission.

A replay sends messages far faster than real users, and with simulated clocks; the limits would
refuse most of it and the figures would measure refusals. ``bench/ratelimit.py`` measures them.
The values are the highest the settings accept.
"""

from __future__ import annotations

NO_RATE_LIMITS = {
    "rate_per_minute": 100_000,
    "rate_burst": 100_000,
    "chat_rate_per_minute": 1_000_000,
    "chat_rate_burst": 1_000_000,
    "global_rate_per_second": 1_000_000,
    "global_rate_burst": 1_000_000,
}
