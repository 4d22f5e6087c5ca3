"""The knowledge base loader: the shipped file is usable, and every broken file stops start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigurationError
from core.providers.rules import load_knowledge_base

SHIPPED = Path(__file__).parents[4] / "bot" / "content" / "shop_knowledge.yaml"

VALID = """
fallback: I'm not sure about that. Type /human to reach a person.
intents:
  - id: opening_hours
    answer: We're open 9 to 5.
    examples:
      - When are you open?
  - id: refunds
    answer: Refunds take 5 days.
    keywords: [refund]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kb.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_knowledge_base_covers_the_common_shop_questions() -> None:
    kb = load_knowledge_base(SHIPPED)

    ids = {intent.id for intent in kb.intents}
    assert {
        "opening_hours",
        "delivery_time",
        "shipping_cost",
        "returns",
        "refunds",
        "payment_methods",
        "order_tracking",
        "contact",
        "international_shipping",
        "cancel_order",
        "change_order",
        "damaged_item",
        "gift_cards",
        "warranty",
        "exchange_size",
    } <= ids
    assert "/human" in kb.fallback
    assert "not sure" in kb.fallback


def test_loaded_intents_keep_answers_examples_and_keywords(tmp_path: Path) -> None:
    kb = load_knowledge_base(write(tmp_path, VALID))

    hours, refunds = kb.intents
    assert hours.answer == "We're open 9 to 5."
    assert hours.examples == ("When are you open?",)
    assert hours.keywords == ()
    assert refunds.keywords == ("refund",)


def test_version_is_a_short_hash_that_changes_when_the_file_is_edited(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    before = load_knowledge_base(path).version

    path.write_text(VALID.replace("9 to 5", "9 to 6"), encoding="utf-8")
    after = load_knowledge_base(path).version

    assert len(before) == 12
    assert int(before, 16) >= 0  # hexadecimal
    assert before != after
    assert load_knowledge_base(path).version == after


@pytest.mark.parametrize(
    ("text", "named"),
    [
        pytest.param(
            VALID.replace("    answer: Refunds take 5 days.\n", ""), "'refunds'", id="no-answer"
        ),
        pytest.param(
            VALID.replace("answer: Refunds take 5 days.", "answer: '   '"),
            "'refunds'",
            id="blank-answer",
        ),
        pytest.param(
            VALID.replace("id: refunds", "id: opening_hours"), "'opening_hours'", id="dup"
        ),
        pytest.param(
            VALID.replace("    keywords: [refund]\n", ""), "'refunds'", id="no-example-or-keyword"
        ),
        pytest.param(VALID.replace("examples:", "exmaples:"), "exmaples", id="misspelt-key"),
        pytest.param(VALID.replace("  - id: refunds\n", "  - ident: refunds\n"), "#2", id="no-id"),
        pytest.param(VALID.split("intents:")[1], "fallback", id="no-fallback"),
        pytest.param(
            VALID.replace(" Type /human to reach a person.", ""), "/human", id="no-human"
        ),
        pytest.param("fallback: Type /human.\nintents: []\n", "intents", id="no-intents"),
        pytest.param("- just\n- a list\n", "top level", id="not-a-mapping"),
    ],
)
def test_a_broken_knowledge_base_is_rejected_naming_the_setting_and_the_fault(
    tmp_path: Path, text: str, named: str
) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ConfigurationError) as caught:
        load_knowledge_base(path)

    assert caught.value.variable == "KNOWLEDGE_BASE_PATH"
    assert named in caught.value.problem
    assert str(path) in caught.value.problem


def test_a_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"

    with pytest.raises(ConfigurationError) as caught:
        load_knowledge_base(missing)

    assert caught.value.variable == "KNOWLEDGE_BASE_PATH"
    assert "nowhere.yaml" in caught.value.problem
    assert isinstance(caught.value.__cause__, OSError)


def test_invalid_yaml_is_a_configuration_error_that_keeps_the_parser_message(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "fallback: [unclosed\nintents:\n  - id: x\n")

    with pytest.raises(ConfigurationError) as caught:
        load_knowledge_base(path)

    assert caught.value.variable == "KNOWLEDGE_BASE_PATH"
    assert "not valid YAML" in caught.value.problem
    assert caught.value.__cause__ is not None


def test_a_file_that_is_not_utf8_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "kb.yaml"
    path.write_bytes(b"fallback: \xff\xfe /human\n")

    with pytest.raises(ConfigurationError, match="KNOWLEDGE_BASE_PATH"):
        load_knowledge_base(path)
