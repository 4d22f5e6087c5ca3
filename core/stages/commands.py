"""Answers the built-in commands before anything reaches a model."""

from __future__ import annotations

from core.model import Command, Reply, ReplyKind, Turn, TurnOutcome
from core.ports import ConversationStore, Next

# Shown by /help, in this order; platform adapters register the same list natively.
COMMANDS: dict[str, str] = {
    "help": "show what I can do",
    "reset": "start a fresh conversation (I forget the context, not your data)",
    "forget": "delete everything stored about you",
    "human": "how to reach a person from our team",
}


class CommandStage:
    """Answers ``/start``, ``/help``, ``/reset``, ``/forget``, ``/human``; passes the rest on."""

    def __init__(self, store: ConversationStore, bot_name: str) -> None:
        self._store = store
        self._bot_name = bot_name

    async def __call__(self, turn: Turn, call_next: Next) -> Reply:
        command = turn.message.command
        if command is None:
            return await call_next(turn)
        return _notice(await self._answer(command, turn))

    async def _answer(self, command: Command, turn: Turn) -> str:
        match command.name:
            case "start":
                return (
                    f"Hi, I'm {self._bot_name}. Ask me anything about our shop: opening hours, "
                    "shipping, returns, payments or your order.\n\n" + _help_text()
                )
            case "help":
                return _help_text()
            case "reset":
                await self._store.reset_context(turn.message.chat)
                return "Done: we're starting afresh. Earlier messages no longer shape my answers."
            case "forget":
                removed = await self._store.forget_user(turn.message.user)
                return f"Done: I deleted everything stored about you ({removed} messages)."
            case "human":
                # The hand-off to moderators is its own capability; until it is configured we say
                # so plainly instead of promising a reply nobody will send.
                return (
                    "Handing over to a person is not switched on for this bot yet. "
                    'Ask me "how can I contact you?" to reach our team directly.'
                )
            case _:
                return (
                    f"I don't know the command /{command.name}. Type /help to see what I can do."
                )


def _help_text() -> str:
    lines = [f"/{name} – {meaning}" for name, meaning in COMMANDS.items()]
    return "Commands:\n" + "\n".join(lines)


def _notice(text: str) -> Reply:
    return Reply(text, kind=ReplyKind.NOTICE, outcome=TurnOutcome.COMMAND)
