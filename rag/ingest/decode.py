"""Turn the bytes of a text filing into ``str`` without assuming an encoding.

Filings arrive as UTF-8 (with or without BOM), UTF-16 (exported from Word) or GBK/GB18030
(older Windows tools). The order is: BOMs, strict UTF-8, then charset-normalizer's guess.
GBK-family guesses are decoded as GB18030, its superset, so rare characters never fail; a
GB-family candidate is preferred over Big5/CP949 look-alikes because the filings are mainland
Chinese.

    >>> decode_bytes("证券代码：688088".encode("gb18030"))
    '证券代码：688088'

"""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes
from irqa.rag.errors import FilingError

__all__ = ["FilingError", "decode_bytes"]

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "cp936", "hz", "euc_cn", "ms936"}
_ALLOWED_CONTROLS = set("\t\n\r\f\v")
_MAX_JUNK_RATIO = 0.02  # control chars / U+FFFD tolerated in real text


def decode_bytes(data: bytes, name: str = "input") -> str:
    """Decode ``data`` to text; raise ``FilingError`` for empty or binary input.

    ``name`` only appears in error messages.
    """
    if not data:
        raise FilingError(f"empty file: {name}")
    text = _decode(data, name)
    _reject_binary(text, name)
    return text


def _decode(data: bytes, name: str) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                raise FilingError(f"{name} looks binary, not text") from None
    if b"\x00" not in data:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            _reject_mixed(data, name)
    matches = list(from_bytes(data))
    if not matches:
        raise FilingError(f"{name} looks binary, not text")
    encodings = [_canonical(m.encoding) for m in matches]
    if b"\x00" in data:  # only UTF-16/32 text carries NULs
        for m, encoding in zip(matches, encodings, strict=True):
            if encoding.startswith(("utf_16", "utf_32")):
                return str(m)
        raise FilingError(f"{name} looks binary, not text")
    # Short GBK text is often ranked as Big5/CP949; these filings are mainland Chinese, so a
    # GB-family candidate wins whenever charset-normalizer found one plausible at all.
    if any(e in _GB_FAMILY for e in encodings):
        return data.decode("gb18030", errors="replace")
    # Text without NULs has no ASCII in it if it is UTF-16: not a filing, a misguess.
    for m, encoding in zip(matches, encodings, strict=True):
        if not encoding.startswith(("utf_16", "utf_32")):
            return str(m)
    raise FilingError(f"{name} looks binary, not text")


def _reject_mixed(data: bytes, name: str) -> None:
    """Refuse a file whose lines are part UTF-8, part GBK (two files concatenated, an editor
    that saved half of it): no single encoding reads it, and guessing one garbles the other half.
    """
    utf8: list[int] = []
    gbk: list[int] = []
    for n, line in enumerate(data.split(b"\n"), start=1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8.append(n)
            continue
        except UnicodeDecodeError:
            pass
        try:
            line.decode("gb18030")
            gbk.append(n)
        except UnicodeDecodeError:
            return  # neither: not this case (binary, or another encoding)
    if utf8 and gbk:
        raise FilingError(
            f"{name} mixes text encodings: {len(utf8)} lines are UTF-8 (first at line {utf8[0]}) and "
            f"{len(gbk)} are GBK/GB18030 (first at line {gbk[0]}); save it in one encoding (UTF-8)"
        )


def _canonical(encoding: str) -> str:
    return encoding.lower().replace("-", "_")


def _reject_binary(text: str, name: str) -> None:
    """NULs or a noticeable share of control/replacement characters mean it was not text."""
    if "\x00" in text:
        raise FilingError(f"{name} looks binary, not text")
    junk = sum(1 for c in text if c == "\ufffd" or (ord(c) < 32 and c not in _ALLOWED_CONTROLS))
    if junk > _MAX_JUNK_RATIO * len(text):
        raise FilingError(f"{name} looks binary, not text")
