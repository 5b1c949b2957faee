"""The filing parser on the three real sample records, their re-encodings, variants and bad input.

Expected values were read off the sample files by hand; the "nothing lost" checks re-derive
question and answer blocks from the raw files with their own regexes, not the parser's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import pytest
from irqa.rag.errors import FilingError
from irqa.rag.ingest.normalize import normalize
from irqa.rag.ingest.pages import strip_running_lines
from irqa.rag.ingest.parse import _dates, parse_text, unique_ids
from irqa.rag.ingest.pipeline import parse_bytes, parse_file
from irqa.rag.models import Filing, FilingHeader

SAMPLES = Path(__file__).resolve().parents[1] / "rag" / "samples"
INSTA = SAMPLES / "688775_insta360_2025-003.txt"
ARCSOFT = SAMPLES / "688088_arcsoft_2024-007.txt"
HIKVISION = SAMPLES / "002415_hikvision_2023-4-15.txt"
SEEDS = (INSTA, ARCSOFT, HIKVISION)

BOOKMARK = re.compile(r"\[bookmark:[^\]]*\]")
HIK_PAGE_NUMBER = re.compile(r"^[ \t]*15[ \t]*$", re.M)  # the one page number in the Hikvision file


def raw(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def visible(s: str) -> str:
    """The non-whitespace characters of ``s``, in order."""
    return re.sub(r"\s+", "", s)


def expected_visible(path: Path) -> str:
    """What must survive normalization: everything but bookmark tags and the page number."""
    text = BOOKMARK.sub("", raw(path))
    if path == HIKVISION:
        text, n = HIK_PAGE_NUMBER.subn("", text)
        assert n == 1
    return visible(text)


@pytest.fixture(scope="module")
def filings() -> dict[str, Filing]:
    return {p.name: parse_file(p) for p in SEEDS}


@pytest.fixture(scope="module")
def insta(filings: dict[str, Filing]) -> Filing:
    return filings[INSTA.name]


@pytest.fixture(scope="module")
def arcsoft(filings: dict[str, Filing]) -> Filing:
    return filings[ARCSOFT.name]


@pytest.fixture(scope="module")
def hikvision(filings: dict[str, Filing]) -> Filing:
    return filings[HIKVISION.name]


def seg_text(f: Filing, span) -> str:
    return f.text[span.start : span.end]


def answer(f: Filing, i: int) -> list[str]:
    return [seg_text(f, p) for p in f.qa_pairs[i].paragraphs]


# ------------------------------------------------------------------ normalization


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_normalization_loses_no_text(path: Path) -> None:
    assert visible(normalize(raw(path)).text) == expected_visible(path)


def test_normalization_reports_what_it_removed() -> None:
    assert normalize(raw(HIKVISION)).page_numbers == ["15"]
    assert normalize(raw(ARCSOFT)).page_numbers == []
    assert normalize(raw(INSTA)).page_numbers == []


@pytest.mark.parametrize("path", (INSTA, ARCSOFT), ids=lambda p: p.stem)
def test_paragraph_per_line_text_is_not_joined(path: Path) -> None:
    n = normalize(raw(path))
    assert not n.hard_wrapped
    lines = set(n.text.split("\n"))
    for line in BOOKMARK.sub("", raw(path)).split("\n"):
        if line.strip():
            assert line.strip() in lines


def test_hard_wrapped_text_is_joined() -> None:
    n = normalize(raw(HIKVISION))
    assert n.hard_wrapped
    text = n.text
    assert "公司实现营业总收入 831.66 亿元" in text  # "收" | "入" across a wrap
    assert "之所以中国在电子产业有这样一个增长" in text  # across the page number "15"
    assert "Jarislowsky Fraser Ltd Shuang Yun" in text  # ASCII words keep their space
    assert "刚才我也提到了类似于像彭博社的BloombergGPT 在金融领域" in text  # long word wrapped early
    assert "\n\n\n" not in text and not re.search(r"[ \t]\n", text)
    # a line is never glued onto a following Q/A marker or heading
    for marker in ("\nQ：", "\nA：", "\n一、公司经营情况说明", "\n二、Q&A 环节"):
        assert marker in text
    # paragraph ends are kept: a sentence-final full line does not swallow the next paragraph
    assert "预计逐季将有所缓解。\n存货方面" in text


def test_normalize_crlf_bookmarks_and_page_markers() -> None:
    n = normalize(
        "第一段文字，内容完整。\r\n- 3 -\r\n第二段 [bookmark: _Hlk1]文字。  \r\n\r\n\r\n\r\n第 4 页\r\n第三段。"
    )
    assert n.text == "第一段文字，内容完整。\n第二段 文字。\n第三段。"
    assert n.page_numbers == ["- 3 -", "第 4 页"]


def test_index_column_numbers_are_data_not_page_numbers() -> None:
    text = "\n".join(f"{i}\n机构{i}\n姓名{i}\n" for i in range(1, 6))
    assert normalize(text).page_numbers == []
    assert visible(normalize(text).text) == visible(text)


# ------------------------------------------------------------------ headers


def test_header_insta360(insta: Filing) -> None:
    participants = re.search(r"参与单位名称\n\t(.+)\n", raw(INSTA)).group(1)
    assert insta.header == FilingHeader(
        code="688775",
        short_name="影石创新",
        company="影石创新科技股份有限公司",
        record_no="2025-003",
        activity_types=[],
        participants=re.sub(r"\s+", " ", participants).strip(),
        activity_dates=[dt.date(2025, 7, 21), dt.date(2025, 7, 28)],
        place="线下交流",
        reception_staff=["董事会秘书：厉扬", "IR：王小瑜"],
        record_date=dt.date(2025, 8, 5),
    )
    assert insta.id == "688775-2025-003"


def test_header_arcsoft(arcsoft: Filing) -> None:
    h = arcsoft.header
    assert h.model_dump(exclude={"participants"}) == FilingHeader(
        code="688088",
        short_name="虹软科技",
        company="虹软科技股份有限公司",
        record_no="2024-007",
        activity_types=["特定对象调研", "业绩说明会", "一对一沟通", "其他（券商组织的交流会）"],
        activity_dates=[dt.date(2024, 8, 27), dt.date(2024, 8, 28)],
        place="2024年08月27日：电话会议 2024年08月28日：上海金茂君悦大酒店 2024年08月28日：上海浦东文华东方酒店",
        reception_staff=[
            "董事、高级副总裁兼首席营销官 徐坚先生",
            "财务总监 韦凯女士",
            "董事会秘书 蒿惠美女士",
            "投资者关系 邓琦女士",
        ],
        record_date=dt.date(2024, 8, 27),
    ).model_dump(exclude={"participants"})
    # the cell, then the attached 《与会人员清单》: 71 institutions with 84 people, as the cell says
    head, listing = h.participants.split(" 《与会人员清单》：")
    assert head == "71家机构，共84人（详见附件《与会人员清单》）"
    rows = listing.split("；")
    assert len(rows) == 71
    assert sum(len(r.split(" ", 1)[1].split("、")) for r in rows) == 84
    assert rows[0] == "兴业证券 陈鑫" and rows[-1] == "趣时资产 陈凯艺"
    assert "麦格理资本 Cherry Ma" in rows and "公司名称 姓名" not in rows
    assert arcsoft.id == "688088-2024-007"


def test_header_hikvision(hikvision: Filing) -> None:
    h = hikvision.header
    assert h.model_dump(exclude={"participants"}) == FilingHeader(
        code="002415",
        short_name="海康威视",
        company="杭州海康威视数字技术股份有限公司",
        record_no="2023-4-15",
        activity_types=["业绩说明会"],
        activity_dates=[dt.date(2023, 4, 15)],
        place="公司总部会议室（电话会议）",
        reception_staff=[
            "总经理 胡扬忠先生",
            "高级副总经理、董事会秘书 黄方红女士",
            "高级副总经理、研究院负责人 浦世亮先生",
        ],
        record_date=dt.date(2023, 4, 15),
    ).model_dump(exclude={"participants"})
    block = re.search(r"及人员姓名 \n(.*?)\n时间 2023", raw(HIKVISION), re.S).group(1)
    assert visible(h.participants) == visible(block)
    assert h.participants.startswith("A&M Luke；AA 投资 周文博；Arohi Vivien Cao；")
    assert h.participants.endswith("王斌、黄伟。")
    assert "爱华资产 Hank Ren" in h.participants and "Jarislowsky Fraser Ltd Shuang Yun" in h.participants
    assert "\n" not in h.participants and "  " not in h.participants
    assert hikvision.id == "002415-2023-4-15"


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_header_span_covers_header_table(path: Path, filings: dict[str, Filing]) -> None:
    f = filings[path.name]
    assert f.header_span is not None
    head = f.text[f.header_span.start : f.header_span.end]
    assert head.startswith("证券代码") and "编号" in head and "接待" in head
    assert "主要内容" not in head and visible(f.header.reception_staff[-1]) in visible(head)


# ------------------------------------------------------------------ Q&A


def test_qa_insta360(insta: Filing) -> None:
    qa = insta.qa_pairs
    assert [q.label for q in qa] == [f"Q{i}" for i in range(1, 10)]
    assert all(q.title == "" for q in qa)
    assert qa[0].question == "公司产品的发展概述？"
    assert answer(insta, 0)[0].startswith("过去十年内，公司共布局了12个产品线")
    assert len(answer(insta, 0)) == 3 and len(answer(insta, 1)) == 4
    assert (
        qa[6].question == "全景相机和运动相机的区别在哪里？全景相机是否可以取代广角运动相机？"
    )  # after a bookmark
    assert answer(insta, 6)[-1].endswith("但也缺少了广角相机那种拍摄时即时构图的创作体验和挑战。")
    assert answer(insta, 8) == [
        "剪辑全流程自动化闭环：通过大量图像数据学习与训练，能帮助无剪辑经验的用户迅速准确出片，未来随着"
        "技术发展，可能会更加智能和高效，进一步降低用户创作成本，提升创作体验；个性化内容生成：期待AI"
        "自动剪辑在运镜、视角上更考究有高级感，或充满趣味性，针对不同场景的社媒分享信息进行优化。"
    ]
    assert insta.segments == qa  # the body is Q&A only


def test_qa_arcsoft(arcsoft: Filing) -> None:
    qa = arcsoft.qa_pairs
    assert [q.label for q in qa] == ["Q1", "Q2", "Q3", "Q4", "Q5"]
    assert {q.title for q in qa} == {"第二部分、提问与回答环节"}
    assert qa[0].question == "公司手机业务下半年的展望怎样？明年或者更往后，手机业务还有什么亮点值得期待？"
    assert answer(arcsoft, 0)[0].startswith("2024年上半年，公司智能超域融合（Turbo Fusion）产品系列")
    assert "视频应用功能对于功耗的压力非常大" in answer(arcsoft, 1)[0]
    assert qa[2].question == "公司在汽车业务上有什么具体的进展？"
    assert (
        len(answer(arcsoft, 2)) == 9 and answer(arcsoft, 2)[0] == "1）VisDrive®一站式车载视觉软件解决方案："
    )
    assert answer(arcsoft, 3)[0].startswith("公司2024年半年度经营活动产生的现金流的变化")  # bookmark dropped
    assert answer(arcsoft, 4)[-1].endswith("而这是公司PSAI需要持续跟进市场、不断更新的地方。")


def test_narrative_arcsoft(arcsoft: Filing) -> None:
    narrative = [s for s in arcsoft.segments if s.kind == "narrative"]
    assert [s.title for s in narrative] == [
        "（一）2024年半年度主要财务数据",
        "（二）2024年半年度分红方案",
        "（三）2024年度研发人员情况及研发费用情况",
        "（一）移动智能终端中的手机业务",
        "（二）智能汽车业务中的VisDrive®一站式车载视觉软件解决方案",
        "（三）AIGC相关产品进展",
    ]
    first = seg_text(arcsoft, narrative[0].paragraphs[0])
    assert first.startswith("虹软科技2024年半年度营业收入3.81亿元")
    assert arcsoft.segments[-1].kind == "qa"  # narrative first, then the Q&A


def test_qa_hikvision(hikvision: Filing) -> None:
    qa = hikvision.qa_pairs
    assert len(qa) == 27
    assert all(q.label == "" for q in qa)  # printed as an unnumbered "Q："
    assert {q.title for q in qa} == {"二、Q&A 环节"}
    assert qa[0].question.startswith(
        "从今年以来，整个资本市场对 AI 大模型在一些细分垂直领域的落地和应用有非常多的关注"
    )
    assert qa[0].question.endswith("我们有什么样的准备和应对，谢谢。")
    assert answer(hikvision, 0)[0].startswith("最近几年在人工智能领域，大模型是一个比较明确的技术发展趋势")
    assert answer(hikvision, 6)[0].startswith(
        "海康在人工智能方面已经钻研了非常久了"
    )  # " A：" after a page break
    assert any("之所以中国在电子产业有这样一个增长" in p for p in answer(hikvision, 13))
    assert qa[-1].question == "最近中美关系一直不好，公司的海外市场未来情况如何？"
    assert answer(hikvision, 26)[-1].endswith("在更多的在国际市场上挖掘更多的机会，谢谢。")
    narrative = hikvision.segments[0]
    assert narrative.kind == "narrative" and narrative.title == "一、公司经营情况说明"
    assert seg_text(hikvision, narrative.paragraphs[0]).startswith("2022 年，全球宏观经济波动加大")


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_spans_index_normalized_text(path: Path, filings: dict[str, Filing]) -> None:
    f = filings[path.name]
    last = f.header_span.end if f.header_span else 0
    for seg in f.segments:
        spans = ([seg.question_span] if seg.question_span else []) + seg.paragraphs
        assert spans, seg
        for s in spans:
            piece = f.text[s.start : s.end]
            assert piece and piece == piece.strip() and s.start >= last
            last = s.end
        if seg.kind == "qa":
            q = f.text[seg.question_span.start : seg.question_span.end]
            assert visible(q) == visible(seg.question)
            assert not re.match(r"(Q\d*|A)\s*[：:]", q)
            for p in seg.paragraphs:
                assert not re.match(r"A\s*[：:]", f.text[p.start : p.end])
    assert f.content_hash == hashlib.sha256(f.text.encode("utf-8")).hexdigest()


def raw_qa_blocks(path: Path) -> list[tuple[str, str]]:
    """(question, answer) texts cut from the raw file with markers of its own style."""
    text = BOOKMARK.sub("", raw(path))
    if path == HIKVISION:
        text = HIK_PAGE_NUMBER.sub("", text)
    body = text[text.index("Q1" if path != HIKVISION else "Q：") : text.index("附件清单")]
    if path == INSTA:
        parts = re.split(r"^\s*Q\d+：", body, flags=re.M)[1:]
        return [tuple(p.split("\n", 1)) for p in parts]
    q_marker = r"^\s*Q\d+:" if path == ARCSOFT else r"^\s*Q："
    a_marker = r"^\s*A:" if path == ARCSOFT else r"^\s*A："
    parts = re.split(q_marker, body, flags=re.M)[1:]
    return [tuple(re.split(a_marker, p, maxsplit=1, flags=re.M)) for p in parts]


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_no_question_or_answer_text_lost(path: Path, filings: dict[str, Filing]) -> None:
    f = filings[path.name]
    blocks = raw_qa_blocks(path)
    assert len(blocks) == len(f.qa_pairs)
    for (question, answer_text), seg in zip(blocks, f.qa_pairs, strict=True):
        assert visible(seg.question) == visible(question)
        assert "".join(visible(seg_text(f, p)) for p in seg.paragraphs) == visible(answer_text)


# ------------------------------------------------------------------ encodings and formats


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-be", "gb18030"])
@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_reencoded_copies_parse_the_same(
    path: Path, encoding: str, filings: dict[str, Filing], tmp_path: Path
) -> None:
    copy = tmp_path / path.name
    copy.write_bytes(raw(path).encode(encoding))
    got = parse_file(copy)
    assert got.model_dump() == filings[path.name].model_dump()


@pytest.mark.parametrize("path", (INSTA, HIKVISION), ids=lambda p: p.stem)
def test_plain_gbk_copy_parses_the_same(path: Path, filings: dict[str, Filing], tmp_path: Path) -> None:
    copy = tmp_path / path.name
    copy.write_bytes(raw(path).encode("gbk"))  # these two seeds only use GBK characters
    assert parse_file(copy).model_dump() == filings[path.name].model_dump()


def test_gbk_subset_without_rare_characters(tmp_path: Path) -> None:
    text = raw(ARCSOFT).replace("®", "")  # '®' is not in GBK
    copy = tmp_path / "arcsoft.TXT"
    copy.write_bytes(text.replace("\n", "\r\n").encode("gbk"))
    f = parse_file(copy)
    assert f.id == "688088-2024-007" and len(f.qa_pairs) == 5
    assert f.model_dump(exclude={"source"}) == parse_text(text).model_dump(exclude={"source"})


def test_parse_bytes_keeps_only_the_basename() -> None:
    f = parse_bytes(INSTA.read_bytes(), "C:\\uploads\\records\\insta.txt")
    assert f.source == "insta.txt"
    assert parse_bytes(INSTA.read_bytes(), "/tmp/x/y/insta.Txt").source == "insta.Txt"


# ------------------------------------------------------------------ variants


RECORD = """证券代码：600000                证券简称：示例公司
示例股份有限公司投资者关系活动记录表
编号：2024-12号
投资者关系活动类别
☑特定对象调研 □分析师会议
□媒体采访 ■业绩说明会
✔其他（线上交流）
参与单位名称
某某基金 张三
时间
2024-03-05 14:00-15:00
地点
公司会议室
公司接待人员姓名
董事会秘书 李四
投资者关系活动主要内容介绍
{body}
附件清单
无
日期：2024年3月6日
"""


@pytest.mark.parametrize(
    ("body", "labels"),
    [
        (
            "问：公司今年的订单情况如何？\n答：订单饱满，同比增长。\n问：毛利率怎么看？\n答：保持稳定。",
            ["", ""],
        ),
        (
            "问题1：公司今年的订单情况如何？\n回答：订单饱满，同比增长。\n问题2：毛利率怎么看？\n回答：保持稳定。",
            ["问题1", "问题2"],
        ),
        (
            "提问：公司今年的订单情况如何？\n回复：订单饱满，同比增长。\n提问：毛利率怎么看？\n回复：保持稳定。",
            ["", ""],
        ),
        (
            "Q1. 公司今年的订单情况如何？\nA: 订单饱满，同比增长。\nQ2. 毛利率怎么看？\nA: 保持稳定。",
            ["Q1", "Q2"],
        ),
        ("1、公司今年的订单情况如何？\n订单饱满，同比增长。\n2、毛利率怎么看？\n保持稳定。", ["1", "2"]),
        ("问：公司今年的订单情况如何？答：订单饱满，同比增长。\n问：毛利率怎么看？答：保持稳定。", ["", ""]),
    ],
    ids=["wen-da", "wenti-huida", "tiwen-huifu", "Q1.-A:", "numbered", "inline"],
)
def test_question_answer_variants(body: str, labels: list[str]) -> None:
    f = parse_text(RECORD.format(body=body), source="variant.txt")
    assert f.id == "600000-2024-12"
    assert [q.label for q in f.qa_pairs] == labels
    assert [q.question for q in f.qa_pairs] == ["公司今年的订单情况如何？", "毛利率怎么看？"]
    assert [[seg_text(f, p) for p in q.paragraphs] for q in f.qa_pairs] == [
        ["订单饱满，同比增长。"],
        ["保持稳定。"],
    ]


def test_variant_header_fields() -> None:
    h = parse_text(RECORD.format(body="Q1：问题？\nA：回答。")).header
    assert h.company == "示例股份有限公司"
    assert h.record_no == "2024-12号"
    assert h.activity_types == ["特定对象调研", "业绩说明会", "其他（线上交流）"]
    assert h.activity_dates == [dt.date(2024, 3, 5)]
    assert h.reception_staff == ["董事会秘书 李四"]
    assert h.record_date == dt.date(2024, 3, 6)


@pytest.mark.parametrize(
    ("value", "dates"),
    [
        ("2024年08月27日、2024年08月28日", ["2024-08-27", "2024-08-28"]),
        ("2025年7月21日-7月28日", ["2025-07-21", "2025-07-28"]),
        ("2023 年 4 月 15 日", ["2023-04-15"]),
        ("2024年08月27日、28日", ["2024-08-27", "2024-08-28"]),
        ("2024-03-05 8:05-9:10", ["2024-03-05"]),  # clock times are not dates
        ("2024/3/5 至 2024/3/7", ["2024-03-05", "2024-03-07"]),
        ("2024年12月30日-1月2日", ["2024-12-30", "2025-01-02"]),
        ("2024年2月30日", []),
    ],
)
def test_activity_dates(value: str, dates: list[str]) -> None:
    assert [d.isoformat() for d in _dates(value)] == dates


def test_text_without_header_or_questions_still_parses() -> None:
    text = (
        "公司近期经营情况稳定，订单充足。\n海外业务保持增长。\n\n下半年将继续加大研发投入，推进新产品落地。"
    )
    f = parse_text(text, source="memo.txt")
    digest = hashlib.sha256(f.text.encode("utf-8")).hexdigest()
    assert f.id == "sha-" + digest[:16] and f.content_hash == digest
    assert f.header == FilingHeader() and f.header_span is None
    assert [len(s.paragraphs) for s in f.segments] == [2, 1]
    assert all(s.kind == "narrative" for s in f.segments)


def test_missing_record_number_falls_back_to_hash() -> None:
    f = parse_text(
        "证券代码：600000 证券简称：示例公司\n问：公司今年的订单情况如何？\n答：订单饱满，同比增长。"
    )
    assert f.id.startswith("sha-") and f.header.code == "600000" and len(f.qa_pairs) == 1


# ------------------------------------------------------------------ bad input


def assert_one_line(err: pytest.ExceptionInfo[FilingError], *words: str) -> None:
    msg = str(err.value)
    assert msg and "\n" not in msg
    for w in words:
        assert w in msg


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_bytes(b"")
    with pytest.raises(FilingError) as err:
        parse_file(p)
    assert_one_line(err, "empty", "x.txt")


def test_whitespace_and_tiny_text(tmp_path: Path) -> None:
    for content in (" \n\t\r\n", "证券代码：600000"):
        with pytest.raises(FilingError) as err:
            parse_bytes(content.encode("utf-8"), "x.txt")
        assert_one_line(err, "x.txt")


def test_binary_garbage() -> None:
    garbage = bytes((i * 7919 + 13) % 256 for i in range(4096))
    with pytest.raises(FilingError) as err:
        parse_bytes(garbage, "x.txt")
    assert_one_line(err, "binary", "x.txt")
    with pytest.raises(FilingError) as err:
        parse_bytes(b"\x89PNG\r\n\x1a\n" + garbage, "scan.txt")
    assert_one_line(err, "binary", "scan.txt")


def test_unknown_suffix(tmp_path: Path) -> None:
    p = tmp_path / "report.xls"
    p.write_bytes(b"anything")
    with pytest.raises(FilingError) as err:
        parse_file(p)
    assert_one_line(err, "unsupported format '.xls' (expected .txt, .pdf or .docx)")
    with pytest.raises(FilingError):
        parse_bytes(b"x", "README")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FilingError) as err:
        parse_file(tmp_path / "nope.pdf")
    assert_one_line(err, "nope.pdf")


def test_corrupt_pdf_and_truncated_docx() -> None:
    with pytest.raises(FilingError) as err:
        parse_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage", "x.pdf")
    assert_one_line(err, "x.pdf is not a readable PDF")
    with pytest.raises(FilingError) as err:
        parse_bytes(b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 64, "x.docx")
    assert_one_line(err, "x.docx is not a readable DOCX")


# ------------------------------------------------------------------ real-record layouts (issue 20)
# Each body below is the shape of a published record in ../shared/corpus/real_filings, shortened.


def qa_of(body: str, record: str = RECORD) -> list[tuple[str, str, list[str]]]:
    f = parse_text(record.format(body=body), source="layout.txt")
    return [(q.label, q.question, [seg_text(f, p) for p in q.paragraphs]) for q in f.qa_pairs]


def test_questions_as_headings_next_to_a_presentation() -> None:
    body = (
        "一、公司 2022 年前三季度经营情况说明\n前三季度营业收入同比增长 13.16%。\n"
        "二、公司在运营商业务的发展情况如何？\n运营商业务取得了快速增长。\n"
        "三、请介绍一下公司研发投入\n研发投入持续增加。"
    )
    f = parse_text(RECORD.format(body=body))
    assert [(q.label, q.question) for q in f.qa_pairs] == [
        ("二", "公司在运营商业务的发展情况如何？"),
        ("三", "请介绍一下公司研发投入"),
    ]
    assert [s.title for s in f.segments if s.kind == "narrative"] == ["一、公司 2022 年前三季度经营情况说明"]


def test_numbered_questions_answered_by_labels_only() -> None:
    body = (
        "1、公司毛利率下降的原因\n答：主要是产品结构变化。\n"
        "2.请问公司是否有回购计划，\n以及今年的分红安排\n答：将及时履行披露义务。"
    )
    assert qa_of(body) == [
        ("1", "公司毛利率下降的原因", ["主要是产品结构变化。"]),
        ("2", "请问公司是否有回购计划，以及今年的分红安排", ["将及时履行披露义务。"]),
    ]


def test_number_label_in_front_of_the_question_label() -> None:
    assert qa_of("1、问：公司订单情况如何？\n答：订单饱满。") == [("1", "公司订单情况如何？", ["订单饱满。"])]


def test_sections_mix_numbered_rumours_and_q_labels() -> None:
    body = (
        "一、近期市场传闻澄清\n1、近期传闻海外客户砍单 30%？\n公司回应如下：公司没有收到任何客户的砍单通知。\n"
        "二、投资者问答环节\nQ1：今年产品的降价情况？\nA：降幅保持在合理范围内。"
    )
    assert qa_of(body) == [
        ("1", "近期传闻海外客户砍单 30%？", ["公司没有收到任何客户的砍单通知。"]),
        ("Q1", "今年产品的降价情况？", ["降幅保持在合理范围内。"]),
    ]


def test_unlabelled_questions_in_sequence_and_answer_lists() -> None:
    body = (
        "1、公司如何提升毛利率？\n公司将采取以下措施：\n1、是否扩产将视需求而定；\n2、有没有新产品视研发进展；\n"
        "2、公司股价最近大幅下跌，有没有给小股东们一点信心。\n公司将努力经营。\n"
        "3、一季度合同负债是由什么组成的，转化成收入\n的周期有多久？\n合同负债是预收的款项。"
    )
    got = qa_of(body)
    assert [(label, q) for label, q, _ in got] == [
        ("1", "公司如何提升毛利率？"),
        ("2", "公司股价最近大幅下跌，有没有给小股东们一点信心。"),
        ("3", "一季度合同负债是由什么组成的，转化成收入的周期有多久？"),
    ]
    assert got[0][2] == ["公司将采取以下措施：", "1、是否扩产将视需求而定；", "2、有没有新产品视研发进展；"]
    assert got[2][2] == ["合同负债是预收的款项。"]


def test_an_announced_list_of_topics_is_the_questions() -> None:
    body = "具体问题及回复如下：\n1、公司的主要产品？\na) 陶瓷结构件；\n2、发展历程\na) 前期做陶瓷结构零部件；\nb) 中期承接 02 专项。"
    assert qa_of(body) == [
        ("1", "公司的主要产品？", ["a) 陶瓷结构件；"]),
        ("2", "发展历程", ["a) 前期做陶瓷结构零部件；", "b) 中期承接 02 专项。"]),
    ]
    # without the announcement a topic line is a narrative heading's text, not a question
    assert [q for _, q, _ in qa_of(body.split("\n", 1)[1])] == ["公司的主要产品？"]


def test_decimal_looking_number_continues_the_questions() -> None:
    body = "6、公司今年的资本开支计划？\n保持平稳。\n7.2024 年固定资产增加较快，后续扩产计划是什么？\n未来 2-3 年平稳。"
    assert [(label, q) for label, q, _ in qa_of(body)] == [
        ("6", "公司今年的资本开支计划？"),
        ("7", "2024 年固定资产增加较快，后续扩产计划是什么？"),
    ]
    assert qa_of("5.24 年资产负债率上升明显，公司是否考虑减少负债？\n答：公司积极备货。")[0][:2] == (
        "5",
        "24 年资产负债率上升明显，公司是否考虑减少负债？",
    )


def test_marker_line_above_the_question_label() -> None:
    body = "（1）\n问：公司预计未来订单情况？\n答：\n订单总体向好。\n\n（2）\n问：毛利率波动的原因？\n答：\n主要是产品结构。"
    assert qa_of(body) == [
        ("", "公司预计未来订单情况？", ["订单总体向好。"]),
        ("", "毛利率波动的原因？", ["主要是产品结构。"]),
    ]


def test_closing_statement_is_not_part_of_the_last_answer() -> None:
    body = (
        "1、公司产能情况如何？\n公司产能充足。\n"
        "接待过程中，严格按照相关规定与投资者进行了充分的交流与沟通，没有出现未公开重大信息泄露等情况。\n"
        "☆ 本次调研中未涉及未公开重大信息泄密的情况"
    )
    f = parse_text(RECORD.format(body=body))
    assert [seg_text(f, p) for p in f.qa_pairs[0].paragraphs] == ["公司产能充足。"]
    narrative = [seg_text(f, p) for s in f.segments if s.kind == "narrative" for p in s.paragraphs]
    assert narrative[0].startswith("接待过程中") and narrative[1].startswith("☆")


def test_disclosure_field_ends_the_body() -> None:
    record = RECORD.replace(
        "附件清单\n无", "关于本次活动是\n否涉及应披露重\n大信息的说明\n交流过程中未涉及。\n附件清单\n无"
    )
    assert qa_of("1.公司订单情况？\n答:订单饱满。", record) == [("1", "公司订单情况？", ["订单饱满。"])]


def test_attendee_table_printed_in_the_attachment_cell() -> None:
    record = RECORD.replace("某某基金 张三", "详见附件清单1：投资者交流会参会名单").replace(
        "附件清单\n无\n",
        "附件清单（如\n有）\n附件清单1：投资者交流会参会名单\n融通基金 国源信达 山西证券\n广发证券 民生加银基金\n",
    )
    h = parse_text(record.format(body="问：订单？\n答：饱满。")).header
    assert h.participants == (
        "详见附件清单1：投资者交流会参会名单 投资者交流会参会名单：融通基金 国源信达 山西证券 广发证券 民生加银基金"
    )
    assert h.record_date == dt.date(2024, 3, 6)


def test_record_without_number_is_named_by_code_and_activity_date() -> None:
    record = RECORD.replace("编号：2024-12号\n", "")
    f = parse_text(record.format(body="问：订单？\n答：饱满。"), source="a.txt")
    assert f.header.record_no == "" and f.id == "600000-2024-03-05"
    no_time = record.replace("时间\n2024-03-05 14:00-15:00\n", "")
    assert parse_text(no_time.format(body="问：订单？\n答：饱满。")).id == "600000-2024-03-06"  # 日期


def test_unique_ids_number_records_of_one_day() -> None:
    record = RECORD.replace("编号：2024-12号\n", "")
    a = parse_text(record.format(body="问：订单？\n答：饱满。"), source="b.pdf")
    b = parse_text(record.format(body="问：毛利率？\n答：稳定。"), source="a.pdf")
    c = parse_text(record.format(body="问：产能？\n答：充足。"), source="c.pdf")
    again = a.model_copy()  # the same file twice is one record, not two
    assert [f.id for f in unique_ids([a, b, c, again])] == [
        "600000-2024-03-05-2",
        "600000-2024-03-05",
        "600000-2024-03-05-3",
        "600000-2024-03-05-2",
    ]
    assert unique_ids([a]) == [a]


def test_letter_spaced_lines_are_rejoined() -> None:
    assert normalize("12、 公 司 一 季 度 末 存 货 242.90 亿 元 ， 环 比 增 长").text == (
        "12、公司一季度末存货 242.90 亿元，环比增长"
    )
    # a name or two-column table row keeps its spaces
    assert (
        normalize("副总裁、董事会秘书  张  蔚\n安信基金 华泰柏瑞基金").text
        == "副总裁、董事会秘书  张  蔚\n安信基金 华泰柏瑞基金"
    )


WRAPPED = "\n".join(
    [
        "主要问答情况汇总如下：1、请问，贵公司在健康环境产品业绩有什么突",
        "破？",
        "您好，我们看到储能相关温控产品的需求自去年底开始就呈现快速增长的",
        "态势，公司相关订单也持续旺盛，今年下半年具体的经营数据请参阅年报谢谢",
        "2、近期出现一些新概念如太空液冷等，公司是否有进行太空液冷的计划呀",
        "您好，公司目前没有涉及这个领域。谢谢。",
    ]
    * 3
)


def test_wrapped_lines_keep_question_and_reply_starts() -> None:
    text = normalize(WRAPPED).text
    assert "\n2、近期出现一些新概念" in text  # after a sign-off without punctuation
    assert "\n您好，公司目前没有涉及这个领域。" in text  # a reply never continues the question
    assert "的态势，公司相关订单" in text  # an ordinary wrap is still joined


def test_running_page_lines_are_removed_after_the_first_page() -> None:
    pages = [
        " \n紫光股份有限公司          1\n证券代码：000938\n营业收入同比增长，由于疫情原因，去年一季度在人\n \n",
        "紫光股份有限公司          2\n员招聘、出差等费用有些特殊。\n答：\n",
        "紫光股份有限公司          3\n问：订单？\n答：\n",
    ]
    out = strip_running_lines(pages)
    assert out[0].startswith("紫光股份有限公司          1\n证券代码") and out[0].endswith("去年一季度在人")
    assert out[1:] == ["员招聘、出差等费用有些特殊。\n答：", "问：订单？\n答："]  # "答：" is content
    assert strip_running_lines(["唯一一页\n正文。"]) == ["唯一一页\n正文。"]
