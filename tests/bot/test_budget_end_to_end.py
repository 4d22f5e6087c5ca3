"""Budgets through the whole bot: the real OpenAI SDK against the fake server, the web API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.settings import Settings
from tests.bot.http_helpers import ask, running
from tests.llm_server import VALID_KEY, FakeLLMServer


def completions(llm: FakeLLMServer) -> int:
    return sum(r.path.endswith("completions") for r in llm.openai.requests)


async def test_a_user_is_warned_once_then_told_when_the_allowance_resets(
    llm: FakeLLMServer, make_settings: Callable[..., Settings]
) -> None:
    values: dict[str, Any] = {
        "providers": "openai,rules",
        "openai_api_key": VALID_KEY,
        "openai_base_url": llm.openai_base_url,
        "rules_first_confidence": 0,
        "cache_enabled": False,
        # Each fake answer uses 12 + 5 tokens: the third crosses both 80% (40) and the limit.
        "user_daily_tokens": 50,
    }
    async with running(make_settings(**values)) as (runtime, http):
        first = await ask(http, "write me a poem about parcels")
        second = await ask(http, "another poem please")
        third = await ask(http, "one more poem")
        assert "Heads-up" not in first["text"] + second["text"]
        assert "Heads-up" in third["text"] and "today's allowance" in third["text"]
        assert completions(llm) == 3

        spent = await ask(http, "and a last poem")
        assert spent["kind"] == "notice"
        assert "used up today's allowance" in spent["text"] and "00:00 UTC" in spent["text"]
        # What the rules know is still answered, for free.
        hours = await ask(http, "what are your opening hours?")
        assert hours["kind"] == "answer" and "Monday" in hours["text"]
        assert completions(llm) == 3  # no model call once the allowance was spent

        # Another user has their own allowance.
        other = await ask(http, "write me a poem", user="someone-else")
        assert other["text"] == "Hello from the fake model."
        assert completions(llm) == 4
        async with runtime.store.db.execute(
            "SELECT outcome FROM messages WHERE direction = 'out' ORDER BY id"
        ) as cursor:
            outcomes = [row[0] for row in await cursor.fetchall()]
    assert outcomes == ["answered"] * 3 + ["over_budget", "answered", "answered"]
