"""A provider outage, end to end: the real SDKs against a fake OpenAI and Anthropic that fail.

Both fakes fail every request (``--fault error``: 503 at once; ``--fault hang``: no answer, so
each attempt runs into PROVIDER_TIMEOUT_SECONDS). Messages from different users go through
the whole bot (gateway, stages, ladder, SQLite), and the report splits them by whether the LLM
circuits were still closed (each provider tried and retried) or already open (skipped). Unknown
questions end in a hand-off ticket; the time measured is until that notice is ready to send.

For comparison, the naive chain (3 retries with 1-2-4 s waits per provider, each attempt
waiting out its timeout) spends 14 s in waits alone before the first attempt's timeouts.

    python bench/outage.py [--fault hang] [--messages 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.figures import latency_summary
from bench.unlimited import NO_RATE_LIMITS
from bot.logs import configure_logging
from bot.runtime import open_runtime
from bot.settings import load_settings
from core.model import ChatRef, IncomingMessage, TurnOutcome, UserRef
from tests.llm_server import VALID_KEY, FakeLLMServer, slow, status


async def run(args: argparse.Namespace, folder: Path) -> None:
    async with FakeLLMServer() as llm:
        fault = slow(3600) if args.fault == "hang" else status(503)
        llm.down(fault)
        settings = load_settings(
            _env_file=None,
            database_url=f"sqlite:///{folder / 'outage.db'}",
            ops_token="bench-ops-token-0123456789",  # the hand-off rung needs it
            **NO_RATE_LIMITS,
            openai_api_key=VALID_KEY,
            openai_base_url=llm.openai_base_url,
            anthropic_api_key=VALID_KEY,
            anthropic_base_url=llm.anthropic_base_url,
            provider_timeout_seconds=args.timeout,
            turn_deadline_seconds=args.deadline,
            log_level="ERROR",
        )
        closed: list[float] = []
        opened: list[float] = []
        configure_logging("ERROR", "text")  # hand-off notices would drown the figures
        async with open_runtime(settings) as runtime:
            for n in range(args.messages):
                user = f"user{n}"
                message = IncomingMessage(
                    uuid.uuid4().hex,
                    UserRef("bench", user),
                    ChatRef("bench", user),
                    "can you write me a poem?",  # the rules do not know: a hand-off
                    datetime.now(UTC),
                )
                started = time.perf_counter()
                reply = await runtime.gateway.submit(message)
                elapsed = (time.perf_counter() - started) * 1000
                assert reply.outcome is TurnOutcome.HANDED_OFF, reply
                llm_steps = [step for step in reply.trail if step.startswith(("openai", "anth"))]
                skipped = all(step.endswith(":circuit_open") for step in llm_steps)
                (opened if skipped else closed).append(elapsed)
    print(
        f"outage ({args.fault}): both LLMs failing, {args.timeout:g} s per attempt, "
        f"deadline {args.deadline:g} s, {args.messages} messages"
    )
    for label, times in (("closed:", closed), ("open:  ", opened)):
        print(f"  circuits {label} {len(times)} messages, to hand-off {latency_summary(times)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fault", choices=["error", "hang"], default="error")
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=8.0, help="PROVIDER_TIMEOUT_SECONDS")
    parser.add_argument("--deadline", type=float, default=20.0, help="TURN_DEADLINE_SECONDS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(args, Path(folder)))


if __name__ == "__main__":
    main()
