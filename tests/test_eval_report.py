"""Reports: stable JSON, the rich table, and the HTML page rendered in real headless Chromium.

The results come from two toy retrievers over the sample filings' paragraphs, scored on the real
dev set, so the report shows Chinese text, hits and misses, abstentions and latencies.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from irqa.eval.questions import Cited, SystemOutput, evaluate_questions
from irqa.eval.relevance import load_questions
from irqa.eval.report import metric_table, render_html, write_html, write_json
from irqa.eval.results import METRIC_KEYS, EvalResults
from rich.console import Console

from tests.helpers import ARTIFACTS

ROOT = Path(__file__).resolve().parent.parent


def _paragraphs() -> list[tuple[str, str, str]]:
    """(text, code, id) for every paragraph of the sample filings (blank-line or line separated)."""
    out = []
    for p in sorted((ROOT / "rag" / "samples").glob("*.txt")):
        code = p.name.split("_")[0]
        text = p.read_text(encoding="utf-8")
        chunks = [c for c in re.split(r"\n\s*\n|\n(?=Q)", text) if len(c.strip()) > 30]
        out += [(c, code, f"{code}#{i}") for i, c in enumerate(chunks)]
    return out


def _bigrams(s: str) -> set[str]:
    s = re.sub(r"\s+", "", s)
    return {s[i : i + 2] for i in range(len(s) - 1)}


@pytest.fixture(scope="module")
def results() -> EvalResults:
    questions = load_questions(ROOT / "eval" / "data" / "sample_dev.jsonl")
    paras = _paragraphs()
    grams = [_bigrams(t) for t, _, _ in paras]
    rng = random.Random(0)
    systems, rows = [], []
    for name in ("bigram overlap", "random 随机"):
        outputs = []
        for q in questions:
            qg = _bigrams(q.question)
            if name == "random 随机":
                ranked = rng.sample(paras, 10)
                score = 0.0
            else:
                scored = sorted(range(len(paras)), key=lambda i: -len(qg & grams[i]) / (1 + len(qg)))
                ranked = [paras[i] for i in scored[:10]]
                score = len(qg & grams[scored[0]]) / (1 + len(qg))
            abstain = score < 0.25
            top = ranked[0]
            outputs.append(
                SystemOutput.from_ranked(
                    ranked,
                    answer="" if abstain else re.sub(r"\s+", "", top[0])[:120] + " [1]",
                    abstained=abstain,
                    citations=[] if abstain else [Cited(quote=top[0], code=top[1])],
                    latency_ms=rng.lognormvariate(3, 0.5),
                )
            )
        system, system_rows = evaluate_questions(name, questions, outputs)
        systems.append(system)
        rows += system_rows
    return EvalResults(kind="questions", dataset="sample_dev", systems=systems, rows=rows, meta={"k": 10})


def test_json_is_stable_and_complete(results, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_json(results, a)
    write_json(EvalResults.model_validate_json(a.read_text(encoding="utf-8")), b)
    assert a.read_bytes() == b.read_bytes()
    data = json.loads(a.read_text(encoding="utf-8"))
    assert list(data) == sorted(data)
    for s in data["systems"]:
        assert set(s["metrics"]) == set(METRIC_KEYS)
    assert "海康" in a.read_text(encoding="utf-8")  # UTF-8, not \\u escapes


def test_rich_table_lists_every_metric(results):
    console = Console(record=True, width=120)
    console.print(metric_table(results))
    text = console.export_text()
    for key in METRIC_KEYS:
        assert key in text
    assert "random 随机" in text


def test_html_is_self_contained(results):
    page = render_html(results)
    assert '<meta charset="utf-8">' in page
    assert page.count("<svg") >= 3
    assert not re.search(r"""(src|href)=["']https?://""", page)
    assert "<script" not in page
    assert "海康对大模型的技术路线怎么看" in page


def test_html_escapes_text(results):
    evil = results.model_copy(deep=True)
    evil.rows[0].answer = "<script>alert(1)</script>"
    assert "<script>alert" not in render_html(evil)


def test_html_renders_in_headless_chromium(results, tmp_path, browser):
    html_path = tmp_path / "report.html"
    write_html(results, html_path)
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(html_path.as_uri())
        assert page.title() == "irqa eval — sample_dev"
        table = page.locator("table.metrics")
        assert table.is_visible()
        assert table.locator("tbody tr").count() == len(METRIC_KEYS) + 1
        assert "ndcg@10" in table.inner_text()
        plots = page.locator(".plot svg")
        assert plots.count() == 3
        box = plots.first.bounding_box()
        assert box and box["width"] > 400 and box["height"] > 150
        assert page.locator(".q").count() == len({r.id for r in results.rows})
        assert page.locator("li.hit").count() > 0 and page.locator("li.miss").count() > 0
        first = page.locator(".q").first
        first.locator("details").first.evaluate("d => d.open = true")
        assert "✓" in first.inner_text() or "✗" in first.inner_text()
        assert not errors
        page.screenshot(path=str(ARTIFACTS / "eval-report.png"), full_page=False)
        for i, card in enumerate(page.locator(".card.plot").all()):
            card.screenshot(path=str(ARTIFACTS / f"eval-report-plot{i + 1}.png"))
        page.locator("#q-dev-031").scroll_into_view_if_needed()
        page.locator("#q-dev-031 details").first.evaluate("d => d.open = true")
        page.locator("#q-dev-031").screenshot(path=str(ARTIFACTS / "eval-report-question.png"))
    finally:
        page.close()
    assert (ARTIFACTS / "eval-report.png").stat().st_size > 10_000


def test_beir_results_render_without_answer_metrics(tmp_path):
    from irqa.eval.beir import BeirDataset, evaluate_run

    ds = BeirDataset(
        corpus={f"a{i}": ("", f"答复{i}：感谢您的关注。") for i in range(30)},
        queries={f"q{i}": f"问题{i}？" for i in range(5)},
        qrels={f"q{i}": {f"a{i}": 1} for i in range(5)},
        name="tiny",
    )
    run = {f"q{i}": [(f"a{(i + j) % 30}", 1.0 / (j + 1)) for j in range(i * 5, i * 5 + 20)] for i in range(5)}
    system, rows = evaluate_run("bm25", ds, run, latencies_ms={f"q{i}": 3.0 + i for i in range(5)})
    results = EvalResults(kind="beir", dataset="tiny", systems=[system], rows=rows)
    page = render_html(results)
    assert "citation_hit" not in page.split("<h2>Per-question")[0]  # no empty answer-metric rows
    assert page.count("<svg") == 3
    write_json(results, tmp_path / "beir.json")
    assert (
        json.loads((tmp_path / "beir.json").read_text(encoding="utf-8"))["systems"][0]["metrics"][
            "citation_hit"
        ]
        is None
    )
