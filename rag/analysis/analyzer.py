"""The Analyzer: how an index turns text into lexical terms and tags.

BM25 features are jieba's search-mode words plus character bigrams. Chinese has no spaces, so a
whitespace tokenizer would index whole clauses; jieba's search mode also emits the sub-words of
long words (智能超域融合 → 智能/超域/融合/…), which helps recall. ASCII words are lowercased so
"Turbo Fusion" matches "turbo fusion". Each text also yields ``#``-prefixed character bigrams of
its Chinese runs, and its ASCII/digit runs once more as ``#word``: bigrams match where jieba
segments query and passage differently (股东人数 vs 股东/人数), and the repeated numbers and
names weigh exact figures up (FinTruthQA dev BM25 MRR@10 0.472 → 0.494, eval/EXPERIMENTS.md).

An analyzer belongs to an index (the store builds it from the index's company names, which jieba
would otherwise split): ingest, queries, the Milvus term features and the evidence/grounding
taggers all use the index's analyzer, so the same text is tokenized the same way whatever else
the process loaded. Its jieba tokenizers hold copies of the base dictionary
(:class:`~irqa.rag.analysis.dictionary.JiebaDictionary`), never jieba's module-level one.

Example::

    >>> a = Analyzer(JiebaDictionary(), names=["虹软科技"])
    >>> a.words("虹软科技的视频功耗")
    ['科技', '虹软科技', '视频', '功耗']
    >>> a.grams("功耗 AI")
    ['#功耗', '#ai']
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from irqa.rag.analysis.dictionary import JiebaDictionary, quiet_jieba
from irqa.rag.analysis.stopwords import SEARCH_STOP

#: what the manifest records: an index tokenized by another analyzer is refused at load
SPEC = "jieba-search+bigrams/1"
GRAM = "#"  # prefix of bigram features, so they never collide with jieba words
#: jieba frequency given to added names and terms: high enough that jieba keeps them whole
NAME_FREQ = 20000

_WORD = re.compile(r"[0-9a-z\u4e00-\u9fff]", re.IGNORECASE)
_RUN = re.compile(r"[0-9a-z\u4e00-\u9fff]+")
_ASCII = re.compile(r"[0-9a-z]+")


def _glossary_terms() -> list[str]:
    from irqa.rag.glossary import glossary

    return sorted({zh for zhs in glossary().values() for zh in zhs if not zh.isascii() and len(zh) > 1})


class Analyzer:
    """Text → BM25 terms (:meth:`tokenize`), names (:meth:`words`) and POS tags (:meth:`tags`,
    :meth:`topic_tags`), with a jieba dictionary of its own. Thread-safe (jieba tokenizers are)."""

    spec = SPEC

    def __init__(self, dictionary: JiebaDictionary | None = None, names: Iterable[str] = ()) -> None:
        self.dictionary = dictionary or JiebaDictionary()
        self.names = self.normal_names(names)
        self._tk = self._tokenizer(self.names)
        self._lock = threading.Lock()
        self._tagger: Any = None
        self._topic_tagger: Any = None
        #: sentences the answerer compares with questions recur (the same top passages answer many
        #: questions): their token sets are kept, a bounded memo owned by this analyzer
        self.token_set = lru_cache(maxsize=16384)(self._token_set)

    @staticmethod
    def normal_names(names: Iterable[str]) -> tuple[str, ...]:
        """The names an analyzer keeps whole: lowercased, sorted, single characters dropped."""
        return tuple(sorted({n.lower() for n in names if n and len(n) > 1}))

    def _tokenizer(self, words: Sequence[str], tag: str | None = None) -> Any:
        jieba = quiet_jieba()
        tk = jieba.Tokenizer()
        tk.FREQ, tk.total = self.dictionary.copy()
        tk.initialized = True
        for w in words:
            tk.add_word(w, freq=NAME_FREQ, tag=tag)
        return tk

    def with_names(self, names: Iterable[str]) -> Analyzer:
        """This analyzer with more names (an ingest adding companies); self when none are new."""
        more = set(self.normal_names(names)) - set(self.names)
        return self if not more else Analyzer(self.dictionary, [*self.names, *more])

    def __reduce__(self):  # a Ray worker rebuilds it from its value, not its tables
        return (Analyzer, (self.dictionary, self.names))

    # BM25 terms -------------------------------------------------------------------------------
    def words(self, text: str) -> list[str]:
        """Search-mode jieba tokens, lowercased, without punctuation and stop words."""
        toks = self._tk.lcut_for_search(text.lower())
        return [t for t in (t.strip() for t in toks) if t and _WORD.search(t) and t not in SEARCH_STOP]

    @staticmethod
    def grams(text: str) -> list[str]:
        """``#``-prefixed character bigrams of each run (ASCII/digit runs whole, single characters alone)."""
        out: list[str] = []
        for run in _RUN.findall(text.lower()):
            if _ASCII.fullmatch(run) or len(run) < 2:
                out.append(GRAM + run)
            else:
                out += [GRAM + run[i : i + 2] for i in range(len(run) - 1)]
        return out

    def tokenize(self, text: str) -> list[str]:
        """The lexical features of a text: :meth:`words` followed by :meth:`grams`."""
        return self.words(text) + self.grams(text)

    def _token_set(self, text: str) -> frozenset[str]:
        """:meth:`tokenize` as a set (memoized per analyzer as ``token_set``)."""
        return frozenset(self.tokenize(text))

    # part-of-speech tags ----------------------------------------------------------------------
    def tags(self, text: str) -> list[tuple[str, str]]:
        """``(word, flag)`` by jieba's POS tagger over this analyzer's words (the grounding
        check's person/place/organization names)."""
        return [(p.word, p.flag) for p in self._posseg(topic=False).lcut(text)]

    def topic_tags(self, text: str) -> list[tuple[str, str]]:
        """Like :meth:`tags`, but the glossary's Chinese terms (占比, 毛利率, 研发费用) stay whole and
        are nouns: what a question asks about (``irqa.rag.evidence``). A tokenizer of its own, so
        BM25's tokens never change with the glossary."""
        return [(p.word, p.flag) for p in self._posseg(topic=True).lcut(text)]

    def _posseg(self, topic: bool) -> Any:
        found = self._topic_tagger if topic else self._tagger
        if found is not None:
            return found
        with self._lock:
            found = self._topic_tagger if topic else self._tagger
            if found is None:
                import jieba.posseg

                # jieba.posseg read dict.txt's tags at import: copy them rather than read it again
                tagger = jieba.posseg.POSTokenizer.__new__(jieba.posseg.POSTokenizer)
                tagger.word_tag_tab = dict(jieba.posseg.dt.word_tag_tab)
                if topic:
                    tagger.tokenizer = self._tokenizer(self.names)
                    for zh in _glossary_terms():
                        tagger.tokenizer.add_word(zh, freq=NAME_FREQ, tag="n")
                    self._topic_tagger = found = tagger
                else:
                    tagger.tokenizer = self._tk
                    self._tagger = found = tagger
        return found
