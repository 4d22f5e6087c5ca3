"""Pseudonyms for logs, so a turn can be followed without writing who sent it."""

from __future__ import annotations

import hashlib
import secrets

# A fresh key per process: user ids are often small numbers, and an unkeyed hash of one could be
# reversed by trying them all. Pseudonyms are therefore stable within one run, not across runs.
_KEY = secrets.token_bytes(16)


def pseudonym(key: str) -> str:
    """A short tag for a user or conversation key that cannot be turned back into it."""
    return hashlib.blake2b(key.encode(), digest_size=5, key=_KEY).hexdigest()
