"""Two records of one company on one day without 编号 get the id <code>-<date>: ingested together,
neither may overwrite the other (issue 20 item 1). Real parser, model, FAISS and files."""

from __future__ import annotations

import re

from irqa.rag.engine import Engine, sample_dir

from tests.helpers import make_config


def _without_number(text: str, topic: str) -> str:
    """The ArcSoft sample with its 编号 line removed and one answer sentence of its own."""
    text = re.sub(r"^.*编号[:：].*$", "", text, count=1, flags=re.M)
    assert "编号" not in text.split("投资者关系活动类别")[0]
    return text.replace("问题1", f"问题1（{topic}）", 1) + f"\n补充说明：{topic}的进展良好。\n"


def test_same_day_records_without_number_keep_both(tmp_path, cache_dir, embedder):
    src = (sample_dir() / "688088_arcsoft_2024-007.txt").read_text(encoding="utf-8")
    a, b = tmp_path / "arcsoft_morning.txt", tmp_path / "arcsoft_afternoon.txt"
    a.write_text(_without_number(src, "上午场"), encoding="utf-8")
    b.write_text(_without_number(src, "下午场"), encoding="utf-8")
    engine = Engine(make_config(tmp_path / "index", cache_dir), embedder)
    report = engine.ingest_paths([a, b])
    assert report.failed == []
    ids = sorted(report.added)
    assert len(ids) == 2 and ids[1] == f"{ids[0]}-2", ids
    assert re.fullmatch(r"688088-\d{4}-\d{2}-\d{2}", ids[0]), ids
    sources = {engine.snapshot().filing(i).source for i in ids}
    assert sources == {a.name, b.name}
    # re-ingesting the same two files changes nothing: the ids are stable
    again = engine.ingest_paths([a, b])
    assert sorted(again.skipped) == ids and again.added == []
