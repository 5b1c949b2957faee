"""Text analysis owned by an index: jieba words, character bigrams, stop words, POS tags.

The only package that touches jieba. An :class:`Analyzer` holds a jieba tokenizer of its own
(a copy of the base dictionary plus the index's company names), so two indexes in one process
never change each other's tokens (Lucene's analyzer-per-index, bm25s' tokenizer that owns its
vocabulary). ``tests/test_layering.py`` checks that nothing else imports jieba.
"""

from irqa.rag.analysis.analyzer import GRAM, Analyzer
from irqa.rag.analysis.dictionary import JiebaDictionary

__all__ = ["GRAM", "Analyzer", "JiebaDictionary"]
