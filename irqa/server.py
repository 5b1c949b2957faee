"""``irqa serve``: the API and the web page in one uvicorn process.

The index is built (from the sample filings, when there is none) and loaded before the URL is
printed, so the first visitor gets answers rather than a 503; the app's own warm-up then finds
the index ready. ``create_app`` alone (tests, other ASGI servers) warms up in the background.
"""

from __future__ import annotations

import sys

from irqa.runtime import prepare_process
from irqa.settings import Settings


def _progress(stage: str, done: int, total: int) -> None:
    if stage == "embed" and total and (done == total or done % 16 == 0):
        print(f"\r  embedding passages {done}/{total}", end="\n" if done == total else "", file=sys.stderr)


def run(settings: Settings, host: str, port: int) -> None:
    """Create the engine, make sure an index exists and is loaded, and serve until interrupted."""
    prepare_process(settings.cache_dir, settings.threads)  # before the model library loads
    import uvicorn

    from irqa.api.app import create_app
    from irqa.wiring import api_config, build_engine

    config = api_config(settings)  # refuses an empty IRQA_API_KEY before any slow start-up work
    engine = build_engine(settings)
    if not engine.store.exists():
        print(f"No index at {engine.store.root}: building it from the sample filings…", file=sys.stderr)
    engine.ensure_index(progress=_progress)
    engine.snapshot()
    app = create_app(engine, config)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    print(f"irqa is serving http://{shown}:{port}/ (API docs at /docs); Ctrl+C stops it", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
