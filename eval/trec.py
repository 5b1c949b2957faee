"""TREC run files: ``qid Q0 docid rank score tag``, one line per retrieved document.

Runs in this format can be checked with any standard tool (trec_eval, ir_measures, ranx).

Example::

    >>> write_run("bm25.trec", {"q1": [("d3", 12.5), ("d1", 9.0)]}, tag="bm25")   # doctest: +SKIP
    >>> read_run("bm25.trec")                                                    # doctest: +SKIP
    {'q1': [('d3', 12.5), ('d1', 9.0)]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


class TrecFormatError(ValueError):
    """A malformed run line or an id that would break the whitespace-separated format."""


def _check_token(value: str, what: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise TrecFormatError(f"{what} {value!r} is empty or contains whitespace")
    return value


def write_run(path: str | Path, run: Mapping[str, Sequence[tuple[str, float]]], tag: str) -> None:
    """Write each query's list in the given order (rank = position, 1-based).

    Lists should be best first with non-increasing scores; evaluators re-sort by score.
    """
    _check_token(tag, "tag")
    lines = []
    for qid, ranked in run.items():
        _check_token(qid, "query id")
        for rank, (doc, score) in enumerate(ranked, 1):
            lines.append(f"{qid} Q0 {_check_token(doc, 'doc id')} {rank} {float(score)!r} {tag}\n")
    Path(path).write_text("".join(lines), encoding="utf-8")


def read_run(path: str | Path) -> dict[str, list[tuple[str, float]]]:
    """Read a run; each query's docs come back sorted by rank."""
    path = Path(path)
    ranked: dict[str, list[tuple[int, str, float]]] = {}
    with path.open(encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                raise TrecFormatError(f"{path}:{no}: expected 6 fields 'qid Q0 docid rank score tag'")
            qid, _, doc, rank, score, _tag = parts
            try:
                ranked.setdefault(qid, []).append((int(rank), doc, float(score)))
            except ValueError:
                raise TrecFormatError(f"{path}:{no}: bad rank {rank!r} or score {score!r}") from None
    return {q: [(d, s) for _, d, s in sorted(items, key=lambda x: x[0])] for q, items in ranked.items()}
