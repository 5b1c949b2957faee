"""The `irqa` command as a user runs it: real subprocesses, real files, one-line errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from rich.cells import cell_len

from tests.api_server import xinghe_filing
from tests.helpers import INSTA360, fresh_cache, start_serve, stop

#: the width the CLI's pretty output is checked at: a default terminal
COLUMNS = 80


def irqa(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "irqa", *args],
        env={**os.environ, **env, "COLUMNS": str(COLUMNS)},
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


def fits(text: str, columns: int = COLUMNS) -> bool:
    return all(cell_len(line) <= columns for line in text.splitlines())


def test_ask_pretty_output(cli_env):
    r = irqa("ask", "海康怎么看大模型对业务的帮助？", env=cli_env)
    assert r.returncode == 0, r.stderr
    assert "海康威视 (002415), record 2023-4-15, 2023-04-15" in r.stdout
    assert fits(r.stdout), r.stdout


def test_ask_wraps_chinese_between_characters_at_80_columns(cli_env):
    """Rich broke lines only at ASCII spaces: （Turbo⏎Fusion）, a lone 2024 on a line."""
    question = "Is Turbo Fusion video an important product line for ArcSoft?"
    r = irqa("ask", question, env=cli_env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert fits(r.stdout), r.stdout
    assert sum("（Turbo Fusion）" in line for line in lines) >= 2, r.stdout  # the answer and the quote
    assert not any(line.rstrip("│ ").endswith("（Turbo") for line in lines), r.stdout
    lone = [line for line in lines if re.fullmatch(r"[│\s]*[\w.%]{1,8}[│\s]*", line) and line.strip("│ ")]
    assert not lone, r.stdout
    first = next(line for line in lines if "│" in line)
    assert cell_len(first) > COLUMNS - 8, "the panel's lines are filled, not broken early"
    quote = json.loads(irqa("ask", question, "--json", env=cli_env).stdout)["citations"][0]["quote"]
    assert "".join(quote.split()) in "".join(r.stdout.replace("│", "").split()), "the whole quote is shown"


def test_abstention_is_short(cli_env):
    r = irqa("ask", "贵州茅台的分红计划是什么？", env=cli_env)
    assert r.returncode == 0, r.stderr
    assert "贵州茅台" in r.stdout.splitlines()[1]  # the reason, in the panel
    heads = [line for line in r.stdout.splitlines() if re.match(r"\s*\d+\s+\d\.\d{3}\s", line)]
    assert 1 <= len(heads) <= 3, r.stdout
    assert len(r.stdout.splitlines()) <= 4 + 3 * 3, r.stdout
    assert fits(r.stdout), r.stdout


def test_filings_fit_80_columns_without_cutting_ids_or_dates(cli_env):
    r = irqa("filings", env=cli_env)
    assert r.returncode == 0, r.stderr
    for fid, date in (
        ("002415-2023-4-15", "2023-04-15"),
        ("688088-2024-007", "2024-08-27"),
        ("688775-2025-003", "2025-08-05"),
    ):
        assert fid in r.stdout and date in r.stdout, r.stdout
    assert "…" not in r.stdout and fits(r.stdout), r.stdout
    assert "source" in r.stdout.splitlines()[-1], "says which columns it hid"
    wide = subprocess.run(
        [sys.executable, "-m", "irqa", "filings"],
        env={**os.environ, **cli_env, "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "688775_insta360_2025-003.txt" in wide.stdout and "hidden" not in wide.stdout


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
    # listing loads no model: an embedder that cannot load does not matter to it
    r = irqa("filings", "--json", env={**cli_env, "IRQA_EMBEDDER": "no-such-model"})
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)) == 3


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


def test_ingest_reports_what_each_record_yielded(cli_env):
    r = irqa("ingest", str(INSTA360), env=cli_env)
    assert r.returncode == 0, r.stderr
    # one row per file: status, id, company, date, Q&A pairs, passages (a bad parse shows here)
    row = next(line.split() for line in r.stdout.splitlines() if "688775-2025-003" in line)
    assert row[:4] == ["unchanged", "688775-2025-003", "影石创新", "2025-08-05"] and row[4] == "9", row
    assert "1 skipped" in r.stdout
    r = irqa("ingest", str(INSTA360), "--json", env=cli_env)
    (record,) = json.loads(r.stdout)["records"]
    assert (record["id"], record["questions"], record["source"]) == (
        "688775-2025-003",
        9,
        INSTA360.name,
    ) and record["passages"] == int(row[5])


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


#: where libraries put caches unless irqa points them into IRQA_CACHE_DIR
CACHE_VARIABLES = (
    "TIKTOKEN_CACHE_DIR",
    "TORCHINDUCTOR_CACHE_DIR",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
)


def test_cli_leaves_the_user_caches_alone(cli_env, tmp_path):
    """Ingest (tiktoken, jieba, the model) and ask with HOME and TMPDIR pointed at empty folders and no
    cache variables but IRQA_CACHE_DIR: nothing may appear in either; it all lands in IRQA_CACHE_DIR."""
    home, tmp, index = tmp_path / "home", tmp_path / "tmp", tmp_path / "index"
    home.mkdir()
    tmp.mkdir()
    shutil.copytree(cli_env["IRQA_INDEX"], index)
    cache = fresh_cache(tmp_path / "cache")
    filing = tmp_path / "xinghe.txt"
    filing.write_bytes(xinghe_filing())
    env = {k: v for k, v in os.environ.items() if k not in CACHE_VARIABLES}
    env |= {"HOME": str(home), "TMPDIR": str(tmp), "IRQA_INDEX": str(index), "IRQA_CACHE_DIR": str(cache)}
    env |= {"COLUMNS": str(COLUMNS)}
    for args in (["ingest", str(filing)], ["ask", "星河光电的激光雷达探测距离是多少？"]):
        r = subprocess.run(
            [sys.executable, "-m", "irqa", *args], env=env, capture_output=True, text=True, timeout=600
        )
        assert r.returncode == 0, r.stderr
    assert "420米" in r.stdout
    written = sorted(str(p.relative_to(tmp_path)) for d in (home, tmp) for p in d.rglob("*"))
    assert written == [], f"written outside IRQA_CACHE_DIR: {written}"
    assert (cache / "jieba.cache").is_file() and any((cache / "tiktoken").iterdir())


# irqa serve ------------------------------------------------------------------------------------


def test_serve_on_a_busy_port_names_it_and_exits(tmp_path):
    env = {"IRQA_INDEX": str(tmp_path / "index"), "IRQA_CACHE_DIR": str(fresh_cache(tmp_path / "cache"))}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = irqa("serve", "--port", str(port), env=env)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "serving" not in r.stdout + r.stderr
    assert r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"port {port}" in r.stderr and "already in use" in r.stderr and "--port" in r.stderr
    assert not (tmp_path / "index").exists(), "the port is bound before the index is touched"


def test_serve_binds_at_once_and_builds_the_index_in_the_background(tmp_path):
    """A first start on a fresh index dir (cold vector cache): /healthz within 5 s, /readyz 503 with progress."""
    proc, url = start_serve(tmp_path)
    try:
        t0 = time.monotonic()
        while (left := 5 - (time.monotonic() - t0)) > 0:
            assert proc.poll() is None, (tmp_path / "serve.err").read_text()
            try:  # a slow answer within the 5 s counts (a loaded machine); a refused connection is retried
                healthz = httpx.get(f"{url}/healthz", timeout=max(left, 0.1))
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail(f"/healthz did not answer within 5 s:\n{(tmp_path / 'serve.err').read_text()}")
        assert healthz.json() == {"status": "ok"}
        ready = httpx.get(f"{url}/readyz", timeout=30)
        assert ready.status_code == 503 and ready.json()["ready"] is False
        assert httpx.post(f"{url}/v1/ask", json={"question": "影石"}, timeout=30).status_code == 503
        # the sample filings are parsed first: progress appears long before the 165 passages are embedded
        deadline = time.monotonic() + 120
        while "progress" not in (body := httpx.get(f"{url}/readyz", timeout=30).json()):
            assert body["stage"] != "failed" and time.monotonic() < deadline, body
            time.sleep(0.2)
        assert body["ready"] is False and body["progress"]["total"] >= 1
    finally:
        stop(proc)
    out, err = (tmp_path / "serve.out").read_text(), (tmp_path / "serve.err").read_text()
    assert out.startswith(f"irqa is serving {url}/"), out
    assert "building it from the built-in sample filings in the background" in err
    assert "Traceback" not in err
