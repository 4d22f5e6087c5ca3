"""The dependency rule of docs/architecture.md, checked by reading imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("core", ("bot", "adapters")), ("adapters", ("bot",))],
)
def test_inner_layers_do_not_import_outer_ones(package: str, forbidden: tuple[str, ...]) -> None:
    offenders = {
        path: sorted(n for n in names if n.split(".")[0] in forbidden)
        for path, names in imported_modules(package).items()
    }
    assert {p: n for p, n in offenders.items() if n} == {}


def test_an_adapter_does_not_import_another_adapter() -> None:
    for path, names in imported_modules("adapters").items():
        own = Path(path).parts[1]
        # adapters.common is what they share (the adapter contract, message splitting).
        others = {
            n
            for n in names
            if n.startswith("adapters.") and n.split(".")[1] not in {own, "common"}
        }
        assert others == set(), path
