"""BM25 over an index's lexical terms: segment term matrices scored at query time.

The terms come from the index's :class:`~irqa.rag.analysis.Analyzer` (jieba words + character
bigrams); this module only counts and scores them, with bm25s' "lucene" formula.

Example::

    >>> from irqa.rag.analysis import Analyzer
    >>> a = Analyzer()
    >>> texts = ["视频应用功能对于功耗的压力非常大", "公司研发人员595人"]
    >>> (scores,) = bm25_scores([(TermMatrix.build([a.tokenize(t) for t in texts]), None)], a.tokenize("视频 功耗"))
    >>> int(scores.argmax())
    0
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from irqa.rag.npy import open_npy

#: BM25's term-frequency saturation and length normalization (bm25s' and Lucene's defaults);
#: every backend scores with these (Milvus' BM25 function is given them too)
K1 = 1.2
B = 0.75


#: term frequencies are stored in one byte: a term 255 times in one ~256-token passage is the cap
TF_MAX = 255


class TermMatrix:
    """Term frequencies of one segment's passages: a CSC matrix (one column of rows per term).

    The same compact layout bm25s saves (``indptr``, row ``indices``, ``data``), but holding raw
    term frequencies instead of finished BM25 scores: bm25s bakes the corpus' IDF and average
    length into its matrix, which would make segments written at different times disagree.
    Here IDF and average length are computed at query time over every live passage of every
    segment (:func:`bm25_scores`), so the scores equal a bm25s index of the live corpus
    (``tests/test_store.py`` checks that). The vocabulary is this segment's own, sorted.

    Stored as ``.npy`` files and memory-mapped; the vocabulary is read on first use.
    """

    FILES = ("indptr.npy", "rows.npy", "tf.npy", "doclen.npy")

    def __init__(
        self,
        vocab: list[str] | None,
        indptr: np.ndarray,
        rows: np.ndarray,
        tf: np.ndarray,
        doclen: np.ndarray,
        vocab_path: Path | None = None,
    ) -> None:
        self._vocab_list = vocab
        self._vocab_path = vocab_path
        self._col: dict[str, int] | None = None
        # plain ndarray views of memory maps: slicing a np.memmap costs ~20 µs, 40 per query
        self.indptr, self.rows, self.tf, self.doclen = (
            a.view(np.ndarray) if isinstance(a, np.memmap) else a for a in (indptr, rows, tf, doclen)
        )
        self._norm: tuple[tuple[float, float, float], np.ndarray] | None = None
        self._total_len: float | None = None

    @property
    def total_len(self) -> float:
        if self._total_len is None:
            self._total_len = float(np.sum(self.doclen, dtype=np.int64))
        return self._total_len

    def length_norm(self, k1: float, b: float, avgdl: float) -> np.ndarray:
        """``k1 · (1 − b + b · doclen / avgdl)`` per row, float32, kept while the statistics hold."""
        key = (k1, b, avgdl)
        if self._norm is None or self._norm[0] != key:
            norm = (k1 * ((1 - b) + b * np.asarray(self.doclen, np.float32) / np.float32(avgdl))).astype(
                np.float32
            )
            self._norm = (key, norm)
        return self._norm[1]

    @property
    def size(self) -> int:
        return len(self.doclen)

    @property
    def col(self) -> dict[str, int]:
        if self._col is None:
            vocab = self._vocab_list
            if vocab is None:
                assert self._vocab_path is not None
                vocab = json.loads(self._vocab_path.read_text(encoding="utf-8"))
            self._col = {t: i for i, t in enumerate(vocab)}
        return self._col

    @classmethod
    def build(cls, corpus_tokens: Sequence[Sequence[str]]) -> TermMatrix:
        vocab = sorted({t for toks in corpus_tokens for t in toks})
        col = {t: i for i, t in enumerate(vocab)}
        n = len(corpus_tokens)
        doclen = np.fromiter((len(t) for t in corpus_tokens), dtype=np.int32, count=n)
        term_ids = np.fromiter(
            (col[t] for toks in corpus_tokens for t in toks), dtype=np.int64, count=int(doclen.sum())
        )
        doc_ids = np.repeat(np.arange(n, dtype=np.int64), doclen)
        keys, counts = np.unique(
            term_ids * max(n, 1) + doc_ids, return_counts=True
        )  # sorted by term, then row
        terms, rows = np.divmod(keys, max(n, 1))
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(terms, minlength=len(vocab)), out=indptr[1:])
        tf = np.minimum(counts, TF_MAX).astype(np.uint8)
        return cls(vocab, indptr, rows.astype(np.int32), tf, doclen)

    def to_csr(self):
        """rows × terms sparse matrix of term frequencies (scipy)."""
        from scipy import sparse

        csc = sparse.csc_matrix(
            (np.asarray(self.tf), np.asarray(self.rows), np.asarray(self.indptr)),
            shape=(self.size, len(self.col)),
        )
        return csc.tocsr()

    def select(self, rows: np.ndarray) -> TermMatrix:
        """The matrix of ``rows`` only, in that order (compaction)."""
        return TermMatrix.from_csr(self.to_csr()[rows], self.vocab(), np.asarray(self.doclen)[rows])

    @classmethod
    def merge(cls, parts: Sequence[tuple[TermMatrix, np.ndarray]]) -> TermMatrix:
        """Stack the chosen rows of several matrices over the union of their vocabularies."""
        from scipy import sparse

        vocab = sorted({t for m, _ in parts for t in m.col})
        col = {t: i for i, t in enumerate(vocab)}
        blocks, lens = [], []
        for m, rows in parts:
            remap = np.fromiter((col[t] for t in m.vocab()), np.int64, len(m.col))
            coo = m.to_csr()[rows].tocoo()
            blocks.append(
                sparse.csr_matrix((coo.data, (coo.row, remap[coo.col])), shape=(len(rows), len(vocab)))
            )
            lens.append(np.asarray(m.doclen)[rows])
        stacked = sparse.vstack(blocks).tocsr() if blocks else sparse.csr_matrix((0, len(vocab)))
        return cls.from_csr(stacked, vocab, np.concatenate(lens) if lens else np.zeros(0, np.int32))

    @classmethod
    def from_csr(cls, csr, vocab: list[str], doclen: np.ndarray) -> TermMatrix:
        csc = csr.tocsc()
        csc.sort_indices()
        return cls(
            vocab,
            csc.indptr.astype(np.int64),
            csc.indices.astype(np.int32),
            np.minimum(csc.data, TF_MAX).astype(np.uint8),
            np.asarray(doclen, np.int32),
        )

    def vocab(self) -> list[str]:
        return sorted(self.col, key=self.col.__getitem__)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        indptr = np.asarray(self.indptr)
        if indptr[-1] < np.iinfo(np.int32).max:
            indptr = indptr.astype(np.int32)
        for name, arr in zip(self.FILES, (indptr, self.rows, self.tf, self.doclen), strict=True):
            np.save(folder / name, np.ascontiguousarray(arr))
        (folder / "vocab.json").write_text(json.dumps(self.vocab(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> TermMatrix:
        arrays = [open_npy(folder / name) for name in cls.FILES]
        return cls(None, *arrays, vocab_path=folder / "vocab.json")

    def knows(self, term: str) -> bool:
        return term in self.col


class Bm25Query:
    """One query's BM25 (bm25s' "lucene" variant) over segment term matrices, with corpus
    statistics over the live rows of all parts; ``parts`` are (matrix, live mask or None).

    A query token counted twice weighs twice, as in bm25s. Dead rows score 0.

    Why a class: big views need two passes — candidates from the selective terms, then exact
    scores of those candidates with every term — sharing one set of statistics.
    """

    def __init__(
        self,
        parts: Sequence[tuple[TermMatrix, np.ndarray | None]],
        query_tokens: Sequence[str],
        *,
        k1: float = K1,
        b: float = B,
    ) -> None:
        self.parts = list(parts)
        self.k1, self.b = k1, b
        self.n_live = sum(int(live.sum()) if live is not None else m.size for m, live in parts)
        #: per query term: (times × idf, [(part, first posting, end posting)], live df)
        self.terms: list[tuple[float, list[tuple[int, int, int]], int]] = []
        if not self.n_live or not query_tokens:
            return
        total_len = sum(
            float(m.doclen[live].sum()) if live is not None else float(m.total_len) for m, live in parts
        )
        self.avgdl = total_len / self.n_live
        for term, times in Counter(query_tokens).items():
            spans, df = [], 0
            for i, (m, live) in enumerate(parts):
                j = m.col.get(term)
                if j is None:
                    continue
                a, e = int(m.indptr[j]), int(m.indptr[j + 1])
                df += int(live[m.rows[a:e]].sum()) if live is not None else e - a
                spans.append((i, a, e))
            if df:
                idf = math.log(1 + (self.n_live - df + 0.5) / (df + 0.5))
                self.terms.append((times * idf, spans, df))

    def _norm(self, i: int) -> np.ndarray:
        return self.parts[i][0].length_norm(self.k1, self.b, self.avgdl)

    def scores(self, max_df: float = 1.0) -> list[np.ndarray]:
        """Dense scores of every row of every part, over the terms in at most ``max_df`` of the
        live rows (1.0: every term)."""
        out = [np.zeros(m.size, np.float32) for m, _ in self.parts]
        hits: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in self.parts]
        for weight, spans, df in self.terms:
            if df > max_df * self.n_live:
                continue
            for i, a, e in spans:
                m, live = self.parts[i]
                rows, tf = m.rows[a:e], m.tf[a:e].astype(np.float32)
                w = weight * tf / (self._norm(i)[rows] + tf)
                if live is not None:
                    w = w * live[rows]
                hits[i].append((rows, w))
        for i, found in enumerate(hits):
            if found:  # one pass over the segment's rows, however many query terms
                rows = np.concatenate([r for r, _ in found])
                weights = np.concatenate([w for _, w in found])
                out[i] = np.bincount(rows, weights=weights, minlength=self.parts[i][0].size).astype(
                    np.float32
                )
        return out

    def at(self, i: int, rows: np.ndarray) -> np.ndarray:
        """Exact scores of the given local rows of part ``i`` (sorted postings: binary search)."""
        rows = np.asarray(rows, np.int64)
        m, live = self.parts[i]
        out = np.zeros(len(rows), np.float32)
        if not len(rows):
            return out
        norm = self._norm(i)[rows]
        for weight, spans, _ in self.terms:
            for j, a, e in spans:
                if j != i:
                    continue
                posting = m.rows[a:e]
                pos = np.minimum(np.searchsorted(posting, rows), e - a - 1)
                found = posting[pos] == rows
                tf = np.where(found, m.tf[a:e][pos], 0).astype(np.float32)
                out += weight * tf / (norm + tf)
        if live is not None:
            out *= live[rows]
        return out


def bm25_scores(
    parts: Sequence[tuple[TermMatrix, np.ndarray | None]],
    query_tokens: Sequence[str],
    *,
    k1: float = K1,
    b: float = B,
) -> list[np.ndarray]:
    """BM25 of every row of every part (see :class:`Bm25Query`)."""
    return Bm25Query(parts, query_tokens, k1=k1, b=b).scores()
