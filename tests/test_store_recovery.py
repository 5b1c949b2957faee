"""A failed write never blocks the next one (issue 10 item 1).

The fault is real: the index lives on a small tmpfs whose inode limit is set so that the new
generation fits but the CURRENT switch does not; then inodes are freed and the next ingest must
work. Needs ``mount`` (root); skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from irqa.rag.engine import Engine
from irqa.rag.errors import StorageFull
from irqa.rag.store import LocalStore

from tests.helpers import ARCSOFT, INSTA360, make_config


def _inodes_used(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_files - st.f_ffree


def _entries(path: Path) -> int:
    """Inodes a folder tree takes: the folder, its files and subfolders."""
    return 1 + sum(len(dirs) + len(files) for _, dirs, files in os.walk(path))


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m,nr_inodes=4096", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")

    def limit(inodes: int) -> None:
        subprocess.run(["mount", "-o", f"remount,nr_inodes={inodes}", str(mnt)], check=True)

    try:
        yield mnt, limit
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_failed_switch_does_not_block_later_writes(small_tmpfs, cache_dir, embedder):
    mnt, limit = small_tmpfs
    index = mnt / "index"
    engine = Engine(make_config(index, cache_dir, aliases=mnt / "aliases.json"), embedder)
    engine.ingest_paths([INSTA360])
    live = engine.store.current_generation()
    assert live is not None
    segment = engine.store.read_manifest().segments[0]
    # inodes one write takes: a segment and a generation (the next write has the same shape)
    written = _entries(index / live) + _entries(index / segment)
    # room for the whole new generation, none for the CURRENT switch
    limit(_inodes_used(mnt) + written)
    with pytest.raises(StorageFull, match=f"the index at {index} is unchanged") as failure:
        engine.ingest_paths([ARCSOFT])
    cause = failure.value.__cause__
    assert isinstance(cause, OSError) and "CURRENT.tmp" in str(cause.filename), "the switch must fail"
    assert engine.store.current_generation() == live
    left = sorted(p.name for p in index.iterdir())
    assert left == sorted(["CURRENT", ".lock", live, segment]), f"a failed write left {left}"

    limit(4096)  # space is back: the very next write works
    report = engine.ingest_paths([ARCSOFT])
    assert report.added == ["688088-2024-007"]
    assert engine.store.current_generation() != live
    snap = LocalStore(index).load(embedder.name)
    assert set(snap.filings) == {"688775-2025-003", "688088-2024-007"}
    assert "688088" in {h.passage.code for h in engine.search("虹软 视频 功耗", 3)}


def test_leftovers_of_a_dead_writer_are_cleared_before_a_write(fresh_engine):
    fresh_engine.ingest_paths([INSTA360])
    root = fresh_engine.store.root
    live = fresh_engine.store.current_generation()
    assert live == "gen-000001"
    # what a writer killed at various instants leaves: a temp folder, a temp CURRENT, and a
    # complete generation whose switch never happened
    (root / ".gen-000002.tmp99999").mkdir()
    (root / ".gen-000002.tmp99999" / "vectors.npy").write_bytes(b"half")
    (root / "CURRENT.tmp99999").write_text("gen-000002")
    (root / ".seg-000003.tmp99999").mkdir()
    (root / "seg-000004").mkdir()  # a segment no generation lists
    (root / "gen-000005").mkdir()
    (root / "gen-000005" / "manifest.json").write_text("{}")
    report = fresh_engine.ingest_paths([ARCSOFT])
    assert report.added == ["688088-2024-007"]
    new = fresh_engine.store.current_generation()
    assert new == "gen-000006", "numbers only grow past every folder that was present"
    names = sorted(p.name for p in root.iterdir() if p.name not in ("aliases.json", ".lock"))
    assert names == sorted(["CURRENT", live, new, "seg-000001", "seg-000006"])
