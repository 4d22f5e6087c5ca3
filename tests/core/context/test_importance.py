"""Importance scores: facts, corrections, commitments and requests high; small talk low."""

from __future__ import annotations

import pytest

from core.context.importance import SMALL_TALK_SCORE, importance
from core.model import Role

SMALL_TALK = [
    "hi",
    "Hello!",
    "ok",
    "okay thanks",
    "thanks!",
    "Thank you so much!",
    "bye",
    "👍",
    "",
]

HIGH_USER = [
    "Where is order #A-483920? I paid $89.99 on 2024-03-02.",
    "My balance shows -$12.50 but I never used the credit. Why?",
    "No, I meant order C-100234, not 233",
    "Actually, my e-mail is jane.doe@example.com",
    "That's wrong, I paid with PayPal.",
    "Please cancel my subscription from 5 April.",
]

HIGH_ASSISTANT = [
    "We'll refund the full $89.99 if it cannot reach you by 5 April.",
    "Your order will ship on 28 March.",
    "I will ask the billing team to review invoice INV-2024-0193.",
]


@pytest.mark.parametrize("text", SMALL_TALK)
@pytest.mark.parametrize("role", [Role.USER, Role.ASSISTANT])
def test_small_talk_scores_low(text: str, role: Role) -> None:
    assert importance(text, role) == SMALL_TALK_SCORE


@pytest.mark.parametrize("text", HIGH_USER)
def test_fact_questions_corrections_and_requests_score_high(text: str) -> None:
    assert importance(text, Role.USER) >= 0.5


@pytest.mark.parametrize("text", HIGH_ASSISTANT)
def test_commitments_score_high(text: str) -> None:
    assert importance(text, Role.ASSISTANT) >= 0.5


def test_a_question_with_facts_outranks_the_same_question_without() -> None:
    plain = importance("When will my order arrive?", Role.USER)
    with_facts = importance("When will order #A-483920 arrive? It was $54.", Role.USER)
    assert with_facts > plain > SMALL_TALK_SCORE


def test_a_correction_outranks_an_ordinary_statement() -> None:
    ordinary = importance("I ordered the blue one", Role.USER)
    assert importance("Actually I ordered the blue one", Role.USER) > ordinary


def test_every_score_is_in_range_and_deterministic() -> None:
    texts = [*SMALL_TALK, *HIGH_USER, *HIGH_ASSISTANT, "x" * 5000, "1 2 3 $ # @ ? " * 200]
    for text in texts:
        for role in Role:
            score = importance(text, role)
            assert 0.0 <= score <= 1.0
            assert importance(text, role) == score
