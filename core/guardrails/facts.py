"""User facts from files: ``<folder>/<platform>/<user id>.yaml``, a flat mapping of strings.

Meant for the demo and for small deployments; a real system plugs its own ``FactsProvider``
(a database or an HTTP hook) into the same port.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import yaml
from loguru import logger

from core.model import UserRef

_EMPTY: Mapping[str, str] = MappingProxyType({})
_UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]")


def safe_name(part: str) -> str:
    """A file name that stays in its folder whatever a platform sends as an id."""
    cleaned = _UNSAFE.sub("_", part).lstrip(".")
    return cleaned or "_"


class FileFactsProvider:
    """Reads one YAML file per user; a missing or unreadable file means nothing is known."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def path_for(self, user: UserRef) -> Path:
        return self._folder / safe_name(user.platform) / f"{safe_name(user.user_id)}.yaml"

    async def facts_for(self, user: UserRef) -> Mapping[str, str]:
        return await asyncio.to_thread(self._read, self.path_for(user))

    def _read(self, path: Path) -> Mapping[str, str]:
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return _EMPTY
        except OSError as exc:
            logger.warning("cannot read the facts file {}: {}", path, exc)
            return _EMPTY
        try:
            document = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            logger.warning("the facts file {} is not valid YAML: {}", path, exc)
            return _EMPTY
        if document is None:
            return _EMPTY
        if not isinstance(document, dict):
            logger.warning("the facts file {} must be a mapping of name: value", path)
            return _EMPTY
        facts = {
            str(name): str(value)
            for name, value in document.items()
            if value is not None and not isinstance(value, dict | list)
        }
        return MappingProxyType(facts)
