"""Every example in the library's docstrings runs, so none can go stale.

Examples may use a few names this harness provides (``tmp``, ``cache`` — the session's vector
cache folder, so an example index does not embed the samples again —, ``embedder``, ``engine``,
``snapshot``, ``filing``, ``passage``), as a reader would have them at hand; anything else they import. Examples that
need a service this suite does not start there (an LLM server, the shared FinTruthQA folder) say
``# doctest: +SKIP`` on the lines that need it.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import irqa.api
import irqa.embeddings
import irqa.eval
import irqa.rag
import pytest

import irqa

SKIP_MODULES = ("irqa.cli", "irqa.__main__", "irqa.rag.ingest.pdf_child")  # entry points, not library


def modules_with_examples() -> list[str]:
    names = set()
    for pkg in (irqa, irqa.rag, irqa.api, irqa.eval, irqa.embeddings):
        names |= {m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")}
    out = []
    for name in sorted(names):
        if name.startswith(SKIP_MODULES):
            continue
        module = importlib.import_module(name)
        if any(t.examples for t in doctest.DocTestFinder().find(module)):
            out.append(name)
    return out


@pytest.fixture(scope="module")
def context(sample_engine, embedder, cache_dir, tmp_path_factory) -> dict:
    snap = sample_engine.snapshot()
    filing = sample_engine.filing("688088-2024-007")
    return {
        "tmp": tmp_path_factory.mktemp("doctest"),
        "cache": cache_dir,
        "embedder": embedder,
        "engine": sample_engine,
        "snapshot": snap,
        "filing": filing,
        "passage": sample_engine.passages_of(filing.id)[0],
    }


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples_run(name, context):
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in doctest.DocTestFinder().find(module):
        test.globs.update(context)
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
