"""What the Slack adapter itself costs per message, apart from the network and the model.

Prints median and p99 of:

- intake conversion: a recorded-shape DM event and an app_mention to ``IncomingMessage``;
- reply formatting: markdown to mrkdwn, escaped and split (a typical reply of ~600
  characters, and a 10,000-character one that becomes four messages);
- the HTTP events path in process: a signed request through Starlette, Bolt (signature check,
  middleware, listener matching) and our conversion to a sink that keeps nothing; no socket,
  the ASGI app is called directly (its client is httpx's in-process transport);
- for scale, ``send`` to the fake Slack on 127.0.0.1, which does include loopback HTTP.

Asserts nothing.

    python bench/adapter_slack.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from adapters.common.pacing import Pacer, Rate
from adapters.common.split import split_text
from adapters.slack import SlackAdapter, SlackConfig
from adapters.slack.convert import BotIdentity, event_to_intake
from adapters.slack.format import MAX_MESSAGE_CHARS, format_reply, sent_size
from bench.figures import micro_line, timed, timed_async
from bot.logs import configure_logging
from core.model import IncomingMessage, Reply
from core.ports import Outbound
from tests.platforms.slack_server import FakeSlack, dm, mention

TYPICAL_REPLY = (
    "## Returns\n\nYou can return **any item** within *30 days* of delivery, as long as it is "
    "unused and in its original packaging. Start a return from [your orders page]"
    "(https://shop.example/orders?tab=returns&lang=en) and print the label.\n\n"
    "- Refunds go back to the original payment method within 5 business days.\n"
    "- Sale items can be exchanged but not refunded.\n"
    "- Shipping costs are refunded only when the item was faulty.\n\n"
    "Reply `/human` if you'd like a person from our team to help with a return <3."
)


class NullSink:
    """A sink that takes every message at once and keeps nothing."""

    def __init__(self) -> None:
        self.delivered = 0

    def connect(self, platform: str, outbound: Outbound) -> None:
        return None

    async def deliver(self, message: IncomingMessage) -> None:
        self.delivered += 1


def pure(runs: int) -> None:
    bot = BotIdentity("UBOT0001", "BBOT0001")
    direct, mentioned = dm("where is my order? it was <urgent> & paid"), mention("opening hours?")
    long_reply = "\n\n".join([TYPICAL_REPLY] * 21)
    long_parts = len(format_reply(long_reply))
    cases = [
        ("intake: DM event -> IncomingMessage", lambda: event_to_intake(direct, bot), runs),
        ("intake: app_mention -> IncomingMessage", lambda: event_to_intake(mentioned, bot), runs),
        (
            f"format: {len(TYPICAL_REPLY)}-char reply -> 1 message",
            lambda: format_reply(TYPICAL_REPLY),
            runs,
        ),
        (
            f"format: {len(long_reply)}-char reply -> {long_parts} messages",
            lambda: format_reply(long_reply),
            max(runs // 10, 50),
        ),
        (
            "  of which the shared splitter (split_text)",
            lambda: split_text(long_reply, MAX_MESSAGE_CHARS, size=sent_size),
            max(runs // 10, 50),
        ),
    ]
    print("pure conversion (no I/O)")
    for label, work, count in cases:
        print(micro_line(label, timed(work, count)))


async def in_process(runs: int) -> None:
    from starlette.applications import Starlette

    async with FakeSlack() as slack:
        sink = NullSink()
        config = SlackConfig(
            bot_token=slack.bot_token, signing_secret=slack.signing_secret, base_url=slack.base_url
        )
        # Unpaced: this measures our send path, not chat.postMessage's one a second.
        unpaced = Pacer(Rate(1e9, 1_000_000))
        async with SlackAdapter(sink, config, unpaced) as adapter:
            app = Starlette(routes=list(adapter.routes()))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                requests = [slack.signed_event_request(dm(f"question {n}")) for n in range(runs)]
                await http.post("/slack/events", content=requests[0][0], headers=requests[0][1])
                pending = iter(requests)

                async def deliver() -> None:
                    body, headers = next(pending)
                    response = await http.post("/slack/events", content=body, headers=headers)
                    assert response.status_code == 200

                intake = await timed_async(deliver, runs)
            message = event_to_intake(dm("hi"), adapter.bot)
            assert isinstance(message, IncomingMessage)
            reply = Reply(TYPICAL_REPLY)
            sends = await timed_async(lambda: adapter.send(message, reply), max(runs // 4, 50))
    print("in process (Bolt and Starlette included, no socket)")
    print(micro_line("HTTP event: signed request -> sink.deliver", intake))
    print("for scale: with loopback HTTP to the fake Slack")
    print(micro_line("send: typical reply via chat.postMessage", sends))
    assert sink.delivered == runs + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    configure_logging("ERROR", "text")
    pure(args.messages)
    asyncio.run(in_process(args.messages))


if __name__ == "__main__":
    main()
