"""The console adapter, driven with text streams against the real runtime."""

from __future__ import annotations

import io

from adapters.console import ConsoleChat
from bot.runtime import Runtime
from core.model import ChatRef


async def test_console_answers_each_line_and_stops_at_end_of_input(runtime: Runtime) -> None:
    stdin = io.StringIO("when are you open?\n\n/help\n")
    stdout = io.StringIO()
    await ConsoleChat(runtime.gateway, stdin, stdout, user_id="tester").run()

    out = stdout.getvalue()
    assert "bot> " in out and "Monday" in out
    assert "bot (notice)> Commands:" in out
    history = await runtime.store.history(ChatRef("console", "tester"))
    assert history[0].text == "when are you open?"
