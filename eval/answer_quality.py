"""Does the company's answer address the investor's question? A rating of each Q&A pair.

Investor-relations answers are often boilerplate ("请关注公司公告", "感谢您的关注") or deflections
("不便透露", "以公告为准"); an analyst wants those flagged, and a passage that does not answer its
question is weak evidence for the answerer. FinTruthQA labels 3,420 real pairs
(``../shared/corpus/fintruthqa/answer_quality.jsonl``, ``relevance``): **1 = does not answer,
2 = partly, 3 = answers** — the dataset's own values, used here unchanged as the rating.

The model must be cheap enough to rate every segment at ingest time, so it reuses what ingest
already computes: the multilingual embedding model's vectors of the question and the answer and
their cosine (boilerplate has a recognisable style; a suggestion is "answered" by thanks, a demand
for a figure is not), the answer's length, question–answer term overlap by the index's :class:`Analyzer`, and
boilerplate cues as *features* whose weights are learned, never as hand decisions. The learner is
a multinomial logistic regression; its standardization and coefficients ship as JSON
(``eval/data/answer_quality.json``) and inference is numpy only (no scikit-learn), so it can move
into ``rag/`` unchanged. ``scripts/train_answer_quality.py`` trains it and reports five-fold
cross-validation beside a TF-IDF + LR baseline.

Example::

    >>> pairs = [QAPair("x", "公司今年的分红比例是多少？", "感谢您的关注，请关注公司公告。")]
    >>> rate_pairs(pairs, embedder, cache=None, analyzer=Analyzer())   # doctest: +SKIP
    [1]
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
from irqa.embeddings.base import Embedder
from irqa.embeddings.cache import VectorCache, cache_models, embed_with_cache, text_key
from irqa.eval.jsonl import read_objects
from irqa.rag.analysis import Analyzer
from irqa.rag.errors import IrqaError

#: the rating scale: FinTruthQA's ``relevance`` values, unchanged
RATINGS: dict[int, str] = {1: "does not answer", 2: "partly", 3: "answers"}
MODEL_VERSION = "answer-quality/1"


class AnswerQualityError(IrqaError, ValueError):
    """A pair file that cannot be rated, or a model file for other features."""

    code = "answer_quality"


# inputs ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QAPair:
    """One investor question and the company's answer; ``relevance`` is the label when known."""

    id: str
    question: str
    answer: str
    relevance: int | None = None


def load_pairs(path: Path) -> list[QAPair]:
    """``{"_id", "question", "answer"[, "relevance"]}`` per line (``id`` is accepted for ``_id``)."""
    pairs: list[QAPair] = []
    for line, obj in read_objects(Path(path), AnswerQualityError):
        pid = obj.get("_id", obj.get("id"))
        q, a = obj.get("question"), obj.get("answer")
        if pid is None or not isinstance(q, str) or not isinstance(a, str):
            raise AnswerQualityError(f'{path}:{line}: needs "_id", "question" and "answer" (strings)')
        rel = obj.get("relevance")
        if rel is not None and rel not in RATINGS:
            raise AnswerQualityError(f"{path}:{line}: relevance must be 1, 2 or 3, not {rel!r}")
        pairs.append(QAPair(str(pid), q, a, rel))
    if not pairs:
        raise AnswerQualityError(f"{path}: no pairs")
    return pairs


def pair_key(p: QAPair) -> str:
    """A short hash of a pair's text: the shipped model lists those it was trained on, so a report
    can tell held-out figures from training ones."""
    return hashlib.sha256(f"{p.question}\x00{p.answer}".encode()).hexdigest()[:10]


# features --------------------------------------------------------------------------------------
#: boilerplate and content cues: (name, pattern, which text). Their weights are learned.
CUES: tuple[tuple[str, str, str], ...] = (
    (
        "a_see_notice",
        r"关注.{0,12}(公告|报告)|详见|请(查阅|参阅|参考|参见|查看|留意)|以.{0,8}公告为准|披露的.{0,12}(公告|报告)",
        "a",
    ),
    ("a_disclosure_media", r"指定(的)?信息披露|巨潮资讯|上交所网站|深交所网站|定期报告", "a"),
    (
        "a_will_disclose",
        r"(将|会).{0,12}(履行|及时).{0,8}披露|信息披露义务|按.{0,6}规定.{0,8}披露|如有.{0,16}(披露|公告)",
        "a",
    ),
    ("a_thanks", r"感谢|谢谢", "a"),
    ("a_greeting", r"尊敬的|投资者.{0,3}您好|您好|你好", "a"),
    (
        "a_undisclosed",
        r"不便(透露|回答|披露|评论)|无法(回答|透露|预测|判断)|商业(秘密|机密)|保密|未达到.{0,6}披露|不予",
        "a",
    ),
    ("a_not_speculate", r"不宜|理性|投资风险|注意风险|审慎|谨慎|请勿|不要.{0,4}猜测", "a"),
    ("a_market", r"二级市场|股价.{0,10}(受|影响|因素|波动)|市场因素", "a"),
    ("a_not_yet", r"暂无|暂未|尚未|目前没有|未涉及|不涉及|没有", "a"),
    ("a_effort", r"(持续|一直|积极|努力|致力于).{0,8}(推进|发展|提升|经营|工作)|做好.{0,6}(经营|主业)", "a"),
    (
        "a_yes_no",
        r"^\W*((尊敬的)?投资者|您好|你好|感谢.{0,10}关注)*\W*(是的|是|否|不是|没有|有的|有|会|不会|暂无|目前)",
        "a",
    ),
    ("a_number", r"\d", "a"),
    ("a_amount", r"%|％|万|亿|元|吨|台|个", "a"),
    ("a_date", r"\d{4}\s*年|\d{1,2}\s*月", "a"),
    ("q_yes_no", r"是否|吗|么|有没有|能否|会不会|可否", "q"),
    ("q_how_much", r"多少|几|比例|金额|数量|占比|规模|产能", "q"),
    ("q_why", r"为什么|为何|原因|怎么", "q"),
    ("q_market", r"股价|市值|减持|增持|回购|二级市场|股东人数", "q"),
    ("q_future", r"未来|计划|预计|打算|何时|什么时候|明年", "q"),
)
_CUE_RES = tuple((name, re.compile(pat), side) for name, pat, side in CUES)
#: courtesy phrases removed before measuring how much an answer says
_COURTESY = re.compile(
    r"尊敬的(各位)?投资者|投资者(朋友)?|您好|你好|感谢您?(对公司)?的?(关注|提问|支持|建议)|谢谢(您的?(关注|提问|支持))?|[，,。.！!？?：:\s、；;]"
)
_DIGITS = re.compile(r"\d+(?:\.\d+)?")

SCALARS: tuple[str, ...] = (
    "cosine",  # question–answer cosine
    "a_len",  # log characters of the answer
    "q_len",  # log characters of the question
    "a_content_len",  # log characters left once greetings, thanks and punctuation are removed
    "courtesy_share",  # share of the answer that is courtesy
    "q_marks",  # question marks: several questions in one are often answered in part
    "word_recall",  # share of the question's words the answer repeats
    "word_precision",  # share of the answer's words that the question has
    "gram_recall",  # the same over character bigrams
    "gram_precision",
    "shared_words",  # log count of shared words
    "number_echo",  # a figure of the question appears in the answer
    *(name for name, _, _ in CUES),
)
#: the vectors themselves: the question's (what kind of question: a suggestion is "answered" by
#: thanks, a demand for a figure is not) and the answer's (boilerplate has a recognisable style).
#: Their product and difference added nothing in cross-validation (the ablation of
#: scripts/train_answer_quality.py), so they are left out.
EMBEDDING_BLOCKS: tuple[str, ...] = ("q", "a")


def feature_names(dim: int) -> list[str]:
    return [*SCALARS, *(f"{b}[{i}]" for b in EMBEDDING_BLOCKS for i in range(dim))]


def scalar_features(p: QAPair, cosine: float, analyzer: Analyzer) -> list[float]:
    """The named :data:`SCALARS` of one pair."""
    q, a = p.question.strip(), p.answer.strip()
    content = _COURTESY.sub("", a)
    qw, aw = set(analyzer.words(q)), set(analyzer.words(a))
    qg, ag = set(Analyzer.grams(q)), set(Analyzer.grams(a))
    shared = qw & aw
    q_nums = set(_DIGITS.findall(q))
    cues = [1.0 if rx.search(a if side == "a" else q) else 0.0 for _, rx, side in _CUE_RES]
    return [
        cosine,
        math.log1p(len(a)),
        math.log1p(len(q)),
        math.log1p(len(content)),
        1.0 - len(content) / max(len(a), 1),
        float(min(q.count("？") + q.count("?"), 5)),
        len(shared) / max(len(qw), 1),
        len(shared) / max(len(aw), 1),
        len(qg & ag) / max(len(qg), 1),
        len(qg & ag) / max(len(ag), 1),
        math.log1p(len(shared)),
        1.0 if q_nums and any(n in a for n in q_nums) else 0.0,
        *cues,
    ]


def embed_questions(embedder: Embedder, texts: Sequence[str], cache: VectorCache | None) -> np.ndarray:
    """Query vectors (e5's ``query:`` side), cached under ``<family>#query`` like passages are."""
    keys = [text_key(t) for t in texts]
    known: dict[str, np.ndarray] = {}
    models = [f"{m}#query" for m in cache_models(embedder)] if cache else []
    for model in models:
        missing = [k for k in keys if k not in known]
        if missing:
            assert cache is not None
            known |= cache.get_many(model, missing)
    todo = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in known))
    for start in range(0, len(todo), 64):
        part = todo[start : start + 64]
        fresh = dict(zip((text_key(t) for t in part), embedder.embed_queries(part), strict=True))
        if cache:
            cache.put_many(models[0], fresh)
        known |= fresh
    if not texts:
        return np.zeros((0, embedder.dim), np.float32)
    return np.stack([known[k] for k in keys]).astype(np.float32)


def pair_vectors(
    pairs: Sequence[QAPair], embedder: Embedder, cache: VectorCache | None
) -> tuple[np.ndarray, np.ndarray]:
    """(question vectors, answer vectors): a question is a query, an answer a passage — the same
    vectors an index holds for its segments, so rating at ingest adds no model call for answers."""
    qv = embed_questions(embedder, [p.question for p in pairs], cache)
    av, _ = embed_with_cache(embedder, [p.answer for p in pairs], cache)
    return qv, av


def featurize(pairs: Sequence[QAPair], qv: np.ndarray, av: np.ndarray, analyzer: Analyzer) -> np.ndarray:
    """The feature matrix, columns in :func:`feature_names` order."""
    cos = np.einsum("ij,ij->i", qv, av)
    scalars = np.array(
        [scalar_features(p, float(c), analyzer) for p, c in zip(pairs, cos, strict=True)], np.float64
    ).reshape(len(pairs), len(SCALARS))
    return np.hstack([scalars, qv, av]).astype(np.float64)


# the model -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnswerQualityModel:
    """Multinomial logistic regression over standardized features; ``classes`` are ratings."""

    classes: tuple[int, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (classes, features)
    intercept: np.ndarray  # (classes,)
    dim: int  # embedding dimension the features were built with
    embedder_family: str = ""
    trained_keys: frozenset[str] = frozenset()
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return len(SCALARS) + len(EMBEDDING_BLOCKS) * self.dim

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        z = ((x - self.mean) / self.scale) @ self.coef.T + self.intercept
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def rate(self, x: np.ndarray) -> list[int]:
        idx = self.probabilities(x).argmax(axis=1)
        return [self.classes[i] for i in idx]

    # persistence ------------------------------------------------------------------------------
    def to_json(self) -> dict:
        def r(a: np.ndarray) -> list:
            return np.vectorize(lambda v: float(f"{v:.6g}"), otypes=[float])(a).tolist()

        return {
            "version": MODEL_VERSION,
            "ratings": {str(k): v for k, v in RATINGS.items()},
            "classes": list(self.classes),
            "scalars": list(SCALARS),
            "embedding_blocks": list(EMBEDDING_BLOCKS),
            "dim": self.dim,
            "embedder_family": self.embedder_family,
            "mean": r(self.mean),
            "scale": r(self.scale),
            "coef": r(self.coef),
            "intercept": r(self.intercept),
            "trained_keys": sorted(self.trained_keys),
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: dict) -> AnswerQualityModel:
        if data.get("version") != MODEL_VERSION or tuple(data.get("scalars", ())) != SCALARS:
            raise AnswerQualityError(
                f"answer-quality model {data.get('version')!r} was built for other features than {MODEL_VERSION}"
            )
        if tuple(data.get("embedding_blocks", ())) != EMBEDDING_BLOCKS:
            raise AnswerQualityError("answer-quality model: embedding blocks differ from this version's")
        m = cls(
            classes=tuple(int(c) for c in data["classes"]),
            mean=np.asarray(data["mean"], np.float64),
            scale=np.asarray(data["scale"], np.float64),
            coef=np.asarray(data["coef"], np.float64),
            intercept=np.asarray(data["intercept"], np.float64),
            dim=int(data["dim"]),
            embedder_family=data.get("embedder_family", ""),
            trained_keys=frozenset(data.get("trained_keys", ())),
            meta=data.get("meta") or {},
        )
        if m.coef.shape != (len(m.classes), m.n_features) or m.mean.shape != (m.n_features,):
            raise AnswerQualityError(f"answer-quality model: coefficients of shape {m.coef.shape} do not fit")
        return m

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
        )

    @classmethod
    def load(cls, path: Path) -> AnswerQualityModel:
        try:
            return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError, KeyError) as e:
            raise AnswerQualityError(f"{path}: not an answer-quality model ({e})") from None

    @classmethod
    def builtin(cls) -> AnswerQualityModel:
        res = files("irqa.eval").joinpath("data/answer_quality.json")
        return cls.from_json(json.loads(res.read_text(encoding="utf-8")))


def check_embedder(model: AnswerQualityModel, embedder: Embedder) -> None:
    """Vectors of another model would be silently misread by the coefficients."""
    family = embedder.family or embedder.name
    if model.dim != embedder.dim or (model.embedder_family and model.embedder_family != family):
        raise AnswerQualityError(
            f"the answer-quality model was trained on {model.embedder_family} vectors ({model.dim} dims), "
            f"not {family} ({embedder.dim}); retrain it with scripts/train_answer_quality.py"
        )


def rate_pairs(
    pairs: Sequence[QAPair],
    embedder: Embedder,
    cache: VectorCache | None,
    analyzer: Analyzer,
    model: AnswerQualityModel | None = None,
) -> list[int]:
    """A rating 1|2|3 (:data:`RATINGS`) per pair, by ``model`` (default: the shipped one)."""
    model = model or AnswerQualityModel.builtin()
    check_embedder(model, embedder)
    qv, av = pair_vectors(pairs, embedder, cache)
    return model.rate(featurize(pairs, qv, av, analyzer))


# training (scikit-learn, eval only) --------------------------------------------------------------
def fit(
    x: np.ndarray,
    y: Sequence[int],
    *,
    c: float = 0.001,
    class_weight: str | None = None,
    embedder: Embedder | None = None,
    trained_keys: frozenset[str] = frozenset(),
    meta: dict | None = None,
) -> AnswerQualityModel:
    """A multinomial LR on standardized ``x``; only training needs scikit-learn."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    lr = LogisticRegression(C=c, class_weight=class_weight, max_iter=3000)
    lr.fit((x - mean) / scale, np.asarray(y))
    dim = (x.shape[1] - len(SCALARS)) // len(EMBEDDING_BLOCKS)
    return AnswerQualityModel(
        classes=tuple(int(k) for k in lr.classes_),
        mean=mean,
        scale=scale,
        coef=lr.coef_.astype(np.float64),
        intercept=lr.intercept_.astype(np.float64),
        dim=dim,
        embedder_family=(embedder.family or embedder.name) if embedder else "",
        trained_keys=trained_keys,
        meta=meta or {},
    )


def folds(y: Sequence[int], k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified ``k``-fold (train, test) indices with a fixed shuffle seed."""
    from sklearn.model_selection import StratifiedKFold

    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    y = np.asarray(y)
    return list(skf.split(np.zeros(len(y)), y))


def tfidf_baseline():
    """The paper-style baseline: TF-IDF character 1–3-grams of question and of answer (each its
    own vocabulary), a logistic regression over both."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    def vec() -> TfidfVectorizer:
        return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True)

    cols = ColumnTransformer([("q", vec(), 0), ("a", vec(), 1)])
    return Pipeline([("tfidf", cols), ("lr", LogisticRegression(C=10.0, max_iter=3000))])


def text_columns(pairs: Sequence[QAPair]) -> np.ndarray:
    return np.array([[p.question, p.answer] for p in pairs], dtype=object)


# scoring ---------------------------------------------------------------------------------------
def f1(gold: Sequence[int], pred: Sequence[int], label: int) -> float:
    tp = sum(g == label and p == label for g, p in zip(gold, pred, strict=True))
    fp = sum(g != label and p == label for g, p in zip(gold, pred, strict=True))
    fn = sum(g == label and p != label for g, p in zip(gold, pred, strict=True))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def scores(gold: Sequence[int], pred: Sequence[int]) -> dict[str, Any]:
    """3-class micro-F1 (= accuracy), macro-F1, the binary "does not answer" (rating 1) F1, per-class
    F1 and the confusion matrix (rows gold 1..3, columns predicted 1..3)."""
    if len(gold) != len(pred) or not gold:
        raise AnswerQualityError("scores need as many predictions as labels, and at least one")
    per = {str(k): f1(gold, pred, k) for k in RATINGS}
    return {
        "n": len(gold),
        "micro_f1": sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold),
        "macro_f1": sum(per.values()) / len(per),
        "not_answer_f1": per["1"],
        "f1_per_rating": per,
        "confusion": [
            [sum(g == i and p == j for g, p in zip(gold, pred, strict=True)) for j in RATINGS]
            for i in RATINGS
        ],
    }


# reports ---------------------------------------------------------------------------------------
def write_ratings(path: Path, pairs: Sequence[QAPair], ratings: Sequence[int]) -> None:
    """``{"_id", "rating"}`` per line, in the input's order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for p, r in zip(pairs, ratings, strict=True):
            f.write(json.dumps({"_id": p.id, "rating": int(r)}, ensure_ascii=False) + "\n")


def report(
    pairs: Sequence[QAPair],
    ratings: Sequence[int],
    model: AnswerQualityModel,
    *,
    dataset: str = "",
    embedder: str = "",
    ms_per_pair: float | None = None,
) -> dict[str, Any]:
    """What ``irqa eval answer-quality --json`` writes: rating counts, and with labels the scores —
    over all labelled pairs and over those the model was not trained on (``held_out``); a pair in
    the model's training data is scored too, but its figure is a training fit, not a measurement."""
    labelled = [i for i, p in enumerate(pairs) if p.relevance is not None]
    seen = {i for i in labelled if pair_key(pairs[i]) in model.trained_keys}
    unseen = [i for i in labelled if i not in seen]

    def score(idx: Sequence[int]) -> dict[str, Any] | None:
        gold = [pairs[i].relevance for i in idx]
        return scores(gold, [ratings[i] for i in idx]) if idx else None  # type: ignore[arg-type]

    return {
        "kind": "answer_quality",
        "dataset": dataset,
        "n": len(pairs),
        "ratings": {str(k): v for k, v in RATINGS.items()},
        "rating_counts": {str(k): sum(r == k for r in ratings) for k in RATINGS},
        "labelled": len(labelled),
        "in_training_data": len(seen),
        "metrics": score(labelled),
        "metrics_held_out": score(unseen),
        "embedder": embedder,
        "model": model.meta,
        "ms_per_pair": ms_per_pair,
    }
