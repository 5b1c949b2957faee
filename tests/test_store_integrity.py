"""The local index's integrity (issue 25 items 6 and 4): checksums per segment file, and a merge
that fails after a committed write without misreporting it.

Everything is real: indexes built from the sample filings with the real model, real FAISS files
with real flipped bytes, the real CLI in a subprocess, and a real write failure (``EFBIG`` from a
file-size limit, ``RLIMIT_FSIZE``) in the middle of the automatic merge.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np
import pytest
from irqa.rag.engine import Engine
from irqa.rag.errors import StorageFull
from irqa.rag.store import LocalStore
from irqa.rag.store.segment import IndexCorrupt, Segment

from tests.helpers import ARCSOFT, HIKVISION, INSTA360, make_config


@pytest.fixture(scope="module")
def built(tmp_path_factory, cache_dir, embedder) -> Path:
    """An index of two sample filings in one segment (tests work on copies of it)."""
    index = tmp_path_factory.mktemp("integrity") / "index"
    Engine(make_config(index, cache_dir), embedder).ingest_paths([ARCSOFT, INSTA360])
    return index


@pytest.fixture
def index(built, tmp_path) -> Path:
    copy = tmp_path / "index"
    shutil.copytree(built, copy)
    return copy


def segment_of(index: Path) -> Path:
    (name,) = LocalStore(index).read_manifest().segments
    return index / name


def flip(path: Path, offset: int, n: int = 64) -> None:
    """Invert ``n`` bytes of ``path`` at ``offset``, in place (the size stays the same)."""
    with path.open("r+b") as fh:
        fh.seek(offset)
        data = fh.read(n)
        fh.seek(offset)
        fh.write(bytes(b ^ 0xFF for b in data))


def irqa(*args: str, index: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "IRQA_INDEX": str(index), "IRQA_CACHE_DIR": str(cache), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "irqa", *args], env=env, capture_output=True, text=True, timeout=300
    )


# checksums -----------------------------------------------------------------------------------


def test_new_segments_record_a_checksum_of_every_file(index):
    seg = Segment(segment_of(index))
    assert seg.sealed and seg.files is not None
    on_disk = {f.relative_to(seg.folder).as_posix() for f in seg.folder.rglob("*") if f.is_file()} - {
        "meta.json"
    }
    assert set(seg.files) == on_disk
    assert {"dense.faiss", "docs.sqlite", "codes.npy", "dates.npy", "lexical/tf.npy"} <= on_disk
    assert seg.check(full=True) == []
    report = LocalStore(index).check()
    assert report.ok and report.unsealed == [] and report.files == len(on_disk)


def test_flipped_vector_bytes_are_refused_at_open(index, embedder, cache_dir):
    dense = segment_of(index) / "dense.faiss"
    before = faiss.read_index(str(dense))
    flip(dense, dense.stat().st_size // 2)
    # FAISS itself reads the damaged file without a word, with different vectors: without the
    # checksum, rankings would change silently
    after = faiss.read_index(str(dense))
    assert not np.array_equal(before.reconstruct_n(0, before.ntotal), after.reconstruct_n(0, after.ntotal))

    with pytest.raises(IndexCorrupt) as raised:
        LocalStore(index).load(embedder.name)
    e = raised.value
    assert e.code == "index_corrupt" and len(e.problems) == 1
    assert str(dense) in e.problems[0] and "sha256 mismatch" in e.problems[0]
    message = str(e)
    assert str(dense) in message and f"irqa index check --index {index}" in message
    assert "irqa ingest --rebuild" in message
    # and through the engine: the error, never an answer from the damaged vectors
    with pytest.raises(IndexCorrupt):
        Engine(make_config(index, cache_dir), embedder).search("虹软 视频 功耗", 3)


@pytest.mark.parametrize("part", ["lexical/tf.npy", "lexical/rows.npy", "codes.npy", "docs.sqlite"])
def test_flipped_bytes_in_bm25_filter_and_text_files_are_refused(index, part):
    path = segment_of(index) / part
    original = path.read_bytes()
    flip(path, len(original) - 64 if len(original) < 256 else len(original) // 2)
    assert path.read_bytes() != original and path.stat().st_size == len(original)
    with pytest.raises(IndexCorrupt, match=re.escape(f"{part} differs from what was written")):
        LocalStore(index).load()


def test_truncated_and_missing_files_are_named(index):
    seg = segment_of(index)
    with (seg / "lexical" / "tf.npy").open("r+b") as fh:
        fh.truncate(100)
    (seg / "dates.npy").unlink()
    with pytest.raises(IndexCorrupt) as raised:
        LocalStore(index).load()
    problems = raised.value.problems
    assert any("tf.npy has 100 bytes" in p for p in problems), problems
    assert any(f"{seg / 'dates.npy'} is missing" in p for p in problems), problems


def test_edited_meta_json_breaks_its_seal(index):
    meta_path = segment_of(index) / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["rows"] -= 1  # still valid JSON, still plausible: only the seal tells
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(IndexCorrupt, match="seal does not match"):
        LocalStore(index).load()
    meta_path.write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorrupt, match=r"meta\.json is unreadable"):
        LocalStore(index).load()


def test_big_files_get_sizes_at_open_and_full_hashes_from_check(index):
    seg_dir = segment_of(index)
    dense = seg_dir / "dense.faiss"
    flip(dense, dense.stat().st_size // 2)
    seg = Segment(seg_dir)
    # as if every file were above the open-time hashing limit: the size still matches
    assert seg.check(hash_limit=0) == []
    (problem,) = seg.check(full=True)
    assert str(dense) in problem
    report = LocalStore(index).check()
    assert not report.ok and report.problems == [problem]


def test_index_check_command_lists_each_bad_file_and_fails(index, cache_dir):
    good = irqa("index", "check", index=index, cache=cache_dir)
    assert good.returncode == 0, good.stderr
    assert "intact" in good.stdout

    seg = segment_of(index)
    flip(seg / "dense.faiss", (seg / "dense.faiss").stat().st_size // 2)
    flip(seg / "lexical" / "tf.npy", 200)
    bad = irqa("index", "check", index=index, cache=cache_dir)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "Traceback" not in bad.stderr
    for part in ("dense.faiss", "lexical/tf.npy"):
        assert f"bad: {seg / part} differs from what was written" in bad.stderr, bad.stderr
    assert "2 problem(s)" in bad.stdout
    assert "irqa ingest --rebuild" in bad.stderr
    as_json = irqa("index", "check", "--json", index=index, cache=cache_dir)
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert data["ok"] is False and len(data["problems"]) == 2

    # any other command over the damaged index: one error line with the fix, exit 1
    listing = irqa("filings", index=index, cache=cache_dir)
    assert listing.returncode == 1 and "Traceback" not in listing.stderr
    assert "is corrupt" in listing.stderr and "irqa index check" in listing.stderr


def test_segments_without_checksums_still_open_and_compaction_adds_them(index, embedder, cache_dir):
    """An index written before checksums: it opens and searches; `compact` rewrites it sealed."""
    seg_dir = segment_of(index)
    meta_path = seg_dir / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    for key in ("files", "checksum", "seal"):
        del meta[key]
    meta_path.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    engine = Engine(make_config(index, cache_dir), embedder)
    assert "688088" in {h.passage.code for h in engine.search("虹软 视频 功耗", 3)}
    report = engine.store.check()
    assert report.ok and report.unsealed == [seg_dir.name]

    engine.compact()  # one segment, no dead rows: rewritten only because it has no checksums
    new = segment_of(index)
    assert new != seg_dir and Segment(new).sealed
    after = LocalStore(index).check()
    assert after.ok and after.unsealed == []
    assert "688088" in {h.passage.code for h in engine.search("虹软 视频 功耗", 3)}


def test_a_merge_never_copies_damage_into_a_fresh_segment(tmp_path, cache_dir, embedder):
    """Damage that appears after the segment was opened (the server runs for days) is found
    by the merge, which hashes what it rewrites, instead of being sealed into a new segment."""
    engine = Engine(make_config(tmp_path / "index", cache_dir), embedder)
    engine.ingest_paths([INSTA360])
    engine.ingest_paths([ARCSOFT])
    first = engine.store.root / engine.store.read_manifest().segments[0]
    live = engine.store.current_generation()
    flip(first / "dense.faiss", (first / "dense.faiss").stat().st_size // 2)
    with pytest.raises(IndexCorrupt, match=r"dense\.faiss differs from what was written"):
        engine.compact()
    assert engine.store.current_generation() == live


# the automatic merge after a write -----------------------------------------------------------


@contextlib.contextmanager
def file_size_limit(nbytes: int) -> Iterator[None]:
    """Writes past ``nbytes`` fail with EFBIG in this process (SIGXFSZ ignored), then restored."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def largest_file(folder: Path) -> int:
    return max(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def test_failed_merge_keeps_the_committed_write_and_retries_next_time(
    tmp_path, cache_dir, embedder, sample_engine, monkeypatch, caplog
):
    from irqa.rag.store import local

    monkeypatch.setattr(local, "MAX_SEGMENTS", 2)
    # the merge of all three filings writes a dense.faiss as big as the sample index's; one
    # write of Insta360 alone writes only smaller files: a limit between the two fails the
    # merge and nothing else (checked here, so the test cannot pass for another reason)
    (merged_seg,) = sample_engine.store.read_manifest().segments
    merged_dense = (sample_engine.store.root / merged_seg / "dense.faiss").stat().st_size
    alone = Engine(make_config(tmp_path / "alone", cache_dir), embedder)
    alone.ingest_paths([INSTA360])
    write_needs = largest_file(tmp_path / "alone")
    limit = merged_dense - 1
    assert write_needs < limit, (write_needs, merged_dense)

    root = tmp_path / "index"
    engine = Engine(make_config(root, cache_dir, aliases=tmp_path / "aliases.json"), embedder)
    engine.ingest_paths([HIKVISION])
    engine.ingest_paths([ARCSOFT])
    assert len(engine.store.read_manifest().segments) == 2
    with caplog.at_level(logging.WARNING), file_size_limit(limit):
        report = engine.ingest_paths([INSTA360])  # commits a third segment, then the merge fails

    # the write is reported as what it is: committed
    assert report.added == ["688775-2025-003"] and report.failed == []
    error = engine.store.merge_error
    assert isinstance(error, StorageFull), error
    cause = error.__cause__
    assert isinstance(cause, OSError) and cause.errno == errno.EFBIG, "the merge must hit the real limit"
    assert ".seg-" in str(cause.filename) and str(cause.filename).endswith("dense.faiss")
    assert any(
        "automatic merge" in r.getMessage() and "is committed" in r.getMessage() for r in caplog.records
    )
    # the filing landed, readable by a fresh reader and searchable
    m = LocalStore(root).read_manifest()
    assert len(m.segments) == 3 and "688775-2025-003" in m.filings
    assert set(LocalStore(root).load(embedder.name).filings) == {
        "002415-2023-4-15",
        "688088-2024-007",
        "688775-2025-003",
    }
    assert "688775" in {h.passage.code for h in engine.search("影石 全景相机", 5)}
    # nothing of the failed merge is left: no temp folder, no segment or generation it made
    gens = sorted(p.name for p in root.glob("gen-*"))
    segs = sorted(p.name for p in root.glob("seg-*"))
    assert gens[-1] == engine.store.current_generation()
    assert segs == sorted(m.segments), segs
    assert not [p.name for p in root.iterdir() if ".tmp" in p.name]

    # space is back: the next write merges
    edited = tmp_path / ARCSOFT.name
    stage = "所以公司现在是处于提早布局的阶段。"
    edited.write_text(
        ARCSOFT.read_text(encoding="utf-8").replace(stage, stage + "公司预计下半年发布新的夜景视频引擎。"),
        encoding="utf-8",
    )
    again = engine.ingest_paths([edited])
    assert again.updated == ["688088-2024-007"]
    assert engine.store.merge_error is None
    merged = LocalStore(root).read_manifest()
    assert len(merged.segments) == 1 and not merged.deleted
    assert LocalStore(root).check().ok
    assert "688775" in {h.passage.code for h in engine.search("影石 全景相机", 5)}
