"""Answers the built-in commands before anything reaches a model."""

from __future__ import annotations

from dataclasses import replace

from core.handoff.handoff import REASON_USER_ASKED, Handoff
from core.model import Command, Reply, ReplyKind, Turn, TurnOutcome
from core.ports import ConversationStore, Next

# Shown by /help, in this order; platform adapters register the same list natively.
COMMANDS: dict[str, str] = {
    "help": "show what I can do",
    "reset": "start a fresh conversation (I forget the context, not your data)",
    "forget": "delete everything stored about you",
    "human": "hand this conversation to a person from our team",
}
# /help's line for /human when no hand-off is configured: it must not promise a person.
HUMAN_UNAVAILABLE = "how to reach a person from our team"
# /start is answered too but not listed by /help (it shows the same list); the platforms' own
# command menus offer it first, as their users expect.
START = ("start", "introduce the bot and what it can do")


def command_menu(handoff_enabled: bool) -> list[tuple[str, str]]:
    """``(name, description)`` of every command, in order: ``/start``, then /help's list.

    What a platform registers natively (Telegram's menu, Discord's slash commands) and knows as
    ours. Without a hand-off /human's description does not promise a person.
    """
    meanings = dict(COMMANDS)
    if not handoff_enabled:
        meanings["human"] = HUMAN_UNAVAILABLE
    return [START, *meanings.items()]


class CommandStage:
    """Answers ``/start``, ``/help``, ``/reset``, ``/forget``, ``/human``; passes the rest on.

    ``/human`` opens a hand-off ticket through ``handoff``; without one it says plainly that
    no person is connected.
    """

    def __init__(
        self, store: ConversationStore, bot_name: str, handoff: Handoff | None = None
    ) -> None:
        self._store = store
        self._bot_name = bot_name
        self._handoff = handoff

    async def __call__(self, turn: Turn, call_next: Next) -> Reply:
        command = turn.message.command
        if command is None:
            return await call_next(turn)
        if command.name == "human" and self._handoff is not None:
            return await self._hand_off(turn, self._handoff)
        return _notice(await self._answer(command, turn))

    async def _hand_off(self, turn: Turn, handoff: Handoff) -> Reply:
        # Commands run before the context stage, so the turn carries no history yet; the team
        # needs to see what led here.
        history = await self._store.context(turn.message.chat, handoff.transcript_size)
        return await handoff.hand_off(replace(turn, history=history), REASON_USER_ASKED)

    async def _answer(self, command: Command, turn: Turn) -> str:
        match command.name:
            case "start":
                return (
                    f"Hi, I'm {self._bot_name}. Ask me anything about our shop: opening hours, "
                    "shipping, returns, payments or your order.\n\n" + self._help_text()
                )
            case "help":
                return self._help_text()
            case "reset":
                await self._store.reset_context(turn.message.chat)
                return "Done: we're starting afresh. Earlier messages no longer shape my answers."
            case "forget":
                removed = await self._store.forget_user(turn.message.user)
                return f"Done: I deleted everything stored about you ({removed} messages)."
            case "human":
                # Reached only without a hand-off: say so plainly instead of promising a reply
                # nobody will send.
                return (
                    "Handing over to a person is not switched on for this bot yet. "
                    'Ask me "how can I contact you?" to reach our team directly.'
                )
            case _:
                return (
                    f"I don't know the command /{command.name}. Type /help to see what I can do."
                )

    def _help_text(self) -> str:
        lines = [
            f"/{name} – {meaning}"
            for name, meaning in command_menu(handoff_enabled=self._handoff is not None)
            if (name, meaning) != START
        ]
        return "Commands:\n" + "\n".join(lines)


def _notice(text: str) -> Reply:
    return Reply(text, kind=ReplyKind.NOTICE, outcome=TurnOutcome.COMMAND)
