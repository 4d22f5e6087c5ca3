"""How well and how fast the output validator judges replies: precision, recall, latency.

Run from the repository root::

    python bench/validator.py [--rounds 2000] [--cases FILE]

It scores the labelled set (every rule set to reject, so each finding shows as its reason) and
prints precision and recall per reason, the false-positive rate on replies labelled ``ok`` and
every miss; then the validation latency for 1,000-character replies of several kinds. It
measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, Python puts bench/ on the path, not the repository root that holds core/.
sys.path.insert(0, str(ROOT))

from bench.figures import percentile  # noqa: E402
from core.guardrails import OutputValidator, load_validator_rules  # noqa: E402
from core.guardrails.evaluation import LabelledSet, load_labelled_set, score  # noqa: E402
from core.providers.rules import load_knowledge_base  # noqa: E402

RULES = ROOT / "bot" / "content" / "validator_rules.yaml"
KNOWLEDGE_BASE = ROOT / "bot" / "content" / "shop_knowledge.yaml"
CASES = ROOT / "tests" / "core" / "guardrails" / "labelled_replies.yaml"


def thousand_characters(labelled: LabelledSet, expected: set[str]) -> str:
    """Replies of the set with the given labels, joined and cut at 1,000 characters."""
    parts = [c.reply for c in labelled.cases if c.expected in expected and c.reply.strip()]
    text = ""
    while len(text) < 1000:
        text += " ".join(parts) + " "
    return text[:999] + "."


def latency(
    validator: OutputValidator, labelled: LabelledSet, text: str, rounds: int
) -> list[float]:
    turn = labelled.cases[0].turn
    validator.review(text, turn)  # the prompt's shingles are cached after the first turn
    timings: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        validator.review(text, turn)
        timings.append((time.perf_counter() - started) * 1e6)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--cases", type=Path, default=CASES)
    args = parser.parse_args()

    rules = load_validator_rules(RULES)
    kb = load_knowledge_base(KNOWLEDGE_BASE)
    references = [intent.answer for intent in kb.intents]
    labelled = load_labelled_set(args.cases)
    scores = score(labelled, rules, references)
    ok = sum(c.expected == "ok" for c in labelled.cases)
    print(f"labelled set: {len(labelled.cases)} replies, {ok} labelled ok\n")
    print(scores.table())
    for case_id, expected, got in scores.mistakes():
        print(f"  miss: {case_id}: expected {expected}, got {got}")

    validator = OutputValidator(rules, reference_texts=references, secrets=labelled.secrets)
    kinds = {
        "ok replies (prices, dates, codes)": {"ok"},
        "figures (right and wrong)": {"wrong_figure", "unsupported_amount"},
        "personal data (redacted/rejected)": {"pii_email", "pii_phone", "pii_iban", "pii_card"},
    }
    print(f"\nlatency per 1,000-character reply, {args.rounds} rounds:")
    for name, labels in kinds.items():
        timings = latency(validator, labelled, thousand_characters(labelled, labels), args.rounds)
        print(
            f"  {name:<36} median {statistics.median(timings):7.1f} µs"
            f"   p99 {percentile(timings, 99):7.1f} µs"
        )
    started = time.perf_counter()
    fresh = OutputValidator(rules, reference_texts=references, secrets=labelled.secrets)
    fresh.review(thousand_characters(labelled, {"ok"}), labelled.cases[0].turn)
    cold = (time.perf_counter() - started) * 1e6
    print(f"  {'first reply (builds the caches)':<36} {cold:7.1f} µs")


if __name__ == "__main__":
    main()
