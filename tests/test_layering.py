"""The architecture as a test: data flows one way and nothing imports upward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package → packages it must never import
FORBIDDEN = {
    "embeddings": {"rag", "api", "eval", "irqa"},
    "rag": {"api", "eval"},
    "eval": {"api"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package):
    bad = {
        f"{f.relative_to(ROOT)} imports {sorted(imports_of(f) & FORBIDDEN[package])}"
        for f in (ROOT / package).rglob("*.py")
        if imports_of(f) & FORBIDDEN[package]
    }
    assert not bad
