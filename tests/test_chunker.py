"""Chunk invariants on the real sample filings."""

from __future__ import annotations

import itertools

import pytest
from irqa.rag.ingest.chunk import chunk_filing, pack, sentence_spans
from irqa.rag.ingest.pipeline import parse_file
from irqa.rag.ingest.tokens import count_tokens

from tests.helpers import ARCSOFT, HIKVISION, INSTA360


@pytest.fixture(scope="module", params=[ARCSOFT, INSTA360, HIKVISION], ids=lambda p: p.stem)
def filing(request):
    return parse_file(request.param)


@pytest.mark.parametrize("budget", [64, 256])
def test_passages_are_exact_slices_within_budget(filing, budget):
    passages = chunk_filing(filing, max_tokens=budget, overlap_tokens=budget // 6)
    assert passages
    for p in passages:
        assert filing.text[p.start : p.end] == p.text
        assert count_tokens(p.text) <= budget, (p.id, count_tokens(p.text))
        assert p.filing_id == filing.id and p.code == filing.header.code
    assert len({p.id for p in passages}) == len(passages)


@pytest.mark.parametrize("budget", [64, 256])
def test_every_answer_character_is_covered(filing, budget):
    passages = chunk_filing(filing, max_tokens=budget, overlap_tokens=budget // 6)
    covered = bytearray(len(filing.text))
    for p in passages:
        covered[p.start : p.end] = b"\x01" * (p.end - p.start)
    for seg in filing.segments:
        for para in seg.paragraphs:
            missing = [
                i for i in range(para.start, para.end) if not covered[i] and not filing.text[i].isspace()
            ]
            assert not missing, f"{seg.label or seg.title}: {filing.text[missing[0] : missing[0] + 20]!r}"


def test_answer_passages_keep_their_question(filing):
    passages = chunk_filing(filing)
    qa = [p for p in passages if p.section == "qa"]
    assert qa and all(p.question for p in qa)
    assert {p.label for p in qa} == {s.label for s in filing.qa_pairs}
    header = [p for p in passages if p.section == "header"]
    assert any(filing.header.code in p.text for p in header)


def test_long_answers_split_with_overlap():
    text = "".join(f"第{i}句话讲的是一个相当具体的事实编号{i}。" for i in range(40))
    spans = sentence_spans(text, 0, len(text))
    assert len(spans) == 40
    chunks = pack(text, spans, max_tokens=60, overlap_tokens=25, count=count_tokens)
    assert len(chunks) > 3
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end, "consecutive chunks share their boundary sentence"
        assert b.start > a.start
    assert chunks[0].start == 0 and chunks[-1].end == len(text)


def test_a_sentence_longer_than_the_budget_is_cut_without_loss():
    text = "，".join(["这是一个没有句号的超长分句"] * 60) + "。"
    chunks = pack(
        text, sentence_spans(text, 0, len(text)), max_tokens=50, overlap_tokens=0, count=count_tokens
    )
    assert "".join(text[c.start : c.end] for c in chunks) == text
    assert all(count_tokens(text[c.start : c.end]) <= 50 for c in chunks)
