"""Leaks: the system prompt repeated word for word, or a configured secret string.

The prompt check compares runs of words (shingles), so punctuation, case and line breaks do not
hide a copy; runs that also occur in the reference texts or the user's own message are not
counted, because repeating those is the job.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def shingles(text: str, size: int) -> set[tuple[str, ...]]:
    """Every run of ``size`` consecutive words of ``text``."""
    found = words(text)
    return {tuple(found[i : i + size]) for i in range(len(found) - size + 1)}


class PromptLeakCheck:
    """Finds ``size`` consecutive words of a system prompt in a reply.

    The shingles of the last few system prompts are kept, since one deployment has only a handful
    and rebuilding them on every turn would cost more than the rest of the validation.
    """

    def __init__(self, size: int, allowed: Iterable[str] = (), *, remembered: int = 8) -> None:
        self._size = size
        self._allowed: set[tuple[str, ...]] = set()
        for text in allowed:
            self._allowed |= shingles(text, size)
        self._remembered = remembered
        self._prompts: OrderedDict[str, frozenset[tuple[str, ...]]] = OrderedDict()

    def leaked(self, reply: str, system_prompt: str, user_message: str = "") -> str | None:
        """The first leaked run of words, or None."""
        if not system_prompt:
            return None
        secret = self._shingles_of(system_prompt)
        found = words(reply)
        size = self._size
        own: set[tuple[str, ...]] | None = None
        for i in range(len(found) - size + 1):
            run = tuple(found[i : i + size])
            if run in secret:
                if own is None:  # the user's message, only once something matched
                    own = shingles(user_message, size)
                if run not in own:
                    return " ".join(run)
        return None

    def _shingles_of(self, prompt: str) -> frozenset[tuple[str, ...]]:
        cached = self._prompts.get(prompt)
        if cached is None:
            cached = frozenset(shingles(prompt, self._size) - self._allowed)
            self._prompts[prompt] = cached
            if len(self._prompts) > self._remembered:
                self._prompts.popitem(last=False)
        else:
            self._prompts.move_to_end(prompt)
        return cached


def find_secrets(text: str, secrets: Sequence[str]) -> list[tuple[int, int]]:
    """Spans of every configured secret in ``text`` (case-insensitive)."""
    lowered = text.lower()
    spans: list[tuple[int, int]] = []
    for secret in secrets:
        needle = secret.lower()
        start = lowered.find(needle)
        while start >= 0:
            spans.append((start, start + len(needle)))
            start = lowered.find(needle, start + 1)
    return sorted(spans)
