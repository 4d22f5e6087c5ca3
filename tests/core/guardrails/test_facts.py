"""User facts read from one YAML file per user."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.guardrails import FileFactsProvider
from core.model import UserRef

ROOT = Path(__file__).resolve().parents[3]


async def test_the_demo_user_has_the_demo_facts() -> None:
    facts = await FileFactsProvider(ROOT / "bot/content/facts").facts_for(UserRef("web", "demo"))
    assert facts == {
        "balance": "$47.15",
        "last_order_total": "€89.90",
        "last_order_number": "NW-20231",
        "last_order_date": "2026-11-03",
    }


async def test_an_unknown_user_has_no_facts(tmp_path: Path) -> None:
    assert await FileFactsProvider(tmp_path).facts_for(UserRef("web", "nobody")) == {}


async def test_values_are_read_as_strings(tmp_path: Path) -> None:
    (tmp_path / "telegram").mkdir()
    (tmp_path / "telegram" / "42.yaml").write_text(
        "balance: 47.15\nvip: true\nnotes: [a, b]\norder_date: 2026-11-03\n", encoding="utf-8"
    )
    facts = await FileFactsProvider(tmp_path).facts_for(UserRef("telegram", "42"))
    assert facts == {"balance": "47.15", "vip": "True", "order_date": "2026-11-03"}


@pytest.mark.parametrize("user_id", ["../secret", "../../etc/passwd", "..", "a/b", "\\..\\x"])
async def test_a_user_id_cannot_read_outside_the_folder(tmp_path: Path, user_id: str) -> None:
    folder = tmp_path / "facts"
    (folder / "web").mkdir(parents=True)
    (tmp_path / "secret.yaml").write_text("balance: $1,000,000\n", encoding="utf-8")
    (tmp_path / "facts" / "secret.yaml").write_text("balance: $1,000,000\n", encoding="utf-8")
    provider = FileFactsProvider(folder)
    path = provider.path_for(UserRef("web", user_id)).resolve()
    assert path.parent == (folder / "web").resolve()
    assert await provider.facts_for(UserRef("web", user_id)) == {}


async def test_a_broken_file_means_no_facts_rather_than_a_failed_turn(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "u1.yaml").write_text("balance: [unclosed\n", encoding="utf-8")
    (tmp_path / "web" / "u2.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    provider = FileFactsProvider(tmp_path)
    assert await provider.facts_for(UserRef("web", "u1")) == {}
    assert await provider.facts_for(UserRef("web", "u2")) == {}
