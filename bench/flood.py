"""One user floods while 50 others chat: do the others notice?

Runs the production wiring (admission, stages, ladder, SQLite) with a scripted provider of fixed
latency, twice: 50 normal users alone, then the same 50 plus a flooder sending ``--flood``
messages in ``--seconds``. Prints the normal users' reply latency (median, p99) for both runs,
and what the flooder got: admitted messages and "slow down" notices (the rest are silent).
Admission works on real time here, so the run takes ``--seconds``. Asserts nothing.

``--no-limits`` lifts every rate limit, to show what the fair lanes alone do: the flooder's
messages all queue in its own lane (up to MAX_BACKLOG, then "busy"), served one turn per round.

    python bench/flood.py [--flood 10000 --seconds 10 --users 50] [--no-limits]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.figures import percentile
from bench.scripted import Scripted, message
from bench.unlimited import NO_RATE_LIMITS
from bot.logs import configure_logging
from bot.runtime import open_runtime
from bot.settings import load_settings
from core.model import TurnOutcome


async def run(args: argparse.Namespace, folder: Path, flooding: bool) -> dict[str, object]:
    settings = load_settings(
        _env_file=None,
        database_url=f"sqlite:///{folder / ('flood.db' if flooding else 'calm.db')}",
        rules_first_confidence=0,
        cache_enabled=False,
        log_level="ERROR",
        **(
            NO_RATE_LIMITS
            if args.no_limits
            # Room for the normal users; one flooder alone stays far over its own rate.
            else {"global_rate_per_second": 1_000_000, "global_rate_burst": 1_000_000}
        ),
    )
    latencies: list[float] = []
    flood = {"admitted": 0, "notices": 0, "silent": 0, "busy": 0}
    async with open_runtime(settings, llm=[Scripted(args.latency_ms / 1000)]) as runtime:
        gateway = runtime.gateway

        async def normal(user: str) -> None:
            # A person: a message, the answer, a pause to read and type, the next message.
            # People do not all press enter in the same millisecond.
            await asyncio.sleep(random.uniform(0, 1))
            for n in range(args.seconds):
                started = time.perf_counter()
                await gateway.submit(message(user, n, platform="flood"))
                latencies.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(1)

        async def one_flood_message(n: int) -> None:
            reply = await gateway.submit(message("flooder", n, platform="flood"))
            if reply.outcome is TurnOutcome.BUSY:
                flood["busy"] += 1
            elif reply.outcome is not TurnOutcome.RATE_LIMITED:
                flood["admitted"] += 1
            elif reply.silent:
                flood["silent"] += 1
            else:
                flood["notices"] += 1

        async def flooder() -> None:
            # Each message is sent without waiting for the answer to the one before, as a
            # script would: the rate is the flood's, not the bot's.
            pause = args.seconds / args.flood
            async with asyncio.TaskGroup() as sent:
                for n in range(args.flood):
                    sent.create_task(one_flood_message(n))
                    await asyncio.sleep(pause)

        async with asyncio.TaskGroup() as tasks:
            for n in range(args.users):
                tasks.create_task(normal(f"user{n}"))
            if flooding:
                tasks.create_task(flooder())
    return {
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "n": len(latencies),
        **flood,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flood", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--no-limits", action="store_true", help="lift every rate limit")
    args = parser.parse_args()
    configure_logging("ERROR", "text")
    with tempfile.TemporaryDirectory() as folder:
        calm = asyncio.run(run(args, Path(folder), flooding=False))
        flooded = asyncio.run(run(args, Path(folder), flooding=True))
    print(
        f"{args.users} users, provider {args.latency_ms:g} ms; flooder: {args.flood} messages "
        f"in {args.seconds} s"
    )
    for label, result in (("without flooder", calm), ("with flooder", flooded)):
        print(
            f"  {label:<16} normal users' replies: {result['n']}, "
            f"p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms"
        )
    print(
        f"  flooder: {flooded['admitted']} admitted, {flooded['notices']} slow-down notices, "
        f"{flooded['silent']} refused silently, {flooded['busy']} told busy"
    )
    print(f"  p99 with / without flooder: {float(flooded['p99']) / float(calm['p99']):.2f}x")


if __name__ == "__main__":
    main()
