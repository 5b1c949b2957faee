"""The index on disk: round trip, incremental re-ingest, deletes, model mismatch, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from irqa.embeddings.cache import VectorCache
from irqa.rag.engine import Engine
from irqa.rag.errors import ModelMismatch, StoreError
from irqa.rag.ingest.pipeline import Source
from irqa.rag.store import LocalStore

from tests.helpers import ARCSOFT, HIKVISION, INSTA360, SAMPLES, fresh_cache, make_config


def test_round_trip_reloads_identical_state(sample_engine, embedder):
    snap = sample_engine.snapshot()
    again = Engine(sample_engine.config, embedder=embedder).snapshot()
    assert again.generation == snap.generation
    assert [p.id for p in again.passages] == [p.id for p in snap.passages]
    assert np.array_equal(again.vectors, snap.vectors)
    assert len(again) == len(again.passages) == len(snap.passages) > 50
    assert set(again.filings) == {"688088-2024-007", "688775-2025-003", "002415-2023-4-15"}
    manifest = json.loads((sample_engine.store.root / snap.generation / "manifest.json").read_text())
    assert manifest["embedder"] == embedder.name and manifest["dim"] == 384
    assert set(manifest["filings"]) == set(snap.filings)
    assert manifest["versions"]["faiss-cpu"]


def test_reingest_unchanged_embeds_nothing(fresh_engine):
    first = fresh_engine.ingest_paths([SAMPLES])
    assert sorted(first.added) == sorted(fresh_engine.snapshot().filings)
    gen = fresh_engine.snapshot().generation
    again = fresh_engine.ingest_paths([SAMPLES])
    assert sorted(again.skipped) == sorted(first.added)
    assert again.added == again.updated == [] and again.embedded == 0
    assert fresh_engine.store.current_generation() == gen, "no new generation for a no-op"


def test_changed_filing_replaces_its_passages_and_reuses_vectors(fresh_engine, tmp_path):
    fresh_engine.ingest_paths([ARCSOFT, INSTA360])
    before = fresh_engine.snapshot()
    n_insta = len(before.passages_of("688775-2025-003"))
    edited = tmp_path / ARCSOFT.name
    marker = "公司预计下半年将发布全新的夜景视频引擎，功耗降低三成。"
    edited.write_text(
        ARCSOFT.read_text(encoding="utf-8").replace(
            "所以公司现在是处于提早布局的阶段。", "所以公司现在是处于提早布局的阶段。" + marker
        ),
        encoding="utf-8",
    )
    report = fresh_engine.ingest_paths([edited])
    assert report.updated == ["688088-2024-007"] and report.added == []
    assert 0 < report.embedded < report.passages, "only the changed passages are embedded again"
    after = fresh_engine.snapshot()
    arcsoft = after.passages_of("688088-2024-007")
    assert sum(marker in p.text for p in arcsoft) >= 1
    assert len({p.id for p in after.passages}) == len(after.passages)
    assert len(after.passages_of("688775-2025-003")) == n_insta
    hits = fresh_engine.search("夜景视频引擎 功耗降低三成", 3)
    assert marker in hits[0].passage.text


def test_delete_removes_passages(fresh_engine):
    fresh_engine.ingest_paths([ARCSOFT, INSTA360])
    assert fresh_engine.delete("688775-2025-003")
    snap = fresh_engine.snapshot()
    assert set(snap.filings) == {"688088-2024-007"}
    assert all(p.filing_id == "688088-2024-007" for p in snap.passages)
    assert len(snap.vectors) == len(snap.passages) == len(snap)
    assert not fresh_engine.delete("688775-2025-003")
    assert all(h.passage.code == "688088" for h in fresh_engine.search("全景相机", 10))


def test_index_built_with_another_model_is_refused(fresh_engine):
    fresh_engine.ingest_paths([INSTA360])
    with pytest.raises(ModelMismatch, match="was built with"):
        LocalStore(fresh_engine.config.index).load("st:some-other-model@123")


def test_vector_cache_survives_and_is_keyed_by_model(tmp_path, embedder):
    cache = VectorCache(tmp_path / "v.sqlite")
    v = embedder.embed_passages(["海康威视"])[0]
    cache.put_many(embedder.name, {"k": v})
    assert np.allclose(VectorCache(tmp_path / "v.sqlite").get_many(embedder.name, ["k"])["k"], v)
    assert cache.get_many("other-model", ["k"]) == {}


def test_damaged_generation_is_a_clear_error(fresh_engine):
    fresh_engine.ingest_paths([INSTA360])
    seg = fresh_engine.store.read_manifest().segments[0]
    (fresh_engine.store.root / seg / "dense.faiss").write_bytes(b"garbage")
    with pytest.raises(StoreError, match="rebuild"):
        LocalStore(fresh_engine.config.index).load()


def test_crash_mid_ingest_keeps_the_previous_index(tmp_path, cache_dir, embedder):
    """SIGKILL a real `irqa ingest` while it embeds: the old generation still loads intact."""
    index = tmp_path / "index"
    engine = Engine(make_config(index, cache_dir), embedder=embedder)
    engine.ingest_paths([INSTA360])
    gen = engine.store.current_generation()
    env = {
        **os.environ,
        "IRQA_INDEX": str(index),
        "IRQA_CACHE_DIR": str(fresh_cache(tmp_path / "cold-cache")),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "irqa", "ingest", str(HIKVISION)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cold = VectorCache(tmp_path / "cold-cache" / "vectors.sqlite")
    deadline = time.time() + 120
    while time.time() < deadline and cold.count() < 20 and proc.poll() is None:
        time.sleep(0.5)
    assert proc.poll() is None, "ingest finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert engine.store.current_generation() == gen
    snap = LocalStore(index).load(embedder.name)
    assert set(snap.filings) == {"688775-2025-003"}
    # the vectors paid for before the crash are kept: resuming embeds only the rest
    done_before = cold.count()
    resumed = Engine(make_config(index, tmp_path / "cold-cache"), embedder=embedder)
    report = resumed.ingest_sources([Source.from_path(HIKVISION)])
    assert report.added == ["002415-2023-4-15"]
    assert report.embedded <= report.passages - done_before + 1


def test_noop_reingest_loads_no_model(fresh_engine):
    """Every file unchanged: answered from the manifest's content hashes, no model is loaded."""
    fresh_engine.ingest_paths([INSTA360, ARCSOFT])
    gen = fresh_engine.store.current_generation()

    def no_model():
        raise AssertionError("a no-op re-ingest loaded the embedding model")

    again = Engine(fresh_engine.config, embedder=no_model).ingest_paths([INSTA360, ARCSOFT])
    assert sorted(again.skipped) == ["688088-2024-007", "688775-2025-003"]
    assert again.added == again.updated == again.failed == []
    assert fresh_engine.store.current_generation() == gen
