"""The hand-written development questions over the nine companies' real records.

``eval/data/real_dev.jsonl`` was written by reading the PDFs in ``../shared/corpus/real_filings``
(eval/README.md, "Real-record questions"), never from irqa's answers. These tests keep it honest:
the file loads with irqa's own loader, its mix is what the README says, and every gold quote is
found in the text irqa's parser makes of a record of the quote's company and is matched, under
the evaluation's relevance rule, by a passage the chunker would index. A quote the parser
mangles (a page header inside a sentence, a lost line) fails here instead of silently lowering
recall in a run.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from irqa.eval.relevance import GoldItem, load_questions, matched_gold, squash
from irqa.rag.ingest.chunk import chunk_filing
from irqa.rag.models import Filing

from tests.helpers import ROOT, needs_shared

QUESTIONS = ROOT / "eval" / "data" / "real_dev.jsonl"
#: stock code → short name: the nine companies of the real records (folder names ``<code>_<简称>``)
COMPANIES = {
    "000938": "紫光股份",
    "000977": "浪潮信息",
    "002156": "通富微电",
    "002371": "北方华创",
    "002837": "英维克",
    "300308": "中际旭创",
    "300502": "新易盛",
    "300570": "太辰光",
    "301611": "珂玛科技",
}
CODE_OF = {name: code for code, name in COMPANIES.items()}
MIN_QUOTE_CHARS = 12


def raw_rows() -> list[dict]:
    return [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_file_loads_with_the_evaluation_loader_and_ids_are_unique():
    questions = load_questions(QUESTIONS)  # validates lang/kind/answerable against relevant[]
    ids = [q.id for q in questions]
    assert len(ids) == len(set(ids))
    assert all(i.startswith("real-") for i in ids)
    assert len(questions) == len(raw_rows())


def test_every_row_names_its_company_and_gold_is_well_formed():
    for row in raw_rows():
        assert row["lang"] in {"zh", "en", "mixed"}, row["id"]
        assert row["kind"] in {"number", "opinion", "person", "product", "date", "other"}, row["id"]
        assert row["company"] in CODE_OF, row["id"]
        if not row["answerable"]:
            assert row["relevant"] == [], row["id"]
            continue
        assert 1 <= len(row["relevant"]) <= 2, row["id"]
        for gold in row["relevant"]:
            assert gold["code"] == CODE_OF[row["company"]], row["id"]
            assert len(squash(gold["quote"])) >= MIN_QUOTE_CHARS, (row["id"], gold["quote"])


def test_mix_of_languages_and_answerability():
    rows = raw_rows()
    answerable = [r for r in rows if r["answerable"]]
    assert sum(r["lang"] in {"en", "mixed"} for r in answerable) >= 60
    assert sum(not r["answerable"] for r in rows) >= 50
    per_company = Counter((r["company"], r["answerable"]) for r in rows)
    for name in COMPANIES.values():
        assert per_company[(name, True)] >= 10, name
        assert per_company[(name, False)] >= 5, name
    for name in COMPANIES.values():  # each company is asked about in all three ways
        langs = {r["lang"] for r in answerable if r["company"] == name}
        assert langs == {"zh", "en", "mixed"}, name


@pytest.fixture(scope="module")
def filings_by_code(real_records) -> dict[str, list[Filing]]:
    """Every real record parsed by irqa's own parser (the session's ``real_records``)."""
    out: dict[str, list[Filing]] = {}
    for path, f in real_records.items():
        # the index files a record under the header's code: it must be the folder's
        assert f.header.code == path.parent.name.split("_")[0], path.name
        out.setdefault(f.header.code, []).append(f)
    assert set(out) == set(COMPANIES)
    return out


@needs_shared
def test_every_gold_quote_is_in_the_parsed_text_of_a_record_of_its_company(filings_by_code):
    texts = {code: [squash(f.text) for f in fs] for code, fs in filings_by_code.items()}
    missing = [
        (row["id"], gold["quote"])
        for row in raw_rows()
        for gold in row["relevant"]
        if not any(squash(gold["quote"]) in t for t in texts[gold["code"]])
    ]
    assert missing == []


@needs_shared
def test_every_gold_quote_is_matched_by_an_indexed_passage(filings_by_code):
    """The relevance rule, run on the passages the chunker cuts at the engine's default size."""
    passages = {code: [p for f in fs for p in chunk_filing(f)] for code, fs in filings_by_code.items()}
    unmatched = []
    for row in raw_rows():
        for gold in row["relevant"]:
            item = [GoldItem(quote=gold["quote"], code=gold["code"])]
            if not any(matched_gold(p.text, p.code, item) for p in passages[gold["code"]]):
                unmatched.append((row["id"], gold["quote"]))
    assert unmatched == []


@needs_shared
def test_a_quote_from_another_company_is_not_found(filings_by_code):
    """The check above can fail: a real quote of one company is absent from another's records."""
    quote = squash("2025年，公司营业收入382.40亿元，同比增长60.25%")  # 中际旭创's 2025 results
    assert any(quote in squash(f.text) for f in filings_by_code["300308"])
    assert not any(quote in squash(f.text) for f in filings_by_code["300502"])


def test_questions_file_is_the_one_the_readme_describes():
    readme = (ROOT / "eval" / "README.md").read_text(encoding="utf-8")
    assert Path(QUESTIONS).name in readme
