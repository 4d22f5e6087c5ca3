"""Validator rejections raise the sender's risk, through the screening stage around the turn."""

from __future__ import annotations

import pytest

from core.guardrails.screening import (
    LEAK_REJECTION_RISK,
    MAX_REJECTION_RISK_PER_TURN,
    REJECTION_RISK,
    InputScreen,
    RiskLedger,
    ScreeningStage,
    rejections,
)
from core.model import Reply, Turn
from tests.fakes import message


def stage_and_ledger() -> tuple[ScreeningStage, RiskLedger]:
    ledger = RiskLedger(half_life_seconds=600, max_users=100)
    return ScreeningStage(InputScreen(), ledger), ledger


async def answered(stage: ScreeningStage, *trail: str, user: str = "u1") -> Reply:
    """Runs a harmless question through ``stage`` to a reply that took ``trail``."""

    async def terminal(turn: Turn) -> Reply:
        return Reply("ok", provider="openai", trail=trail)

    return await stage(Turn(message("Do you ship to Canada?", user=user)), terminal)


def test_the_rejections_are_read_from_the_ladders_trail() -> None:
    trail = ("openai:rejected:pii_email", "openai:timeout", "anthropic:rejected:prompt_leak")
    assert rejections(trail) == ["pii_email", "prompt_leak"]
    assert rejections(("openai:answered", "cache:hit")) == []


async def test_a_rejected_answer_adds_risk_to_the_sender_only() -> None:
    stage, ledger = stage_and_ledger()
    reply = await answered(stage, "openai:rejected:wrong_figure", "openai:answered")

    assert reply.text == "ok"  # the reply is passed on untouched
    assert ledger.risk("test:u1") == pytest.approx(REJECTION_RISK)
    assert ledger.risk("test:u2") == 0.0
    assert stage.rejections == 1


async def test_a_leak_weighs_more_than_other_rejections() -> None:
    stage, ledger = stage_and_ledger()
    await answered(stage, "openai:rejected:prompt_leak", "anthropic:answered", user="prober")
    await answered(stage, "openai:rejected:pii_phone", "openai:answered", user="unlucky")
    assert ledger.risk("test:prober") == pytest.approx(LEAK_REJECTION_RISK)
    assert ledger.risk("test:prober") > ledger.risk("test:unlucky")


async def test_the_providers_own_failures_add_no_risk() -> None:
    stage, ledger = stage_and_ledger()
    await answered(
        stage,
        "openai:rejected:empty",
        "openai:rejected:truncated",
        "openai:rejected:too_long",
        "openai:timeout",
        "anthropic:answered",
    )
    assert len(ledger) == 0
    assert stage.rejections == 3  # still counted for metrics


async def test_one_turns_retries_add_at_most_the_cap() -> None:
    stage, ledger = stage_and_ledger()
    await answered(
        stage, *["openai:rejected:secret_leak"] * 3, *["anthropic:rejected:pii_card"] * 3
    )
    assert ledger.risk("test:u1") == pytest.approx(MAX_REJECTION_RISK_PER_TURN)


async def test_answers_without_rejections_add_no_risk() -> None:
    stage, ledger = stage_and_ledger()
    await answered(stage, "openai:answered")
    await answered(stage, "cache:hit")
    await answered(stage)
    assert len(ledger) == 0


class BrokenLedger(RiskLedger):
    def record(self, user_key: str, score: float) -> float:
        raise RuntimeError("a bug in the ledger")


async def test_a_failure_recording_rejections_still_returns_the_reply() -> None:
    stage = ScreeningStage(InputScreen(), BrokenLedger(half_life_seconds=60, max_users=10))
    reply = await answered(stage, "openai:rejected:prompt_leak", "openai:answered")
    assert reply.text == "ok"
