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
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from irqa.rag.ingest.tokens import count_tokens
from irqa.rag.models import Filing, Passage, SectionKind, Span

# a sentence ends at 。！？；!?; (plus closing quotes/brackets) or at a line break
_SENTENCE_END = re.compile(r"[。！？；!?;]+[”’」』）)\]]*|\n+")
_CLAUSE_END = re.compile(r"[，、,：:]+")

Counter = Callable[[str], int]


def sentence_spans(text: str, start: int, end: int) -> list[Span]:
    """Sentence spans of ``text[start:end]``, whitespace trimmed, none empty."""
    spans: list[Span] = []
    pos = start
    for m in _SENTENCE_END.finditer(text, start, end):
        spans.extend(_trimmed(text, pos, m.end()))
        pos = m.end()
    spans.extend(_trimmed(text, pos, end))
    return spans


def _trimmed(text: str, a: int, b: int) -> list[Span]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return [Span(start=a, end=b)] if b > a else []


def _split_long(text: str, span: Span, max_tokens: int, count: Counter) -> list[Span]:
    """Split one over-long sentence at clause marks, then by characters as a last resort."""
    if count(text[span.start : span.end]) <= max_tokens:
        return [span]
    cuts = [m.end() for m in _CLAUSE_END.finditer(text, span.start, span.end)]
    pieces: list[Span] = []
    a = span.start
    for c in [*cuts, span.end]:
        if c <= a:
            continue
        if pieces and count(text[pieces[-1].start : c]) <= max_tokens:
            pieces[-1] = Span(start=pieces[-1].start, end=c)
        else:
            pieces.append(Span(start=a, end=c))
        a = c
    out: list[Span] = []
    for p in pieces:  # a clause still too long: cut by characters
        s = p.start
        while s < p.end:
            e = p.end
            while count(text[s:e]) > max_tokens and e - s > 1:
                e = s + max(1, (e - s) * 3 // 4)
            out.append(Span(start=s, end=e))
            s = e
    return out


def pack(text: str, spans: list[Span], max_tokens: int, overlap_tokens: int, count: Counter) -> list[Span]:
    """Greedily pack consecutive sentence spans into chunks of at most ``max_tokens``.

    A new chunk repeats the previous chunk's trailing sentences (up to ``overlap_tokens``) so a
    fact split across the boundary is still found whole in one passage.
    """
    sentences: list[Span] = []
    for s in spans:
        sentences.extend(_split_long(text, s, max_tokens, count))
    chunks: list[Span] = []
    i = 0
    while i < len(sentences):
        j = i
        while j + 1 < len(sentences) and count(text[sentences[i].start : sentences[j + 1].end]) <= max_tokens:
            j += 1
        chunks.append(Span(start=sentences[i].start, end=sentences[j].end))
        if j + 1 >= len(sentences):
            break
        # overlap: step back over trailing sentences that fit the overlap budget
        k = j + 1
        while k - 1 > i and count(text[sentences[k - 1].start : sentences[j].end]) <= overlap_tokens:
            k -= 1
        i = k
    return chunks


def chunk_filing(
    filing: Filing, max_tokens: int = 256, overlap_tokens: int = 40, count: Counter = count_tokens
) -> list[Passage]:
    """All passages of a filing, in document order."""
    text = filing.text
    h = filing.header
    passages: list[Passage] = []

    def emit(section: SectionKind, chunks: Iterable[Span], title: str = "", label: str = "", q: str = ""):
        for c in chunks:
            passages.append(
                Passage(
                    id=f"{filing.id}#{len(passages)}",
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
            )

    body = [s for s in filing.segments if s.paragraphs or s.question_span]
    starts = [sp.start for s in body for sp in ([s.question_span] if s.question_span else []) + s.paragraphs]
    ends = [sp.end for s in body for sp in ([s.question_span] if s.question_span else []) + s.paragraphs]
    body_start = min(starts, default=len(text))
    body_end = max(ends, default=len(text))

    def lines(a: int, b: int) -> list[Span]:
        return [
            sp for m in re.finditer(r"[^\n]+", text[a:b]) for sp in _trimmed(text, a + m.start(), a + m.end())
        ]

    emit("header", pack(text, lines(0, body_start), max_tokens, 0, count), title="记录表表头")
    for seg in filing.segments:
        spans = [s for p in seg.paragraphs for s in sentence_spans(text, p.start, p.end)]
        if not spans:
            continue
        chunks = pack(text, spans, max_tokens, overlap_tokens, count)
        emit(seg.kind, chunks, title=seg.title, label=seg.label, q=seg.question)
    if body_end < len(text):
        emit("header", pack(text, lines(body_end, len(text)), max_tokens, 0, count), title="附件与日期")
    return passages
