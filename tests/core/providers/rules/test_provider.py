"""The rules provider: answers the user's latest question, or says honestly that it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigurationError
from core.model import ChatMessage, Role, UserRef
from core.ports import Provider
from core.providers.rules import RulesProvider, load_knowledge_base

SHIPPED = Path(__file__).parents[4] / "bot" / "content" / "shop_knowledge.yaml"
USER = UserRef("console", "42", "Ada")


@pytest.fixture(scope="module")
def provider() -> RulesProvider:
    return RulesProvider.from_path(SHIPPED, min_confidence=0.45)


def answer_of(intent_id: str) -> str:
    kb = load_knowledge_base(SHIPPED)
    return next(intent.answer for intent in kb.intents if intent.id == intent_id)


async def test_a_known_question_gets_the_knowledge_base_answer(provider: RulesProvider) -> None:
    completion = await provider.complete(
        [ChatMessage(Role.USER, "how do I track my parcel?")], USER
    )

    assert completion.text == answer_of("order_tracking")
    assert completion.provider == "rules"
    assert completion.model == f"kb:{load_knowledge_base(SHIPPED).version}"
    assert completion.unknown is False


async def test_it_answers_the_last_user_message_not_the_history(provider: RulesProvider) -> None:
    prompt = [
        ChatMessage(Role.SYSTEM, "You are the Northwind Goods assistant. Refunds, returns."),
        ChatMessage(Role.USER, "where is my order"),
        ChatMessage(Role.ASSISTANT, "Here is how to track it... tracking, refund, payment."),
        ChatMessage(Role.USER, "and can I pay with paypal?"),
    ]

    completion = await provider.complete(prompt, USER)

    assert completion.text == answer_of("payment_methods")


async def test_questions_outside_the_knowledge_base_get_the_honest_fallback(
    provider: RulesProvider,
) -> None:
    prompt = [
        ChatMessage(Role.USER, "what are your opening hours?"),
        ChatMessage(Role.ASSISTANT, answer_of("opening_hours")),
        ChatMessage(Role.USER, "what's the weather tomorrow"),
    ]

    completion = await provider.complete(prompt, USER)

    assert completion.unknown is True
    assert completion.text == load_knowledge_base(SHIPPED).fallback
    assert "/human" in completion.text
    assert completion.provider == "rules"


async def test_a_prompt_without_a_user_message_gets_the_fallback(provider: RulesProvider) -> None:
    completion = await provider.complete([ChatMessage(Role.SYSTEM, "Be helpful.")], USER)

    assert completion.unknown is True


async def test_it_is_an_async_context_manager_and_a_provider() -> None:
    rules = RulesProvider(load_knowledge_base(SHIPPED))
    as_port: Provider = rules  # mypy checks the Protocol is satisfied

    async with rules as entered:
        assert entered is rules
        assert as_port.name == "rules"
        completion = await entered.complete([ChatMessage(Role.USER, "refund status")], USER)

    assert completion.text == answer_of("refunds")


def test_a_missing_knowledge_base_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        RulesProvider.from_path(tmp_path / "missing.yaml", min_confidence=0.45)

    assert caught.value.variable == "KNOWLEDGE_BASE_PATH"
