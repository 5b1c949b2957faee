"""Real local services the scale-out tests start: a Milvus Lite server and a two-node Ray cluster.

Each is a context manager that starts processes on 127.0.0.1, waits until they answer, and
stops exactly the processes it started (by pid / by ``ray stop`` of its own temp dir).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import free_port


def _wait_port(port: int, proc: subprocess.Popen, seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited ({proc.returncode}): {log.read_text(errors='replace')[-2000:]}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.3)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds:.0f} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def milvus_lite_server(data_dir: Path) -> Iterator[str]:
    """``milvus-lite server --data-dir D --host 127.0.0.1 --port P``; yields ``"127.0.0.1:P"``."""
    port = free_port()
    log = data_dir / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "milvus_lite",
                "server",
                "--data-dir",
                str(data_dir / "data"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_port(port, proc, 120, log)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop a process started in a session of its own, and everything in that session."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _kill_marked(marker: str) -> None:
    """SIGKILL leftover processes whose command line names ``marker`` (our own temp dir)."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(d.name), signal.SIGKILL)


@contextlib.contextmanager
def ray_cluster(temp_dir: Path) -> Iterator[str]:
    """A head and a worker node on 127.0.0.1, one CPU each; yields the head's ``HOST:PORT``.

    Token authentication is off (``RAY_AUTH_MODE=disabled``; the driver must set it too): both
    nodes listen on 127.0.0.1 only.

    Each node runs as ``ray start --block`` in a session of its own, stopped by killing that
    session (never ``ray stop``, which would stop every Ray on the machine).
    """
    exe = [sys.executable, "-m", "ray.scripts.scripts"]  # workers then run this very Python (and irqa)
    port = free_port()
    temp_dir.mkdir(parents=True, exist_ok=True)  # keep it short: Ray's socket paths cap at 107 bytes
    # Auth mode set explicitly: `ray start` turns token auth on whenever ~/.ray/auth_token exists
    # (any earlier local ray.init() writes one), and the test's driver must match the nodes
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_TMPDIR": str(temp_dir),
        "RAY_AUTH_MODE": "disabled",
    }
    common = ["--block", "--num-cpus", "1", "--num-gpus", "0", "--disable-usage-stats"]
    common += ["--node-ip-address", "127.0.0.1", "--object-store-memory", str(200 * 2**20)]
    address = f"127.0.0.1:{port}"
    head = [*exe, "start", "--head", "--port", str(port), "--include-dashboard", "false"]
    head += ["--temp-dir", str(temp_dir), *common]
    worker = [*exe, "start", "--address", address, *common]
    procs: list[subprocess.Popen] = []
    try:
        for i, cmd in enumerate((head, worker)):
            log = (temp_dir / f"node{i}.log").open("wb")
            procs.append(
                subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            )
            if i == 0:
                _wait_port(port, procs[0], 180, temp_dir / "node0.log")
        yield address
    finally:
        for p in reversed(procs):
            _kill_group(p)
        _kill_marked(str(temp_dir))
