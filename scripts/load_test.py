"""Load test: N concurrent askers against a local irqa server for a fixed time.

Reports requests/s, p50/p95 latency and errors, and writes them as JSON. Without ``--url`` it
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
]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    i = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[i]


async def asker(client: httpx.AsyncClient, n: int, stop_at: float, latencies: list[float], errors: list[str]):
    i = n
    while time.monotonic() < stop_at:
        q = QUESTIONS[i % len(QUESTIONS)]
        i += 1
        t0 = time.perf_counter()
        try:
            r = await client.post("/v1/ask", json={"question": q})
            if r.status_code == 200 and "answer" in r.json():
                latencies.append((time.perf_counter() - t0) * 1000)
            else:
                errors.append(f"{r.status_code} {r.text[:120]}")
        except httpx.HTTPError as e:
            errors.append(f"{type(e).__name__}: {e}")


async def run_load(url: str, concurrency: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await client.post("/v1/ask", json={"question": QUESTIONS[0]})  # warm the model
        t0 = time.monotonic()
        stop_at = t0 + seconds
        await asyncio.gather(*(asker(client, n, stop_at, latencies, errors) for n in range(concurrency)))
        elapsed = time.monotonic() - t0
    done = len(latencies) + len(errors)
    return {
        "url": url,
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "requests": done,
        "ok": len(latencies),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "requests_per_s": round(done / elapsed, 2),
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 1),
            "p95": round(percentile(latencies, 95), 1),
            "max": round(max(latencies, default=0), 1),
            "mean": round(statistics.fmean(latencies), 1) if latencies else 0.0,
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
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
        result = asyncio.run(run_load(url, args.concurrency, args.seconds))
    finally:
        if server is not None:
            server.stop()
    lat = result["latency_ms"]
    print(
        f"{result['requests']} requests in {result['seconds']} s with {args.concurrency} askers: "
        f"{result['requests_per_s']} req/s, p50 {lat['p50']} ms, p95 {lat['p95']} ms, "
        f"{result['errors']} errors"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
