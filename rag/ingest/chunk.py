"""Filing → passages under a token budget, split at sentence ends, with a small overlap.

Every passage is an exact slice of the filing's normalized text (``filing.text[p.start:p.end]
== p.text``) and keeps the question it answers, so a citation can always point back into the
source. Answer paragraphs are packed into passages; header facts (participants, reception
staff, dates) and anything outside the Q&A body become ``section="header"`` passages so they
are searchable too.

Example::

    >>> passages = chunk_filing(filing, max_tokens=256, overlap_tokens=40)  # filing: any parsed Filing
    >>> all(filing.text[p.start:p.end] == p.text for p in passages)
    True

Work is linear in the text's length (issue 25: a 100,000-character answer line took 45 s, a
1.5M-character upload held the writer for minutes). Every sentence is counted once, a chunk's
length is estimated by summing its sentences' counts and only confirmed by counting the one or
two slices at its boundary, an over-long sentence is first tested on a bounded prefix, and the
character cutter starts from the length of the piece it cut last instead of from the whole
rest. All of it is lazy (``iter_passages``), so a caller enforcing a passage cap stops as soon
as the cap is passed. The decisions are the ones the plain greedy rule makes ("extend while the
whole slice fits", "try the rest, then 3/4 of it, …") as long as a count does not shrink when
text is appended, which holds for the tokenizer on real text: the estimates only choose where
to look. ``tests/test_chunk_scale.py`` checks the chunks against that plain rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from irqa.rag.ingest.tokens import count_tokens
from irqa.rag.models import Filing, Passage, SectionKind, Span

# a sentence ends at 。！？；!?; (plus closing quotes/brackets) or at a line break
_SENTENCE_END = re.compile(r"[。！？；!?;]+[”’」』）)\]]*|\n+")
_CLAUSE_END = re.compile(r"[，、,：:]+")
_LINE = re.compile(r"[^\n]+")

Counter = Callable[[str], int]

#: a span longer than this many characters per token of the budget is tested on a prefix first
#: (real text has fewer: Chinese ~1, English ~4), so a 1.5M-character line is never counted whole
_PROBE_CHARS_PER_TOKEN = 8

_Unit = tuple[int, int, int]  # (start, end, tokens): a sentence or clause and its token count


def sentence_spans(text: str, start: int, end: int) -> list[Span]:
    """Sentence spans of ``text[start:end]``, whitespace trimmed, none empty."""
    return [Span(start=a, end=b) for a, b in _iter_sentences(text, start, end)]


def _iter_sentences(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    pos = start
    for m in _SENTENCE_END.finditer(text, start, end):
        yield from _trim(text, pos, m.end())
        pos = m.end()
    yield from _trim(text, pos, end)


def _trim(text: str, a: int, b: int) -> Iterator[tuple[int, int]]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    if b > a:
        yield a, b


def _capped_count(text: str, a: int, b: int, limit: int, count: Counter) -> int:
    """``count(text[a:b])`` when that is at most ``limit``, else some number above ``limit``.

    A long span is first counted on prefixes growing fourfold: once a prefix is over the limit
    the whole is too, so the work is bounded by the budget, not by the span's length.
    """
    width = max(64, _PROBE_CHARS_PER_TOKEN * limit)
    while a + width < b:
        if count(text[a : a + width]) > limit:
            return limit + 1
        width *= 4
    return count(text[a:b])


def _greedy(
    text: str, units: Iterator[_Unit], max_tokens: int, overlap_tokens: int, count: Counter
) -> Iterator[_Unit]:
    """Consecutive units packed greedily: a chunk extends while the whole slice fits ``max_tokens``.

    A new chunk repeats the previous chunk's trailing units (up to ``overlap_tokens``). Yields
    ``(start, end, tokens)``: the chunk's exact count (a lone unit's own, capped, count).
    The units are pulled lazily; each chunk costs about two counts of chunk-sized slices: the
    summed estimate picks the candidate end, the exact count of the slice and of the slice one
    unit longer confirms it (walking on, one unit at a time, where the estimate was off).
    """
    starts: list[int] = []
    ends: list[int] = []
    toks: list[int] = []
    pre = [0]  # pre[k]: estimated tokens of units[0:k], one per non-empty gap between units
    exhausted = False

    def have(k: int) -> bool:
        nonlocal exhausted
        while len(starts) <= k and not exhausted:
            u = next(units, None)
            if u is None:
                exhausted = True
                break
            gap = 1 if starts and u[0] > ends[-1] else 0
            starts.append(u[0])
            ends.append(u[1])
            toks.append(u[2])
            pre.append(pre[-1] + gap + u[2])
        return k < len(starts)

    def est(a: int, b: int) -> int:  # units a..b inclusive, without the gap before a
        return pre[b + 1] - pre[a] - (1 if a and starts[a] > ends[a - 1] else 0)

    def exact(a: int, b: int, limit: int) -> int | None:
        """The exact count of units a..b when it is at most ``limit``, else None."""
        if toks[a] > limit or toks[b] > limit:  # one unit alone is over: so is the slice
            return None
        n = toks[a] if a == b else count(text[starts[a] : ends[b]])
        return n if n <= limit else None

    i = 0
    while have(i):
        # candidate end by the estimate, then confirmed: j such that a..j fits and a..j+1 not
        j = i
        while have(j + 1) and est(i, j + 1) <= max_tokens:
            j += 1
        n = exact(i, j, max_tokens) if j > i else toks[i]
        if n is None:  # the estimate was low: step back until it fits (one longer did not)
            while n is None:
                j -= 1
                n = exact(i, j, max_tokens) if j > i else toks[i]
        else:  # the estimate was high or right: step on while one longer fits too
            while have(j + 1):
                longer = exact(i, j + 1, max_tokens)
                if longer is None:
                    break
                j, n = j + 1, longer
        yield starts[i], ends[j], n
        if not have(j + 1):
            return
        # overlap: the trailing units of this chunk that fit the overlap budget
        k = j + 1
        while k - 1 > i and est(k - 1, j) <= overlap_tokens:
            k -= 1
        if k <= j and exact(k, j, overlap_tokens) is None:  # the estimate was low
            k += 1
            while k <= j and exact(k, j, overlap_tokens) is None:
                k += 1
        else:
            while k - 1 > i and exact(k - 1, j, overlap_tokens) is not None:
                k -= 1
        i = k


def _split_long(text: str, span: Span, max_tokens: int, count: Counter) -> list[Span]:
    """Split one over-long sentence at clause marks, then by characters as a last resort."""
    return [Span(start=a, end=b) for a, b, _ in _split_units(text, span.start, span.end, max_tokens, count)]


def _split_units(text: str, start: int, end: int, max_tokens: int, count: Counter) -> Iterator[_Unit]:
    n = _capped_count(text, start, end, max_tokens, count)
    if n <= max_tokens:
        yield start, end, n
        return
    for a, b, m in _greedy(text, _clauses(text, start, end, n, max_tokens, count), max_tokens, 0, count):
        if m <= max_tokens:
            yield a, b, m
        else:  # a clause still too long: cut by characters
            yield from _cut_chars(text, a, b, max_tokens, count)


def _clauses(
    text: str, start: int, end: int, tokens: int, max_tokens: int, count: Counter
) -> Iterator[_Unit]:
    """The clauses of an over-long sentence (``tokens``: its count), each with its (capped) count."""
    a = start
    for m in _CLAUSE_END.finditer(text, start, end):
        if m.end() > a:
            n = tokens if (a, m.end()) == (start, end) else _capped_count(text, a, m.end(), max_tokens, count)
            yield a, m.end(), n
            a = m.end()
    if end > a:
        yield a, end, tokens if a == start else _capped_count(text, a, end, max_tokens, count)


def _cut_chars(text: str, start: int, end: int, max_tokens: int, count: Counter) -> Iterator[_Unit]:
    """Cut ``text[start:end]`` into pieces of at most ``max_tokens``, by characters.

    The rule: try the whole rest, then 3/4 of it, 3/4 of that, … and keep the first length that
    fits (one character if none does). Lengths in that ladder only shrink the count, so the
    first that fits is found by starting near the length of the previous piece and walking up
    (or down) the ladder: two or three counts of piece-sized slices per piece, never the rest.
    """
    guess = max(1, max_tokens)
    s = start
    while s < end:
        ladder = [end - s]
        while ladder[-1] > 1:
            ladder.append(max(1, ladder[-1] * 3 // 4))
        t = next((t for t, n in enumerate(ladder) if n <= guess), len(ladder) - 1)
        n = _rung(text, s, ladder, t, max_tokens, count)
        while n is None:  # too long: down the ladder until it fits
            t += 1
            n = _rung(text, s, ladder, t, max_tokens, count)
        while t > 0:  # fits: up the ladder while the longer rung fits too
            longer = _rung(text, s, ladder, t - 1, max_tokens, count)
            if longer is None:
                break
            t, n = t - 1, longer
        yield s, s + ladder[t], n
        guess = ladder[t]
        s += ladder[t]


def _rung(text: str, s: int, ladder: list[int], t: int, max_tokens: int, count: Counter) -> int | None:
    """The count of the piece at rung ``t`` when it fits (the last rung always does), else None."""
    n = count(text[s : s + ladder[t]])
    return n if n <= max_tokens or t == len(ladder) - 1 else None


def _iter_pack(
    text: str, spans: Iterable[tuple[int, int]], max_tokens: int, overlap_tokens: int, count: Counter
) -> Iterator[Span]:
    def units() -> Iterator[_Unit]:
        for a, b in spans:
            yield from _split_units(text, a, b, max_tokens, count)

    for a, b, _ in _greedy(text, units(), max_tokens, overlap_tokens, count):
        yield Span(start=a, end=b)


def pack(
    text: str, spans: Iterable[Span], max_tokens: int, overlap_tokens: int, count: Counter
) -> list[Span]:
    """Greedily pack consecutive sentence spans into chunks of at most ``max_tokens``.

    A new chunk repeats the previous chunk's trailing sentences (up to ``overlap_tokens``) so a
    fact split across the boundary is still found whole in one passage.
    """
    return list(_iter_pack(text, ((s.start, s.end) for s in spans), max_tokens, overlap_tokens, count))


def chunk_filing(
    filing: Filing, max_tokens: int = 256, overlap_tokens: int = 40, count: Counter = count_tokens
) -> list[Passage]:
    """All passages of a filing, in document order."""
    return list(iter_passages(filing, max_tokens, overlap_tokens, count))


def iter_passages(
    filing: Filing, max_tokens: int = 256, overlap_tokens: int = 40, count: Counter = count_tokens
) -> Iterator[Passage]:
    """``chunk_filing``'s passages one at a time: a caller that stops early (a passage cap) stops
    the work there, so a filing far over the cap costs no more than the cap's worth of passages."""
    text = filing.text
    h = filing.header
    emitted = 0

    def emit(section: SectionKind, chunks: Iterable[Span], title: str = "", label: str = "", q: str = ""):
        nonlocal emitted
        for c in chunks:
            yield Passage(
                id=f"{filing.id}#{emitted}",
                filing_id=filing.id,
                company=filing.company,
                code=h.code,
                record_no=h.record_no,
                date=filing.date,
                section=section,
                title=title,
                label=label,
                question=q,
                text=text[c.start : c.end],
                start=c.start,
                end=c.end,
            )
            emitted += 1

    body = [s for s in filing.segments if s.paragraphs or s.question_span]
    starts = [sp.start for s in body for sp in ([s.question_span] if s.question_span else []) + s.paragraphs]
    ends = [sp.end for s in body for sp in ([s.question_span] if s.question_span else []) + s.paragraphs]
    body_start = min(starts, default=len(text))
    body_end = max(ends, default=len(text))

    def lines(a: int, b: int) -> Iterator[tuple[int, int]]:
        for m in _LINE.finditer(text, a, b):
            yield from _trim(text, m.start(), m.end())

    yield from emit(
        "header", _iter_pack(text, lines(0, body_start), max_tokens, 0, count), title="记录表表头"
    )
    for seg in filing.segments:
        spans = (s for p in seg.paragraphs for s in _iter_sentences(text, p.start, p.end))
        chunks = _iter_pack(text, spans, max_tokens, overlap_tokens, count)
        yield from emit(seg.kind, chunks, title=seg.title, label=seg.label, q=seg.question)
    if body_end < len(text):
        yield from emit(
            "header", _iter_pack(text, lines(body_end, len(text)), max_tokens, 0, count), title="附件与日期"
        )
