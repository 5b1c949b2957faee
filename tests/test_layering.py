"""The architecture as a test: one namespace, data flows one way, nothing imports upward, no cycles."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import ROOT

#: installed name → folder in the repository
PACKAGES = {"irqa.embeddings": "embeddings", "irqa.rag": "rag", "irqa.api": "api", "irqa.eval": "eval"}
#: layer → layers it must never import (the wiring layer ``irqa`` is everything not in PACKAGES)
FORBIDDEN = {
    "irqa.embeddings": {"irqa.rag", "irqa.api", "irqa.eval", "irqa"},
    "irqa.rag": {"irqa.api", "irqa.eval", "irqa"},
    "irqa.api": {"irqa.eval", "irqa"},
    "irqa.eval": {"irqa.api", "irqa"},
}
BARE = {"rag", "embeddings", "api", "eval"}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    top = rel.parts[0]
    installed = next((k for k, v in PACKAGES.items() if v == top), top)
    parts = [installed, *rel.with_suffix("").parts[1:]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    return next((k for k in PACKAGES if module == k or module.startswith(k + ".")), "irqa")


def sources() -> list[Path]:
    return sorted(p for top in ["irqa", *PACKAGES.values()] for p in (ROOT / top).rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    """Absolute module names imported anywhere in the file (also inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import"
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_no_bare_top_level_imports():
    bad = {
        f"{p.relative_to(ROOT)}: {sorted(n)}"
        for p in sources()
        if (n := {i.split(".")[0] for i in imports_of(p)} & BARE)
    }
    assert not bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_upward_imports(layer):
    bad = set()
    for p in sources():
        if layer_of(module_name(p)) != layer:
            continue
        for imp in imports_of(p):
            if imp.startswith("irqa") and layer_of(imp) in FORBIDDEN[layer]:
                bad.add(f"{p.relative_to(ROOT)} imports {imp}")
    assert not bad


def test_no_import_cycles():
    """Module-level and lazy imports alike: the module graph is a DAG."""
    files = {module_name(p): p for p in sources()}
    graph = {m: {i for i in imports_of(p) if i in files and i != m} for m, p in files.items()}
    # a package's own __init__ importing its children is not a cycle with them
    graph = {m: {i for i in deps if not m.startswith(i + ".")} for m, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                raise AssertionError(" → ".join([*stack[stack.index(d) :], d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_only_the_wiring_layer_reads_settings():
    bad = {
        str(p.relative_to(ROOT))
        for p in sources()
        if layer_of(module_name(p)) != "irqa" and any(i.startswith("irqa.settings") for i in imports_of(p))
    }
    assert not bad


def test_bare_packages_are_not_importable_from_elsewhere(tmp_path):
    """From any other directory only ``irqa`` is importable: no ``rag``, ``api``, ``eval``, ``embeddings``."""
    code = (
        "import importlib.util as u, sys; import irqa.rag, irqa.api, irqa.eval, irqa.embeddings;"
        "print(sorted(n for n in ('rag','api','eval','embeddings') if u.find_spec(n) is not None))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_wheel_installs_only_irqa(tmp_path):
    """A regular wheel: its top-level names are exactly ``irqa``, and the data files travel with it."""
    src = tmp_path / "src"  # build from a copy, so setuptools' build/ folder never lands in the checkout
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    for rel in listed.stdout.splitlines():
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("irqa-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"irqa"}
    for needed in (
        "irqa/rag/samples/688088_arcsoft_2024-007.txt",
        "irqa/rag/data/aliases.json",
        "irqa/api/static/index.html",
        "irqa/api/routes/questions.py",
        "irqa/eval/data/sample_dev.jsonl",
        "irqa/cli/__init__.py",
    ):
        assert needed in names
    # every module of every package, so a subpackage missing from pyproject's list fails here
    rels = [p.relative_to(ROOT) for p in sources()]
    installed = {str(r) if r.parts[0] == "irqa" else "/".join(["irqa", *r.parts]) for r in rels}
    assert sorted(installed - set(names)) == []


def test_only_the_analyzer_touches_jieba():
    """jieba's module-level tokenizer is process-wide state: only ``irqa.rag.analysis`` imports jieba,
    and it gives every index a tokenizer of its own."""
    bad = {
        str(p.relative_to(ROOT))
        for p in sources()
        if not module_name(p).startswith("irqa.rag.analysis")
        and any(i == "jieba" or i.startswith("jieba.") for i in imports_of(p))
    }
    assert not bad


def _environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def test_only_the_runtime_writes_the_process_environment():
    writes = {"setdefault", "update", "pop", "clear", "__setitem__", "putenv", "unsetenv"}
    bad = set()
    for p in sources():
        if p == ROOT / "irqa" / "runtime.py":
            continue
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AugAssign)
                else node.targets
                if isinstance(node, ast.Delete)
                else []
            )
            if any(isinstance(t, ast.Subscript) and _environ(t.value) for t in targets):
                bad.add(f"{p.relative_to(ROOT)}:{node.lineno}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in writes
                and (_environ(node.func.value) or node.func.attr in {"putenv", "unsetenv"})
            ):
                bad.add(f"{p.relative_to(ROOT)}:{node.lineno}")
    assert not bad


def test_no_capability_probing_of_stores():
    """The store contract is the base classes' methods: no ``hasattr(store, …)`` / ``hasattr(view, …)``."""
    bad = set()
    for p in sources():
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "hasattr" and node.args:
                subject = ast.unparse(node.args[0]).lower()
                if "store" in subject or "view" in subject or "snap" in subject:
                    bad.add(f"{p.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not bad
