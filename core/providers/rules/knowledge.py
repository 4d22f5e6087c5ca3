"""The rules tier's knowledge base: intents with their answers, loaded and checked from YAML.

Loading fails loudly at start-up (``ConfigurationError`` naming ``KNOWLEDGE_BASE_PATH``) rather
than leaving a half-usable knowledge base to surprise users later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigurationError

SETTING = "KNOWLEDGE_BASE_PATH"
_INTENT_KEYS = frozenset({"id", "answer", "examples", "keywords"})
_TOP_KEYS = frozenset({"fallback", "intents"})


@dataclass(frozen=True, slots=True)
class Intent:
    """One thing customers ask about, the ways they ask it, and the answer they get."""

    id: str
    answer: str
    examples: tuple[str, ...]
    keywords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    """Every intent plus the honest reply for questions none of them covers."""

    intents: tuple[Intent, ...]
    fallback: str
    # A hash of the file's bytes: answers cached under one version are not reused after an edit.
    version: str


def load_knowledge_base(path: Path) -> KnowledgeBase:
    """Read and check the knowledge base at ``path``; ``ConfigurationError`` if it is unusable."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(SETTING, f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        document = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigurationError(SETTING, f"{path} is not UTF-8 text") from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(SETTING, f"{path} is not valid YAML: {exc}") from exc
    return _parse(document, path, version=hashlib.sha256(raw).hexdigest()[:12])


def _parse(document: object, path: Path, version: str) -> KnowledgeBase:
    if not isinstance(document, Mapping):
        raise _problem(path, "expected a mapping with 'fallback' and 'intents' at the top level")
    unknown = sorted(str(key) for key in document if key not in _TOP_KEYS)
    if unknown:
        raise _problem(path, f"unknown top-level keys {unknown}; expected 'fallback', 'intents'")
    fallback = _text(document.get("fallback"))
    if not fallback:
        raise _problem(path, "'fallback' must be a non-empty text")
    if "/human" not in fallback:
        # The fallback is the bot admitting it does not know; it must point at the way out.
        raise _problem(path, "'fallback' must offer /human so users can reach a person")
    entries = document.get("intents")
    if not isinstance(entries, list) or not entries:
        raise _problem(path, "'intents' must be a non-empty list")

    intents: list[Intent] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        intent = _intent(entry, path, position)
        if intent.id in seen:
            raise _problem(path, f"intent id '{intent.id}' is used more than once")
        seen.add(intent.id)
        intents.append(intent)
    return KnowledgeBase(intents=tuple(intents), fallback=fallback, version=version)


def _intent(entry: object, path: Path, position: int) -> Intent:
    if not isinstance(entry, Mapping):
        raise _problem(path, f"intent #{position} must be a mapping")
    intent_id = _text(entry.get("id"))
    if not intent_id:
        raise _problem(path, f"intent #{position} has no 'id'")
    where = f"intent '{intent_id}'"
    unknown = sorted(str(key) for key in entry if key not in _INTENT_KEYS)
    if unknown:
        raise _problem(path, f"{where} has unknown keys {unknown}")
    answer = _text(entry.get("answer"))
    if not answer:
        raise _problem(path, f"{where} has no 'answer'")
    examples = _texts(entry.get("examples"), path, f"{where} 'examples'")
    keywords = _texts(entry.get("keywords"), path, f"{where} 'keywords'")
    if not examples and not keywords:
        raise _problem(path, f"{where} needs at least one example or keyword")
    return Intent(id=intent_id, answer=answer, examples=examples, keywords=keywords)


def _text(value: Any) -> str:
    """A stripped string, or "" for anything that is not a string (missing, number, list)."""
    return value.strip() if isinstance(value, str) else ""


def _texts(value: object, path: Path, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _problem(path, f"{where} must be a list of texts")
    texts = tuple(_text(item) for item in value)
    if not all(texts):
        raise _problem(path, f"{where} contains an empty or non-text entry")
    return texts


def _problem(path: Path, problem: str) -> ConfigurationError:
    return ConfigurationError(SETTING, f"{path}: {problem}")
