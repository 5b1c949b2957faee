"""Real published records: the parser against facts a person wrote down by reading the PDFs.

``tests/data/real_facts.json`` holds, for records of all nine companies of
``../shared/corpus/real_filings`` (2016–2025), the header facts, the number of Q&A pairs and
one answer sentence, counted from the documents, not from the parser. Six of those PDFs are
copied into ``tests/data/real_filings`` (same relative paths), so real records are tested on a
clone without ``../shared``; the full list and the all-records ingest test skip without it.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from irqa.embeddings.cache import VectorCache
from irqa.rag.ingest.chunk import chunk_filing
from irqa.rag.ingest.parse import check_structure
from irqa.rag.ingest.pipeline import Source, ingest_sources, parse_file
from irqa.rag.models import Filing
from irqa.rag.store import open_store

from tests.helpers import ROOT, SHARED

REAL = SHARED / "corpus" / "real_filings"
COPIES = ROOT / "tests" / "data" / "real_filings"
FACTS = json.loads((ROOT / "tests" / "data" / "real_facts.json").read_text(encoding="utf-8"))["facts"]
COPIED = [f for f in FACTS if (COPIES / f["file"]).is_file()]
no_shared = pytest.mark.skipif(not REAL.is_dir(), reason=f"no real records at {REAL} (../shared absent)")


def parse_all(paths: list[Path]) -> dict[Path, Filing]:
    """Parse PDFs two at a time (each read runs in its own child process)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(paths, pool.map(parse_file, paths), strict=True))


@pytest.fixture(scope="module")
def shared_filings(real_records) -> dict[Path, Filing]:
    return real_records


@pytest.fixture(scope="module")
def copied_filings() -> dict[Path, Filing]:
    return parse_all([COPIES / f["file"] for f in COPIED])


def answers(f: Filing) -> list[str]:
    return ["\n".join(f.text[p.start : p.end] for p in q.paragraphs) for q in f.qa_pairs]


def assert_matches(f: Filing, fact: dict) -> None:
    got = {
        "code": f.header.code,
        "short_name": f.header.short_name,
        "record_no": f.header.record_no,
        "id": f.id,
        "date": f.date.isoformat() if f.date else "",
        "qa_pairs": len(f.qa_pairs),
    }
    want = {k: fact[k] for k in got}
    assert got == want, fact["file"]
    if fact["answer_sentence"]:
        assert any(fact["answer_sentence"] in a for a in answers(f)), fact["answer_sentence"]


def test_the_facts_cover_every_company_and_the_years() -> None:
    companies = {f["file"].split("/")[0] for f in FACTS}
    years = {f["date"][:4] for f in FACTS}
    assert len(FACTS) >= 20 and len(companies) == 9 and {"2016", "2019", "2021", "2025"} <= years
    assert len({f["id"] for f in FACTS}) == len(FACTS)
    assert 4 <= len({f["file"].split("/")[0] for f in COPIED}) == len(COPIED) <= 6


def test_the_copies_are_the_published_bytes() -> None:
    assert sum((COPIES / f["file"]).stat().st_size for f in COPIED) < 3 * 1024 * 1024
    if REAL.is_dir():
        for f in COPIED:
            assert (COPIES / f["file"]).read_bytes() == (REAL / f["file"]).read_bytes()


@pytest.mark.parametrize("fact", COPIED, ids=lambda f: f["id"])
def test_copied_record_matches_its_facts(fact: dict, copied_filings: dict[Path, Filing]) -> None:
    assert_matches(copied_filings[COPIES / fact["file"]], fact)


def test_record_without_number_gets_code_and_date(copied_filings: dict[Path, Filing]) -> None:
    f = next(f for f in copied_filings.values() if f.header.code == "000938")
    assert f.header.record_no == "" and f.id == "000938-2021-05-07"
    # the running header "紫光股份有限公司  2" is gone from the page break inside answer 1
    assert "紫光股份有限公司" not in "\n".join(answers(f))
    assert any("同比增长 61.45%" in a for a in answers(f))


def test_letter_spaced_question_is_rejoined(copied_filings: dict[Path, Filing]) -> None:
    f = next(f for f in copied_filings.values() if f.header.code == "000977")
    q12 = f.qa_pairs[11]
    assert q12.label == "12" and q12.question.startswith("公司一季度末存货 242.90 亿元，环比增长")


def test_topic_questions_of_an_announced_list(copied_filings: dict[Path, Filing]) -> None:
    f = next(f for f in copied_filings.values() if f.header.code == "301611")
    assert [q.question for q in f.qa_pairs] == [
        "公司的主要产品？",
        "发展历程",
        "公司主要业务",
        "上游粉体供应",
        "公司在国内的竞争优势",
    ]


def test_copied_records_ingest_into_a_real_index(tmp_path, embedder) -> None:
    store = open_store(f"local:{tmp_path / 'index'}")
    sources = [Source.from_path(COPIES / f["file"]) for f in COPIED]
    report, view = ingest_sources(store, embedder, VectorCache(tmp_path / "v.sqlite"), sources)
    assert not report.failed and view is not None
    assert sorted(report.added) == sorted(f["id"] for f in COPIED)
    assert report.passages >= sum(f["qa_pairs"] for f in COPIED)


@no_shared
@pytest.mark.parametrize("fact", FACTS, ids=lambda f: f["id"])
def test_shared_record_matches_its_facts(fact: dict, shared_filings: dict[Path, Filing]) -> None:
    assert_matches(shared_filings[REAL / fact["file"]], fact)


@no_shared
def test_all_real_records_parse_into_records_with_passages(shared_filings: dict[Path, Filing]) -> None:
    assert len(shared_filings) == 101
    for path, f in shared_filings.items():
        check_structure(f)  # NotARecord would name the file
        assert f.header.code and f.date, path.name
        assert not f.id.startswith("sha-"), path.name
        assert chunk_filing(f), path.name
    assert len({f.id for f in shared_filings.values()}) == 101
    with_qa = sum(1 for f in shared_filings.values() if f.qa_pairs)
    assert with_qa >= 99  # two 通富微电 roadshow records are presentations without Q&A
