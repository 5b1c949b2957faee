"""Paths and small builders the tests share (imported, never a fixture): no test imports conftest."""

from __future__ import annotations

import os
from pathlib import Path

from irqa.rag.engine import EngineConfig, sample_dir

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sample_dir()
ARCSOFT = SAMPLES / "688088_arcsoft_2024-007.txt"
INSTA360 = SAMPLES / "688775_insta360_2025-003.txt"
HIKVISION = SAMPLES / "002415_hikvision_2023-4-15.txt"
DEV_QUESTIONS = ROOT / "eval" / "data" / "sample_dev.jsonl"
#: the shared real data sits beside the repository (../shared); IRQA_SHARED overrides
SHARED = Path(os.environ.get("IRQA_SHARED", ROOT.parent / "shared"))
FINTRUTHQA = SHARED / "corpus" / "fintruthqa"
ARTIFACTS = ROOT / "test-artifacts"  # screenshots a person can look at
#: one cache folder for the whole test session (models, tiktoken, jieba): never the user's cache
SESSION_CACHE = Path(os.environ.get("IRQA_TEST_CACHE", ROOT / "build" / "test-cache"))
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


def make_config(index: Path, cache: Path, **kw) -> EngineConfig:
    return EngineConfig(index=index, cache_dir=cache, **kw)
