"""The grounding check on fabricated replies: what it must serve, what it must never serve."""

from __future__ import annotations

import datetime as dt

import pytest
from irqa.rag.analysis import Analyzer
from irqa.rag.figures import figures, supports
from irqa.rag.grounding import (
    SentenceStream,
    Source,
    check,
    check_sentence,
    entities,
    markers,
    numbers,
    passage_sentences,
    split_sentences,
    support,
)
from irqa.rag.ingest.chunk import chunk_filing
from irqa.rag.ingest.pipeline import parse_file
from irqa.rag.models import Passage

from tests.helpers import ARCSOFT, HIKVISION, INSTA360

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


# grounded but wrong (issue 25 item 2): the digits occur in the passage, the claim does not ------

#: the real 海康威视 record, parsed and chunked by irqa: the passages an engine would cite
HIK = chunk_filing(parse_file(HIKVISION))
HIK_NAMES = ("海康威视", "Hikvision")


def hik(needle: str) -> Passage:
    (p,) = [p for p in HIK if needle in p.text]
    return p


HIK_SOURCES = {
    1: Source(1, hik("派发现金红利 7 元"), HIK_NAMES),  # 每 10 股派发现金红利 7 元 … 约 65.55 亿元
    2: Source(2, hik("831.66 亿元"), HIK_NAMES),  # 营业总收入 831.66 亿元 … 净利润 128.37 亿元 … 下降 23.59%
    3: Source(3, hik("161.35 亿元"), HIK_NAMES),  # PBG 实现营收 161.35 亿元
    4: Source(4, hik("220.32 亿元"), HIK_NAMES),  # 海外主业收入 220.32 亿元
    5: Source(5, hik("Open AI"), HIK_NAMES),  # 我们没有跟 Open AI 合作
    6: Source(6, hik("165.05 亿元"), HIK_NAMES),  # EBG 实现营收 165.05 亿元 … SMBG 实现营收124.97 亿元
}


def test_the_hikvision_passages_say_what_the_attacks_twist():
    p = HIK_SOURCES[1].passage
    assert "2022 年公司的分红预案是每 10 股派发现金红利 7 元，派发的现金红利约 65.55 亿元" in p.text
    assert (p.code, p.record_no) == ("002415", "2023-4-15") and "2415" not in p.text
    assert "比上年同期下降 23.59%" in HIK_SOURCES[2].passage.text
    assert "我们没有跟 Open AI 合作" in HIK_SOURCES[5].passage.text


@pytest.mark.parametrize(
    ("sentence", "problem"),
    [
        # the red team's four, served as verified before the figures carried unit, scale and meaning
        # the total as a per-share amount
        ("海康威视2022年每10股派发现金红利65.55元[1]。", "numbers not in the cited passages"),
        ("海康威视2022年派发现金红利7亿元[1]。", "numbers not in the cited passages"),  # 7元 → 7亿元
        ("海康威视每10股派发现金红利2415元[1]。", "header"),  # the digits of 证券代码 002415
        ("海康威视2022年没有分红预案[1]。", "denies what the cited passages state"),
        # the same attacks, turned
        ("海康威视2022年每10股派发现金红利65.55亿元[1]。", "per-share basis"),  # right total, per 10 shares
        ("海康威视2022年每10股派发现金红利7亿元[1]。", "numbers not in the cited passages"),
        (
            "Hikvision paid a cash dividend of 65.55 yuan per 10 shares [1].",
            "numbers not in the cited passages",
        ),
        ("Hikvision paid 7 billion yuan in cash dividends [1].", "numbers not in the cited passages"),
        ("海康威视的证券代码是2415[1]。", "header"),
        ("海康威视2022年不分红[1]。", "denies"),
        ("海康威视未提出2022年分红预案[1]。", "denies"),
        ("Hikvision has no dividend plan for 2022 [1].", "denies"),
        # a figure moved to another measure, period, region or segment, or its direction flipped
        ("海康威视2022年营业总收入65.55亿元[1]。", "revenue"),
        ("海康威视2022年归母净利润为831.66亿元[2]。", "net profit"),
        ("海康威视2022年归母净利润同比增长23.59%[2]。", "direction"),
        ("海康威视2022年营业总收入同比下降2.14%[2]。", "direction"),
        ("海康威视SMBG实现营收165.05亿元[6]。", "does not give it for SMBG"),  # EBG's figure
        ("海康威视国内主业收入220.32亿元[4]。", "domestic"),
        # stating what the passage denies
        ("海康威视与Open AI合作开发大模型[5]。", "states what the cited passages deny"),
    ],
)
def test_grounded_but_wrong_sentences_are_refused(sentence, problem):
    c = check_sentence(sentence, HIK_SOURCES, mentions, tag=TAG)
    assert not c.ok, sentence
    assert any(problem in p for p in c.problems), c.problems


@pytest.mark.parametrize(
    "sentence",
    [
        "海康威视2022年的分红预案是每10股派发现金红利7元[1]。",
        "海康威视2022年每10股派发现金红利7元，派发的现金红利约65.55亿元[1]。",
        "海康威视拟每10股派7元，合计约65.55亿元，占2022年归母净利润的51.06%[1]。",
        "派发的现金红利合计约6555百万元[1]。",  # 65.55亿 = 6555百万, proven by value × scale
        "Hikvision proposed a cash dividend of 7 yuan per 10 shares for 2022, about 6.555 billion yuan in total [1].",
        "Hikvision's 2022 dividend plan pays RMB 7 for every 10 shares, 51.06% of its net profit [1].",
        "海康威视（002415）2022年有分红预案[1]。",  # the code as printed, not as an amount
        "海康威视2022年营业总收入831.66亿元，同比增长2.14%[2]。",
        "海康威视2022年归母净利润128.37亿元，同比下降23.59%[2]。",
        "Hikvision's 2022 revenue was 83.166 billion yuan, up 2.14%, and net profit fell 23.59% to 12.837 billion yuan [2].",
        "其中PBG实现营收161.35亿元，同比下降15.79%[3]。",
        "海外主业收入220.32亿元，同比增长16.41%[4]。",
        "SMBG实现营收124.97亿元，同比下降7.36%[6]。",
        "海康威视没有跟Open AI合作[5]。",
        "Hikvision does not work with Open AI [5].",
    ],
)
def test_correct_sentences_with_the_same_numbers_pass(sentence):
    c = check_sentence(sentence, HIK_SOURCES, mentions, tag=TAG)
    assert c.ok, c.problems


#: the real 虹软科技 record: results (#2), the dividend plan with its 不送红股 (#3), R&D (#4)
ARC = {p.id: p for p in chunk_filing(parse_file(ARCSOFT))}
ARC_NAMES = ("虹软科技", "虹软", "ArcSoft")
ARC_SOURCES = {n: Source(n, ARC[f"688088-2024-007#{n + 1}"], ARC_NAMES) for n in (1, 2, 3)}


def test_the_arcsoft_passages_say_what_the_attacks_twist():
    assert "归母扣非净利润5,379.43万元" in ARC_SOURCES[1].passage.text
    assert (
        "每10股派发现金红利1.50元（含税），公司不进行资本公积金转增股本，不送红股"
        in ARC_SOURCES[2].passage.text
    )
    assert "占公司总人数的比例为63.64%，同比增长13.55%" in ARC_SOURCES[3].passage.text


@pytest.mark.parametrize(
    ("sentence", "problem"),
    [
        ("虹软科技拟每10股派发现金红利6,010.97万元[2]。", "per-share basis"),  # the total per 10 shares
        ("虹软科技拟派发现金红利1.50亿元[2]。", "numbers not in the cited passages"),  # 1.50元 → 1.50亿元
        ("虹软科技本次分红还送红股[2]。", "states what the cited passages deny"),
        ("虹软科技2024年半年度没有利润分配预案[2]。", "denies what the cited passages state"),
        ("研发人员同比增长63.64%[3]。", "level, not as a change"),  # 63.64% is a share, not growth
        ("研发费用同比下降18.37%[3]。", "direction"),
        ("归母净利润5,379.43万元[1]。", "net profit"),  # that is the recurring (扣非) profit
        ("智能驾驶及其他IoT业务收入3.32亿元[1]。", "IoT"),  # the 移动智能终端 segment's revenue
        ("ArcSoft's revenue in H2 2024 was 3.81亿元 [1].", "periods not in the cited passages"),
    ],
)
def test_grounded_but_wrong_arcsoft_sentences_are_refused(sentence, problem):
    c = check_sentence(sentence, ARC_SOURCES, mentions, tag=TAG)
    assert not c.ok, sentence
    assert any(problem in p for p in c.problems), c.problems


@pytest.mark.parametrize(
    "sentence",
    [
        "ArcSoft's H1 2024 revenue was RMB 381 million, up 11.97% year on year [1].",
        "虹软科技上半年归母净利润6145.89万元，同比增长22.82%[1]。",
        "Net profit attributable to shareholders was 61.4589 million yuan, up 22.82% [1].",
        "扣非净利润5,379.43万元，同比上升21.70%[1]。",
        "Smart driving and other IoT revenue grew 93.19% to 43.364 million yuan [1].",
        "ArcSoft plans a cash dividend of 1.5 yuan per 10 shares, about 60.1097 million yuan in total, "
        "97.80% of its H1 net profit [2].",
        "公司不进行资本公积金转增股本，也不送红股[2]。",
        "ArcSoft will not convert capital reserve into share capital and will not issue bonus shares [2].",
        "截至2024年6月30日，虹软科技有研发人员595人，占总人数的63.64%[3]。",
        "R&D expenses were 194 million yuan in the first half of 2024, 50.93% of revenue [3].",
        "The number of R&D staff grew 13.55% [3].",
    ],
)
def test_correct_arcsoft_sentences_pass(sentence):
    c = check_sentence(sentence, ARC_SOURCES, mentions, tag=TAG)
    assert c.ok, c.problems


def test_every_sentence_of_the_samples_passes_against_its_own_passage():
    """No over-refusal on the real text: each sentence of each sample passage, cited to it, passes."""
    refused, total = [], 0
    for path in (ARCSOFT, INSTA360, HIKVISION):
        for p in chunk_filing(parse_file(path)):
            src = {1: Source(1, p)}
            for span in passage_sentences(p):
                sentence = p.text[span.start : span.end].strip()
                total += 1
                c = check_sentence(f"{sentence}[1]", src, tag=TAG)
                if not c.ok:
                    refused.append((p.id, sentence, c.problems))
    assert total > 900
    assert not refused, refused[:5]


def test_figures_compare_value_times_scale_with_the_unit():
    def one(text: str):
        (f,) = [f for f in figures(text) if f.role != "per"]
        return f

    assert supports(one("1.2亿元"), one("12000万元")) is None
    assert supports(one("1.2亿"), one("120 million")) is None
    assert supports(one("3.81亿元"), one("381 million yuan")) is None
    assert supports(one("3.81亿元"), one("3.81 billion yuan")) == "value"  # 3.81亿 is 381 million
    assert supports(one("7元"), one("7亿元")) == "value"
    assert supports(one("18%"), one("0.18")) == "value"  # a ratio in another notation is not proven
    assert supports(one("7元"), one("7%")).startswith("unit")
    assert supports(one("7股"), one("7元")).startswith("unit")
    assert supports(one("营收 162.01 亿"), one("营收162.01亿元")) is None  # a bare 亿 read as yuan
    assert [(f.label, f.per) for f in figures("每 10 股派发现金红利 7 元")] == [
        ("10股", ""),
        ("7元 (每10股)", "10股"),
    ]
    assert one("同比下降-9.10%").direction == "down" and one("同比增长2.14%").direction == "up"
    assert [(f.value, f.unit) for f in figures("H1 revenue, Q3 shipments")] == [(3, "季度")]  # H1 is a period
    assert supports(one("第三季度"), one("Q3")) is None
