"""Stage composition: the onion order, short-circuits and wrapping."""

from __future__ import annotations

from core.model import Reply, Turn
from core.pipeline import compose
from core.ports import Next
from tests.fakes import message


class Tag:
    """A stage that notes when it runs, and optionally answers by itself."""

    def __init__(self, name: str, trail: list[str], answer: str | None = None) -> None:
        self.name, self.trail, self.answer = name, trail, answer

    async def __call__(self, turn: Turn, call_next: Next) -> Reply:
        self.trail.append(f"{self.name}>")
        if self.answer is not None:
            return Reply(self.answer)
        reply = await call_next(turn)
        self.trail.append(f"<{self.name}")
        return Reply(f"{self.name}({reply.text})")


async def test_stages_run_outermost_first_and_wrap_what_follows() -> None:
    trail: list[str] = []

    async def terminal(turn: Turn) -> Reply:
        trail.append("terminal")
        return Reply("x")

    handler = compose([Tag("a", trail), Tag("b", trail)], terminal)
    reply = await handler(Turn(message=message("hi")))
    assert reply.text == "a(b(x))"
    assert trail == ["a>", "b>", "terminal", "<b", "<a"]


async def test_a_stage_can_short_circuit_the_rest() -> None:
    trail: list[str] = []

    async def terminal(turn: Turn) -> Reply:
        raise AssertionError("must not be reached")

    handler = compose([Tag("a", trail), Tag("b", trail, answer="stop")], terminal)
    assert (await handler(Turn(message=message("hi")))).text == "a(stop)"
