"""Load test: N concurrent clients against a local irqa server for a fixed time.

Each client mixes questions (``/v1/ask``, varied, some with a company filter), searches,
uploads of small made-up filings and deletions of its own uploads. At the start one large
filing is uploaded (``Prefer: respond-async``) and ``/healthz`` is probed every 0.25 s while
it ingests. Reports requests/s, p50/p95 latency per kind, p95 of ``/healthz`` during the large
ingest, write back-pressure (503 ``busy``, retried after ``Retry-After`` as a client should) and
errors (anything else that is not a success), and writes them as JSON. Without ``--url`` it
starts its own server (sample index in a temporary directory) and stops it afterwards. Only
local addresses are accepted: this is for measuring your own machine, not someone else's.

    python scripts/load_test.py --concurrency 20 --seconds 30 --out bench-results/load.json
    python scripts/load_test.py --url http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "what did 虹软 say about Turbo Fusion video power draw",
    "虹软科技2024年上半年研发费用是多少？",
    "海康威视如何看待大模型？",
    "影石创新的海外市场情况",
    "How much did ArcSoft spend on R&D?",
    "海康威视今年的费用管控目标是什么？",
    "Insta360 全景相机的竞争格局",
    "腾讯的云业务收入是多少？",  # an abstention, which is a normal answer
    "虹软的智能汽车业务进展如何？",
    "海康威视的存货和应收账款情况",
    "影石创新的研发投入和人员",
    "What did Hikvision say about overseas demand?",
    "公司对明年的毛利率有什么预期？",
    "ArcSoft smartphone camera algorithms outlook",
    "海康威视 2023 年 创新业务 收入 增速",
    "影石的无人机产品什么时候发布？",
]
COMPANIES = [None, None, None, "688088", "海康威视", "Insta360"]
SEARCHES = ["功耗", "研发费用", "海外 收入", "大模型", "全景相机", "毛利率", "汽车 业务", "库存"]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    i = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[i]


def made_up_filing(code: str, record: str, n: int) -> bytes:
    """A small 投资者关系活动记录表 (header table + ``n`` Q&A pairs) with content unique to ``record``."""
    lines = [
        f"证券代码：{code}        证券简称：压测科技",
        "压测科技股份有限公司",
        "投资者关系活动记录表",
        f"编号：{record}",
        "投资者关系活动类别",
        "特定对象调研",
        "参与单位名称及人员姓名",
        "压测机构",
        "时间",
        "2025年03月12日",
        "地点",
        "公司会议室",
        "投资者关系活动主要内容介绍",
    ]
    for i in range(n):
        lines += [
            f"{i + 1}、编号{record}的第{i}项业务进展如何？",
            f"答：编号{record}的第{i}项业务进展顺利，" * 12,
        ]
    return "\n".join(lines).encode("utf-8")


class Stats:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.busy = 0

    def ok(self, kind: str, t0: float) -> None:
        self.latency.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)

    def error(self, kind: str, what: str) -> None:
        self.errors.append(f"{kind}: {what}")


async def write(client: httpx.AsyncClient, stats: Stats, kind: str, send, stop_at: float) -> dict | None:
    """A write with the back-pressure a client should honour: on 503 busy, wait Retry-After;
    on 202, poll the job. Returns the finished result, or None."""
    while time.monotonic() < stop_at:
        t0 = time.perf_counter()
        r = await send()
        if r.status_code == 503 and r.json().get("error", {}).get("code") == "busy":
            stats.busy += 1
            await asyncio.sleep(min(float(r.headers.get("retry-after", "2")), 5))
            continue
        if r.status_code == 202:
            job = r.json()
            while job["status"] in ("queued", "running"):
                await asyncio.sleep(1)
                job = (await client.get(job["url"])).json()
            if job["status"] != "done":
                stats.error(kind, f"job {job['status']}: {job.get('error')}")
                return None
            stats.ok(kind, t0)
            return job["result"]
        if r.status_code == 200:
            stats.ok(kind, t0)
            return r.json()
        stats.error(kind, f"{r.status_code} {r.text[:120]}")
        return None
    return None


async def client_loop(client: httpx.AsyncClient, n: int, stop_at: float, stats: Stats) -> None:
    rnd = random.Random(n)
    mine: list[str] = []
    i = 0
    while time.monotonic() < stop_at:
        i += 1
        roll = rnd.random()
        try:
            if roll < 0.06:  # upload a small made-up filing
                record = f"L{n:02d}-{i:04d}"
                data = made_up_filing(f"9{n:05d}", record, 2)
                result = await write(
                    client,
                    stats,
                    "upload",
                    lambda data=data, record=record: client.post(
                        "/v1/filings", files={"files": (f"{record}.txt", data)}
                    ),
                    stop_at,
                )
                if result:
                    mine += result["added"]
            elif roll < 0.10 and mine:  # delete one of this client's uploads
                fid = mine.pop(0)
                await write(
                    client, stats, "delete", lambda fid=fid: client.delete(f"/v1/filings/{fid}"), stop_at
                )
            elif roll < 0.40:
                t0 = time.perf_counter()
                r = await client.get(
                    "/v1/search", params={"q": rnd.choice(SEARCHES), "k": rnd.choice([3, 5, 10])}
                )
                if r.status_code == 200 and "hits" in r.json():
                    stats.ok("search", t0)
                else:
                    stats.error("search", f"{r.status_code} {r.text[:120]}")
            else:
                body: dict = {"question": rnd.choice(QUESTIONS)}
                if company := rnd.choice(COMPANIES):
                    body["company"] = company
                t0 = time.perf_counter()
                r = await client.post("/v1/ask", json=body)
                if r.status_code == 200 and "answer" in r.json():
                    stats.ok("ask", t0)
                else:
                    stats.error("ask", f"{r.status_code} {r.text[:120]}")
        except httpx.HTTPError as e:
            stats.error("transport", f"{type(e).__name__}: {e}")


async def large_ingest(client: httpx.AsyncClient, passages_hint: int, stats: Stats) -> dict:
    """Upload one large filing and probe /healthz every 0.25 s until its job is done."""
    data = made_up_filing("999999", f"BIG-{int(time.time())}", passages_hint)
    t0 = time.perf_counter()
    r = await client.post(
        "/v1/filings", files={"files": ("large.txt", data)}, headers={"Prefer": "respond-async"}
    )
    if r.status_code != 202:
        stats.error("large", f"{r.status_code} {r.text[:120]}")
        return {}
    job = r.json()
    health: list[float] = []
    while job["status"] in ("queued", "running"):
        h0 = time.perf_counter()
        try:
            h = await client.get("/healthz")
            if h.status_code == 200:
                health.append((time.perf_counter() - h0) * 1000)
            else:
                stats.error("healthz", str(h.status_code))
        except httpx.HTTPError as e:
            stats.error("healthz", f"{type(e).__name__}: {e}")
        await asyncio.sleep(0.25)
        job = (await client.get(job["url"])).json()
    if job["status"] != "done":
        stats.error("large", f"job {job['status']}: {job.get('error')}")
        return {}
    fid = job["result"]["added"][0] if job["result"]["added"] else None
    if fid:
        await write(
            client, stats, "delete", lambda: client.delete(f"/v1/filings/{fid}"), time.monotonic() + 300
        )
    return {
        "passages": job["result"]["passages"],
        "seconds": round(time.perf_counter() - t0, 1),
        "healthz_probes": len(health),
        "healthz_ms": {
            "p50": round(percentile(health, 50), 1),
            "p95": round(percentile(health, 95), 1),
            "max": round(max(health, default=0), 1),
        },
    }


async def run_load(url: str, concurrency: int, seconds: float, large_qa: int) -> dict:
    stats = Stats()
    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await client.post("/v1/ask", json={"question": QUESTIONS[0]})  # warm the model
        t0 = time.monotonic()
        stop_at = t0 + seconds
        large_task = asyncio.create_task(large_ingest(client, large_qa, stats))
        await asyncio.gather(*(client_loop(client, n, stop_at, stats) for n in range(concurrency)))
        elapsed = time.monotonic() - t0
        large = await large_task
    done = sum(len(v) for v in stats.latency.values()) + len(stats.errors)
    groups = dict(stats.latency)
    groups["all"] = [x for v in stats.latency.values() for x in v]
    groups["reads (ask + search)"] = stats.latency.get("ask", []) + stats.latency.get("search", [])
    return {
        "url": url,
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "requests": done,
        "ok": done - len(stats.errors),
        "errors": len(stats.errors),
        "error_samples": sorted(set(stats.errors))[:5],
        "busy_retries": stats.busy,
        "requests_per_s": round(done / elapsed, 2),
        "latency_ms": {
            kind: {
                "n": len(v),
                "p50": round(percentile(v, 50), 1),
                "p95": round(percentile(v, 95), 1),
                "max": round(max(v, default=0), 1),
                "mean": round(statistics.fmean(v), 1) if v else 0.0,
            }
            for kind, v in groups.items()
        },
        "large_ingest": large,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
    }


def local_only(url: str) -> str:
    host = urlparse(url).hostname or ""
    if not (host == "localhost" or host.startswith("127.") or host == "::1"):
        raise SystemExit(f"error: only local servers may be load-tested (got {host!r})")
    return url.rstrip("/")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="A running server (default: start one on a free local port).")
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument(
        "--large-qa", type=int, default=60, help="Q&A pairs of the large filing (~1 passage each)."
    )
    ap.add_argument("--out", type=Path, help="Write the results as JSON here.")
    args = ap.parse_args()
    if not (1 <= args.concurrency <= 200 and 0 < args.seconds <= 600):
        raise SystemExit("error: --concurrency must be 1–200 and --seconds 0–600")

    server = None
    if args.url:
        url = local_only(args.url)
    else:
        from tests.api_server import start_server

        print("starting a local irqa server (builds the sample index on first use)…", file=sys.stderr)
        os.environ.setdefault("IRQA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "irqa-load-cache"))
        server = start_server("load", IRQA_CACHE_DIR=os.environ["IRQA_CACHE_DIR"])
        url = server.url
    try:
        result = asyncio.run(run_load(url, args.concurrency, args.seconds, args.large_qa))
    finally:
        if server is not None:
            server.stop()
    print(
        f"{result['requests']} requests in {result['seconds']} s with {args.concurrency} clients: "
        f"{result['requests_per_s']} req/s, {result['errors']} errors, {result['busy_retries']} busy retries"
    )
    for kind, lat in result["latency_ms"].items():
        print(f"  {kind:>7}: n={lat['n']}, p50 {lat['p50']} ms, p95 {lat['p95']} ms, max {lat['max']} ms")
    if large := result["large_ingest"]:
        h = large["healthz_ms"]
        print(
            f"  large ingest: {large['passages']} passages in {large['seconds']} s; /healthz during it: "
            f"n={large['healthz_probes']}, p50 {h['p50']} ms, p95 {h['p95']} ms, max {h['max']} ms"
        )
    for e in result["error_samples"]:
        print(f"  error: {e}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
