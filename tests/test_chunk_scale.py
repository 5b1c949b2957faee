"""Chunking stays linear in the text's length, and the passage cap stops it early (issue 25 item 1).

A 100,000-character answer line took 45 s to chunk and a 1.5M-character upload held the writer
for minutes, because every step re-counted a growing slice. Timings are not asserted; the work
is: the real tokenizer, wrapped to count how often it is called and how many characters it is
handed. The plain greedy rule the chunker implements ("extend while the whole slice fits";
the old code, kept here as the reference) must still give the same chunks.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import pytest
from irqa.rag.errors import FilingError
from irqa.rag.ingest.chunk import chunk_filing, iter_passages, pack, sentence_spans
from irqa.rag.ingest.limits import IngestLimits
from irqa.rag.ingest.pipeline import chunk_checked, parse_bytes, parse_file
from irqa.rag.ingest.tokens import count_tokens
from irqa.rag.models import Filing, Span

from tests.api_server import make_filing
from tests.helpers import ARCSOFT, HIKVISION, INSTA360

RUN_ON = "视频应用功能对于功耗的压力非常大"  # no sentence or clause mark: cut by characters
PERIODS = "公司经营情况良好并且持续发展. "  # ". " is no sentence end for the splitter
CLAUSE_END = re.compile(r"[，、,：:]+")
SENTENCES = "公司研发人员595人，占公司总人数的比例为63.64%，同比增长13.55%。"


@dataclass
class Tally:
    """``count_tokens``, counting its calls and the characters it is given."""

    calls: int = 0
    chars: int = 0

    def __call__(self, s: str) -> int:
        self.calls += 1
        self.chars += len(s)
        return count_tokens(s)


def answer_filing(unit: str, n: int) -> Filing:
    body = (unit * (n // len(unit) + 1))[:n]
    data = make_filing("600001", "长文本", "长文本股份有限公司", "2025-009", [("公司的业务情况如何？", body)])
    return parse_bytes(data, "long.txt")


def answer(f: Filing) -> Span:
    (seg,) = [s for s in f.segments if s.kind == "qa"]
    (para,) = seg.paragraphs
    return para


def check_passages(f: Filing, passages, budget: int = 256) -> None:
    """Exact slices within the budget, covering every non-space character of the answer."""
    assert passages
    covered = bytearray(len(f.text))
    for p in passages:
        assert f.text[p.start : p.end] == p.text
        assert count_tokens(p.text) <= budget, p.id
        covered[p.start : p.end] = b"\x01" * (p.end - p.start)
    para = answer(f)
    assert all(covered[i] or f.text[i].isspace() for i in range(para.start, para.end))


@pytest.mark.parametrize("unit", [RUN_ON, PERIODS], ids=["run-on-line", "period-sentences"])
def test_a_200k_answer_without_sentence_ends_costs_linear_work(unit):
    f = answer_filing(unit, 200_000)
    tally = Tally()
    passages = chunk_filing(f, count=tally)
    check_passages(f, passages)
    assert answer(f).end - answer(f).start > 199_000
    # the old cutter re-counted the whole rest for every piece: about 1,000 × the text here
    assert tally.chars <= 6 * len(f.text), (tally.chars, len(f.text))
    assert tally.calls <= 6 * len(passages), (tally.calls, len(passages))


def test_200k_of_ordinary_sentences_costs_a_few_counts_per_sentence():
    f = answer_filing(SENTENCES, 200_000)
    para = answer(f)
    n_sentences = len(sentence_spans(f.text, para.start, para.end))
    assert n_sentences > 4000
    tally = Tally()
    passages = chunk_filing(f, count=tally)
    check_passages(f, passages)
    assert tally.calls <= 3 * n_sentences, (tally.calls, n_sentences)
    assert tally.chars <= 6 * len(f.text), (tally.chars, len(f.text))


@pytest.mark.parametrize("unit", [RUN_ON, PERIODS, SENTENCES], ids=["run-on", "periods", "sentences"])
def test_twice_the_text_is_twice_the_work(unit):
    small, large = Tally(), Tally()
    n_small = len(chunk_filing(answer_filing(unit, 50_000), count=small))
    n_large = len(chunk_filing(answer_filing(unit, 100_000), count=large))
    assert 1.8 < n_large / n_small < 2.2
    assert large.chars / small.chars < 2.3, (small.chars, large.chars)
    assert large.calls / small.calls < 2.3, (small.calls, large.calls)


def test_a_filing_over_the_cap_is_refused_before_chunking_finishes():
    f = answer_filing(SENTENCES, 200_000)
    whole = Tally()
    n = len(chunk_filing(f, count=whole))
    assert n > 500
    early = Tally()
    with pytest.raises(FilingError) as err:
        chunk_checked(f, "long.txt", 256, 40, 0, IngestLimits(max_passages_per_filing=50), count=early)
    assert err.value.code == "invalid_filing"
    assert "more than 50 passages" in str(err.value) and "IRQA_MAX_PASSAGES_PER_FILING" in str(err.value)
    assert early.calls < whole.calls / 5, (early.calls, whole.calls)
    assert early.chars < whole.chars / 5, (early.chars, whole.chars)


def test_the_cap_refuses_exactly_the_filings_over_it():
    f = parse_file(HIKVISION)
    passages = chunk_filing(f)
    n = len(passages)
    kept = chunk_checked(f, f.source, 256, 40, 0, IngestLimits(max_passages_per_filing=n))
    assert [p.model_dump() for p in kept] == [p.model_dump() for p in passages]
    with pytest.raises(FilingError, match="IRQA_MAX_PASSAGES_PER_FILING"):
        chunk_checked(f, f.source, 256, 40, 0, IngestLimits(max_passages_per_filing=n - 1))
    # the per-call cap still counts the passages accepted before this file
    ok = IngestLimits(max_passages_per_ingest=n + 10)
    assert len(chunk_checked(f, f.source, 256, 40, 10, ok)) == n
    with pytest.raises(FilingError, match="IRQA_MAX_PASSAGES_PER_UPLOAD"):
        chunk_checked(f, f.source, 256, 40, 11, ok)
    assert list(itertools.islice(iter_passages(f), 3)) == passages[:3]


# ---------------------------------------------------------------- same chunks as the plain rule


def reference_pack(text: str, spans: list[Span], max_tokens: int, overlap_tokens: int) -> list[Span]:
    """The chunker before issue 25, verbatim in what it decides (quadratic: small inputs only)."""
    count = count_tokens
    sentences: list[Span] = []
    for span in spans:
        if count(text[span.start : span.end]) <= max_tokens:
            sentences.append(span)
            continue
        cuts = [m.end() for m in CLAUSE_END.finditer(text, span.start, span.end)]
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
        for p in pieces:
            s = p.start
            while s < p.end:
                e = p.end
                while count(text[s:e]) > max_tokens and e - s > 1:
                    e = s + max(1, (e - s) * 3 // 4)
                sentences.append(Span(start=s, end=e))
                s = e
    chunks: list[Span] = []
    i = 0
    while i < len(sentences):
        j = i
        while j + 1 < len(sentences) and count(text[sentences[i].start : sentences[j + 1].end]) <= max_tokens:
            j += 1
        chunks.append(Span(start=sentences[i].start, end=sentences[j].end))
        if j + 1 >= len(sentences):
            break
        k = j + 1
        while k - 1 > i and count(text[sentences[k - 1].start : sentences[j].end]) <= overlap_tokens:
            k -= 1
        i = k
    return chunks


MIXED = "".join(f"第{i}句，" + "长" * (i * 37 % 700) + ("。" if i % 3 else "\n") for i in range(40))
TEXTS = {
    "run-on": RUN_ON * 300,
    "commas": (RUN_ON + "，") * 300,
    "periods": PERIODS * 300,
    "english": "The company said its video power draw is high. " * 150,
    "mixed": MIXED,
    "tiny": "是。" * 1500,
}


@pytest.mark.parametrize("budget", [64, 256])
@pytest.mark.parametrize("name", list(TEXTS))
def test_same_chunks_as_the_plain_greedy_rule(name, budget):
    text = TEXTS[name]
    spans = sentence_spans(text, 0, len(text))
    expected = reference_pack(text, spans, budget, budget // 6)
    assert len(expected) > 3
    assert pack(text, spans, budget, budget // 6, count_tokens) == expected


@pytest.mark.parametrize("path", [ARCSOFT, INSTA360, HIKVISION], ids=lambda p: p.stem)
def test_same_chunks_as_the_plain_greedy_rule_on_the_samples(path):
    f = parse_file(path)
    for seg in f.segments:
        spans = [s for p in seg.paragraphs for s in sentence_spans(f.text, p.start, p.end)]
        if spans:
            assert pack(f.text, spans, 64, 10, count_tokens) == reference_pack(f.text, spans, 64, 10)
