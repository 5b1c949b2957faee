"""Company names never cause a silent refusal (issue 20 item 3): English names from the built-in
list, the short names analysts use, and names irqa does not know at all, on the real model."""

from __future__ import annotations

import shutil

import pytest
from irqa.rag.companies import CompanyResolver, abbreviations, builtin_aliases
from irqa.rag.engine import Engine

from tests.helpers import REAL_FILINGS, make_config

REAL = REAL_FILINGS
INNOLIGHT = REAL / "300308_中际旭创" / "中际旭创：300308中际旭创投资者关系管理信息20240617.pdf"
EOPTOLINK = REAL / "300502_新易盛" / "新易盛：300502新易盛调研活动信息20190524.pdf"


def test_builtin_english_and_short_names_resolve():
    r = CompanyResolver(builtin_aliases(), indexed_codes={"300308", "300502", "002371"})
    assert r.resolve("What did Innolight say about 800G demand?").codes == ["300308"]
    assert r.resolve("旭创对800G的需求怎么看").codes == ["300308"]
    assert r.resolve("What did Eoptolink say about capacity?").codes == ["300502"]
    assert r.resolve("NAURA的刻蚀设备订单").codes == ["002371"]
    # known but not indexed: reported by its name, not its code
    assert r.resolve("What did Accelink say about 800G?").unknown == ["光迅科技"]


def test_short_name_rule_skips_common_words_and_collides_nowhere():
    assert "浪潮" not in abbreviations("浪潮信息", "浪潮电子信息产业股份有限公司")  # "AI浪潮"
    assert "北方" not in abbreviations("北方华创", "北方华创科技集团股份有限公司")
    assert "紫光" in abbreviations("紫光股份", "紫光股份有限公司")
    owners: dict[str, set[str]] = {}
    for code, e in builtin_aliases().items():
        for name in [*abbreviations(e["short_name"], e["company"]), *e["aliases"]]:
            owners.setdefault(name.lower(), set()).add(code)
    assert {n: c for n, c in owners.items() if len(c) > 1} == {}


def test_unknown_name_is_no_refusal_and_the_assumed_company_is_named(sample_engine):
    a = sample_engine.ask("Foobarsoft的Turbo Fusion进展如何")
    assert not a.abstained, a.answer
    assert a.company == "688088"
    assert "Assumed Foobarsoft = 虹软科技 688088" in a.answer
    assert {c.code for c in a.citations} == {"688088"}


def test_known_company_not_indexed_is_still_refused(sample_engine):
    a = sample_engine.ask("What did Innolight say about 800G optical module demand?")
    assert a.abstained
    assert "中际旭创" in a.answer


@pytest.mark.skipif(not REAL.is_dir(), reason=f"the real filings are not at {REAL} (set IRQA_SHARED)")
def test_real_filings_english_short_and_unknown_names(tmp_path, cache_dir, embedder):
    engine = Engine(make_config(tmp_path / "index", cache_dir), embedder)
    files = []
    for src in (INNOLIGHT, EOPTOLINK):
        files.append(tmp_path / f"{src.name[:20]}.pdf")
        shutil.copy(src, files[-1])
    engine.ingest_paths(files)
    for q in ("What did Innolight say about 800G optical module demand?", "旭创对800G的需求怎么看"):
        a = engine.ask(q)
        assert not a.abstained, (q, a.answer)
        assert a.company == "300308" and {c.code for c in a.citations} == {"300308"}
    a = engine.ask("What did Eoptolink say about its production capacity?")
    assert not a.abstained and a.company == "300502"
    a = engine.ask("What did Foobar Corp say about 800G optical modules?")
    assert not a.abstained and a.company == "300308"
    assert "Assumed Foobar Corp = 中际旭创 300308" in a.answer


@pytest.mark.parametrize(
    ("question", "unknown", "guessed"),
    [
        ("公司在 CPO 方面的进展如何？", [], []),  # real 中际旭创 questions: "公司在" is no company
        ("公司的 1.6T 在 Q4 出货节奏是怎样的？", [], []),
        ("请问明年公司 1.6T 至少出货 300 万，做好准备了吗", [], []),
        ("请问贵公司 800G 进展", [], []),
        ("贵州茅台的分红计划", ["贵州茅台"], []),  # another company: refused
        ("宁德时代 battery 出货", ["宁德时代"], []),
        ("Foobarsoft的Turbo Fusion进展如何", [], ["Foobarsoft"]),  # a Latin name: the evidence decides
    ],
)
def test_filler_words_are_not_company_names(question, unknown, guessed):
    r = CompanyResolver(builtin_aliases(), indexed_codes={"300308"}).resolve(question, lambda t: False)
    assert (r.unknown, r.guessed) == (unknown, guessed)


def test_opening_phrases_are_no_company_names(sample_engine):
    """Investor questions open with phrases the subject pattern took for names (简单介绍一下…);
    with a company filter they refused answerable questions as a "conflict" (real records: 80 of 1,391)."""
    tags = sample_engine.snapshot().analyzer.tags
    r = sample_engine.live().resolver
    for q in ("简单介绍一下公司的产能情况？", "想请教一下公司的海外业务？", "公司能否介绍一下研发投入？"):
        assert r.resolve(q, known_term=lambda t: False, tags=tags).unknown == [], q
    # a name-like opening the corpus lacks is still another company
    assert r.resolve("贵州茅台的营收是多少？", known_term=lambda t: False, tags=tags).unknown == ["贵州茅台"]
    a = sample_engine.ask("简单介绍一下Turbo Fusion的功耗情况？", company="虹软科技")
    assert "filter" not in a.answer, a.answer
    # an unknown Chinese name with a filter goes to the evidence, which does not mention it
    b = sample_engine.ask("贵州茅台的营收是多少？", company="虹软科技")
    assert b.abstained and "贵州" in b.answer, b.answer
