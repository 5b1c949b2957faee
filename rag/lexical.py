"""BM25 over jieba words plus character bigrams (bm25s does the scoring).

Chinese has no spaces, so a whitespace tokenizer would index whole clauses. jieba's
search-mode segmentation also emits the sub-words of long words (智能超域融合 → 智能/超域/融合/…),
which helps recall. ASCII words are lowercased so "Turbo Fusion" matches "turbo fusion".

Each text also yields ``#``-prefixed character bigrams of its Chinese runs, and its ASCII/digit
runs once more as ``#word``: bigrams match where jieba segments query and passage differently
(股东人数 vs 股东/人数), and the repeated numbers and names weigh exact figures up. On the
FinTruthQA dev split this raised BM25 MRR@10 from 0.472 to 0.494 (eval/EXPERIMENTS.md).

Example::

    >>> index = LexicalIndex([tokenize(t) for t in texts])
    >>> scores = index.scores(tokenize("视频 功耗"))   # one float per text
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_WORD = re.compile(r"[0-9a-z\u4e00-\u9fff]", re.IGNORECASE)
_STOP = frozenset(
    [
        "的",
        "了",
        "是",
        "在",
        "和",
        "与",
        "及",
        "或",
        "也",
        "都",
        "就",
        "对",
        "为",
        "请问",
        "公司",
        "贵",
        "谢谢",
        "您好",
        "你好",
        "吗",
        "呢",
        "吧",
        "啊",
        "哪些",
        "什么",
        "怎么",
        "如何",
        "是否",
        "有",
        "有没有",
        "a",
        "an",
        "the",
        "of",
        "to",
        "and",
        "or",
        "in",
        "on",
        "for",
        "is",
        "are",
        "be",
        "what",
        "how",
        "does",
        "did",
        "do",
        "about",
    ]
)


def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    # jieba dumps its dictionary cache into $TMPDIR unless told otherwise; the CLI, the server
    # and the tests point it into irqa's cache folder (irqa.runtime.prepare_process).
    if (cache := os.environ.get("IRQA_JIEBA_CACHE")) and jieba.dt.cache_file != cache:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        jieba.dt.cache_file = cache
    return jieba


_RUN = re.compile(r"[0-9a-z\u4e00-\u9fff]+")
_ASCII = re.compile(r"[0-9a-z]+")
GRAM = "#"  # prefix of bigram features, so they never collide with jieba words


def words(text: str) -> list[str]:
    """Search-mode jieba tokens, lowercased, without punctuation and stop words."""
    toks = _jieba().lcut_for_search(text.lower())
    return [t for t in (t.strip() for t in toks) if t and _WORD.search(t) and t not in _STOP]


def precise_words(text: str) -> list[str]:
    """jieba's precise segmentation (no overlapping sub-words): 董事长 stays 董事长."""
    return [t for t in (t.strip() for t in _jieba().lcut(text.lower())) if t and t not in _STOP]


def grams(text: str) -> list[str]:
    """``#``-prefixed character bigrams of each run (ASCII/digit runs whole, single characters alone)."""
    out: list[str] = []
    for run in _RUN.findall(text.lower()):
        if _ASCII.fullmatch(run) or len(run) < 2:
            out.append(GRAM + run)
        else:
            out += [GRAM + run[i : i + 2] for i in range(len(run) - 1)]
    return out


def tokenize(text: str) -> list[str]:
    """The lexical features of a text: :func:`words` followed by :func:`grams`."""
    return words(text) + grams(text)


def add_words(words: Sequence[str]) -> None:
    """Teach jieba names it would split (company names and aliases)."""
    jb = _jieba()
    for w in words:
        if w and len(w) > 1:
            jb.add_word(w.lower(), freq=20000)


class LexicalIndex:
    """BM25 scores over pre-tokenized passages."""

    def __init__(self, corpus_tokens: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        import bm25s

        self.size = len(corpus_tokens)
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        if self.size:
            self._bm25.index([list(t) for t in corpus_tokens], show_progress=False)

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every passage (0 where no query term occurs)."""
        if not self.size or not query_tokens:
            return np.zeros(self.size, np.float32)
        known = [t for t in query_tokens if t in self._bm25.vocab_dict]
        if not known:
            return np.zeros(self.size, np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def knows(self, term: str) -> bool:
        """Whether every token of ``term`` occurs somewhere in the indexed passages."""
        toks = words(term)  # bigrams are not names: an index built before them still resolves
        return bool(toks) and all(t in self._bm25.vocab_dict for t in toks) if self.size else False
