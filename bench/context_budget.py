"""Context trimming, measured: time to fit 10 to 10,000 stored messages into a budget.

Histories are realistic support chats (the sizes and importance of the messages in
``tests/core/context/test_tokens.py``'s sample, repeated); counts and importance are computed
once beforehand, as the store does, so only trimming is timed. The budget is 8,000 tokens with
a 1,000-token reply reserve and the 3 newest turns kept whole. Counting uses real tiktoken
(``o200k_base``) unless ``--estimate`` is given. Target: 10,000 messages in under 5 ms.

Prints figures; asserts nothing.

    python bench/context_budget.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.figures import percentile
from core.context.budget import BudgetedMessage, budgeted, plan_context
from core.context.tokens import EstimateCounter, TiktokenCounter, TokenCounter
from core.model import Role

SIZES = (10, 100, 1_000, 10_000)

CHAT = (
    "hi",
    "Hello! How can I help you today?",
    "I ordered a blue jacket last week, order #A-483920, and it still hasn't arrived.",
    "Order A-483920 shipped on 14 March and should arrive by Friday, 21 March.",
    "ok thanks",
    "You're welcome! Anything else?",
    "Actually, I meant the other order, the one I placed on 2024-03-02 for $89.99.",
    "Order B-771204 from 2 March 2024, total $89.99, is waiting for stock. We'll ship it "
    "as soon as it is back, expected on 28 March, or refund it in full if it cannot reach "
    "you by 5 April.",
    "Can I change the delivery address to 42 Baker Street, London NW1 6XE?",
    "Done: the delivery address for order B-771204 is now 42 Baker Street, London NW1 6XE.",
    "what is your return policy for sale items?",
    "Sale items can be returned within 14 days of delivery if unworn and tagged; refunds "
    "reach the original payment method within 5-7 business days.",
)

SYSTEM = (
    "You are the support assistant of Acme. Answer briefly, politely and only from the facts "
    "and the knowledge base given. Never invent order numbers, dates or amounts. " * 4
)
FACTS = "name: Jane Doe\nbalance: $47.15\nopen orders: B-771204 ($89.99)\ntier: gold"


def history_of(size: int, counter: TokenCounter) -> list[BudgetedMessage]:
    stored = [
        budgeted(Role.USER if i % 2 == 0 else Role.ASSISTANT, CHAT[i % len(CHAT)], counter)
        for i in range(len(CHAT))
    ]
    return [
        BudgetedMessage(m.role, f"{m.text} ({i})", m.tokens + 2, m.importance)
        for i, m in enumerate(stored[i % len(stored)] for i in range(size))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="timed runs per size")
    parser.add_argument("--budget", type=int, default=8_000)
    parser.add_argument("--estimate", action="store_true", help="use the estimate counter")
    args = parser.parse_args()

    counter: TokenCounter
    if args.estimate:
        counter = EstimateCounter()
    else:
        started = time.perf_counter()
        tiktoken_counter = TiktokenCounter("o200k_base", Path("data/tiktoken"))
        tiktoken_counter.load()
        counter = tiktoken_counter
        print(f"tiktoken o200k_base loaded in {(time.perf_counter() - started) * 1000:.0f} ms")

    print(
        f"budget {args.budget} tokens, reply reserve 1000, keep 3 recent turns, "
        f"{args.runs} runs per size\n"
    )
    print(f"{'messages':>9} {'kept':>5} {'median':>10} {'p99':>10} {'per message':>12}")
    for size in SIZES:
        history = history_of(size, counter)
        current = "And when will the jacket arrive? My order was #A-483920."
        timings = []
        for _ in range(args.runs + 5):
            started = time.perf_counter()
            plan = plan_context(
                SYSTEM,
                FACTS,
                history,
                current,
                budget=args.budget,
                reply_reserve=1_000,
                keep_recent=3,
                counter=counter,
            )
            timings.append((time.perf_counter() - started) * 1000)
        timings = timings[5:]  # warm-up runs
        median = statistics.median(timings)
        print(
            f"{size:>9,} {plan.kept:>5} {median:>7.3f} ms {percentile(timings, 99):>7.3f} ms "
            f"{median / size * 1000:>8.3f} µs"
        )


if __name__ == "__main__":
    main()
