"""Times splitting bot replies into platform-sized chunks (``adapters.common.split``).

A typical long reply is about 10,000 characters of mixed markdown: headings, paragraphs, a
list, inline code, a link and a code block. It is split at Discord's 2,000 and Telegram's
4,096, measured with ``len`` and with the Telegram adapter's ``size_bound`` (UTF-16 units, plus
one per ``@``); then a 100,000-character text (ten such replies) at both limits. Prints the
median and p99 time per split and the number of chunks. Asserts nothing.

    python bench/split.py [--runs 300]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.common.split import split_text
from adapters.telegram.format import size_bound
from bench.figures import percentile, timed

WORDS = [
    "the", "bot", "keeps", "answers", "short", "and", "polite", "while", "it", "checks",
    "every", "reply", "against", "the", "rules", "before", "sending", "it", "to", "the", "user",
    "who", "asked", "about", "the", "order", "status", "refund", "policy", "or", "delivery",
]  # fmt: skip


def sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(6, 20))
    if rng.random() < 0.2:
        words.insert(rng.randrange(len(words)), "`config.yaml`")
    return " ".join(words).capitalize() + rng.choice([".", ".", ".", "!", "?"])


def code_block(rng: random.Random, lines: int) -> str:
    body = [
        f"    result_{i} = compute(value_{i}, factor={rng.randint(1, 99)})  # step {i}"
        for i in range(lines)
    ]
    return "```python\ndef handler(value):\n" + "\n".join(body) + "\n    return result\n```"


def reply(rng: random.Random, chars: int = 10_000) -> str:
    """A markdown reply of about ``chars`` characters with one code block of about 2,500."""
    parts = ["## Answer", " ".join(sentence(rng) for _ in range(4))]
    parts.append("\n".join(f"- {sentence(rng)}" for _ in range(6)))
    parts.append(code_block(rng, 35))
    parts.append("See https://example.com/docs/orders?ref=bot&lang=en for details.")
    while sum(len(part) + 2 for part in parts) < chars:
        parts.append(" ".join(sentence(rng) for _ in range(rng.randint(2, 7))))
    return "\n\n".join(parts)


def report(label: str, samples_us: list[float], chunks: int) -> None:
    median, p99 = statistics.median(samples_us) / 1e3, percentile(samples_us, 99) / 1e3
    print(f"{label:<38} median {median:7.3f} ms   p99 {p99:7.3f} ms   {chunks:3} chunks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(7)
    typical = reply(rng)
    large = "\n\n".join(reply(rng) for _ in range(10))
    sizes: dict[str, Callable[[str], int]] = {"len": len, "telegram": size_bound}
    print(f"typical reply: {len(typical):,} characters; large text: {len(large):,} characters")
    for text, name, runs in (
        (typical, "10k", args.runs),
        (large, "100k", max(args.runs // 10, 5)),
    ):
        for limit in (2000, 4096):
            for size_name, size in sizes.items():
                split = partial(split_text, text, limit, size=size)
                samples = timed(split, runs, warm_up=0)
                report(f"{name} at {limit}, size={size_name} ({runs} runs)", samples, len(split()))


if __name__ == "__main__":
    main()
