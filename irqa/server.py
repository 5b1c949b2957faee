"""``irqa serve``: the API and the web page in one uvicorn process.

The port is bound first, before anything slow: a busy port fails at once with one clear line,
and "serving" is printed only once the socket listens. The index is then built (from the sample
filings, when there is none) and loaded in the background by the app's ``Warmup``, so
``/healthz`` answers within a second or two, ``/readyz`` reports the build's progress with a
503, and the web page shows it; this process echoes the same progress on stderr.
"""

from __future__ import annotations

import errno
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING

from irqa.runtime import prepare_process
from irqa.settings import Settings

if TYPE_CHECKING:
    from irqa.api.deps import Warmup

#: how ``/readyz`` stages read on the terminal
STAGES = {
    "starting": "Starting",
    "building": "Building the index from the sample filings",
    "parse": "Parsing filings",
    "embed": "Embedding passages",
    "quotes": "Embedding quotable sentences",
    "loading": "Loading the index",
}


class PortUnavailable(OSError):
    """The address cannot be bound (busy or not allowed); the message says what to do."""


def _free_port_near(host: str, port: int, tries: int = 20) -> int | None:
    for candidate in range(port + 1, min(port + 1 + tries, 65536)):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, candidate))
            except OSError:
                continue
            return candidate
    return None


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or ``PortUnavailable`` saying which port and what to try."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # like uvicorn: a port left in TIME_WAIT by a previous run binds; one that listens does not
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            other = _free_port_near(host, port)
            hint = f"irqa serve --port {other}" if other else "irqa serve --port <another port>"
            raise PortUnavailable(
                f"port {port} on {host} is already in use (another irqa serve?); "
                f"stop that process or choose another port: {hint}"
            ) from None
        raise PortUnavailable(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.set_inheritable(True)
    return sock


def shown_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}/"


def describe(status: dict) -> str:
    """One line for a ``/readyz`` status while the index is not ready."""
    line = STAGES.get(status["stage"], status["stage"])
    if p := status.get("progress"):
        line += f" {p['done']}/{p['total']}"
        if status["stage"] == "parse" and p["done"] == p["total"]:
            line += ", then loading the embedding model"  # the ingest pipeline's next step
    return line


def report_warmup(warmup: Warmup, every: float = 0.5) -> None:
    """Echo the background build on stderr: stage changes, each quarter of a stage, then ready."""
    t0 = time.monotonic()
    last: tuple[str, int] | None = None
    while True:
        st = warmup.status()
        if st.get("error"):
            print(f"error: the index could not be loaded: {st['error']}", file=sys.stderr, flush=True)
            return
        if st["ready"]:
            snap = warmup.engine.snapshot()
            print(
                f"Index ready: {len(snap.filings)} filings, {len(snap.passages)} passages "
                f"({time.monotonic() - t0:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
            return
        p = st.get("progress") or {}
        quarter = 4 * p["done"] // p["total"] if p.get("total") else 0
        if (st["stage"], quarter) != last:
            last = (st["stage"], quarter)
            print(f"  {describe(st)}…", file=sys.stderr, flush=True)
        time.sleep(every)


def run(settings: Settings, host: str, port: int) -> None:
    """Bind, serve at once, and build/load the index in the background until interrupted."""
    prepare_process(settings.cache_dir, settings.threads)  # before the model library loads
    sock = bind(host, port)  # before the slow imports: a busy port fails in a fraction of a second
    try:
        import uvicorn

        from irqa.api.app import create_app
        from irqa.wiring import api_config, build_engine

        config = api_config(settings)  # refuses an empty IRQA_API_KEY before any slow start-up work
        engine = build_engine(settings, resident=True)
        app = create_app(engine, config, bootstrap=True)
        url = shown_url(host, port)
        print(f"irqa is serving {url} (API docs at /docs); Ctrl+C stops it", flush=True)
        if not engine.store.exists():
            print(
                f"No index at {engine.store.root} yet: building it from the built-in sample filings in "
                f"the background (about a minute the first time; progress at {url}readyz and on the page)",
                file=sys.stderr,
                flush=True,
            )
        threading.Thread(
            target=report_warmup, args=(app.state.warmup,), name="irqa-report", daemon=True
        ).start()
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5))
        server.run(sockets=[sock])
    finally:
        sock.close()
