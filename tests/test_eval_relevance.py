"""The quote-overlap relevance rule, the question-file loader, and the dev set's quotes."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from irqa.eval.relevance import GoldItem, QuestionFileError, is_relevant, load_questions, matched_gold, squash

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "rag" / "samples"
DEV = ROOT / "eval" / "data" / "sample_dev.jsonl"

QUOTE = "公司研发人员595人，占公司总人数的比例为63.64%"  # 26 characters


def test_whitespace_is_ignored_on_both_sides():
    gold = [GoldItem(quote="公司研发人员 595 人，\n占公司总人数的比例为63.64%", code="688088")]
    assert is_relevant(
        "截至2024年6月30日，公司研发\n人员595人，占公司总人数的比例为 63.64%。", "688088", gold
    )


def test_code_mismatch_is_not_relevant_and_missing_code_matches_any():
    assert not is_relevant(QUOTE, "002415", [GoldItem(quote=QUOTE, code="688088")])
    assert is_relevant(QUOTE, "002415", [GoldItem(quote=QUOTE)])


def test_nineteen_shared_characters_miss_twenty_hit():
    long_quote = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # 26 chars, so the run needed is 20
    gold = [GoldItem(quote=long_quote)]
    assert not is_relevant("xx" + long_quote[:19] + "yy", "", gold)
    assert is_relevant("xx" + long_quote[:20] + "yy", "", gold)
    assert is_relevant("xx" + long_quote[6:] + "yy", "", gold)  # any 20-run, not only the prefix


def test_short_quote_must_appear_whole():
    gold = [GoldItem(quote="财务总监韦凯女士", code="688088")]  # 8 chars: run length is 8
    assert is_relevant("公司接待人员：财务总监 韦凯女士", "688088", gold)
    assert not is_relevant("财务总监韦凯", "688088", gold)


def test_passage_shorter_than_run_is_not_relevant():
    assert not is_relevant("公司研发人员", "688088", [GoldItem(quote=QUOTE, code="688088")])


def test_fullwidth_and_ascii_forms_match():
    gold = [GoldItem(quote="每10股派发现金红利1.50元（含税），公司不进行资本公积金转增股本")]
    assert is_relevant("每１０股派发现金红利1.50元(含税),公司不进行资本公积金转增股本", "688088", gold)


def test_matched_gold_reports_which_quotes():
    gold = [GoldItem(quote="总经理胡扬忠先生"), GoldItem(quote="高级副总经理、董事会秘书黄方红女士")]
    assert matched_gold("总经理 胡扬忠先生\n高级副总经理、董事会秘书 黄方红女士", "002415", gold) == [0, 1]
    assert matched_gold("总经理 胡扬忠先生", "002415", gold) == [0]


def _write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "q.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


GOOD = {"id": "a", "question": "q?", "relevant": [], "answerable": False, "lang": "en", "kind": "other"}


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({**GOOD, "id": "b", "lang": "fr"}), "lang"),
        (json.dumps({**GOOD, "id": "b", "answerable": True}), "needs at least one relevant quote"),
        (json.dumps({**GOOD, "id": "b", "relevant": [{"quote": "x" * 25}]}), "must have relevant: []"),
        (json.dumps({**GOOD, "id": "b", "relevant": [{"quote": " \n"}], "answerable": True}), "whitespace"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "question"} | {"id": "b"}), "question"),
        (json.dumps(GOOD), "duplicate id 'a'"),
    ],
)
def test_load_questions_names_line_and_reason(tmp_path, bad_line, reason):
    p = _write(tmp_path, [json.dumps(GOOD), "", bad_line])
    with pytest.raises(QuestionFileError, match=rf"q\.jsonl:3: .*{re.escape(reason)}"):
        load_questions(p)


def test_load_questions_missing_file(tmp_path):
    with pytest.raises(QuestionFileError, match="no such file"):
        load_questions(tmp_path / "nope.jsonl")


# --- the development set ---------------------------------------------------------------------


def _filings() -> dict[str, str]:
    """Whitespace-removed raw text of each sample filing, keyed by the code in its file name."""
    out = {}
    for p in sorted(SAMPLES.glob("*.txt")):
        out[p.name.split("_")[0]] = re.sub(r"\s+", "", p.read_text(encoding="utf-8"))
    assert set(out) == {"688088", "002415", "688775"}
    return out


def test_every_dev_quote_occurs_verbatim_in_its_filing():
    filings = _filings()
    missing = [
        (q.id, g.code, g.quote)
        for q in load_questions(DEV)
        for g in q.relevant
        if g.code not in filings or re.sub(r"\s+", "", g.quote) not in filings[g.code]
    ]
    assert not missing, missing


def test_every_dev_quote_is_relevant_to_its_whole_filing_by_the_rule():
    filings = _filings()
    for q in load_questions(DEV):
        for g in q.relevant:
            assert is_relevant(filings[g.code], g.code, [g]), (q.id, g.quote)
            assert squash(g.quote), q.id


def test_dev_set_shape():
    qs = load_questions(DEV)
    assert len(qs) >= 70
    assert [q.id for q in qs] == [f"dev-{i:03d}" for i in range(1, len(qs) + 1)]
    assert sum(not q.answerable for q in qs) >= 12
    langs = Counter(q.lang for q in qs)
    assert min(langs["zh"], langs["en"], langs["mixed"]) >= 10, langs
    assert set(Counter(q.kind for q in qs)) == {"number", "opinion", "person", "product", "date", "other"}
    assert {g.code for q in qs for g in q.relevant} == {"688088", "002415", "688775"}
    short = [g.quote for q in qs for g in q.relevant if len(squash(g.quote)) < 6]
    assert not short, short
