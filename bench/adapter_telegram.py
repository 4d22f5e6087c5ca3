"""What the Telegram adapter adds to each message, without the network.

- intake: a Bot API update (JSON, as a webhook body or one entry of getUpdates) to the
  ``IncomingMessage`` handed to the core: ``Update.de_json`` plus ``decide`` (addressing,
  mention stripping, commands), for a private question, a group mention and a group command;
- send path: a reply to the messages to send: splitting at 4,096 characters measured after
  formatting, rendering the markdown subset to HTML, escaping and defusing mentions; for a
  short answer, a typical markdown answer and a 10,000-character one (three messages).

Each figure is the median and p99 of single calls, in microseconds. ``--fake`` also times the
full ``send`` through python-telegram-bot to the fake Bot API on 127.0.0.1 (loopback HTTP
included, so that figure is an upper bound of the adapter's share). Asserts nothing.

    python bench/adapter_telegram.py [--rounds 5000] [--fake]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger
from telegram import Update

from adapters.common.split import split_text
from adapters.telegram.convert import BotIdentity, decide
from adapters.telegram.format import format_reply, render, size_bound
from bench.figures import micro_line, timed, timed_async

ROOT = Path(__file__).resolve().parents[1]
PAYLOADS = ROOT / "tests" / "adapters" / "telegram" / "payloads"
BOT = BotIdentity(7000001, "BastionTestBot")

SHORT = "We're open Monday to Friday, 9:00 to 18:00, and Saturday 10:00 to 14:00."
MARKDOWN = (
    "## Returns\n\nYou can return **any unused item** within *30 days*. Here's how:\n\n"
    "1. Open `Orders` in your account and pick the order.\n"
    "2. Choose **Return** and print the label.\n"
    "3. Drop the parcel at any post office; ask @support if the label fails.\n\n"
    "```text\nOrder NW-20231 > Return > Print label\n```\n\n"
    "Refunds reach your card within 5 working days of the parcel arriving. "
    "Items marked _final sale_ cannot be returned. <b>Note</b>: 2 * 3 isn't emphasis.\n"
) * 2
LONG = "\n\n".join(
    f"**Step {n}.** Our garden tools are made to last. "
    + " ".join(f"Tip {n}.{k}: rinse the blade, dry it and keep it *dry*." for k in range(1, 6))
    for n in range(1, 33)
)


def intake(rounds: int) -> None:
    print("intake: update JSON -> IncomingMessage (de_json + decide)")
    for name in ("private_text", "group_mention", "group_command_addressed"):
        data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text("utf-8"))

        def convert(data: dict[str, Any] = data) -> object:
            return decide(Update.de_json(data, None), BOT)

        print(micro_line(name, timed(convert, rounds)))
    update = Update.de_json(json.loads((PAYLOADS / "group_mention.json").read_text()), None)
    print(micro_line("group_mention, decide alone", timed(lambda: decide(update, BOT), rounds)))


def send_path(rounds: int) -> None:
    print("send path: reply text -> messages (split + HTML)")
    messages = len(format_reply(LONG))
    for label, text, n in (
        (f"short answer ({len(SHORT)} chars)", SHORT, rounds),
        (f"markdown answer ({len(MARKDOWN)} chars)", MARKDOWN, rounds),
        (f"long answer ({len(LONG)} chars, {messages} messages)", LONG, rounds // 10),
    ):
        print(micro_line(label, timed(partial(format_reply, text), max(n, 50))))
    # Where the long answer's time goes: the shared splitter, or our rendering.
    chunks = split_text(LONG, 4096, size=size_bound)
    n = max(rounds // 10, 50)
    print(
        micro_line(
            "  of which split_text", timed(lambda: split_text(LONG, 4096, size=size_bound), n)
        )
    )
    print(
        micro_line("  of which render (all parts)", timed(lambda: [render(c) for c in chunks], n))
    )


async def full_send(rounds: int) -> None:
    from datetime import UTC, datetime

    from adapters.telegram import TelegramAdapter
    from adapters.telegram.adapter import telegram_pacer
    from core.model import ChatRef, IncomingMessage, Reply, UserRef
    from tests.fakes import VirtualTime
    from tests.platforms.telegram_server import FakeTelegram

    class Sink:
        def connect(self, platform: str, outbound: object) -> None:
            pass

        async def deliver(self, message: IncomingMessage) -> None:
            pass

    message = IncomingMessage(
        "1",
        UserRef("telegram", "42"),
        ChatRef("telegram", "42"),
        "hi",
        datetime.now(UTC),
        extras={"message_id": 1},
    )
    logger.remove()  # the adapter's start-up lines would interleave with the figures
    logger.add(sys.stderr, level="WARNING")
    print("full send through python-telegram-bot to the fake on 127.0.0.1 (loopback included)")
    # Every send goes to one chat: on the real clock the pacer would hold each for a second.
    # Its waits pass on a virtual clock instead; its arithmetic is still timed.
    virtual = VirtualTime()
    pacer = telegram_pacer(virtual.clock, virtual.sleep)
    async with (
        FakeTelegram() as tg,
        TelegramAdapter(tg.token, Sink(), base_url=tg.base_url, pacer=pacer) as adapter,
    ):
        for label, text in (("short answer", SHORT), ("markdown answer", MARKDOWN)):
            samples = await timed_async(partial(adapter.send, message, Reply(text)), rounds)
            print(micro_line(label, samples))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument("--fake", action="store_true", help="also time send() against the fake")
    args = parser.parse_args()
    intake(args.rounds)
    send_path(args.rounds)
    if args.fake:
        asyncio.run(full_send(max(args.rounds // 10, 100)))


if __name__ == "__main__":
    main()
