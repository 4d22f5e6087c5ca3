"""User facts from files: ``<folder>/<platform>/<user id>.yaml``, a flat mapping of strings.

Meant for the demo and for small deployments; a real system plugs its own ``FactsProvider``
(a database or an HTTP hook) into the same port.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

import yaml
from loguru import logger

from core.cache.lru import BoundedCache
from core.logref import pseudonym
from core.model import UserRef

_EMPTY: Mapping[str, str] = MappingProxyType({})
_UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]")


def safe_name(part: str) -> str:
    """A file name that stays in its folder whatever a platform sends as an id."""
    cleaned = _UNSAFE.sub("_", part).lstrip(".")
    return cleaned or "_"


class FileFactsProvider:
    """Reads one YAML file per user; a missing or unreadable file means nothing is known."""

    def __init__(
        self,
        folder: Path,
        *,
        fresh_for: float = 5.0,
        max_users: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._folder = folder
        # A user's facts are re-read at most every ``fresh_for`` seconds: a conversation's turns
        # follow each other within seconds, and a file read per turn is a thread hop per turn.
        self._fresh_for = fresh_for
        self._recent: BoundedCache[tuple[float, Mapping[str, str]]] = BoundedCache(max_users)
        self._clock = clock

    def path_for(self, user: UserRef) -> Path:
        return self._folder / safe_name(user.platform) / f"{safe_name(user.user_id)}.yaml"

    async def facts_for(self, user: UserRef) -> Mapping[str, str]:
        recent = self._recent.get(user.key)
        if recent is not None and self._clock() - recent[0] < self._fresh_for:
            return recent[1]
        facts = await asyncio.to_thread(self._read, self.path_for(user))
        self._recent.put(user.key, (self._clock(), facts))
        return facts

    def _read(self, path: Path) -> Mapping[str, str]:
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return _EMPTY
        except OSError as exc:
            logger.warning("cannot read a facts file ({}): {}", pseudonym(str(path)), exc.strerror)
            return _EMPTY
        try:
            document = yaml.safe_load(raw)
        except yaml.YAMLError:
            logger.warning("a facts file ({}) is not valid YAML", pseudonym(str(path)))
            return _EMPTY
        if document is None:
            return _EMPTY
        if not isinstance(document, dict):
            logger.warning("a facts file ({}) must map names to values", pseudonym(str(path)))
            return _EMPTY
        facts = {
            str(name): str(value)
            for name, value in document.items()
            if value is not None and not isinstance(value, dict | list)
        }
        return MappingProxyType(facts)
