"""The `irqa` command as a user runs it: real subprocesses, real files, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import INSTA360


def irqa(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "irqa", *args],
        env={**os.environ, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        input=stdin,
        timeout=600,
    )


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory, sample_engine) -> dict[str, str]:
    """A copy of the sample index, so CLI writes never disturb other tests."""
    index = tmp_path_factory.mktemp("cli") / "index"
    shutil.copytree(sample_engine.config.index, index)
    return {"IRQA_INDEX": str(index), "IRQA_CACHE_DIR": str(sample_engine.config.cache_dir)}


def current(env) -> str:
    return (Path(env["IRQA_INDEX"]) / "CURRENT").read_text()


def test_ask_json_cites_the_source(cli_env):
    r = irqa("ask", "what did 虹软 say about Turbo Fusion video power draw", "--json", env=cli_env)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    c = data["citations"][0]
    assert (c["company"], c["code"], c["record_no"], c["date"]) == (
        "虹软科技",
        "688088",
        "2024-007",
        "2024-08-27",
    )
    assert not data["abstained"] and len(data["passages"]) >= 10


def test_ask_pretty_output(cli_env):
    r = irqa("ask", "海康怎么看大模型对业务的帮助？", env=cli_env)
    assert r.returncode == 0, r.stderr
    assert "海康威视 (002415), record 2023-4-15, 2023-04-15" in r.stdout


def test_search_and_filings(cli_env):
    r = irqa("search", "全景相机 运动相机 区别", "--k", "3", "--json", env=cli_env)
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)
    assert len(hits) == 3 and hits[0]["code"] == "688775"
    r = irqa("filings", "--json", env=cli_env)
    assert {f["id"] for f in json.loads(r.stdout)} == {
        "688088-2024-007",
        "688775-2025-003",
        "002415-2023-4-15",
    }


def test_batch_writes_one_answer_per_line(cli_env, tmp_path):
    qs = tmp_path / "q.jsonl"
    qs.write_text(
        "\n".join(
            json.dumps(x, ensure_ascii=False)
            for x in [
                {"id": "a", "question": "影石的AI剪辑未来会怎样？", "extra": 1},
                {"id": "b", "question": "贵州茅台的分红计划？"},
                {"id": "c", "question": ""},
            ]
        ),
        encoding="utf-8",
    )
    out = tmp_path / "answers.jsonl"
    r = irqa("batch", str(qs), "--out", str(out), env=cli_env)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == ["a", "b", "c"]
    assert rows[0]["citations"][0]["code"] == "688775"
    assert rows[1]["abstained"] is True
    assert "empty" in rows[2]["error"]
    assert r.returncode == 1 and "q.jsonl:3" in r.stderr and "Traceback" not in r.stderr


def test_ingest_reports_skipped(cli_env):
    r = irqa("ingest", str(INSTA360), env=cli_env)
    assert r.returncode == 0, r.stderr
    assert "skipped" in r.stdout and "688775-2025-003" in r.stdout


def _bad_files(tmp: Path) -> dict[str, Path]:
    files = {
        "empty": ("empty.txt", b""),
        "binary": ("blob.txt", bytes(range(256)) * 40),
        "unknown": ("table.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 100),
        "corrupt pdf": ("broken.pdf", b"%PDF-1.7\n1 0 obj <<\n garbage"),
        "corrupt docx": ("broken.docx", b"PK\x03\x04 not really a zip"),
    }
    out = {}
    for name, (fname, data) in files.items():
        (tmp / fname).write_bytes(data)
        out[name] = tmp / fname
    return out


def test_bad_files_fail_cleanly_and_leave_the_index_alone(cli_env, tmp_path):
    before = current(cli_env)
    for name, path in _bad_files(tmp_path).items():
        r = irqa("ingest", str(path), env=cli_env)
        assert r.returncode != 0, name
        assert "Traceback" not in r.stderr, (name, r.stderr)
        errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and path.name in errors[0], (name, r.stderr)
    assert current(cli_env) == before
    r = irqa("ask", "影石的AI剪辑", env=cli_env)
    assert r.returncode == 0


def test_missing_path_is_an_error(cli_env, tmp_path):
    r = irqa("ingest", str(tmp_path / "nope.txt"), env=cli_env)
    assert r.returncode == 1 and "no such file" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "question",
    ["", "  ", "问" * 33_000],  # the last is 99 kB of UTF-8, about the most one argv entry may hold
    ids=["empty", "blank", "100kB"],
)
def test_empty_or_huge_question(cli_env, question):
    r = irqa("ask", question, env=cli_env)
    assert r.returncode == 1
    assert r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_first_ask_builds_the_sample_index(tmp_path, cache_dir):
    env = {"IRQA_INDEX": str(tmp_path / "new-index"), "IRQA_CACHE_DIR": str(cache_dir)}
    r = irqa("ask", "影石对行业天花板怎么看", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert "building it from the built-in sample filings" in r.stderr
    assert json.loads(r.stdout)["citations"][0]["code"] == "688775"
    assert (tmp_path / "new-index" / "CURRENT").is_file()
