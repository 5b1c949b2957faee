"""The one obvious entry point: ``irqa.open_index`` → ingest → ask, as the package docstring shows
(issue 19 item 5). Real model, FAISS and files."""

from __future__ import annotations

import subprocess
import sys

from irqa.rag.engine import sample_dir

import irqa


def test_open_index_ingest_ask(tmp_path, cache_dir):
    engine = irqa.open_index(tmp_path / "index", cache_dir=cache_dir, top_k=5)
    assert isinstance(engine, irqa.Engine)
    assert engine.config.top_k == 5 and engine.config.index == tmp_path / "index"
    report = engine.ingest_paths([sample_dir()])
    assert report.failed == [] and len(report.added) == 3
    answer = engine.ask("虹软的Turbo Fusion视频功耗怎么样？")
    assert not answer.abstained and "功耗" in answer.answer
    assert answer.citations[0].code == "688088"
    # the same index opened again answers the same, from disk
    again = irqa.open_index(tmp_path / "index", cache_dir=cache_dir).ask("虹软的Turbo Fusion视频功耗怎么样？")
    assert again.answer == answer.answer


def test_import_irqa_stays_cheap():
    """``import irqa`` must not load the engine (the CLI's start-up time depends on it)."""
    code = "import sys, irqa; print(int('irqa.rag.engine' in sys.modules), int('torch' in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "0"]
