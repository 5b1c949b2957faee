"""``irqa llm``: a local Chinese-capable chat model for generative answers, from PyPI wheels only.

Generative answers need an OpenAI-compatible server (README *Generative answers*); without a hub
a user has no model to put behind one. This command joins a GGUF from its PyPI part wheels once
(``irqa.llm_models``: sizes and sha256 recorded in the repository) and then becomes
``python -m llama_cpp.server`` on 127.0.0.1, after printing the two ``export`` lines that point
irqa at it. The process is replaced (``exec``), so Ctrl-C or a kill stops the server itself.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import socket
import sys
from typing import Annotated

import typer

from irqa.cli.console import err, fail, out, settings_for, user_errors
from irqa.llm_models import DEFAULT_MODEL, MODELS


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def llm(
    model: Annotated[str, typer.Option("--model", help=f"One of: {', '.join(MODELS)}.")] = DEFAULT_MODEL,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port on 127.0.0.1.")] = 8088,
    threads: Annotated[
        int | None,
        typer.Option("--threads", min=1, help="CPU threads (default: $IRQA_THREADS, else all cores)."),
    ] = None,
    n_ctx: Annotated[
        int, typer.Option("--n-ctx", min=512, help="Context in tokens (four passages fit in 4096).")
    ] = 4096,
) -> None:
    """Serve a local Chinese-capable chat model (assembled once from its PyPI wheels) for IRQA_LLM_BASE_URL."""
    # settings_for also sets OMP_WAIT_POLICY=PASSIVE, which the server inherits: with OpenMP's
    # busy-wait the 0.5B model ran ~4x slower beside another busy process (irqa.llm_models)
    s = settings_for(None)
    from irqa.llm_models import ensure_model, get_model

    with user_errors():
        spec = get_model(model)
    if importlib.util.find_spec("llama_cpp") is None:
        raise fail('llama-cpp-python is not installed: pip install -e ".[llm]" (it compiles, ~9 min)')
    if not _port_free(port):
        raise fail(
            f"port {port} on 127.0.0.1 is already in use (another irqa llm?); try: irqa llm --port {port + 1}"
        )

    joined: list[bool] = []

    def progress(done: int, total: int) -> None:
        if not joined:  # once: the join takes seconds, and later starts reuse the file
            joined.append(True)
            err.print(
                f"Joining {spec.name} from its {len(spec.parts)} wheels ({total / 1e6:,.0f} MB, once)…",
                highlight=False,
            )

    with user_errors():
        path = ensure_model(spec, s.cache_dir, progress=progress)
    if joined:
        err.print(f"{spec.name}: sha256 {spec.sha256[:16]}… verified, kept at {path}", highlight=False)
    if not spec.instruct:
        err.print(f"warning: {spec.name} is not instruction-tuned: {spec.note}", highlight=False)

    n = str(threads or s.threads or os.cpu_count() or 1)
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(path),
        "--model_alias",
        spec.name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        n,
        "--n_threads_batch",
        n,
        "--chat_format",
        spec.chat_format,
    ]
    out.print(f"export IRQA_LLM_BASE_URL=http://127.0.0.1:{port}/v1", highlight=False, soft_wrap=True)
    out.print(f"export IRQA_LLM_MODEL={spec.name}", highlight=False, soft_wrap=True)
    err.print(
        f"Starting llama_cpp.server ({n} threads, {n_ctx} tokens of context); Ctrl+C stops it",
        highlight=False,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # the server's logs (uvicorn writes its access log to stdout) go to stderr: stdout holds the
    # two export lines only, whatever reads it
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    os.execv(sys.executable, cmd)


COMMANDS = (llm,)
