"""A view over segments: the search and read side shared by the local store and in-memory corpora.

Global rows are the segments' rows laid end to end (manifest order). Dead rows (tombstones of
deleted or replaced filings) are excluded from every result; BM25 statistics count live rows only,
so scores equal those of a freshly built index of the same live passages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from irqa.rag.analysis import Analyzer
from irqa.rag.lexical import Bm25Query
from irqa.rag.models import Filing, FilingSummary, Passage
from irqa.rag.store.base import Filters, LexicalHits, Manifest, StoreView
from irqa.rag.store.segment import Segment


@dataclass
class LexicalPruning:
    """When and how BM25 stops scoring every row (measured at 1M passages: eval/EXPERIMENTS.md)."""

    #: views with fewer slots score BM25 exhaustively (100k rows: ~1.5 ms per query here)
    exact_below: int = 200_000
    #: candidates from the selective query terms that are rescored exactly on bigger views
    pool: int = 1000
    #: a query term in more than this share of the live rows is "common" on bigger views: it adds
    #: to the candidates' exact scores but proposes none
    common_df: float = 0.05


class SegmentView(StoreView):
    def __init__(
        self,
        manifest: Manifest,
        segments: Sequence[Segment],
        generation: str = "",
        *,
        located: bool = True,
        analyzer: Analyzer | None = None,
    ) -> None:
        """``analyzer``: the index's (default: jieba's dictionary + the manifest's companies)."""
        self.manifest = manifest
        self.analyzer = analyzer or Analyzer(names=manifest.companies or ())
        self.generation = generation
        self.segments = list(segments)
        self._by_name = {s.name: i for i, s in enumerate(self.segments)}
        self._located = located  # False: in-memory corpora, where every row is live and filings are scanned
        self.pruning = LexicalPruning()
        sizes = [s.rows for s in self.segments]
        self.offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
        self._live: list[np.ndarray | None] = []
        for s in self.segments:
            dead = manifest.deleted.get(s.name)
            if dead:
                mask = np.ones(s.rows, dtype=bool)
                mask[np.asarray(dead, dtype=np.int64)] = False
                self._live.append(mask)
            else:
                self._live.append(None)

    # rows -------------------------------------------------------------------------------------
    @property
    def slots(self) -> int:
        return int(self.offsets[-1])

    def __len__(self) -> int:
        return self.slots - sum(int((~m).sum()) for m in self._live if m is not None)

    def _split(self, rows: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(segment index, positions in ``rows``, local rows) for the segments ``rows`` touch."""
        rows = np.asarray(rows, dtype=np.int64)
        seg = np.searchsorted(self.offsets, rows, side="right") - 1
        out = []
        for i in np.unique(seg):
            pos = np.flatnonzero(seg == i)
            out.append((int(i), pos, rows[pos] - self.offsets[i]))
        return out

    def live_rows(self) -> np.ndarray:
        parts = [
            np.arange(s.rows, dtype=np.int64)[live] + off if live is not None else np.arange(s.rows) + off
            for s, live, off in zip(self.segments, self._live, self.offsets, strict=False)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    # documents --------------------------------------------------------------------------------
    def passages_at(self, rows: Sequence[int]) -> list[Passage]:
        out: list[Passage | None] = [None] * len(rows)
        for i, pos, local in self._split(np.asarray(rows, dtype=np.int64)):
            for j, p in zip(pos, self.segments[i].passages(local), strict=True):
                out[int(j)] = p
        return out  # type: ignore[return-value]

    def passage(self, row: int) -> Passage:
        return self.passages_at([row])[0]

    def _home(self, filing_id: str) -> tuple[Segment, int, int] | None:
        loc = self.manifest.located.get(filing_id)
        if loc is not None and loc[0] in self._by_name:
            return self.segments[self._by_name[loc[0]]], int(loc[1]), int(loc[2])
        if not self._located:
            for s in self.segments:
                for summary, a, b in s.summaries():
                    if summary.id == filing_id:
                        return s, a, b
        return None

    def filing(self, filing_id: str) -> Filing | None:
        home = self._home(filing_id)
        return home[0].filing(filing_id) if home else None

    def passages_of(self, filing_id: str) -> list[Passage]:
        home = self._home(filing_id)
        if home is None:
            return []
        seg, a, b = home
        return seg.passages(range(a, b))

    def summaries(self) -> list[FilingSummary]:
        out = []
        for s in self.segments:
            for summary, _, _ in s.summaries():
                loc = self.manifest.located.get(summary.id)
                if not self._located or (loc is not None and loc[0] == s.name):
                    out.append(summary)
        return sorted(out, key=lambda s: (s.code, s.date or dt.date.min, s.id))

    def knows(self, term: str) -> bool:
        toks = self.analyzer.words(term)  # bigrams are not names
        return bool(toks) and all(any(s.terms.knows(t) for s in self.segments) for t in toks)

    def stats(self) -> dict:
        return {
            **super().stats(),
            "segments": [{"name": s.name, "rows": s.rows, "kind": s.kind} for s in self.segments],
            "dead_rows": self.slots - len(self),
        }

    # search -----------------------------------------------------------------------------------
    def allowed(self, filters: Filters) -> np.ndarray | None:
        if not filters.active():
            return None
        parts = []
        for s, live, off in zip(self.segments, self._live, self.offsets, strict=False):
            mask = np.ones(s.rows, dtype=bool) if live is None else live.copy()
            if filters.codes:
                ids = [i for i, c in enumerate(s.code_table) if c in set(filters.codes)]
                mask &= np.isin(s.codes, ids)
            if filters.date_from is not None:
                mask &= s.dates >= filters.date_from.toordinal()
            if filters.date_to is not None:
                mask &= (s.dates <= filters.date_to.toordinal()) & (s.dates >= 0)
            parts.append(np.flatnonzero(mask).astype(np.int64) + off)
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def dense(self, qv: np.ndarray, n: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        rows_out, scores_out = [], []
        local_allowed: dict[int, np.ndarray] = {}
        if allowed is not None:
            local_allowed = {i: local for i, _, local in self._split(allowed)}
        for i, (s, live, off) in enumerate(zip(self.segments, self._live, self.offsets, strict=False)):
            if allowed is not None:
                if i not in local_allowed:
                    continue
                rows, scores = s.dense(qv, n, local_allowed[i])
            elif live is None:
                rows, scores = s.dense(qv, n, None)
            else:
                dead = s.rows - int(live.sum())
                if dead <= s.rows // 4:  # few tombstones: over-fetch and drop them
                    rows, scores = s.dense(qv, n + dead, None)
                    keep = live[rows]
                    rows, scores = rows[keep][:n], scores[keep][:n]
                else:
                    rows, scores = s.dense(qv, n, np.flatnonzero(live))
            rows_out.append(np.asarray(rows, np.int64) + off)
            scores_out.append(np.asarray(scores, np.float32))
        if not rows_out:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        rows, scores = np.concatenate(rows_out), np.concatenate(scores_out)
        order = np.lexsort((rows, -scores))[:n]
        return rows[order], scores[order]

    def _bm25_query(self, tokens: Sequence[str]) -> Bm25Query:
        return Bm25Query([(s.terms, live) for s, live in zip(self.segments, self._live, strict=True)], tokens)

    @staticmethod
    def _join(parts: list[np.ndarray], allowed: np.ndarray | None) -> np.ndarray:
        scores = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        if allowed is not None:
            masked = np.zeros_like(scores)
            masked[allowed] = scores[allowed]
            scores = masked
        return scores

    def bm25(self, tokens: Sequence[str], allowed: np.ndarray | None) -> np.ndarray:
        return self._join(self._bm25_query(tokens).scores(), allowed)

    def lexical(self, tokens: Sequence[str], n: int, allowed: np.ndarray | None) -> LexicalHits:
        """Below ``pruning.exact_below`` slots: every row scored. Above: candidates from the
        selective terms only (a term in > 5% of rows — 公司, 请问, #投资 — holds most postings of a
        query and barely moves its ranking), ``pruning.pool`` of them rescored exactly with every
        term. ``irqa bench`` measures the agreement with exhaustive scoring at its largest size."""
        q = self._bm25_query(tokens)
        prune = self.pruning
        if self.slots < prune.exact_below or all(df > prune.common_df * q.n_live for _, _, df in q.terms):
            return LexicalHits.of(self._join(q.scores(), allowed), n)
        pool = LexicalHits.of(self._join(q.scores(prune.common_df), allowed), max(n, prune.pool))

        def exact_of(rows: np.ndarray) -> np.ndarray:
            out = np.zeros(len(rows), np.float32)
            for i, pos, local in self._split(rows):
                out[pos] = q.at(i, local)
            return out

        exact = exact_of(pool.rows)
        known = dict(zip(pool.rows.tolist(), exact.tolist(), strict=True))

        def score_of(rows: np.ndarray) -> np.ndarray:
            """Exact BM25 of ``rows``; the pool's are already known (the lexical top n all are)."""
            rows = np.asarray(rows, np.int64)
            todo = np.asarray([r for r in rows.tolist() if r not in known], np.int64)
            known.update(zip(todo.tolist(), exact_of(todo).tolist(), strict=True))
            return np.asarray([known[r] for r in rows.tolist()], np.float32)

        order = np.lexsort((pool.rows, -exact))[:n]
        return LexicalHits(pool.rows[order], exact[order], score_of)

    def cosines(self, qv: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return self.vectors_of(np.asarray(rows, np.int64)) @ np.asarray(qv, np.float32).reshape(-1)

    def vectors_of(self, rows: np.ndarray | None = None) -> np.ndarray:
        rows = self.live_rows() if rows is None else np.asarray(rows, np.int64)
        out = np.zeros((len(rows), self.manifest.dim), np.float32)
        for i, pos, local in self._split(rows):
            out[pos] = self.segments[i].decode(local)
        return out
