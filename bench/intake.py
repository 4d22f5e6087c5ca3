"""The whole intake path: how fast messages are accepted, and answered, by the production wiring.

Opens the real runtime (admission, durable SQLite inbox on disk, fair lanes, workers, every
stage, the ladder) with a scripted provider of ``--latency-ms``, connects a counting outbound
for a push platform, and delivers ``--messages`` messages from ``--users`` users as fast as
``deliver`` returns. Prints:

- intake: the time ``deliver`` takes (admission + inbox write + queueing; it never waits on a
  model), median and p99, and how many messages per second intake took;
- end to end: messages answered per second from the first delivery to the last reply sent,
  and the reply latency (delivery to send) median and p99;
- peak RSS.

Admission limits are lifted (``bench/ratelimit.py`` measures them); asserts nothing.

    python bench/intake.py [--messages 5000 --users 500 --latency-ms 0 --workers 64]
    python bench/intake.py --intake-only   # the provider never answers: intake alone
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
from core.model import IncomingMessage, Reply

PLATFORM = "bench"


@dataclass
class CountingOutbound:
    """A push platform that takes every reply at once and notes when it came."""

    expected: int
    sent_at: dict[str, float] = field(default_factory=dict)
    all_sent: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, message: IncomingMessage, reply: Reply) -> None:
        self.sent_at[message.message_id] = time.perf_counter()
        if len(self.sent_at) >= self.expected:
            self.all_sent.set()

    async def typing(self, message: IncomingMessage) -> None:
        return None


async def run(args: argparse.Namespace, folder: Path) -> None:
    settings = load_settings(
        _env_file=None,
        database_url=f"sqlite:///{folder / 'intake.db'}",
        rules_first_confidence=0,
        cache_enabled=False,
        workers=args.workers,
        max_backlog=args.messages,
        log_level="ERROR",
        **NO_RATE_LIMITS,
    )
    latency = 3600.0 if args.intake_only else args.latency_ms / 1000
    async with open_runtime(settings, llm=[Scripted(latency)]) as runtime:
        gateway = runtime.gateway
        outbound = CountingOutbound(args.messages)
        gateway.connect(PLATFORM, outbound)
        delivered_at: dict[str, float] = {}
        intake_ms: list[float] = []
        messages = [
            message(f"user{n % args.users}", n, platform=PLATFORM) for n in range(args.messages)
        ]
        started = time.perf_counter()
        for incoming in messages:
            before = time.perf_counter()
            await gateway.deliver(incoming)
            after = time.perf_counter()
            delivered_at[incoming.message_id] = before
            intake_ms.append((after - before) * 1000)
        intake_done = time.perf_counter()
        if args.intake_only:
            gateway.stop_intake(grace=0)
        else:
            await asyncio.wait_for(outbound.all_sent.wait(), timeout=600)
        finished = time.perf_counter()
        await gateway.drain(5)
    latencies = [(outbound.sent_at[key] - delivered_at[key]) * 1000 for key in outbound.sent_at]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.messages} messages from {args.users} users, {args.workers} workers, "
        f"provider {'never answers' if args.intake_only else f'{args.latency_ms:g} ms'}, "
        "SQLite on disk"
    )
    print(
        f"  intake (deliver): median {percentile(intake_ms, 50):.3f} ms, "
        f"p99 {percentile(intake_ms, 99):.3f} ms, "
        f"{args.messages / (intake_done - started):,.0f} msg/s accepted"
    )
    if args.intake_only:
        print(f"  peak RSS {peak_mib:.0f} MiB")
        return
    print(
        f"  end to end: {args.messages / (finished - started):,.0f} msg/s answered; "
        f"reply latency median {percentile(latencies, 50):.1f} ms, "
        f"p99 {percentile(latencies, 99):.1f} ms"
    )
    print(f"  peak RSS {peak_mib:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument(
        "--intake-only",
        action="store_true",
        help="hold every turn (the provider never answers): intake alone, nothing competing",
    )
    args = parser.parse_args()
    configure_logging("ERROR", "text")
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(args, Path(folder)))


if __name__ == "__main__":
    main()
