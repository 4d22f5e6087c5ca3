"""Stable pseudonyms for logs, so a turn can be followed without writing who sent it."""

from __future__ import annotations

import hashlib


def pseudonym(key: str) -> str:
    """A short, stable, non-reversible tag for a user or conversation key."""
    return hashlib.blake2b(key.encode(), digest_size=5).hexdigest()
