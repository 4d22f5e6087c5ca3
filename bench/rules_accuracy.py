"""How well and how fast the rules tier matches: accuracy, honest refusals and latency.

Run from the repository root::

    python bench/rules_accuracy.py [--min-confidence 0.45] [--cases FILE ...] [--all]

It loads the shipped knowledge base and one or more labelled question sets, and prints for each
set its in-KB accuracy, out-of-KB refusal rate and every miss, then a threshold sweep over all
sets, one summary line per set and the match latency over many rounds. It measures; it asserts
nothing.

Two set formats are read: ``in_kb: [{text, expected, typo?}]`` plus ``out_of_kb: [{text}]`` (the
tuning paraphrases), and ``questions: [{text, expected}]`` where ``expected: null`` means the
knowledge base does not cover the question (the held-out set).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, Python puts bench/ on the path, not the repository root that holds core/.
sys.path.insert(0, str(ROOT))

from bench.figures import percentile  # noqa: E402
from core.providers.rules import (  # noqa: E402
    DEFAULT_MIN_CONFIDENCE,
    IntentMatch,
    IntentMatcher,
    load_knowledge_base,
)

KNOWLEDGE_BASE = ROOT / "bot" / "content" / "shop_knowledge.yaml"
CASES = ROOT / "tests" / "core" / "providers" / "rules"
PARAPHRASES = CASES / "paraphrases.yaml"
HELDOUT = CASES / "heldout.yaml"
BLIND = CASES / "blind.yaml"


Ranked = dict[str, IntentMatch | None]  # question -> best candidate, whatever the threshold


@dataclass(frozen=True)
class Case:
    text: str
    expected: str | None  # None: the knowledge base does not cover it, so refusing is right
    typo: bool = False


@dataclass(frozen=True)
class CaseSet:
    name: str
    cases: tuple[Case, ...]

    @property
    def in_kb(self) -> list[Case]:
        return [case for case in self.cases if case.expected is not None]

    @property
    def out_of_kb(self) -> list[Case]:
        return [case for case in self.cases if case.expected is None]


def load_cases(path: Path) -> CaseSet:
    """Read a labelled set in either format (see the module docstring)."""
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "questions" in document:
        entries = document["questions"]
    else:
        entries = [*document.get("in_kb", []), *document.get("out_of_kb", [])]
    cases = tuple(
        Case(entry["text"], entry.get("expected"), bool(entry.get("typo"))) for entry in entries
    )
    return CaseSet(path.stem, cases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_CONFIDENCE)
    parser.add_argument("--rounds", type=int, default=200, help="latency rounds over the sets")
    parser.add_argument("--kb", type=Path, default=KNOWLEDGE_BASE)
    parser.add_argument(
        "--cases", type=Path, action="append", help="a labelled set; repeat for several"
    )
    parser.add_argument("--all", action="store_true", help="the tuning, held-out and blind sets")
    args = parser.parse_args()
    paths: list[Path] = list(args.cases or [])
    if args.all:
        paths += [path for path in (PARAPHRASES, HELDOUT, BLIND) if path not in paths]
    sets = [load_cases(path) for path in paths or [PARAPHRASES]]

    kb = load_knowledge_base(args.kb)
    started = time.perf_counter()
    matcher = IntentMatcher(kb, args.min_confidence)
    build_ms = (time.perf_counter() - started) * 1000

    print(f"knowledge base {args.kb.name}: {len(kb.intents)} intents, version {kb.version}")
    print(f"min_confidence {args.min_confidence:.2f}; matcher built in {build_ms:.1f} ms\n")
    ranked = {case_set.name: rank_all(matcher, case_set) for case_set in sets}
    for case_set in sets:
        report_misses(case_set, ranked[case_set.name], args.min_confidence)
    report_sweep(sets, ranked)
    print("summary:")
    for case_set in sets:
        line = figures(case_set, ranked[case_set.name], args.min_confidence)
        print(f"  {case_set.name:<12} {line}")
    print()
    texts = [case.text for case_set in sets for case in case_set.cases]
    report_latency(matcher, texts, args.rounds)


def rank_all(matcher: IntentMatcher, case_set: CaseSet) -> Ranked:
    return {case.text: matcher.rank(case.text) for case in case_set.cases}


def is_right(case: Case, best: IntentMatch | None, threshold: float) -> bool:
    """Right intent for an in-KB question, no answer for the others."""
    answered = best if best is not None and best.confidence >= threshold else None
    if case.expected is None:
        return answered is None
    return answered is not None and answered.intent.id == case.expected


def count_right(cases: list[Case], ranked: Ranked, threshold: float) -> int:
    return sum(is_right(case, ranked[case.text], threshold) for case in cases)


def rate(part: int, whole: int) -> str:
    return f"{part}/{whole} = {part / whole:.1%}" if whole else "0/0"


def figures(case_set: CaseSet, ranked: Ranked, threshold: float) -> str:
    right = count_right(case_set.in_kb, ranked, threshold)
    refused = count_right(case_set.out_of_kb, ranked, threshold)
    return (
        f"in-KB accuracy {rate(right, len(case_set.in_kb))}   "
        f"out-of-KB refusals {rate(refused, len(case_set.out_of_kb))}"
    )


def report_misses(case_set: CaseSet, ranked: Ranked, threshold: float) -> None:
    print(f"== {case_set.name}: {figures(case_set, ranked, threshold)}")
    typos = [case for case in case_set.in_kb if case.typo]
    if typos:
        print(f"  of which with typos {count_right(typos, ranked, threshold)}/{len(typos)}")
    misses = [case for case in case_set.cases if not is_right(case, ranked[case.text], threshold)]
    print(f"misses ({len(misses)}):")
    for case in misses:
        best = ranked[case.text]
        guess = "nothing" if best is None else f"{best.intent.id} ({best.confidence:.3f})"
        print(f"  {case.text!r}: expected {case.expected or 'no match'}, best candidate {guess}")
    if not misses:
        print("  none")
    print()


def report_sweep(sets: list[CaseSet], ranked: dict[str, Ranked]) -> None:
    """Accuracy and refusals per set at other thresholds, from one ranking per question."""
    print("threshold" + "".join(f"  {s.name[:12]:>12} in-KB / refused" for s in sets))
    for step in range(30, 62, 2):
        threshold = step / 100
        line = f"  {threshold:.2f}   "
        for case_set in sets:
            right = count_right(case_set.in_kb, ranked[case_set.name], threshold)
            refused = count_right(case_set.out_of_kb, ranked[case_set.name], threshold)
            line += (
                f"  {right / max(1, len(case_set.in_kb)):20.1%} / "
                f"{refused / max(1, len(case_set.out_of_kb)):6.1%}"
            )
        print(line)
    print()


def report_latency(matcher: IntentMatcher, texts: list[str], rounds: int) -> None:
    timings: list[float] = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter_ns()
            matcher.match(text)
            timings.append((time.perf_counter_ns() - started) / 1000)
    timings.sort()
    p99 = percentile(timings, 99)
    print(f"match latency over {len(timings)} matches ({rounds} rounds of {len(texts)}):")
    print(
        f"  median {statistics.median(timings):.1f} µs, p99 {p99:.1f} µs, max {timings[-1]:.1f} µs"
    )


if __name__ == "__main__":
    main()
