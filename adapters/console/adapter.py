"""Reads lines from a text stream, submits each, prints the reply; stops at end of input."""

from __future__ import annotations

import asyncio
import getpass
import threading
import uuid
from datetime import UTC, datetime
from typing import TextIO

from core.commands import parse_command
from core.model import ChatRef, IncomingMessage, ReplyKind, UserRef
from core.ports import MessageSink

PLATFORM = "console"
_PREFIX = {
    ReplyKind.ANSWER: "bot",
    ReplyKind.NOTICE: "bot (notice)",
    ReplyKind.ERROR: "bot (error)",
}


class ConsoleChat:
    """One local user talking to the bot in a terminal."""

    def __init__(
        self, sink: MessageSink, stdin: TextIO, stdout: TextIO, user_id: str | None = None
    ) -> None:
        self._sink = sink
        self._stdin = stdin
        self._stdout = stdout
        user = user_id or _local_user()
        self._user = UserRef(PLATFORM, user, display_name=user)
        self._chat = ChatRef(PLATFORM, user)

    async def run(self) -> None:
        lines = self._start_reader()
        self._write("Type a message, /help for commands, Ctrl-D to quit.\nyou> ")
        while (line := await lines.get()) is not None:
            text = line.strip()
            if text:
                reply = await self._sink.submit(self._message(text))
                if not reply.silent:
                    self._write(f"{_PREFIX[reply.kind]}> {reply.text}\n")
            self._write("you> ")
        self._write("\n")

    def _start_reader(self) -> asyncio.Queue[str | None]:
        """Read stdin on a daemon thread: a blocked readline must never hold up shutdown."""
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str | None] = asyncio.Queue()

        def pump() -> None:
            try:
                for line in iter(self._stdin.readline, ""):
                    loop.call_soon_threadsafe(lines.put_nowait, line)
                loop.call_soon_threadsafe(lines.put_nowait, None)
            except RuntimeError:  # the loop closed while we waited for input: nothing to do
                return

        threading.Thread(target=pump, name="console-stdin", daemon=True).start()
        return lines

    def _message(self, text: str) -> IncomingMessage:
        return IncomingMessage(
            message_id=uuid.uuid4().hex,
            user=self._user,
            chat=self._chat,
            text=text,
            sent_at=datetime.now(UTC),
            command=parse_command(text),
        )

    def _write(self, text: str) -> None:
        self._stdout.write(text)
        self._stdout.flush()


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a uid without a passwd entry, as in some containers
        return "local"
