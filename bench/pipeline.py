"""Drives the real pipeline (gateway, stages, SQLite on disk) with simulated users.

The provider is scripted: it answers after a fixed latency. What is reported as *overhead* is
the time of a turn through the real wiring (gateway, stages, hand-off gate, fallback ladder,
SQLite reads and writes) minus the time spent inside the provider. Users send at most one
message at a time here, so no turn waits in its conversation's lane. Prints figures; asserts
nothing.

    python bench/pipeline.py                      # open loop: 500 msg/s for 10 s, 200 users
    python bench/pipeline.py --mode max           # closed loop: as fast as it goes
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.figures import percentile
from bench.scripted import Scripted, message
from bench.unlimited import NO_RATE_LIMITS
from bot.logs import configure_logging
from bot.runtime import open_runtime
from bot.settings import load_settings
from core.model import IncomingMessage


@dataclass
class Probes:
    """Time spent in the provider and in the whole pipeline, per simulated message.

    The provider runs on a gateway worker, not in the task that submitted the message, so it
    is matched to its message by the question's text (each one is unique).
    """

    provider: dict[int, float] = field(default_factory=dict)
    pipeline: dict[int, float] = field(default_factory=dict)
    by_text: dict[str, int] = field(default_factory=dict)

    def provider_done(self, question: str, seconds: float) -> None:
        self.provider[self.by_text[question]] = seconds


def make_message(n: int, users: int) -> IncomingMessage:
    # A question the rules tier may answer: this text is part of what is measured.
    return message(f"user{n % users}", n, text=f"when are you open? ({n})")


async def run(args: argparse.Namespace, db_path: Path) -> None:
    probes = Probes()
    settings = load_settings(
        _env_file=None,
        database_url=f"sqlite:///{db_path}",
        history_limit=args.history,
        **NO_RATE_LIMITS,
    )
    configure_logging("ERROR", "text")  # the scripted model has no price: one warning, not news
    # The production wiring, with the scripted provider as the only LLM rung.
    provider = Scripted(
        args.latency_ms / 1000,
        text="Our shop is open Monday to Friday, 9:00 to 18:00.",
        on_done=probes.provider_done,
    )
    async with open_runtime(settings, llm=[provider]) as runtime:
        gateway = runtime.gateway
        end_to_end: dict[int, float] = {}

        async def one(n: int) -> None:
            incoming = make_message(n, args.users)
            probes.by_text[incoming.text] = n
            started = time.perf_counter()
            await gateway.submit(incoming)
            end_to_end[n] = time.perf_counter() - started
            probes.pipeline[n] = end_to_end[n]

        total = int(args.rate * args.seconds) if args.mode == "open" else args.messages
        started = time.perf_counter()
        if args.mode == "open":
            # Open loop: arrivals on a fixed schedule, whether or not earlier turns finished.
            async with asyncio.TaskGroup() as tasks:
                for n in range(total):
                    delay = started + n / args.rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.create_task(one(n))
        else:
            # Closed loop: `concurrency` users each send their next message on the last reply.
            queue = iter(range(total))

            async def user() -> None:
                for n in queue:
                    await one(n)

            async with asyncio.TaskGroup() as tasks:
                for _ in range(args.concurrency):
                    tasks.create_task(user())
        elapsed = time.perf_counter() - started
    report(args, total, elapsed, probes, end_to_end)


def report(
    args: argparse.Namespace,
    total: int,
    elapsed: float,
    probes: Probes,
    end_to_end: dict[int, float],
) -> None:
    overhead = sorted(
        (probes.pipeline[n] - probes.provider.get(n, 0.0)) * 1000 for n in probes.pipeline
    )
    e2e = sorted(v * 1000 for v in end_to_end.values())
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"mode            {args.mode}  users={args.users}  provider latency={args.latency_ms} ms"
    )
    print(f"messages        {total} in {elapsed:.2f} s")
    print(f"throughput      {total / elapsed:,.0f} messages/s")
    print(f"overhead p50    {percentile(overhead, 50):.3f} ms  (pipeline time minus provider)")
    print(f"overhead p99    {percentile(overhead, 99):.3f} ms")
    print(f"overhead max    {overhead[-1]:.3f} ms")
    print(f"end-to-end p50  {percentile(e2e, 50):.3f} ms  (incl. provider and lane wait)")
    print(f"end-to-end p99  {percentile(e2e, 99):.3f} ms")
    print(f"peak RSS        {peak_rss_mib:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=["open", "max"], default="open")
    parser.add_argument("--rate", type=float, default=500, help="open loop: messages per second")
    parser.add_argument("--seconds", type=float, default=10, help="open loop: duration")
    parser.add_argument("--messages", type=int, default=5000, help="max mode: total messages")
    parser.add_argument("--concurrency", type=int, default=64, help="max mode: parallel users")
    parser.add_argument("--users", type=int, default=200, help="distinct users (conversations)")
    parser.add_argument("--latency-ms", type=float, default=50, help="scripted provider latency")
    parser.add_argument("--history", type=int, default=20, help="HISTORY_LIMIT")
    parser.add_argument("--db", type=Path, help="SQLite file (default: a fresh temporary one)")
    args = parser.parse_args()
    if args.db:
        asyncio.run(run(args, args.db))
        return
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(args, Path(folder) / "bench.db"))


if __name__ == "__main__":
    main()
