"""jieba's dictionary read on demand from SQLite tokenizes exactly as the dictionary loaded whole."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jieba
import pytest
from irqa.rag.analysis import Analyzer, JiebaDictionary
from irqa.rag.analysis.dictionary import DiskFrequencies, read_total, source_stamp, write_table

from tests.helpers import SAMPLES, fintruthqa, fresh_cache

STAMP = source_stamp(JiebaDictionary().source_path())


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> tuple[Path, jieba.Tokenizer]:
    loaded = jieba.Tokenizer()
    loaded.tmp_dir = str(tmp_path_factory.mktemp("jieba-cache"))  # its marshal cache, not $TMPDIR's
    loaded.check_initialized()
    db = tmp_path_factory.mktemp("jieba") / "jieba.sqlite"
    write_table(db, loaded.FREQ, loaded.total, STAMP)
    return db, loaded


def on_demand(db: Path, like: jieba.Tokenizer) -> jieba.Tokenizer:
    tk = jieba.Tokenizer()
    tk.FREQ, tk.total, tk.initialized = DiskFrequencies.open(db), read_total(db, STAMP), True
    assert tk.total == like.total
    return tk


def texts() -> list[str]:
    out = [line for f in sorted(SAMPLES.glob("*.txt")) for line in f.read_text(encoding="utf-8").splitlines()]
    with open(fintruthqa() / "queries.jsonl", encoding="utf-8") as f:
        out += [json.loads(line)["text"] for line in list(f)[:500]]
    return [t for t in out if t.strip()]


def test_same_tokens_as_the_loaded_dictionary_with_added_words(table):
    db, shared = table
    disk = on_demand(db, shared)
    loaded = jieba.Tokenizer()  # a copy: the words added below stay in this test
    loaded.FREQ, loaded.total, loaded.initialized = dict(shared.FREQ), shared.total, True
    for tk in (loaded, disk):  # company names, as the store teaches them
        for name in ("星河光电", "影石创新", "虹软科技"):
            tk.add_word(name, freq=20000)
    sample = texts()
    assert len(sample) > 300
    for text in sample:
        assert disk.lcut_for_search(text) == loaded.lcut_for_search(text), text
        assert disk.lcut(text) == loaded.lcut(text), text


def test_a_copy_keeps_its_added_words_to_itself(table):
    db, loaded = table
    disk = on_demand(db, loaded)
    copy = disk.FREQ.copy()
    copy["星河光电"] = 20000
    assert "星河光电" in copy and "星河光电" not in disk.FREQ
    assert disk.FREQ["公司"] == loaded.FREQ["公司"] and disk.FREQ.get("no-such-word", 7) == 7
    with pytest.raises(KeyError):
        disk.FREQ["no-such-word"]


def test_a_table_for_another_dictionary_is_not_used(table):
    db, _ = table
    assert read_total(db, "0:/elsewhere/dict.txt:1:1") is None
    assert read_total(db.with_name("missing.sqlite"), STAMP) is None


def test_cold_ask_writes_the_table_once_then_answers_the_same_from_it(sample_engine, tmp_path):
    """The first one-shot ask writes jieba.sqlite beside jieba's cache; the next reads it and gives the
    same answer (tokens decide BM25 and the answer's key terms)."""
    index = tmp_path / "index"
    shutil.copytree(sample_engine.config.index, index)
    cache = fresh_cache(tmp_path / "cache")
    env = dict(os.environ) | {"IRQA_INDEX": str(index), "IRQA_CACHE_DIR": str(cache)}
    question = ["ask", "海康威视2022年的分红方案是什么？", "--json"]
    runs = []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-m", "irqa", *question], env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        runs.append(json.loads(r.stdout))
        assert (cache / "jieba.sqlite").is_file()
    assert runs[0]["answer"] == runs[1]["answer"] and "每 10 股" in runs[0]["answer"]
    assert [c["quote"] for c in runs[0]["citations"]] == [c["quote"] for c in runs[1]["citations"]]


def test_a_one_shot_process_reads_the_table_once_it_exists(tmp_path):
    """First process: no table yet, so the dictionary loads whole and the table is written; the next
    process tokenizes from the table — with the same tokens."""
    cache = fresh_cache(tmp_path / "cache")
    code = (
        "import json; from pathlib import Path; from irqa.rag.analysis import Analyzer, JiebaDictionary; "
        f"d = JiebaDictionary(cache_file=Path({str(cache / 'jieba.cache')!r}), on_demand=True); "
        "a = Analyzer(d, ['海康威视']); "
        "print(json.dumps([d.on_demand_in_use(), type(a._tk.FREQ).__name__, "
        "a.tokenize('海康威视2022年归母净利润和毛利率是多少？')]))"
    )
    runs = [
        json.loads(
            subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        )
        for _ in range(2)
    ]
    assert runs[0][:2] == [False, "dict"] and runs[1][:2] == [True, "DiskFrequencies"]
    assert runs[0][2] == runs[1][2] and "毛利率" in runs[0][2] and "海康威视" in runs[0][2]
    assert runs[0][2] == Analyzer(names=["海康威视"]).tokenize("海康威视2022年归母净利润和毛利率是多少？")
