"""The Discord adapter's own cost per message, without the network.

Measures, each over ``--rounds`` runs, median and p99:

- intake: a recorded MESSAGE_CREATE payload parsed by discord.py (what its gateway does for
  every event) and turned into an ``IncomingMessage`` by ``convert.message_intake``; both
  steps, then ours alone;
- formatting: ``format.discord_messages`` (mentions broken, split at 2,000 characters, markup
  balanced) for a typical 400-character reply and a 10,000-character one;
- send path: formatting plus discord.py building each ``POST /channels/{id}/messages`` request
  and parsing its answer, with the HTTP call itself replaced by a canned response.

Prints figures; asserts nothing.

    python bench/adapter_discord.py [--rounds 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# discord.py imports audioop (deprecated in 3.11) for voice, which the bot never uses.
warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)

import discord  # noqa: E402

from adapters.discord.adapter import gateway_intents  # noqa: E402
from adapters.discord.convert import message_intake  # noqa: E402
from adapters.discord.format import discord_messages  # noqa: E402
from bench.figures import micro_line, timed, timed_async  # noqa: E402

PAYLOADS = ROOT / "tests" / "adapters" / "discord" / "payloads"
BOT_ID = 1183046432911527946
SHORT_REPLY = (
    "We ship to Norway, Sweden and Denmark. **Standard delivery** takes 3–5 working days and "
    "costs 9 EUR; orders over 60 EUR ship free. You can track your parcel from the link in "
    "your confirmation email. If it has not arrived after 7 working days, write to us and "
    "we will look into it. Anything else I can help with? @everyone sees this safely."
)
LONG_REPLY = "\n\n".join(
    f"Section {n}. " + "The kettle is blue, sturdy and easy to clean. " * 10 for n in range(22)
)


def parsed_state() -> Any:
    client = discord.Client(intents=gateway_intents())
    state: Any = client._connection
    guild = json.loads((PAYLOADS / "guild_create.json").read_text())
    state.user = discord.ClientUser(state=state, data=guild["members"][0]["user"])
    state._add_guild_from_data(guild)
    return client, state


async def main(rounds: int) -> None:
    client, state = parsed_state()
    bot_role = 1183047745153368127
    print(f"Discord adapter overhead per message ({rounds} rounds, no network)")

    print("intake")
    for name in ("message_create_dm.json", "message_create_guild_mention.json"):
        data: Any = json.loads((PAYLOADS / name).read_text())

        def parse(data: Any = data) -> discord.Message:
            channel, _ = state._get_guild_channel(data)
            return discord.Message(state=state, channel=channel, data=data)

        message = parse()

        def both(parse: Callable[[], discord.Message] = parse) -> object:
            return message_intake(parse(), bot_id=BOT_ID, bot_role_id=bot_role)

        def ours(message: discord.Message = message) -> object:
            return message_intake(message, bot_id=BOT_ID, bot_role_id=bot_role)

        kind = name.removeprefix("message_create_").removesuffix(".json")
        print(micro_line(f"{kind}: discord.py parse + convert", timed(both, rounds)))
        print(micro_line(f"{kind}: convert alone", timed(ours, rounds)))

    print("formatting (mentions, split, markup)")
    print(
        micro_line(
            f"{len(SHORT_REPLY)}-character reply -> 1 message",
            timed(lambda: discord_messages(SHORT_REPLY), rounds),
        )
    )
    pieces = len(discord_messages(LONG_REPLY))
    print(
        micro_line(
            f"{len(LONG_REPLY)}-character reply -> {pieces} messages",
            timed(lambda: discord_messages(LONG_REPLY), max(1, rounds // 10)),
        )
    )

    print("send path (formatting + discord.py request building; HTTP replaced)")
    answer = json.loads((PAYLOADS / "message_create_dm.json").read_text())

    async def canned(route: Any, **kwargs: Any) -> Any:
        return answer

    client.http.request = canned
    channel = client.get_partial_messageable(int(answer["channel_id"]))
    reference = discord.MessageReference(
        message_id=int(answer["id"]), channel_id=channel.id, fail_if_not_exists=False
    )
    none = discord.AllowedMentions.none()

    async def send(text: str) -> None:
        for index, piece in enumerate(discord_messages(text)):
            extra = {"reference": reference} if index == 0 else {}
            await channel.send(piece, allowed_mentions=none, **extra)

    print(micro_line("short reply", await timed_async(lambda: send(SHORT_REPLY), rounds)))
    print(
        micro_line(
            f"10,000-character reply ({pieces} requests)",
            await timed_async(lambda: send(LONG_REPLY), max(1, rounds // 10)),
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5000)
    asyncio.run(main(parser.parse_args().rounds))
