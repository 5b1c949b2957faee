"""English → Chinese query expansion for English questions over Chinese filings.

The filings are Chinese; analysts often ask in English. BM25 cannot match "gross margin" to
毛利率, and the small multilingual model's cross-language matching is weakest exactly there
(on the dev set, 9 of the 10 questions missed at rank 5 were English). Appending the Chinese
terms of a small, editable finance glossary (``rag/data/glossary_en_zh.json``) lets both
retrievers see them. Chinese questions pass through unchanged.

Example::

    >>> expand_query("What is Hikvision's gross margin trend?")
    "What is Hikvision's gross margin trend? 毛利率 毛利"
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib.resources import files


@lru_cache(maxsize=1)
def glossary() -> dict[str, list[str]]:
    return json.loads(files("irqa.rag").joinpath("data/glossary_en_zh.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _pattern() -> re.Pattern[str]:
    terms = sorted(glossary(), key=len, reverse=True)
    return re.compile(r"(?<![a-z0-9])(" + "|".join(map(re.escape, terms)) + r")(?![a-z0-9])")


def expand_query(question: str) -> str:
    """The question plus the Chinese terms of the English finance words it uses."""
    low = question.lower()
    if not re.search(r"[a-z]{2,}", low):
        return question
    added: list[str] = []
    for m in _pattern().finditer(low):
        for zh in glossary()[m.group(1)]:
            if zh not in added and zh not in question:
                added.append(zh)
    return f"{question} {' '.join(added)}" if added else question
