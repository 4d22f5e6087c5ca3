"""Replays a trace of shop FAQ traffic through the whole bot and counts what reaches the model.

The trace is ``bench/cache_trace.py``'s (seeded: visits over two days, Zipf-like common
questions in several phrasings with noise, follow-ups, known customers with facts). Here every
message goes through the production wiring (``open_runtime``: screening, context with facts,
idle reset and token budget, response cache, the ladder with rules-first, validation) to a fake
OpenAI server on 127.0.0.1. Message times are simulated, so visits really are hours apart.

It runs with no saving, each saving alone, then all, and prints provider calls, input tokens
sent (counted with tiktoken on what the fake received) and the cost saved at gpt-4o-mini prices
against the first run. Asserts nothing.

    python bench/trace.py [--messages 2000 --users 400 --visits 600 --budget 8000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cache_trace import generate
from bench.unlimited import NO_RATE_LIMITS
from bot.logs import configure_logging
from bot.runtime import open_runtime
from bot.settings import load_settings
from core.context import counter_for
from core.model import ChatRef, IncomingMessage, UserRef
from tests.llm_server import VALID_KEY, FakeLLMServer, ok

PRICE_IN, PRICE_OUT = 0.15, 0.60  # gpt-4o-mini, $ per million tokens
OUTPUT_TOKENS = 80  # what the fake reports per answer
ANSWER = (
    "Thanks for asking! Orders placed before 15:00 on a working day leave our warehouse the same "
    "day, and delivery in the Netherlands usually takes one to two working days. You will get a "
    "tracking link by e-mail as soon as the parcel is on its way."
)
FACTS = 'balance: "$47.15"\nlast_order_total: "€89.90"\nlast_order_date: "2026-11-03"\n'


@dataclass
class Outcome:
    label: str
    messages: int
    calls: int
    input_tokens: int
    seconds: float

    @property
    def cost(self) -> float:
        return (self.input_tokens * PRICE_IN + self.calls * OUTPUT_TOKENS * PRICE_OUT) / 1e6


# Each saving on its own, then all together; "none" is the baseline.
RUNS: dict[str, dict[str, Any]] = {
    "none": {},
    "cache only": {"cache_enabled": True},
    "rules first only": {"rules_first_confidence": 0.9},
    "idle reset + budget only": {"context_idle_reset_minutes": 30, "context_budget_tokens": 0},
    "all": {
        "cache_enabled": True,
        "rules_first_confidence": 0.9,
        "context_idle_reset_minutes": 30,
        "context_budget_tokens": 0,
    },
}
BASELINE = {
    "cache_enabled": False,
    "rules_first_confidence": 0,
    "context_idle_reset_minutes": 0,
    "context_budget_tokens": 1_000_000,
}


async def replay(args: argparse.Namespace, folder: Path, label: str) -> Outcome:
    events = generate(args.seed, args.users, args.messages, args.visits)
    facts = folder / "facts" / "trace"
    facts.mkdir(parents=True, exist_ok=True)
    for user in {event.user for event in events if event.facts}:
        (facts / f"user{user}.yaml").write_text(FACTS, encoding="utf-8")
    counter = counter_for("openai", "gpt-4o-mini")
    async with FakeLLMServer() as llm:
        # Answers as long as the knowledge base's (about 60 tokens), so the history that later
        # prompts carry is the same size whichever rung answered.
        llm.openai.script(*[ok(ANSWER, usage=(300, OUTPUT_TOKENS))] * (2 * len(events)))
        settings = load_settings(
            _env_file=None,
            database_url=f"sqlite:///{folder / (label.replace(' ', '_') + '.db')}",
            **NO_RATE_LIMITS,
            providers="openai,rules,handoff",
            ops_token="bench-ops-token-0123456789",  # the hand-off rung needs it
            openai_api_key=VALID_KEY,
            openai_base_url=llm.openai_base_url,
            facts_dir=str(folder / "facts"),
            log_level="ERROR",
            **{
                **BASELINE,
                **{
                    key: (args.budget if key == "context_budget_tokens" else value)
                    for key, value in RUNS[label].items()
                },
            },
        )
        start = datetime.now(UTC)
        started = time.perf_counter()
        async with open_runtime(settings) as runtime:
            for n, event in enumerate(events):
                user = f"user{event.user}"
                await runtime.gateway.submit(
                    IncomingMessage(
                        f"t{n}",
                        UserRef("trace", user),
                        ChatRef("trace", user),
                        event.text,
                        start + timedelta(seconds=event.at),
                    )
                )
        elapsed = time.perf_counter() - started
        sent = [request.body for request in llm.openai.requests if request.body]
    tokens = sum(_prompt_tokens(body, counter.count) for body in sent)
    return Outcome(label, len(events), len(sent), tokens, elapsed)


def _prompt_tokens(body: Any, count: Any) -> int:
    return sum(count(str(message.get("content", ""))) + 4 for message in body["messages"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--visits", type=int, default=600)
    parser.add_argument("--budget", type=int, default=8000, help="CONTEXT_BUDGET_TOKENS")
    args = parser.parse_args()
    configure_logging("ERROR", "text")
    with tempfile.TemporaryDirectory() as folder:
        runs = [asyncio.run(replay(args, Path(folder), label)) for label in RUNS]
    base = runs[0]
    print(
        f"trace: {base.messages} messages, {args.users} users, {args.visits} visits "
        f"(seed {args.seed}), budget {args.budget} tokens"
    )
    print(f"  {'savings':<26}{'calls':>7}{'saved':>8}{'input tokens':>14}{'saved':>8}{'cost':>10}")
    for run in runs:
        print(
            f"  {run.label:<26}{run.calls:>7}{1 - run.calls / base.calls:>8.1%}"
            f"{run.input_tokens:>14}{1 - run.input_tokens / base.input_tokens:>8.1%}"
            f"{1 - run.cost / base.cost:>10.1%}"
        )


if __name__ == "__main__":
    main()
