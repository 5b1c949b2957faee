"""Encoding detection and the txt/pdf/docx readers, on files built here from the sample filings.

The PDF test needs a CJK TrueType font (e.g. Debian ``fonts-wqy-microhei``); it skips, saying so,
when none is installed.
"""

from __future__ import annotations

import glob
import io
import re
import shutil
import subprocess
from pathlib import Path

import docx
import pytest
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from irqa.rag.errors import FilingError
from irqa.rag.ingest.decode import decode_bytes
from irqa.rag.ingest.extract import extract_text
from irqa.rag.ingest.pipeline import parse_bytes

SAMPLES = Path(__file__).resolve().parents[1] / "rag" / "samples"
INSTA = SAMPLES / "688775_insta360_2025-003.txt"
ARCSOFT = SAMPLES / "688088_arcsoft_2024-007.txt"


def visible(s: str) -> str:
    return re.sub(r"\s+", "", s)


# ------------------------------------------------------------------ encodings


TEXT = ARCSOFT.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "gb18030"]
)
def test_decode_detects_encoding(encoding: str) -> None:
    assert decode_bytes(TEXT.encode(encoding)) == TEXT


def test_decode_gbk_prefers_gb18030_and_short_text() -> None:
    text = INSTA.read_text(encoding="utf-8")
    assert decode_bytes(text.encode("gbk")) == text
    short = "投资者关系活动记录表，编号2025"  # short GBK is easily mistaken for Big5/CP949
    assert decode_bytes(short.encode("gbk")) == short


@pytest.mark.parametrize(
    "data",
    [
        bytes((i * 7919 + 13) % 256 for i in range(2048)),
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
        b"plain ascii but with a NUL\x00 in it" * 10,
    ],
    ids=["noise", "png", "nul"],
)
def test_decode_rejects_binary(data: bytes) -> None:
    with pytest.raises(FilingError, match="looks binary"):
        decode_bytes(data, "x.txt")


def test_decode_empty() -> None:
    with pytest.raises(FilingError, match=r"^empty file: x\.txt$"):
        decode_bytes(b"", "x.txt")


# ------------------------------------------------------------------ PDF


def cjk_font() -> Path | None:
    """A CJK font fpdf2 can embed: fontconfig's answer first, then the usual Debian paths."""
    found: list[str] = []
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(
                ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10
            ).stdout
            found += [line.split(":")[0].strip() for line in out.splitlines() if line.strip()]
        except (OSError, subprocess.SubprocessError):
            pass
    for pattern in ("wqy/*.tt[cf]", "*/NotoSansCJK*.tt[cf]", "*/NotoSansSC*.[ot]tf", "*/*CJK*.tt[cf]"):
        found += glob.glob(f"/usr/share/fonts/**/{pattern}", recursive=True)
    from fpdf import FPDF

    for name in sorted(dict.fromkeys(found), key=lambda p: ("wqy" not in p, p)):
        try:
            pdf = FPDF()
            pdf.add_font("cjk", fname=name)
            return Path(name)
        except Exception:
            continue
    return None


@pytest.fixture(scope="module")
def insta_pdf() -> bytes:
    font = cjk_font()
    if font is None:
        pytest.fail("no CJK font for fpdf2: run scripts/test, which installs fonts-wqy-microhei")
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("cjk", fname=str(font))
    pdf.set_font("cjk", size=10.5)
    for line in INSTA.read_text(encoding="utf-8").split("\n"):
        # multi_cell wraps long paragraphs at the page width: the parser must re-join them
        pdf.multi_cell(0, 6, line.replace("\t", "").rstrip() or " ", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def test_pdf_parses_like_the_text(insta_pdf: bytes) -> None:
    raw = extract_text(insta_pdf, "insta.pdf")
    assert visible(raw) == visible(INSTA.read_text(encoding="utf-8"))
    f = parse_bytes(insta_pdf, "insta.PDF")
    assert f.id == "688775-2025-003" and f.source == "insta.PDF"
    assert [q.label for q in f.qa_pairs] == [f"Q{i}" for i in range(1, 10)]
    original = parse_bytes(INSTA.read_bytes(), "insta.txt")
    for got, want in zip(f.qa_pairs, original.qa_pairs, strict=True):
        assert got.question == want.question
        # wrapped lines are re-joined: the same paragraphs, not page-width fragments
        assert [f.text[p.start : p.end] for p in got.paragraphs] == [
            original.text[p.start : p.end] for p in want.paragraphs
        ]


def test_corrupt_pdf() -> None:
    for data in (b"%PDF-1.4\n" + bytes(range(256)) * 8, b"not a pdf at all, just text"):
        with pytest.raises(FilingError, match=r"^x\.pdf is not a readable PDF \(corrupt or encrypted\)$"):
            extract_text(data, "x.pdf")


def test_encrypted_and_textless_pdf() -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    blank = io.BytesIO()
    writer.write(blank)
    with pytest.raises(FilingError, match="no extractable text"):
        extract_text(blank.getvalue(), "scan.pdf")
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    locked = io.BytesIO()
    writer.write(locked)
    with pytest.raises(FilingError, match="not a readable PDF"):
        extract_text(locked.getvalue(), "locked.pdf")


# ------------------------------------------------------------------ DOCX

HEADER_ROWS = [
    ("投资者关系活动类别", ["□特定对象调研  □分析师会议", "□媒体采访  √业绩说明会"]),
    ("参与单位名称及人员姓名", ["兴业证券 陈鑫", "天风证券 刘鉴"]),
    ("时间", ["2024年08月27日"]),
    ("地点", ["电话会议"]),
    ("上市公司接待人员姓名", ["董事会秘书 蒿惠美女士", "投资者关系 邓琦女士"]),
]
QA = [
    "Q1：公司手机业务下半年的展望怎样？",
    "A：公司将加深产品渗透。",
    "同时加大机型拓展。",
    "Q2：视频会不会成为明年重点推广的解决方案？",
    "A：视频应用功能对于功耗的压力非常大。",
]


def make_docx(body_in_table: bool, tick_as_symbol: bool = False) -> bytes:
    """A record laid out like real ones: title paragraphs, then a label | value table."""
    doc = docx.Document()
    doc.add_paragraph("证券代码：688088\t证券简称：虹软科技")
    doc.add_paragraph("虹软科技股份有限公司")
    doc.add_paragraph("投资者关系活动记录表")
    doc.add_paragraph("编号：2024-007")
    table = doc.add_table(rows=0, cols=2)
    for label, values in HEADER_ROWS:
        cells = table.add_row().cells
        cells[0].text = label
        cells[1].text = values[0]
        for v in values[1:]:
            cells[1].add_paragraph(v)
    if tick_as_symbol:  # Word's Wingdings 2 check box, which paragraph.text would drop
        p = table.rows[0].cells[1].paragraphs[0]
        p.text = ""
        sym = OxmlElement("w:sym")
        sym.set(qn("w:font"), "Wingdings 2")
        sym.set(qn("w:char"), "F052")
        p.add_run()._r.append(sym)
        p.add_run("特定对象调研  □分析师会议")
    body = table.add_row().cells
    body[0].text = "投资者关系活动主要内容介绍"
    if body_in_table:
        body[1].text = QA[0]
        for line in QA[1:]:
            body[1].add_paragraph(line)
    else:
        for line in QA:
            doc.add_paragraph(line)
    footer = doc.add_table(rows=1, cols=2)
    footer.rows[0].cells[0].text = "日期"
    footer.rows[0].cells[1].text = "2024年08月28日"
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


@pytest.mark.parametrize("body_in_table", [False, True], ids=["qa-paragraphs", "qa-in-cell"])
def test_docx_header_table_and_qa(body_in_table: bool) -> None:
    data = make_docx(body_in_table)
    raw = extract_text(data, "arcsoft.docx")
    assert "时间\n2024年08月27日" in raw  # one cell per line
    f = parse_bytes(data, "arcsoft.DOCX")
    h = f.header
    assert f.id == "688088-2024-007"
    assert (h.short_name, h.company) == ("虹软科技", "虹软科技股份有限公司")
    assert h.activity_types == ["业绩说明会"]
    assert h.participants == "兴业证券 陈鑫 天风证券 刘鉴"
    assert h.reception_staff == ["董事会秘书 蒿惠美女士", "投资者关系 邓琦女士"]
    assert str(h.record_date) == "2024-08-28"
    assert [q.label for q in f.qa_pairs] == ["Q1", "Q2"]
    assert [f.text[p.start : p.end] for p in f.qa_pairs[0].paragraphs] == [
        "公司将加深产品渗透。",
        "同时加大机型拓展。",
    ]
    assert f.text[f.qa_pairs[1].paragraphs[0].start :].startswith("视频应用功能对于功耗的压力非常大")


def test_docx_symbol_check_boxes() -> None:
    f = parse_bytes(make_docx(False, tick_as_symbol=True), "x.docx")
    assert f.header.activity_types == ["特定对象调研", "业绩说明会"]


def test_docx_code_in_page_header() -> None:
    doc = docx.Document(io.BytesIO(make_docx(False)))
    doc.paragraphs[0].text = ""
    doc.sections[0].header.paragraphs[0].text = "证券代码：688088    证券简称：虹软科技"
    out = io.BytesIO()
    doc.save(out)
    f = parse_bytes(out.getvalue(), "x.docx")
    assert (f.id, f.header.short_name) == ("688088-2024-007", "虹软科技")


def test_docx_merged_cells_appear_once() -> None:
    doc = docx.Document()
    table = doc.add_table(rows=2, cols=2)
    table.cell(0, 0).merge(table.cell(1, 0)).text = "参与单位名称"
    table.cell(0, 1).text = "甲基金"
    table.cell(1, 1).text = "乙证券"
    out = io.BytesIO()
    doc.save(out)
    raw = extract_text(out.getvalue(), "m.docx")
    assert raw.count("参与单位名称") == 1 and "甲基金" in raw and "乙证券" in raw


def test_truncated_and_fake_docx() -> None:
    data = make_docx(False)
    for bad in (data[: len(data) // 2], b"PK\x03\x04" + b"\x00" * 100, "证券代码".encode()):
        with pytest.raises(FilingError, match=r"^x\.docx is not a readable DOCX \(corrupt or truncated\)$"):
            extract_text(bad, "x.docx")


# ------------------------------------------------------------------ dispatch


def test_suffix_dispatch_and_errors() -> None:
    assert extract_text("证券代码：688088".encode("gb18030"), "A.TXT") == "证券代码：688088"
    with pytest.raises(FilingError, match=r"^unsupported format '\.xls' \(expected \.txt, \.pdf or \.docx\)"):
        extract_text(b"x", "a.xls")
    with pytest.raises(FilingError, match=r"^empty file: a\.pdf$"):
        extract_text(b"", "dir/a.pdf")
