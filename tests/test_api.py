"""The HTTP API against a real uvicorn server over a real index (tests/api_server.py)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.api_server import (
    API_KEY,
    CORS_ORIGIN,
    MAX_UPLOAD,
    Server,
    make_filing,
    shared_server,
    xinghe_filing,
)

TURBO = "what did 虹软 say about Turbo Fusion video power draw"


@pytest.fixture(scope="session")
def server() -> Server:
    return shared_server()


@pytest.fixture
def http(server: Server):
    with server.client() as c:
        yield c


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) pairs of a server-sent event stream."""
    out = []
    for block in text.strip().split("\n\n"):
        name, data = None, []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        out.append((name, "\n".join(data)))
    return out


def assert_error(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]["message"]


# probes and listings ---------------------------------------------------------------------------


def test_health_ready_and_docs(http):
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz").json()
    assert ready["ready"] is True and ready["filings"] >= 3 and ready["passages"] > 100
    assert "swagger" in http.get("/docs").text.lower()
    paths = http.get("/openapi.json").json()["paths"]
    for p in ("/v1/ask", "/v1/search", "/v1/filings", "/v1/filings/{filing_id}", "/v1/companies"):
        assert p in paths
    assert "/v1/chat/completions" in paths and "/v1/models" in paths


def test_companies(http):
    companies = {c["code"]: c for c in http.get("/v1/companies").json()["companies"]}
    assert {"688088", "002415", "688775"} <= set(companies)
    arcsoft = companies["688088"]
    assert arcsoft["short_name"] == "虹软科技" and arcsoft["filings"] == 1
    assert "ArcSoft" in arcsoft["aliases"] and "虹软" in arcsoft["aliases"]


def test_filings_and_one_filing_with_passage_spans(http):
    filings = {f["id"]: f for f in http.get("/v1/filings").json()["filings"]}
    assert "688088-2024-007" in filings
    assert filings["688088-2024-007"]["company"] == "虹软科技"
    f = http.get("/v1/filings/688088-2024-007").json()
    assert f["code"] == "688088" and f["record_no"] == "2024-007" and f["date"]
    assert f["header"]["short_name"] == "虹软科技"
    assert f["passages"] and f["segments"]
    for p in f["passages"]:
        assert f["text"][p["start"] : p["end"]] == p["text"]


def test_unknown_filing_is_404(http):
    msg = assert_error(http.get("/v1/filings/000000-nope"), 404, "not_found")
    assert "000000-nope" in msg


# asking ------------------------------------------------------------------------------------------


def test_ask_answers_with_citations_that_locate_the_quote(http):
    r = http.post("/v1/ask", json={"question": TURBO})
    assert r.status_code == 200, r.text
    a = r.json()
    assert set(a) >= {"question", "answer", "abstained", "citations", "passages", "timings_ms"}
    assert not a["abstained"] and a["citations"]
    c = a["citations"][0]
    assert (c["company"], c["code"], c["record_no"]) == ("虹软科技", "688088", "2024-007")
    assert f"[{c['n']}]" in a["answer"]
    text = http.get(f"/v1/filings/{c['filing_id']}").json()["text"]
    for c in a["citations"]:
        assert text[c["start"] : c["end"]] == c["quote"]
    assert any("功耗" in c["quote"] for c in a["citations"])


def test_without_an_llm_answers_stay_extractive(http):
    a = http.post("/v1/ask", json={"question": TURBO}).json()
    assert a["mode"] == "extractive" and a["warning"] is None
    assert a["grounding"] == {"verified": True, "unsupported": []}
    g = http.post("/v1/ask", json={"question": TURBO, "mode": "generative"}).json()
    assert g["mode"] == "extractive" and "no language model" in g["warning"]
    assert g["answer"] == a["answer"]


def test_ask_filters_by_company_and_date(http):
    a = http.post("/v1/ask", json={"question": "研发投入", "company": "海康威视", "k": 5}).json()
    assert a["passages"] and {p["code"] for p in a["passages"]} == {"002415"}
    a = http.post(
        "/v1/ask", json={"question": "研发投入", "date_from": "2024-01-01", "date_to": "2024-12-31"}
    ).json()
    assert a["passages"] and all("2024-01-01" <= p["date"] <= "2024-12-31" for p in a["passages"])
    a = http.post("/v1/ask", json={"question": "研发投入", "date_from": "2030-01-01"}).json()
    assert a["abstained"] and not a["citations"]


def test_ask_abstains_on_an_unindexed_company_and_shows_nearest_passages(http):
    a = http.post("/v1/ask", json={"question": "腾讯的云业务收入是多少？"}).json()
    assert a["abstained"] and not a["citations"]
    assert "腾讯" in a["answer"]


def test_ask_stream(http):
    plain = http.post("/v1/ask", json={"question": TURBO}).json()
    with http.stream("POST", "/v1/ask", json={"question": TURBO, "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r.read().decode())
    names = [n for n, _ in events]
    assert names[0] == "citations" and names[-1] == "done"
    assert set(names[1:-1]) == {"delta"} and len(names) > 3
    first = json.loads(events[0][1])
    assert [c["passage_id"] for c in first["citations"]] == [c["passage_id"] for c in plain["citations"]]
    text = "".join(json.loads(d)["text"] for n, d in events if n == "delta")
    assert text == plain["answer"]
    done = json.loads(events[-1][1])
    assert done["timings_ms"]["total"] > 0


def test_search(http):
    r = http.get("/v1/search", params={"q": "Turbo Fusion 视频 功耗", "k": 3, "company": "688088"})
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert 1 <= len(hits) <= 3 and all(h["code"] == "688088" for h in hits)
    assert any("功耗" in h["text"] for h in hits)
    assert set(hits[0]) >= {"passage_id", "filing_id", "text", "start", "end", "score"}


# bad input ---------------------------------------------------------------------------------------


def test_question_errors(http, server):
    assert_error(http.post("/v1/ask", json={"question": "   "}), 422, "empty_question")
    msg = assert_error(http.post("/v1/ask", json={"question": "问" * 2001}), 413, "question_too_long")
    assert "2,000" in msg
    assert_error(http.get("/v1/search", params={"q": ""}), 422, "empty_question")
    assert_error(http.post("/v1/ask", json={}), 422, "invalid_request")
    assert_error(http.post("/v1/ask", json={"question": "x", "k": 0}), 422, "invalid_request")
    r = http.post("/v1/ask", json={"question": "x", "date_from": "2024-05-01", "date_to": "2024-01-01"})
    assert_error(r, 422, "invalid_request")
    assert_error(http.post("/v1/ask", json={"question": "x", "date_from": "May 1"}), 422, "invalid_request")


def test_malformed_json(http):
    r = http.post("/v1/ask", content=b'{"question": ', headers={"Content-Type": "application/json"})
    assert_error(r, 400, "malformed_json")


def test_oversized_json_body(http):
    r = http.post("/v1/ask", content=b" " * (2 * 1024 * 1024), headers={"Content-Type": "application/json"})
    assert_error(r, 413, "too_large")


def test_upload_errors(http, server):
    auth = server.auth()
    r = http.post("/v1/filings", files={"files": ("notes.exe", b"MZ...")}, headers=auth)
    assert "notes.exe" in assert_error(r, 415, "unsupported_file_type")
    big = b"0" * (MAX_UPLOAD + 10)
    r = http.post("/v1/filings", files={"files": ("big.txt", big)}, headers=auth)
    assert_error(r, 413, "upload_too_large")
    r = http.post("/v1/filings", json={"x": 1}, headers=auth)
    assert_error(r, 415, "unsupported_media_type")
    r = http.post("/v1/filings", data={"note": "no file"}, files={}, headers=auth)
    assert r.status_code in (415, 422)
    r = http.post("/v1/filings", files={"files": ("garbage.txt", b"\x00\x01 not a filing")}, headers=auth)
    assert "garbage.txt" in assert_error(r, 422, "no_filing_ingested")  # every file failed: not a 200
    assert r.json()["error"]["failed"][0]["source"] == "garbage.txt"


# writing -----------------------------------------------------------------------------------------


def test_writes_need_the_api_key_and_reads_do_not(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.post("/v1/filings", files={"files": ("x.txt", xinghe_filing())})
        assert_error(r, 401, "unauthorized")
        r = c.post("/v1/filings", files={"files": ("x.txt", xinghe_filing())}, headers={"X-API-Key": "wrong"})
        assert_error(r, 401, "unauthorized")
        assert_error(c.delete("/v1/filings/688088-2024-007"), 401, "unauthorized")
        assert c.get("/v1/filings").status_code == 200
        assert c.post("/v1/ask", json={"question": "研发费用"}).status_code == 200
    assert server.api_key == API_KEY


def test_upload_then_ask_then_delete(http, server):
    # a hostile file name is only a display name: nothing is written outside the index
    name = "../../../tmp/irqa-evil-星河.txt"
    r = http.post(
        "/v1/filings", files={"files": (name, xinghe_filing(), "text/plain")}, headers=server.auth()
    )
    report = finished(http, r)
    assert report["added"] == ["688999-2025-001"] or report["skipped"] == ["688999-2025-001"]
    assert not Path("/tmp/irqa-evil-星河.txt").exists()
    summary = {f["id"]: f for f in http.get("/v1/filings").json()["filings"]}["688999-2025-001"]
    assert summary["source"] == "irqa-evil-星河.txt"
    codes = {c["code"] for c in http.get("/v1/companies").json()["companies"]}
    assert "688999" in codes

    a = http.post("/v1/ask", json={"question": "星河光电的激光雷达什么时候开始批量供货？"}).json()
    assert not a["abstained"]
    assert a["citations"][0]["filing_id"] == "688999-2025-001"
    assert "第三季度" in a["answer"]

    # unchanged re-upload is skipped
    r = http.post("/v1/filings", files={"files": ("again.txt", xinghe_filing())}, headers=server.auth())
    assert r.json()["skipped"] == ["688999-2025-001"]

    r = http.delete("/v1/filings/688999-2025-001", headers={"X-API-Key": server.api_key})
    assert r.json() == {"deleted": "688999-2025-001"}
    assert_error(http.get("/v1/filings/688999-2025-001"), 404, "not_found")
    assert_error(http.delete("/v1/filings/688999-2025-001", headers=server.auth()), 404, "not_found")
    a = http.post("/v1/ask", json={"question": "星河光电的激光雷达什么时候开始批量供货？"}).json()
    assert all(c["filing_id"] != "688999-2025-001" for c in a["citations"])


def finished(c: httpx.Client, r: httpx.Response) -> dict:
    """The ingest report of an upload; a 202 (the ingest outlasted the server's wait) is polled."""
    if r.status_code == 202:
        job = r.json()
        deadline = time.monotonic() + 600
        while job["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
            job = c.get(job["url"]).json()
        assert job["status"] == "done", job
        return job["result"]
    assert r.status_code == 200, r.text
    return r.json()


def _filing(i: int, answers: int = 1) -> tuple[str, bytes]:
    code = f"68{i:04d}"
    qa = [
        (
            f"公司第{j}号产品线进展如何？",
            f"第{j}号产品线的钛合金外壳良率已提升到9{i % 10}.{j}%，客户验证顺利。",
        )
        for j in range(1, answers + 1)
    ]
    data = make_filing(code, f"测试{i:02d}号", f"测试{i:02d}号科技股份有限公司", "2025-010", qa)
    return f"{code}-2025-010", data


def test_two_concurrent_uploads_both_land(server):
    jobs = [_filing(41), _filing(42)]

    def upload(job: tuple[str, bytes]) -> dict:
        with server.client(timeout=180) as c:
            r = c.post("/v1/filings", files={"files": (f"{job[0]}.txt", job[1])}, headers=server.auth())
            return finished(c, r)

    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(upload, jobs))
    assert [r["added"] for r in reports] == [[jobs[0][0]], [jobs[1][0]]]
    with server.client() as c:
        ids = {f["id"] for f in c.get("/v1/filings").json()["filings"]}
        assert {jobs[0][0], jobs[1][0]} <= ids
        for fid, _ in jobs:
            c.delete(f"/v1/filings/{fid}", headers=server.auth())


def test_asking_while_uploading_keeps_answering(server):
    fid, data = _filing(43, answers=40)  # ~40 passages to embed: a few seconds of ingest
    done = threading.Event()
    result: dict = {}

    def upload() -> None:
        with server.client(timeout=300) as c:
            r = c.post("/v1/filings", files={"files": ("big.txt", data)}, headers=server.auth())
            result["r"] = finished(c, r)
        done.set()

    t = threading.Thread(target=upload)
    t.start()
    answers = []
    with server.client() as c:
        while not done.is_set() or len(answers) < 3:
            r = c.post("/v1/ask", json={"question": TURBO})
            assert r.status_code == 200, r.text
            answers.append(r.json())
    t.join()
    assert result["r"]["added"] == [fid]
    assert all(a["citations"] and a["citations"][0]["code"] == "688088" for a in answers)
    with server.client() as c:
        assert c.get(f"/v1/filings/{fid}").status_code == 200
        c.delete(f"/v1/filings/{fid}", headers=server.auth())


# readiness ---------------------------------------------------------------------------------------


def test_readyz_is_503_until_an_index_is_loaded(tmp_path):
    """An app over an empty index directory (no bootstrap) is alive but not ready."""
    from irqa.api.app import create_app
    from irqa.rag.engine import Engine

    from irqa.settings import Settings
    from irqa.wiring import build_engine

    engine = build_engine(Settings(index=tmp_path / "index", cache_dir=tmp_path / "cache"))
    assert isinstance(engine, Engine)
    with TestClient(create_app(engine, bootstrap=False)) as c:
        assert c.get("/healthz").status_code == 200
        import time

        deadline = time.monotonic() + 10
        while c.get("/readyz").json()["stage"] not in ("failed", "ready") and time.monotonic() < deadline:
            time.sleep(0.05)
        r = c.get("/readyz")
        assert r.status_code == 503 and not r.json()["ready"]
        assert_error(c.post("/v1/ask", json={"question": "研发费用"}), 503, "not_ready")


def test_cors_only_for_configured_origins(http):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    ok = http.options("/v1/ask", headers={"Origin": CORS_ORIGIN, **preflight})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == CORS_ORIGIN
    other = http.options("/v1/ask", headers={"Origin": "http://evil.example.test", **preflight})
    assert "access-control-allow-origin" not in other.headers
    r = http.get("/v1/companies", headers={"Origin": CORS_ORIGIN})
    assert r.headers["access-control-allow-origin"] == CORS_ORIGIN
