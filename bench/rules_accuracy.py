"""How well and how fast the rules tier matches: accuracy, honest refusals and latency.

Run from the repository root: ``python bench/rules_accuracy.py [--min-confidence 0.45]``.
It loads the shipped knowledge base and the labelled paraphrase set used by the tests, prints
in-KB accuracy, the out-of-KB refusal rate, every miss, a threshold sweep for tuning, and the
match latency over many rounds. It measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, Python puts bench/ on the path, not the repository root that holds core/.
sys.path.insert(0, str(ROOT))

from core.providers.rules import (  # noqa: E402
    DEFAULT_MIN_CONFIDENCE,
    IntentMatcher,
    load_knowledge_base,
)

KNOWLEDGE_BASE = ROOT / "bot" / "content" / "shop_knowledge.yaml"
PARAPHRASES = ROOT / "tests" / "core" / "providers" / "rules" / "paraphrases.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_CONFIDENCE)
    parser.add_argument("--rounds", type=int, default=200, help="latency rounds over the set")
    parser.add_argument("--kb", type=Path, default=KNOWLEDGE_BASE)
    parser.add_argument("--cases", type=Path, default=PARAPHRASES)
    args = parser.parse_args()

    kb = load_knowledge_base(args.kb)
    started = time.perf_counter()
    matcher = IntentMatcher(kb, args.min_confidence)
    build_ms = (time.perf_counter() - started) * 1000
    cases = yaml.safe_load(args.cases.read_text(encoding="utf-8"))
    in_kb: list[dict[str, Any]] = cases["in_kb"]
    out_of_kb: list[dict[str, Any]] = cases["out_of_kb"]

    print(f"knowledge base {args.kb.name}: {len(kb.intents)} intents, version {kb.version}")
    print(f"min_confidence {args.min_confidence:.2f}; matcher built in {build_ms:.1f} ms\n")
    report_accuracy(matcher, in_kb, out_of_kb)
    report_sweep(matcher, in_kb, out_of_kb)
    report_latency(matcher, [case["text"] for case in in_kb + out_of_kb], args.rounds)


def report_accuracy(
    matcher: IntentMatcher, in_kb: list[dict[str, Any]], out_of_kb: list[dict[str, Any]]
) -> None:
    misses: list[str] = []
    right = typo_right = 0
    for case in in_kb:
        found = matcher.match(case["text"])
        if found is not None and found.intent.id == case["expected"]:
            right += 1
            typo_right += bool(case.get("typo"))
        else:
            misses.append(describe(matcher, case["text"], case["expected"]))
    refused = 0
    for case in out_of_kb:
        if matcher.match(case["text"]) is None:
            refused += 1
        else:
            misses.append(describe(matcher, case["text"], None))
    typos = sum(1 for case in in_kb if case.get("typo"))

    print(f"in-KB accuracy        {right}/{len(in_kb)} = {right / len(in_kb):.1%}")
    print(f"  of which with typos {typo_right}/{typos}")
    print(f"out-of-KB refusals    {refused}/{len(out_of_kb)} = {refused / len(out_of_kb):.1%}")
    print(f"misses ({len(misses)}):")
    for line in misses or ["  none"]:
        print(line)
    print()


def describe(matcher: IntentMatcher, text: str, expected: str | None) -> str:
    best = matcher.rank(text)
    guess = "nothing" if best is None else f"{best.intent.id} ({best.confidence:.3f})"
    return f"  {text!r}: expected {expected or 'no match'}, best candidate {guess}"


def report_sweep(
    matcher: IntentMatcher, in_kb: list[dict[str, Any]], out_of_kb: list[dict[str, Any]]
) -> None:
    """Accuracy and refusals at other thresholds, from one ranking per question."""
    ranked_in = [(case["expected"], matcher.rank(case["text"])) for case in in_kb]
    ranked_out = [matcher.rank(case["text"]) for case in out_of_kb]
    print("threshold  in-KB accuracy  out-of-KB refusals")
    for step in range(30, 65, 5):
        threshold = step / 100
        right = sum(
            1
            for expected, best in ranked_in
            if best is not None and best.intent.id == expected and best.confidence >= threshold
        )
        refused = sum(1 for best in ranked_out if best is None or best.confidence < threshold)
        print(
            f"  {threshold:.2f}     {right / len(in_kb):6.1%}          "
            f"{refused / len(out_of_kb):6.1%}"
        )
    print()


def report_latency(matcher: IntentMatcher, texts: list[str], rounds: int) -> None:
    timings: list[float] = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter_ns()
            matcher.match(text)
            timings.append((time.perf_counter_ns() - started) / 1000)
    timings.sort()
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    print(f"match latency over {len(timings)} matches ({rounds} rounds of {len(texts)}):")
    print(
        f"  median {statistics.median(timings):.1f} µs, p99 {p99:.1f} µs, max {timings[-1]:.1f} µs"
    )


if __name__ == "__main__":
    main()
