"""Learn the reranker of the fused top 50 (issue 20 item 6) and measure it on FinTruthQA's confirm half.

    OMP_WAIT_POLICY=PASSIVE python scripts/train_rerank.py --report bench-results/rerank.json \\
        [--out rag/data/rerank.json]

Protocol (eval/EXPERIMENTS.md): FinTruthQA dev queries in file order, the first 500 judged
queries are the *tune* half, the other 500 the *confirm* half, never trained on nor used to choose.

1. Every query (``train_pairs.jsonl``'s 1,723 questions, both dev halves) is fused exactly as
   ``Retriever.search`` fuses it (score fusion 0.7/0.3, 100 candidates per retriever; document
   and query vectors through ``$IRQA_CACHE_DIR``'s vector cache; :func:`check_fusion` asserts the
   same order) and the top ``--depth`` candidates' :data:`RERANK_FEATURES` are computed by
   :func:`features`, the code :class:`RerankingRetriever` runs per query. The positive of a
   training question is its ``answer_id``, of a dev query its qrel.
2. Choice on the tune half: each learner × L2 strength × training source (the tune half alone, or
   with the training pairs added to every fold) is scored by 5-fold cross-validated MRR@10 on the
   tune half (top ``depth`` reordered, the rest in fused order); models trained on the training
   pairs alone are scored on the whole tune half for the record. Ablations of the chosen one
   (feature groups zeroed) say where its gain comes from.
3. The chosen learner is retrained on its whole source and measured once on the confirm half
   against fused order (ir_measures, as ``irqa eval beir``): MRR@10, R@1/5/10, nDCG@10, and the
   per-query paired difference (queries better / worse, bootstrap 95% interval).
4. Cost: ms per query of the whole ``search_vector`` (k=10) with and without the reranking step
   (passages, features, dot product; query vectors computed before), on this corpus and on the
   sample index; and the sample dev set through ``Engine.ask`` with the reranker off and on.
5. ``--out`` writes the weights (only pass it when the confirm half pays); the report always.

Outcome (bench-results/rerank.json): it does not pay, so nothing ships and the retriever is
unchanged. Confirm half: fused 0.5495 → reranked 0.5581 MRR@10 (+0.009, paired bootstrap 95%
interval −0.004…+0.022; 52 queries better, 43 worse), recall@1/5/10 within ±0.006; 1.8 ms per
query on FinTruthQA, 2.3 ms on the sample index. The whole tune-half gain comes from the
passage-length prior (without it 0.538 < fused 0.542): dev answers are longer than the corpus's,
the training pairs' are not, and every model trained with them loses to fused order. On the
sample dev set hit@1 rises (0.829 → 0.854) but dev-036 is refused (false abstention 0 → 0.012).
The feature code lives here rather than in ``rag/`` for that reason; :class:`RerankingRetriever`
is what the retriever would run.

Learners: ``pointwise`` (logistic regression, positive vs the other 49), ``listwise`` (a softmax
over each query's candidates, i.e. a conditional logit maximizing the positive's share; numpy +
scipy L-BFGS). Both are linear, so the retriever's inference is one dot product.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from irqa.runtime import prepare_process
from irqa.settings import Settings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
prepare_process(Settings().cache_dir, Settings().threads)  # before torch/jieba load
warnings.simplefilter("ignore", DeprecationWarning)

import numpy as np  # noqa: E402
from irqa.embeddings.cache import VectorCache  # noqa: E402
from irqa.embeddings.factory import load_embedder  # noqa: E402
from irqa.eval.beir import BeirDataset, evaluate_run, load_beir  # noqa: E402
from irqa.eval.runner import QueryVectorCache, beir_snapshot  # noqa: E402
from irqa.rag.analysis import Analyzer  # noqa: E402
from irqa.rag.analysis.stopwords import TOPIC_STOP_ZH  # noqa: E402
from irqa.rag.models import Hit  # noqa: E402
from irqa.rag.retriever import Filters, FusionParams, Retriever, fuse  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("mrr@10", "recall@1", "recall@5", "recall@10", "ndcg@10")


# features (what the retriever would compute per query) ---------------------------------------------
#: what a (question, passage) pair is scored on, in this order (all computed by :func:`features`)
RERANK_FEATURES: tuple[str, ...] = (
    "cos",  # exact cosine of question and passage vectors
    "cos_unit",  # the cosine min-max normalized over the fusion's candidates
    "cos_gap",  # the cosine minus the best cosine among the reranked passages
    "bm25",  # raw BM25 score (0 when no question term occurs)
    "bm25_unit",  # BM25 min-max normalized over the fusion's candidates
    "bm25_share",  # BM25 ÷ the best BM25 among the reranked passages
    "dense_rank",  # log(1 + rank) in the dense list (candidates + 1 when absent)
    "lex_rank",  # log(1 + rank) in the BM25 list (candidates + 1 when absent)
    "fused",  # the fused score
    "fused_gap",  # the fused score minus the best one
    "fused_rank",  # log(1 + fused rank)
    "cover",  # share of the question's distinct words found in the passage text
    "cover_len",  # the same, each word weighted by its length in characters
    "cover_grams",  # share of the question's distinct Chinese character bigrams in the passage
    "num_match",  # share of the question's numbers (by value) that the passage holds
    "num_wanted",  # the question asks for an amount (多少, 几, how many …) and the passage has a digit
    "has_num",  # the passage holds a digit
    "length",  # log of the passage's characters
)

_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")
_ASKS_AMOUNT = re.compile(
    r"多少|几[个家名人次年月天亿万]|数量|人数|比例|占比|金额|规模|产能|营收|收入|利润|how (?:many|much)|what (?:share|percentage)",
    re.IGNORECASE,
)


def _number_values(text: str) -> set[float]:
    return {float(m) for m in _DIGITS.findall(text)}


@dataclass(frozen=True)
class QueryTerms:
    """What the text features need from the question, computed once per query."""

    words: tuple[str, ...]
    grams: tuple[str, ...]
    numbers: frozenset[float]
    asks_amount: bool

    @classmethod
    def of(cls, question: str, analyzer: Analyzer) -> QueryTerms:
        """The question's distinct topic words (the index analyzer's words, topic stop words
        dropped), its Chinese bigrams, its numbers and whether it asks for an amount."""
        q = question.lower()
        words = dict.fromkeys(w for w in analyzer.words(q) if w not in TOPIC_STOP_ZH and not w.isdigit())
        grams = dict.fromkeys(run[i : i + 2] for run in _HAN_RUN.findall(q) for i in range(len(run) - 1))
        return cls(tuple(words), tuple(grams), frozenset(_number_values(q)), bool(_ASKS_AMOUNT.search(q)))


@dataclass
class Candidates:
    """One query's fused candidates, best first: rows and the scores that ranked them.

    ``cos_unit``/``bm25_unit`` are normalized over the whole fusion union (as fusion saw them);
    ``dense_rank``/``lex_rank`` are 1-based ranks in each retriever's list, ``absent`` when the
    retriever did not propose the row.
    """

    rows: np.ndarray
    fused: np.ndarray
    cos: np.ndarray
    cos_unit: np.ndarray
    bm25: np.ndarray
    bm25_unit: np.ndarray
    dense_rank: np.ndarray
    lex_rank: np.ndarray

    @classmethod
    def build(
        cls,
        rows: np.ndarray,
        fused: np.ndarray,
        union: np.ndarray,
        cos_of_union: np.ndarray,
        bm25_of_union: np.ndarray,
        dense_rows: np.ndarray,
        lex_rows: np.ndarray,
    ) -> Candidates:
        """From :func:`rag.retriever.fuse`'s output (``rows`` best first, a permutation of
        ``union``) and the inputs it fused."""
        pos = np.searchsorted(union, rows)
        absent = max(len(dense_rows), len(lex_rows)) + 1
        ranks = []
        for ranking in (dense_rows, lex_rows):
            r = np.full(len(union), absent, np.float32)
            r[np.searchsorted(union, ranking)] = np.arange(1, len(ranking) + 1)
            ranks.append(r[pos])
        cos, bm25 = (np.asarray(a, np.float32) for a in (cos_of_union, bm25_of_union))
        return cls(rows, fused, cos[pos], _unit(cos)[pos], bm25[pos], _unit(bm25)[pos], *ranks)

    def head(self, n: int) -> Candidates:
        return Candidates(*(getattr(self, f)[:n] for f in self.__dataclass_fields__))


def _unit(x: np.ndarray) -> np.ndarray:
    lo, hi = (float(x.min()), float(x.max())) if len(x) else (0.0, 0.0)
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def features(c: Candidates, q: QueryTerms, texts: Sequence[str]) -> np.ndarray:
    """The (len(texts), len(RERANK_FEATURES)) feature matrix of the first ``len(texts)``
    candidates; ``texts`` are their passages' ``embed_text()`` (question + answer)."""
    n = len(texts)
    out = np.zeros((n, len(RERANK_FEATURES)), np.float32)
    if not n:
        return out
    cos, bm25, fused = (np.asarray(a[:n], np.float32) for a in (c.cos, c.bm25, c.fused))
    out[:, 0] = cos
    out[:, 1] = c.cos_unit[:n]
    out[:, 2] = cos - cos.max()
    out[:, 3] = bm25
    out[:, 4] = c.bm25_unit[:n]
    top_bm25 = float(bm25.max())
    out[:, 5] = bm25 / top_bm25 if top_bm25 > 0 else 0.0
    out[:, 6] = np.log1p(c.dense_rank[:n])
    out[:, 7] = np.log1p(c.lex_rank[:n])
    out[:, 8] = fused
    out[:, 9] = fused - fused[0]
    out[:, 10] = np.log1p(np.arange(1, n + 1))
    word_len = sum(len(w) for w in q.words)
    for i, raw in enumerate(texts):
        t = raw.lower()
        if q.words:
            found = [w for w in q.words if w in t]
            out[i, 11] = len(found) / len(q.words)
            out[i, 12] = sum(len(w) for w in found) / word_len
        if q.grams:
            out[i, 13] = sum(g in t for g in q.grams) / len(q.grams)
        has_digit = any(ch.isdigit() for ch in t)
        if q.numbers and has_digit:
            out[i, 14] = len(q.numbers & _number_values(t)) / len(q.numbers)
        out[i, 15] = float(q.asks_amount and has_digit)
        out[i, 16] = float(has_digit)
        out[i, 17] = math.log1p(len(t))
    return out


@dataclass(frozen=True)
class RerankModel:
    """A linear scorer over standardized :data:`RERANK_FEATURES`: ``((x - mean) / scale) · w``."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    depth: int = 50
    meta: dict = field(default_factory=dict)

    def scores(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.weights

    def order(self, x: np.ndarray) -> np.ndarray:
        """Positions of the candidates best first; ties keep the fused order."""
        s = self.scores(x)
        return np.lexsort((np.arange(len(s)), -s))

    def to_json(self) -> dict:
        return {
            "features": list(RERANK_FEATURES),
            "mean": [float(v) for v in self.mean],
            "scale": [float(v) for v in self.scale],
            "weights": [float(v) for v in self.weights],
            "depth": self.depth,
            "meta": self.meta,
        }


# the retriever's fusion, with what the reranker sees -------------------------------------------------
def candidates(r: Retriever, query: str, qv: np.ndarray, filters: Filters | None = None) -> Candidates:
    """Every fused candidate of ``Retriever.search_vector(mode="hybrid")``, in its order, from the
    same view primitives (``main`` checks the order against it)."""
    view, p = r.snap, r.params
    allowed = view.allowed(filters or Filters())
    dense_rows, _ = view.dense(qv, p.candidates, allowed)
    lex = view.lexical(view.analyzer.tokenize(query), p.candidates, allowed)
    union = np.union1d(dense_rows, lex.rows)
    cos, bm25 = view.cosines(qv, union), lex.score_of(union)
    rows, scores = fuse(replace(p, method="score"), dense_rows, lex.rows, cos, bm25, union)
    return Candidates.build(rows, scores, union, cos, bm25, dense_rows, lex.rows)


class RerankingRetriever(Retriever):
    """``Retriever`` with the fused top ``model.depth`` reordered by the model (hybrid only): what
    ``rag/retriever.py`` would run if the reranker paid. Only the order changes: the i-th hit keeps
    the i-th best fused score, so the answerer's score shares are those of plain fusion."""

    def __init__(self, snapshot, embedder, params: FusionParams, model: RerankModel) -> None:
        super().__init__(snapshot, embedder, params)
        self.model = model

    def search_vector(self, query, qv, k=10, *, mode="hybrid", filters=None) -> list[Hit]:
        if mode != "hybrid" or qv is None or not len(self.snap):
            return super().search_vector(query, qv, k, mode=mode, filters=filters)
        c = candidates(self, query, qv, filters)
        d = min(self.model.depth, len(c.rows))
        order = np.arange(len(c.rows))
        if d >= 2:
            texts = [p.embed_text() for p in self.snap.passages_at(c.rows[:d])]
            head = self.model.order(features(c, QueryTerms.of(query, self.snap.analyzer), texts))
            order = np.concatenate([head, order[d:]])
        keep = order[:k]
        in_lex = c.lex_rank[keep] <= self.params.candidates
        return [
            Hit(
                passage=passage,
                score=float(c.fused[i]),
                dense=float(c.cos[j]),
                lexical=float(c.bm25[j]) if in_lex[i] else None,
                rank=i + 1,
            )
            for i, (j, passage) in enumerate(zip(keep, self.snap.passages_at(c.rows[keep]), strict=True))
        ]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Group:
    """One query's top ``depth`` fused candidates: features, the positive's position (or -1)."""

    def __init__(self, qid: str, x: np.ndarray, doc_ids: list[str], pos: int, tail: list[str]) -> None:
        self.qid, self.x, self.doc_ids, self.pos, self.tail = qid, x, doc_ids, pos, tail


def collect(retriever: Retriever, emb, queries: list[tuple[str, str, str]], depth: int) -> list[Group]:
    """``queries``: (qid, text, positive doc id)."""
    snap = retriever.snap
    qvs = emb.embed_queries([t for _, t, _ in queries])
    out = []
    for (qid, text, positive), qv in zip(queries, qvs, strict=True):
        c = candidates(retriever, text, qv[None, :])
        head = c.head(depth)
        passages = snap.passages_at(head.rows)
        x = features(head, QueryTerms.of(text, snap.analyzer), [p.embed_text() for p in passages])
        ids = [p.id for p in passages]
        tail = [p.id for p in snap.passages_at(c.rows[depth:100])]
        out.append(Group(qid, x, ids, ids.index(positive) if positive in ids else -1, tail))
    return out


# learners ------------------------------------------------------------------------------------------
def standardize(groups: list[Group]) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([g.x for g in groups])
    mean, scale = x.mean(0), x.std(0)
    scale[scale < 1e-6] = 1.0
    return mean, scale


def fit_pointwise(groups: list[Group], c: float) -> RerankModel:
    from sklearn.linear_model import LogisticRegression

    mean, scale = standardize(groups)
    x = np.concatenate([(g.x - mean) / scale for g in groups])
    y = np.concatenate([np.arange(len(g.x)) == g.pos for g in groups])
    lr = LogisticRegression(C=c, max_iter=2000).fit(x, y)
    return RerankModel(mean, scale, lr.coef_[0].astype(np.float32))


def fit_listwise(groups: list[Group], l2: float) -> RerankModel:
    from scipy.optimize import minimize

    mean, scale = standardize(groups)
    used = [g for g in groups if g.pos >= 0]
    xs = [((g.x - mean) / scale).astype(np.float64) for g in used]
    n = len(used)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for g, x in zip(used, xs, strict=True):
            s = x @ w
            s = s - s.max()
            p = np.exp(s)
            p /= p.sum()
            total -= np.log(p[g.pos] + 1e-300)
            grad -= x[g.pos] - p @ x
        return total / n + l2 * (w @ w), grad / n + 2 * l2 * w

    res = minimize(loss, np.zeros(xs[0].shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return RerankModel(mean, scale, res.x.astype(np.float32))


LEARNERS = {"pointwise": fit_pointwise, "listwise": fit_listwise}
#: feature groups left out (zeroed) in the ablations of the chosen learner
ABLATIONS = {
    "length": ("length",),
    "text (coverage, figures, length)": (
        "cover",
        "cover_len",
        "cover_grams",
        "num_match",
        "num_wanted",
        "has_num",
        "length",
    ),
    "coverage": ("cover", "cover_len", "cover_grams"),
    "figures": ("num_match", "num_wanted", "has_num"),
}


def reg_of(learner: str, strength: float) -> float:
    """``strength`` is the L2 weight: listwise takes it as is, sklearn's ``C`` is its inverse."""
    return strength if learner == "listwise" else 1 / strength


def without(groups: list[Group], cols: tuple[str, ...]) -> list[Group]:
    idx = [RERANK_FEATURES.index(c) for c in cols]
    out = []
    for g in groups:
        x = g.x.copy()
        x[:, idx] = 0.0
        out.append(Group(g.qid, x, g.doc_ids, g.pos, g.tail))
    return out


def cross_validated(groups: list[Group], fit, reg: float, extra: list[Group], k: int = 5) -> float:
    """MRR@10 over ``groups`` of k-fold models (fold = position mod k), ``extra`` always trained on."""
    total = 0.0
    for f in range(k):
        test = [g for i, g in enumerate(groups) if i % k == f]
        model = fit([g for i, g in enumerate(groups) if i % k != f] + extra, reg)
        total += mrr10(test, model) * len(test)
    return total / len(groups)


def ranked(g: Group, model: RerankModel | None) -> list[str]:
    head = g.doc_ids if model is None else [g.doc_ids[i] for i in model.order(g.x)]
    return head + g.tail


def mrr10(groups: list[Group], model: RerankModel | None) -> float:
    return float(reciprocal_ranks(groups, model).mean())


def reciprocal_ranks(groups: list[Group], model: RerankModel | None) -> np.ndarray:
    out = np.zeros(len(groups))
    for i, g in enumerate(groups):
        if g.pos >= 0:
            pos = g.pos if model is None else int(np.flatnonzero(model.order(g.x) == g.pos)[0])
            out[i] = 1 / (pos + 1) if pos < 10 else 0.0
    return out


def paired(groups: list[Group], model: RerankModel, draws: int = 2000) -> dict:
    """Reranked minus fused MRR@10, per query: queries better / worse, a bootstrap 95% interval."""
    diff = reciprocal_ranks(groups, model) - reciprocal_ranks(groups, None)
    rng = np.random.default_rng(0)
    means = diff[rng.integers(0, len(diff), (draws, len(diff)))].mean(1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {
        "delta_mrr@10": round(float(diff.mean()), 4),
        "ci95": [round(float(lo), 4), round(float(hi), 4)],
        "better": int((diff > 0).sum()),
        "worse": int((diff < 0).sum()),
    }


# cost ------------------------------------------------------------------------------------------------
def timing(retriever: Retriever, emb, texts: list[str], model: RerankModel, rounds: int = 3) -> dict:
    """ms per query: ``search_vector`` (k=10) with the reranker off and on, interleaved per round,
    best round of each (the machine is shared), query vectors computed before."""
    qvs = emb.embed_queries(texts)
    on = RerankingRetriever(retriever.snap, emb, retriever.params, model)
    off = Retriever(retriever.snap, emb, retriever.params)
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, r in (("off", off), ("on", on)):
            t0 = time.perf_counter()
            for t, qv in zip(texts, qvs, strict=True):
                r.search_vector(t, qv[None, :], 10)
            ms = (time.perf_counter() - t0) * 1000 / len(texts)
            best[name] = min(best.get(name, 1e9), ms)
    return {
        "search_ms_off": round(best["off"], 3),
        "search_ms_on": round(best["on"], 3),
        "rerank_ms": round(best["on"] - best["off"], 3),
        "queries": len(texts),
    }


def sample_dev(model: RerankModel) -> dict:
    """The sample dev set through ``Engine.ask``, built from the settings as ``irqa eval questions
    --retriever hybrid`` builds it (over a throwaway index of the sample filings), with the
    reranker off and on; and the search cost on the sample index."""
    from irqa.eval.relevance import load_questions
    from irqa.eval.runner import run_questions
    from irqa.rag.engine import Engine

    from irqa.wiring import embedder_factory, engine_config, query_embedder_factory

    s = Settings()
    questions = load_questions(ROOT / "eval" / "data" / "sample_dev.jsonl")
    out: dict = {"questions": len(questions)}
    rows: dict[str, dict] = {}
    keep = ("mrr@10", "hit@1", "hit@5", "citation_hit", "abstention_accuracy", "false_abstention_rate")
    with tempfile.TemporaryDirectory(prefix="irqa-rerank-") as tmp:
        config = replace(engine_config(s), index=Path(tmp) / "index", store=None, aliases=None)
        engine = Engine(config, embedder_factory(s), query_embedder_factory(s, resident=True))
        engine.ensure_index()
        plain = engine.live()
        for name in ("off", "on"):
            if name == "on":  # the engine's live state with the reranking retriever in place
                r = RerankingRetriever(
                    plain.snapshot, plain.retriever.embedder, plain.retriever.params, model
                )
                engine._live = replace(plain, retriever=r)
            res = run_questions(engine, questions, ["hybrid"])
            m = res.systems[0].metrics
            out[name] = {k: None if m.get(k) is None else round(m[k], 4) for k in keep}
            rows[name] = {r.id: (r.hit_rank, r.abstained, r.citation_hit) for r in res.rows}
            log(f"  sample dev, reranker {name}: {out[name]}")
        out["changed"] = {  # (hit rank, abstained, citation hit) off → on, where they differ
            q: [rows["off"][q], rows["on"][q]] for q in rows["off"] if rows["off"][q] != rows["on"][q]
        }
        log(f"  sample dev questions that changed: {out['changed']}")
        out["timing"] = timing(plain.retriever, engine.query_embedder, [q.question for q in questions], model)
        log(f"  sample index timing: {out['timing']}")
    return out


def check_fusion(retriever: Retriever, emb, texts: list[str], depth: int) -> None:
    """The script's fusion is the retriever's: same top 100, and a reranking retriever whose model
    keeps fused order returns exactly the retriever's hits (a stale copy would measure nothing)."""
    n = len(RERANK_FEATURES)
    keep = RerankModel(np.zeros(n), np.ones(n), np.zeros(n), depth=depth)  # all scores tie: fused order
    same = RerankingRetriever(retriever.snap, emb, retriever.params, keep)
    for t, qv in zip(texts, emb.embed_queries(texts), strict=True):
        want = retriever.search_vector(t, qv[None, :], 100)
        got = candidates(retriever, t, qv[None, :]).rows[:100]
        assert [h.passage.id for h in want] == [p.id for p in retriever.snap.passages_at(got)], t
        for h, w in zip(same.search_vector(t, qv[None, :], 10), want[:10], strict=True):
            assert (h.passage, h.score, h.lexical, h.rank) == (w.passage, w.score, w.lexical, w.rank), t
            assert abs((h.dense or 0) - (w.dense or 0)) < 1e-5, t  # cosines of other row sets: ulps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--beir", default=str(ROOT.parent / "shared" / "corpus" / "fintruthqa"))
    ap.add_argument("--model", default="e5")
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--split-at", type=int, default=500)
    ap.add_argument("--learners", default="pointwise,listwise")
    ap.add_argument("--strengths", default="0.0001,0.001,0.01,0.1", help="L2 (listwise) / 1/C (pointwise)")
    ap.add_argument("--report", default=str(ROOT / "bench-results" / "rerank.json"))
    ap.add_argument("--out", default="", help="write the weights here (only when the confirm half pays)")
    ap.add_argument("--no-sample", action="store_true")
    args = ap.parse_args()
    t_start = time.perf_counter()
    s = Settings()
    cache = VectorCache(s.cache_dir / "vectors.sqlite")
    ds = load_beir(args.beir)
    inner = load_embedder(args.model, threads=s.threads, cache_dir=s.cache_dir)
    snap, fresh = beir_snapshot(ds, inner, cache)
    emb = QueryVectorCache(inner, cache)
    log(f"corpus: {len(snap)} passages ({fresh} embedded now)")
    retriever = Retriever(snap, emb, FusionParams())
    qids = [q for q in ds.queries if q in ds.qrels]
    halves = {"tune": qids[: args.split_at], "confirm": qids[args.split_at :]}
    dev = {
        h: [(q, ds.queries[q], next(d for d, g in ds.qrels[q].items() if g > 0)) for q in ids]
        for h, ids in halves.items()
    }
    lines = Path(args.beir, "train_pairs.jsonl").read_text(encoding="utf-8").splitlines()
    pairs = [json.loads(line) for line in lines if line.strip()]
    train = [(f"train-{i}", p["question"], p["answer_id"]) for i, p in enumerate(pairs)]
    check_fusion(retriever, emb, [t for _, t, _ in dev["confirm"][:50]], args.depth)
    t0 = time.perf_counter()
    groups = {name: collect(retriever, emb, qs, args.depth) for name, qs in (("train", train), *dev.items())}
    collect_s = time.perf_counter() - t0
    for name, gs in groups.items():
        inside = sum(g.pos >= 0 for g in gs) / len(gs)
        log(f"{name}: {len(gs)} queries, positive in the fused top {args.depth}: {inside:.3f}")

    # 2. choice by 5-fold cross-validation on the tune half (the training pairs optionally added
    #    to every fold's training side), then ablations of the chosen learner
    tune = groups["tune"]
    sources = {"tune": [], "tune+train_pairs": groups["train"]}
    choice: dict = {"fused": round(mrr10(tune, None), 4)}
    best, best_mrr = None, -1.0
    for learner in args.learners.split(","):
        for strength in (float(v) for v in args.strengths.split(",")):
            for source, extra in sources.items():
                m = cross_validated(tune, LEARNERS[learner], reg_of(learner, strength), extra)
                choice[f"{learner} {strength:g} {source}"] = round(m, 4)
                log(
                    f"  tune half 5-fold, {learner} {strength:g}, {source}: MRR@10 {m:.4f} (fused {choice['fused']:.4f})"
                )
                if m > best_mrr + 1e-9:
                    best, best_mrr = (learner, strength, source), m
            # the training pairs alone, the tune half as test
            m = mrr10(tune, LEARNERS[learner](groups["train"], reg_of(learner, strength)))
            choice[f"{learner} {strength:g} train_pairs only"] = round(m, 4)
            log(f"  tune half, {learner} {strength:g}, trained on the training pairs only: MRR@10 {m:.4f}")
    assert best is not None
    learner, strength, source = best
    reg = reg_of(learner, strength)
    ablation = {}
    for name, cols in ABLATIONS.items():
        m = cross_validated(without(tune, cols), LEARNERS[learner], reg, without(sources[source], cols))
        ablation[f"without {name}"] = round(m, 4)
        log(f"  tune half 5-fold, chosen learner without {name}: MRR@10 {m:.4f}")

    # 3. retrain on all of the chosen source, measure once on the confirm half
    final = LEARNERS[learner](tune + sources[source], reg)
    final = RerankModel(final.mean, final.scale, final.weights, depth=args.depth)
    sub = BeirDataset(
        corpus=ds.corpus,
        queries={q: ds.queries[q] for q in halves["confirm"]},
        qrels={q: ds.qrels[q] for q in halves["confirm"]},
        name=ds.name,
    )
    confirm = {}
    for name, model in (("fused", None), ("reranked", final)):
        run = {g.qid: [(d, -i) for i, d in enumerate(ranked(g, model))] for g in groups["confirm"]}
        system, _ = evaluate_run(name, sub, run)
        confirm[name] = {k: round(system.metrics[k], 4) for k in KEYS}
        log(f"  confirm half {name}: {confirm[name]}")
    confirm["paired"] = paired(groups["confirm"], final)
    log(f"  confirm half paired: {confirm['paired']}")

    # 4. cost and the sample dev set
    cost = timing(retriever, emb, [t for _, t, _ in dev["confirm"]], final)
    log(f"  FinTruthQA timing: {cost}")
    sample = {} if args.no_sample else sample_dev(final)

    trained_on = f"FinTruthQA dev tune half ({len(tune)})"
    if source != "tune":
        trained_on += f" + train_pairs.jsonl ({len(train)})"
    meta = {
        "learner": learner,
        "strength": strength,
        "trained_on": trained_on,
        "confirm_half": confirm,
        "embedder": inner.name,
    }
    final = RerankModel(final.mean, final.scale, final.weights, depth=args.depth, meta=meta)
    report = {
        "command": " ".join(sys.argv),
        "features": list(RERANK_FEATURES),
        "depth": args.depth,
        "positive_in_top": {n: round(sum(g.pos >= 0 for g in gs) / len(gs), 4) for n, gs in groups.items()},
        "tune_choice": choice,
        "chosen": {"learner": learner, "strength": strength, "source": source, "tune_cv": round(best_mrr, 4)},
        "tune_ablation": ablation,
        "confirm_half": confirm,
        "weights": dict(zip(RERANK_FEATURES, (round(float(w), 4) for w in final.weights), strict=True)),
        "timing_fintruthqa": cost,
        "sample_dev": sample,
        "collect_seconds": round(collect_s, 1),
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if args.out:
        Path(args.out).write_text(
            json.dumps(final.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
        log(f"weights written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
