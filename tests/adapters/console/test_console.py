"""The console adapter, driven with text streams against the real runtime."""

from __future__ import annotations

import io
from collections.abc import Callable

from adapters.console import ConsoleChat
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
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


async def test_a_flood_in_the_console_gets_one_slow_down_notice_per_window(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(rate_burst=1, rate_per_minute=1)
    async with open_runtime(settings) as runtime:
        stdout = io.StringIO()
        stdin = io.StringIO("".join(f"question {n}\n" for n in range(6)))
        await ConsoleChat(runtime.gateway, stdin, stdout, user_id="flooder").run()
    out = stdout.getvalue()
    assert out.count("sending messages faster") == 1  # not one per refused message
