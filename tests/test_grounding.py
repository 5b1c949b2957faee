"""The grounding check on fabricated replies: what it must serve, what it must never serve."""

from __future__ import annotations

import datetime as dt

import pytest
from irqa.rag.analysis import Analyzer
from irqa.rag.grounding import (
    SentenceStream,
    Source,
    check,
    check_sentence,
    entities,
    markers,
    numbers,
    split_sentences,
    support,
)
from irqa.rag.models import Passage

REVENUE = (
    "虹软科技2024年半年度营业收入3.81亿元，同比上升11.97%；归母净利润6,145.89万元，同比上升22.82%。"
    "截至2024年6月30日，公司研发人员595人，占公司总人数的比例为63.64%。"
)
VIDEO = (
    "智能超域融合（Turbo Fusion）视频应用目前也是公司产品开发非常重要的一条产品线。"
    "比如现在对于视频应用高清、高帧上的高要求，基本都是4K60帧起步，有的甚至要8K，所以视频应用功能对于功耗的压力非常大。"
)
#: the index's POS tagger, as the engine passes it (company names kept whole)
TAG = Analyzer(names=["虹软科技", "星河光电", "海康威视"]).tags
LIDAR = "公司自主研发的量子点激光雷达“银河一号”已于2025年2月完成车规级认证，预计2025年第三季度开始向两家新能源车企批量供货。"


def passage(
    pid: str, text: str, code: str = "688088", company: str = "虹软科技", start: int = 100
) -> Passage:
    return Passage(
        id=pid,
        filing_id=f"{code}-2024-007",
        company=company,
        code=code,
        record_no="2024-007",
        date=dt.date(2024, 8, 27),
        section="qa",
        question="公司经营情况如何？",
        text=text,
        start=start,
        end=start + len(text),
    )


SOURCES = {
    1: Source(1, passage("688088-2024-007#1", REVENUE), names=("虹软科技", "虹软", "ArcSoft")),
    2: Source(2, passage("688088-2024-007#2", VIDEO, start=900), names=("虹软科技", "虹软", "ArcSoft")),
    3: Source(
        3,
        passage("688999-2025-001#1", LIDAR, code="688999", company="星河光电").model_copy(
            update={"question": "成本会降到2024元吗？", "record_no": "2025-001", "date": dt.date(2025, 3, 12)}
        ),
        names=("星河光电",),
    ),
}


def mentions(text: str) -> list[tuple[int, int, str]]:
    """The alias table's answer for these three companies (what ``Engine.mentions`` does)."""
    out = []
    for name, code in (
        ("虹软科技", "688088"),
        ("ArcSoft", "688088"),
        ("星河光电", "688999"),
        ("海康威视", "002415"),
    ):
        i = text.find(name)
        if i >= 0:
            out.append((i, i + len(name), code))
    return out


@pytest.mark.parametrize(
    "sentence",
    [
        "虹软科技2024年上半年营业收入为3.81亿元，同比上升11.97%。[1]",
        "ArcSoft's revenue in the first half of 2024 was 3.81亿元, up 11.97% [1].",
        "截至2024年6月30日，研发人员共595人[1]。",
        "Turbo Fusion video needs 4K60 and sometimes 8K, which puts heavy pressure on power draw. [2]",
        "星河光电预计2025年第三季度开始向两家新能源车企供货[3]。",
        "The lidar is called 银河一号 and passed certification in February 2025 [3].",
        "Net profit rose 22.82% and revenue 11.97% [1][2].",
        "Revenue grew 11.97% [1, 2].",
    ],
)
def test_supported_sentences_pass(sentence):
    c = check_sentence(sentence, SOURCES, mentions, tag=TAG)
    assert c.ok, c.problems


@pytest.mark.parametrize(
    ("sentence", "problem"),
    [
        ("虹软科技2024年上半年营业收入为4.2亿元。[1]", "numbers"),  # invented amount
        ("Revenue grew 87.3% year on year [1].", "numbers"),  # invented percentage
        ("Revenue grew 11.97% in 2031 [1].", "numbers"),  # invented year
        ("The company had 596 R&D staff [1].", "numbers"),  # off by one
        ("Revenue grew 11.97% [2].", "numbers"),  # right figure, wrong passage
        ("星河光电计划向四家车企供货[3]。", "numbers"),  # 四家 is not 两家
        ("It supplies five carmakers [3].", "numbers"),  # English number word
        ("The lidar was certified in November 2025 [3].", "numbers"),  # wrong month
        ("Revenue grew 11.97%.", "cites no passage"),  # no citation
        ("Revenue grew 11.97% [7].", "not given"),  # a passage it was not given
        ("海康威视的营业收入同比上升11.97%[1]。", "company"),  # another company's figure
        ("ArcSoft partners with Qualcomm on Turbo Fusion [2].", "names"),  # invented partner
        ("The CEO Zhang Wei said video is important [2].", "names"),  # invented person
        ("Operating costs are 2024 yuan [3].", "numbers"),  # only in the investor's question
    ],
)
def test_unsupported_sentences_fail(sentence, problem):
    c = check_sentence(sentence, SOURCES, mentions, tag=TAG)
    assert not c.ok
    assert any(problem in p for p in c.problems), c.problems


def test_a_reply_keeps_only_its_verified_sentences():
    reply = (
        "ArcSoft's revenue rose 11.97% in the first half of 2024 [1]. "
        "Its net profit reached 9.9亿元 [1]. "
        "Video at 4K60 strains power [2]."
    )
    checked = check(reply, SOURCES, mentions, tag=TAG)
    assert [c.ok for c in checked] == [True, False, True]
    assert checked[1].raw == "Its net profit reached 9.9亿元 [1]."


def test_sentences_keep_their_markers():
    text = "第一句。[1] Second one. [2][3]\n- third [1, 2].\n[4]"
    assert split_sentences(text) == ["第一句。[1]", "Second one. [2][3]", "third [1, 2].[4]"]
    assert markers("a [1][3] b [1, 2]") == [1, 3, 2]


def test_sentence_stream_releases_a_sentence_once_its_markers_arrived():
    stream = SentenceStream()
    out = []
    for chunk in ["Revenue grew 11.97%", ". [", "1] Video", " needs 4K60. [2]"]:
        out += stream.feed(chunk)
    assert out == ["Revenue grew 11.97%. [1]"]
    assert stream.flush() == ["Video needs 4K60. [2]"]


def test_numbers_and_entities():
    assert numbers("营收1,200.50万元，增长8%，2024年08月") >= {"1200.5", "8", "2024"}
    assert numbers("第三季度向两家车企供货，一些客户") == {"3", "2"}
    assert numbers("in August, two customers") == {"8", "2"}
    assert {"Qualcomm", "AI"} <= entities("The company works with Qualcomm on AI features.", TAG)
    assert "The" not in entities("The company grew.", TAG)


def test_the_quote_is_the_supporting_sentence():
    c = check_sentence("Headcount in R&D was 595 people [1].", SOURCES, mentions, tag=TAG)
    span = support(c, SOURCES[1], tag=TAG)
    p = SOURCES[1].passage
    assert p.text[span.start - p.start : span.end - p.start].startswith(
        "截至2024年6月30日，公司研发人员595人"
    )
