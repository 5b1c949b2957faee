"""Hostile and unlucky files (issue 10, items 2 and 7): each test builds the attack file itself.

Bombs are generated at test time and stay small: a deflate stream of one 1 MiB block repeated
with full flushes is ~1.5 KB per inflated MiB, so "1.1 GB" costs 1.7 MB of memory, never disk.
``tracemalloc`` bounds what reading them may allocate: the DOCX bomb used to take the server
from 1.8 GB to over 8 GB.
"""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zlib

import docx
import pytest
from irqa.rag.errors import FilingError, NotARecord
from irqa.rag.ingest.decode import decode_bytes
from irqa.rag.ingest.extract import extract_text
from irqa.rag.ingest.limits import IngestLimits
from irqa.rag.ingest.pipeline import Source, ingest_sources, parse_bytes
from irqa.rag.store import LocalStore

from tests.api_server import make_filing, xinghe_filing
from tests.helpers import ARCSOFT

MIB = 1024 * 1024
GIB_1_1 = 1100  # MiB: the size of the bomb


# ---------------------------------------------------------------- builders


def deflate_repeated(block: bytes, times: int) -> tuple[bytes, int, int]:
    """Raw deflate of ``block * times`` without materializing it: (data, crc32, size)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    unit = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)  # byte-aligned, no back-references
    crc = 0
    for _ in range(times):
        crc = zlib.crc32(block, crc)
    return unit * times + c.flush(zlib.Z_FINISH), crc, len(block) * times


def raw_zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip from (name, stored data, crc32, uncompressed size, method) tuples, written by hand
    so that a member can be far larger inflated than anything this test ever holds."""
    out = io.BytesIO()
    central = []
    for name, data, crc, size, method in members:
        offset = out.tell()
        n = name.encode()
        out.write(
            struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(data), size, len(n), 0)
        )
        out.write(n + data)
        central.append(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                method,
                0,
                0x21,
                crc,
                len(data),
                size,
                len(n),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + n
        )
    cd_at = out.tell()
    cd = b"".join(central)
    out.write(
        cd + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(cd), cd_at, 0)
    )
    return out.getvalue()


def docx_members(text: str) -> list[tuple[str, bytes, int, int, int]]:
    """The members of a real DOCX (python-docx's template) whose body is ``text``, stored."""
    doc = docx.Document()
    for line in text.splitlines():
        doc.add_paragraph(line)
    buf = io.BytesIO()
    doc.save(buf)
    import zipfile

    with zipfile.ZipFile(buf) as z:
        return [
            (i.filename, data, zlib.crc32(data), len(data), 0) for i in z.infolist() if (data := z.read(i))
        ]


def with_member(members, name: str, member) -> bytes:
    return raw_zip([m for m in members if m[0] != name] + [(name, *member)])


FILING_TEXT = xinghe_filing().decode("utf-8")


def peak_mib(fn) -> tuple[object, float]:
    """``fn()``'s result (or the exception it raised) and the peak Python allocation in MiB."""
    tracemalloc.start()
    try:
        try:
            result: object = fn()
        except Exception as e:
            result = e
        return result, tracemalloc.get_traced_memory()[1] / MIB
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------- DOCX


def test_docx_whose_document_xml_inflates_to_1_1_gb_is_refused_without_inflating_it() -> None:
    members = docx_members(FILING_TEXT)
    bomb = deflate_repeated(b"<w:p/>" * (MIB // 6), GIB_1_1)
    data = with_member(members, "word/document.xml", (*bomb, 8))
    assert len(data) < 3 * MIB
    result, peak = peak_mib(lambda: extract_text(data, "bomb.docx"))
    assert isinstance(result, FilingError), result
    assert "decompression bomb" in str(result) and "bomb.docx" in str(result)
    assert peak < 50, f"reading the bomb allocated {peak:.0f} MiB"


def test_docx_xml_is_inflated_with_a_running_cap() -> None:
    """Declared sizes are checked first; the bytes that actually come out are counted too."""
    import zipfile

    from irqa.rag.ingest import extract

    noise = bytes(range(256)) * (8 * MIB // 256)  # 8 MiB that compresses ~100×
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = comp.compress(noise) + comp.flush()
    data = with_member(
        docx_members(FILING_TEXT), "word/styles.xml", (deflated, zlib.crc32(noise), len(noise), 8)
    )
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.getinfo("word/styles.xml")
        assert extract._read_capped(z, info, 4 * MIB) is None
        assert extract._read_capped(z, info, 9 * MIB) == noise
    with pytest.raises(FilingError, match="decompression bomb"):
        extract_text(data, "big.docx", IngestLimits(max_docx_xml_bytes=4 * MIB, max_zip_ratio=10**6))
    with pytest.raises(
        FilingError, match="not a readable DOCX"
    ):  # under the cap: read, then lxml refuses noise
        extract_text(data, "big.docx", IngestLimits(max_docx_xml_bytes=16 * MIB, max_zip_ratio=10**6))


def test_docx_with_an_extreme_compression_ratio_is_refused() -> None:
    members = docx_members(FILING_TEXT)
    bomb = deflate_repeated(b" " * MIB, 4)  # 4 MiB of spaces: ~1000× ratio
    data = with_member(members, "word/settings.xml", (*bomb, 8))
    with pytest.raises(FilingError, match="inflates"):
        extract_text(data, "ratio.docx")


def test_docx_with_a_1_1_gb_media_part_is_read_without_inflating_the_media() -> None:
    members = docx_members(FILING_TEXT)
    media = deflate_repeated(b"\x89PNG" * (MIB // 4), GIB_1_1)
    data = raw_zip([*members, ("word/media/image1.png", *media, 8)])
    assert len(data) < 3 * MIB
    result, peak = peak_mib(lambda: parse_bytes(data, "with-image.docx"))
    assert not isinstance(result, Exception), result
    assert result.id == "688999-2025-001"
    assert peak < 50, f"reading a DOCX with a big image allocated {peak:.0f} MiB"


def test_docx_with_too_many_members_is_refused() -> None:
    members = docx_members(FILING_TEXT)
    extra = [(f"word/media/x{i}.bin", b"", 0, 0, 0) for i in range(60)]
    with pytest.raises(FilingError, match="zip members"):
        extract_text(raw_zip(members + extra), "many.docx", IngestLimits(max_docx_members=50))


# ---------------------------------------------------------------- PDF


def pdf_with_pages(kids: int, count: int, contents: bytes | None = None) -> bytes:
    """A PDF whose page tree lists one page object ``kids`` times and claims ``count`` pages;
    ``contents`` replaces the page's content stream object."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b"3 0 R " * kids + b"] /Count %d >>" % count,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        contents or b"<< /Length 44 >>\nstream\nBT /F1 12 Tf 20 100 Td (Hello page) Tj ET\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objs, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref))
    return out.getvalue()


def test_pdf_with_100000_pages_is_refused_at_once() -> None:
    data = pdf_with_pages(100_000, 100_000)  # 600 KB, generated here
    t0 = time.monotonic()
    with pytest.raises(FilingError, match="100,000 pages"):
        extract_text(data, "huge.pdf")
    assert time.monotonic() - t0 < 60  # used to be still parsing after 4 minutes


def test_pdf_whose_content_stream_inflates_to_1_1_gb_is_refused() -> None:
    raw, _, _ = deflate_repeated(b"BT /F1 12 Tf 20 100 Td (x) Tj ET\n" * (MIB // 34), GIB_1_1)
    stream = b"\x78\xda" + raw + b"\x00\x00\x00\x00"  # zlib header; the checksum is never reached
    obj = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream"
    data = pdf_with_pages(1, 1, obj)
    assert len(data) < 4 * MIB
    result, peak = peak_mib(lambda: extract_text(data, "bomb.pdf"))
    assert isinstance(result, FilingError), result
    assert "decompression bomb" in str(result) and "bomb.pdf" in str(result)
    assert peak < 50, f"reading the PDF bomb allocated {peak:.0f} MiB here"  # the child holds the rest


def test_a_single_slow_page_is_stopped_at_the_time_limit() -> None:
    """One page whose content stream inflates to 4 MiB of text operators kept pypdf inside a
    single ``extract_text`` call for ~25 s here: checking the clock between pages never fired."""
    raw, _, _ = deflate_repeated(b"BT /F1 12 Tf 20 100 Td (x) Tj ET\n" * (MIB // 34), 4)
    stream = b"\x78\xda" + raw + b"\x00\x00\x00\x00"
    obj = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream"
    data = pdf_with_pages(1, 1, obj)
    t0 = time.monotonic()
    with pytest.raises(FilingError, match="took over 2 s and was stopped"):
        extract_text(data, "slow.pdf", IngestLimits(max_pdf_seconds=2))
    assert time.monotonic() - t0 < 10


def test_pdf_that_understates_its_page_count_is_still_capped() -> None:
    with pytest.raises(FilingError, match="3,000 pages"):
        extract_text(pdf_with_pages(3000, 1), "liar.pdf")


def test_pdf_time_and_character_caps() -> None:
    data = pdf_with_pages(5, 5)
    assert "Hello page" in extract_text(data, "ok.pdf")
    with pytest.raises(FilingError, match="IRQA_MAX_PDF_SECONDS"):
        extract_text(data, "slow.pdf", IngestLimits(max_pdf_seconds=0))
    with pytest.raises(FilingError, match="IRQA_MAX_FILING_CHARS"):
        extract_text(data, "long.pdf", IngestLimits(max_chars=20))


def test_text_over_the_character_cap_is_refused() -> None:
    with pytest.raises(FilingError, match="more than 1,000 characters"):
        extract_text(ARCSOFT.read_bytes(), "long.txt", IngestLimits(max_chars=1000))


# ---------------------------------------------------------------- not every text is a filing

NEWS = (
    "新华社北京3月12日电 国家统计局今天发布数据显示，2月份全国居民消费价格同比上涨0.7%。\n"
    "其中，城市上涨0.8%，农村上涨0.5%；食品价格上涨1.2%，非食品价格上涨0.6%。\n"
    "分析人士认为，随着稳增长政策持续发力，国内需求有望进一步恢复。\n"
)


def test_a_news_article_is_refused_as_not_a_record() -> None:
    with pytest.raises(NotARecord) as err:
        parse_bytes(NEWS.encode("utf-8"), "news.txt")
    msg = str(err.value)
    assert "news.txt is not an investor-relations activity record" in msg
    assert "证券代码" in msg and "--allow-unstructured" in msg and "\n" not in msg


def test_an_english_text_is_refused_and_allow_unstructured_keeps_it() -> None:
    english = b"Quarterly update. Revenue grew 12% year on year, driven by overseas demand.\n" * 3
    with pytest.raises(NotARecord):
        parse_bytes(english, "update.txt")
    f = parse_bytes(english, "update.txt", IngestLimits(require_structure=False))
    assert f.id.startswith("sha-") and f.header.company == ""


def test_full_width_stock_code_is_folded() -> None:
    text = FILING_TEXT.replace("证券代码：688999", "证券代码：６８８９９９")
    assert "６８８９９９" in text
    f = parse_bytes(text.encode("utf-8"), "fullwidth.txt")
    assert f.header.code == "688999" and f.id == "688999-2025-001"


def test_half_utf8_half_gbk_is_reported_as_mixed_encodings() -> None:
    lines = FILING_TEXT.splitlines()
    half = len(lines) // 2
    data = "\n".join(lines[:half]).encode("utf-8") + b"\n" + "\n".join(lines[half:]).encode("gbk")
    with pytest.raises(FilingError) as err:
        decode_bytes(data, "mixed.txt")
    msg = str(err.value)
    assert "mixes text encodings" in msg and "UTF-8" in msg and "GBK" in msg and "binary" not in msg
    # either half alone still decodes
    assert decode_bytes("\n".join(lines[half:]).encode("gbk")).startswith(lines[half])


# ---------------------------------------------------------------- passages per filing / per ingest


def test_passage_cap_per_filing_refuses_before_the_model_loads(tmp_path) -> None:
    store = LocalStore(tmp_path / "index")

    def no_model():
        raise AssertionError("the model must not load for refused files")

    limits = IngestLimits(max_passages_per_filing=10)
    report, snap = ingest_sources(store, no_model, None, [Source("many.txt", LONG)], limits=limits)
    assert snap is None and not store.exists()
    assert [name for name, _ in report.failed] == ["many.txt"]
    assert "IRQA_MAX_PASSAGES_PER_FILING" in report.failed[0][1]


def test_passage_cap_per_ingest_keeps_the_files_that_fit(tmp_path, embedder) -> None:
    store = LocalStore(tmp_path / "index")
    small = xinghe_filing()
    limits = IngestLimits(max_passages_per_ingest=10)
    report, snap = ingest_sources(
        store, embedder, None, [Source("small.txt", small), Source("many.txt", LONG)], limits=limits
    )
    assert report.added == ["688999-2025-001"] and snap is not None
    assert [name for name, _ in report.failed] == ["many.txt"]
    assert "IRQA_MAX_PASSAGES_PER_UPLOAD" in report.failed[0][1]


LONG = make_filing(
    "600001",
    "长文本",
    "长文本股份有限公司",
    "2025-009",
    [(f"问题{i}？", "回答内容很长。" * 150) for i in range(40)],
)
