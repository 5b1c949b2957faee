"""Run the exported encoder graph (``inputs_embeds``, ``attention_mask`` → last hidden state).

Two runtimes execute the same ONNX file; ``open_runner`` picks one:

- **OpenVINO** (preferred). On a CPU with native bfloat16 (AVX512-BF16 or AMX: recent Xeon and
  EPYC, Zen 4 here) it multiplies in bf16 and keeps LayerNorm, softmax and accumulation in fp32:
  passages embed 2.1× faster than ONNX Runtime's fp32 (41.9 vs 19.8 per second on the sample
  filings, 2 cores) and a question ~20% faster, with vectors at cosine ≥ 0.99999 to fp32
  (``eval/EXPERIMENTS.md``, "Fast and lean, part 3"). Without native bf16 it runs fp32.
- **ONNX Runtime** (fallback where OpenVINO is not installed or cannot compile the graph): fp32,
  intra-op threads that spin between the graph's parallel sections.

Both are thread-safe: OpenVINO's infer requests are pooled, one per concurrent caller.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: runtime names accepted by ``open_runner`` (``"auto"``: OpenVINO if it loads, else ONNX Runtime)
#: ``"openvino-f32"``: OpenVINO in fp32 even where the CPU has bf16 — what an AVX2-only CPU runs,
#: so its speed can be measured on a bf16 machine (issue 23; README Performance)
RUNTIMES = ("auto", "openvino", "openvino-f32", "onnxruntime")

Runner = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (embeds, mask) -> hidden states


class UnknownRuntime(ValueError):
    """The runtime name is not one of ``RUNTIMES``."""

    code = "unknown_runtime"


class OrtRunner:
    """ONNX Runtime, fp32."""

    runtime = "onnxruntime"
    precision = "fp32"

    def __init__(self, graph: Path, threads: int) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # worker threads spin between the graph's ~200 parallel sections instead of sleeping: a
        # question 10 → ~8 ms, the load test 47 → 58–70 req/s; they stop spinning when idle (a
        # served process used 0.6% of a core in the 5 s after its last request)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1")
        self.session = ort.InferenceSession(str(graph), opts, providers=["CPUExecutionProvider"])

    def __call__(self, embeds: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"inputs_embeds": embeds, "attention_mask": mask})[0]


class OpenVinoRunner:
    """OpenVINO on the CPU, bf16 where the CPU computes it natively, else fp32."""

    runtime = "openvino"

    def __init__(self, graph: Path, threads: int, allow_bf16: bool = True) -> None:
        ov = import_openvino()
        core = ov.Core()
        native_bf16 = allow_bf16 and "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        self.precision = "bf16" if native_bf16 else "fp32"
        config = {
            "INFERENCE_PRECISION_HINT": "bf16" if native_bf16 else "f32",
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",  # one stream using every thread: one question at a time
        }
        self.model = core.compile_model(str(fp16_ir(core, graph)), "CPU", config)
        self._idle: queue.SimpleQueue = queue.SimpleQueue()

    def __call__(self, embeds: np.ndarray, mask: np.ndarray) -> np.ndarray:
        try:  # an infer request runs one inference at a time: each concurrent caller takes its own
            request = self._idle.get_nowait()
        except queue.Empty:
            request = self.model.create_infer_request()
        try:
            result = request.infer({"inputs_embeds": embeds, "attention_mask": mask})
            return np.array(result[0])  # the request reuses its output buffer: copy before returning it
        finally:
            self._idle.put(request)


def import_openvino():
    """``import openvino``, without its converter's usage telemetry. The package's init starts the
    model converter's telemetry, which writes ``~/intel/openvino_ga_cid`` and ``~/intel/stats`` on
    import; irqa sends nothing and must not write outside its cache. Hidden during the import, the
    telemetry module is replaced by the converter's own no-op stub; other importers still get it."""
    if "openvino" in sys.modules:
        return sys.modules["openvino"]
    hide = "openvino_telemetry" not in sys.modules
    if hide:
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        import openvino
    finally:
        if hide:
            del sys.modules["openvino_telemetry"]
    return openvino


def fp16_ir(core, graph: Path) -> Path:
    """``graph`` as OpenVINO IR with fp16 weights, converted once beside it (~1 s): the model's
    weights are fp16 at the source, so nothing is lost, and the compiled model holds ~80 MB less
    than when compiled from the fp32 ONNX file (and compiles in 0.3 s instead of 0.45 s).
    Returns ``graph`` itself where the folder is not writable."""
    ov = import_openvino()
    ir = graph.with_suffix(".xml")
    if ir.is_file():
        return ir
    tmp = graph.with_name(f".{graph.stem}.{os.getpid()}.{threading.get_ident()}.xml")
    try:
        ov.save_model(core.read_model(str(graph)), str(tmp), compress_to_fp16=True)
        os.replace(tmp.with_suffix(".bin"), ir.with_suffix(".bin"))  # the .xml, renamed last, marks it done
        os.replace(tmp, ir)
    except (OSError, RuntimeError) as e:  # OpenVINO reports a file it cannot write as RuntimeError
        log.info("OpenVINO IR not written (%s): compiling the ONNX graph", e)
        return graph
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_suffix(".bin").unlink(missing_ok=True)
    return ir


def open_runner(graph: Path, threads: int, runtime: str = "auto") -> OrtRunner | OpenVinoRunner:
    """A runner for ``graph``: ``runtime`` is one of ``RUNTIMES``."""
    if runtime not in RUNTIMES:
        raise UnknownRuntime(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    if runtime == "onnxruntime":
        return OrtRunner(graph, threads)
    try:
        return OpenVinoRunner(graph, threads, allow_bf16=runtime != "openvino-f32")
    except Exception as e:  # not installed for this platform, or a graph it cannot compile
        if runtime.startswith("openvino"):
            raise
        log.info("OpenVINO unavailable (%s): running the graph in ONNX Runtime", e)
        return OrtRunner(graph, threads)
