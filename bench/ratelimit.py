"""Cost of one rate-limit decision, and the memory of a million distinct users.

Four measurements:

- ``Gcra.check``: 1,000,000 decisions over 100,000 distinct user keys in a seeded random order,
  user limit 20/min with a burst of 5, ``max_keys`` 100,000, the real monotonic clock;
- ``AdmissionLimits.check``: the same traffic through the user (risk-scaled, with a real
  ``RiskLedger`` in which 10% of users are flagged), chat (10,000 chats, 60/min, burst 20) and
  global limits. The global limit is set loose so that admitted messages walk the full path
  (three peeks, risk look-up, three consumes) rather than stopping at a global refusal;
- ``Admission.refuse``: the whole decision the gateway asks for, on prebuilt messages of the
  same traffic: the block check (a ``BlockList`` with 1% of the users blocked, so 1% of the
  messages take the blocked path), the limits above, the slow-down and blocked notices, and a
  burst's risk (its log line goes to a sink that drops it, so formatting is counted);
- memory in a fresh process (Linux): 1,000,000 distinct keys through ``Gcra`` at ``max_keys``
  100,000; RSS before the keys, once the bound is reached, after all of them, and the peak.

Each decision is timed on its own with ``perf_counter_ns``; that call's own overhead (about
0.05 µs) is included in the figures. Target: under 10 µs per decision.

    python bench/ratelimit.py
    python bench/ratelimit.py --decisions 200000 --keys 20000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter_ns

from loguru import logger

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.figures import percentile
from core.admission import Admission
from core.blocks import Block, BlockList
from core.guardrails.screening import RiskLedger
from core.model import ChatRef, IncomingMessage, Reply, UserRef
from core.ratelimit import AdmissionLimits, Decision, Gcra, SlowDownNotices


def timed(decide: Callable[[int], Decision], order: list[int]) -> tuple[list[int], int]:
    """Nanoseconds per decision, and how many were allowed."""
    costs = [0] * len(order)
    allowed = 0
    for i, n in enumerate(order):
        start = perf_counter_ns()
        decision = decide(n)
        costs[i] = perf_counter_ns() - start
        allowed += decision.allowed
    return costs, allowed


def timed_refusals(
    refuse: Callable[[IncomingMessage], Reply | None],
    messages: list[IncomingMessage],
    order: list[int],
) -> tuple[list[int], int]:
    """Nanoseconds per ``Admission.refuse``, and how many messages it let in."""
    costs = [0] * len(order)
    allowed = 0
    for i, n in enumerate(order):
        start = perf_counter_ns()
        refusal = refuse(messages[n])
        costs[i] = perf_counter_ns() - start
        allowed += refusal is None
    return costs, allowed


class MemoryBlocks:
    """A ``BlockStore`` holding the blocks it starts with; the bench never writes."""

    def __init__(self, blocks: list[Block]) -> None:
        self._blocks = blocks

    async def load_blocks(self) -> list[Block]:
        return list(self._blocks)

    async def save_block(self, block: Block) -> Block:
        return block

    async def delete_block(self, user_key: str) -> bool:
        return False


def report(name: str, costs: list[int], allowed: int) -> None:
    ordered = sorted(costs)
    median = statistics.median(ordered) / 1000
    p99 = percentile([cost / 1000 for cost in ordered], 99)
    mean = sum(ordered) / len(ordered) / 1000
    print(
        f"{name:<24} decisions {len(costs):>9,}  allowed {allowed / len(costs):6.1%}  "
        f"median {median:5.2f} µs  p99 {p99:5.2f} µs  mean {mean:5.2f} µs"
    )


def memory_mib() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB, from Linux's /proc.

    Not ``getrusage``: its ``ru_maxrss`` survives ``exec`` and would report the parent's peak.
    """
    fields = dict(
        line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines()
    )
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def peak_rss(keys: int, max_keys: int) -> None:
    """Run in a fresh process: RSS before and after ``keys`` distinct keys."""
    limiter = Gcra(20 / 60, 5, max_keys=max_keys)
    rss_before, _ = memory_mib()
    at_bound = 0.0
    for n in range(keys):
        limiter.check(f"telegram:{n}")
        if n + 1 == max_keys:
            at_bound, _ = memory_mib()
    rss_after, peak = memory_mib()
    print(
        f"memory                   {keys:,} distinct keys, max_keys {max_keys:,}: RSS "
        f"{rss_before:.1f} MiB before, {at_bound:.1f} MiB once full, {rss_after:.1f} MiB after "
        f"all keys, peak {peak:.1f} MiB; {len(limiter):,} keys held, "
        f"{limiter.evictions:,} evicted"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--rss-keys", type=int, default=1_000_000)
    parser.add_argument("--rss-max-keys", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--rss-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.rss_only:
        peak_rss(args.rss_keys, args.rss_max_keys)
        return

    rng = random.Random(args.seed)
    users = [f"telegram:{n}" for n in range(args.keys)]
    chats = [f"telegram:chat:{n % 10_000}" for n in range(args.keys)]
    order = [rng.randrange(args.keys) for _ in range(args.decisions)]
    print(f"python {sys.version.split()[0]}, {args.decisions:,} decisions, {args.keys:,} keys")

    per_user = Gcra(20 / 60, 5, max_keys=100_000)
    report("Gcra.check", *timed(lambda n: per_user.check(users[n]), order))

    ledger = RiskLedger(half_life_seconds=600, max_users=100_000)
    for n in rng.sample(range(args.keys), args.keys // 10):
        ledger.record(users[n], rng.uniform(0.3, 3.0))
    gate = AdmissionLimits(
        Gcra(20 / 60, 5, max_keys=100_000),
        Gcra(60 / 60, 20, max_keys=100_000),
        Gcra(1e6, 1_000_000, max_keys=1),
        ledger.risk,
    )
    report("AdmissionLimits.check", *timed(lambda n: gate.check(users[n], chats[n]), order))

    sent_at = datetime.now(UTC)
    messages = [
        IncomingMessage(
            f"m{n}",
            UserRef("telegram", str(n)),
            ChatRef("telegram", f"chat:{n % 10_000}"),
            "hi",
            sent_at,
        )
        for n in range(args.keys)
    ]
    blocked = [
        Block(messages[n].user.key, "spam", "admin", sent_at)
        for n in rng.sample(range(args.keys), args.keys // 100)
    ]
    block_list = BlockList(MemoryBlocks(blocked))
    asyncio.run(block_list.load())
    ledger = RiskLedger(half_life_seconds=600, max_users=100_000)
    for n in rng.sample(range(args.keys), args.keys // 10):
        ledger.record(messages[n].user.key, rng.uniform(0.3, 3.0))
    admission = Admission(
        AdmissionLimits(
            Gcra(20 / 60, 5, max_keys=100_000),
            Gcra(60 / 60, 20, max_keys=100_000),
            Gcra(1e6, 1_000_000, max_keys=1),
            ledger.risk,
        ),
        SlowDownNotices(60, max_keys=100_000),
        blocks=block_list,
        risk=ledger,
    )
    logger.remove()
    logger.add(lambda _: None, level="INFO")  # bursts' log lines formatted, then dropped
    report("Admission.refuse", *timed_refusals(admission.refuse, messages, order))
    print(
        f"{'':<24} of which {admission.blocked:,} blocked, {admission.refused:,} rate-limited, "
        f"{len(ledger):,} users with risk"
    )

    subprocess.run(
        [
            sys.executable,
            __file__,
            "--rss-only",
            f"--rss-keys={args.rss_keys}",
            f"--rss-max-keys={args.rss_max_keys}",
        ],
        check=True,
    )


if __name__ == "__main__":
    main()
