"""Reports for :class:`eval.results.EvalResults`: stable JSON, a terminal table, a one-file HTML page.

The HTML page has no external resources (inline CSS, plots as inline SVG), so it can be attached
to a CI run or mailed around. Plots use matplotlib's ``Figure`` API directly (no pyplot, no global
backend switch) and keep text as SVG text, so the browser renders Chinese system names with its
own fonts.

Example::

    >>> write_json(results, "bench-results/dev.json")     # doctest: +SKIP
    >>> print_table(results)                               # doctest: +SKIP
    >>> write_html(results, "bench-results/dev.html")     # doctest: +SKIP
"""

from __future__ import annotations

import html
import io
import json
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import matplotlib
from irqa.eval.results import METRIC_KEYS, EvalResults, QuestionRow, SystemResult
from matplotlib import font_manager
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

LOWER_IS_BETTER = {"false_abstention_rate", "latency_ms_p50", "latency_ms_p95"}
BAR_KEYS = (
    "hit@1",
    "hit@5",
    "hit@10",
    "recall@10",
    "mrr@10",
    "ndcg@10",
    "citation_hit",
    "abstention_accuracy",
)
PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")


def write_json(results: EvalResults, path: str | Path) -> None:
    """Dump with sorted keys and UTF-8 text so diffs between runs stay readable."""
    text = json.dumps(results.to_json(), ensure_ascii=False, sort_keys=True, indent=2)
    Path(path).write_text(text + "\n", encoding="utf-8")


def _fmt(key: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}" if key.startswith("latency") else f"{value:.3f}"


def _best(results: EvalResults, key: str) -> float | None:
    vals = [s.metrics.get(key) for s in results.systems if s.metrics.get(key) is not None]
    if len(vals) < 2:
        return None
    return min(vals) if key in LOWER_IS_BETTER else max(vals)


def _keys(results: EvalResults) -> list[str]:
    """Metric keys that at least one system has (BEIR runs have no answer metrics)."""
    return [k for k in METRIC_KEYS if any(s.metrics.get(k) is not None for s in results.systems)]


def metric_table(results: EvalResults) -> Table:
    """A rich table: one row per metric, one column per system, best value in bold."""
    table = Table(title=f"{results.dataset} ({results.kind})", title_justify="left")
    table.add_column("metric", style="cyan", no_wrap=True)
    for s in results.systems:
        table.add_column(s.name, justify="right")
    for key in _keys(results):
        best = _best(results, key)
        cells = []
        for s in results.systems:
            v = s.metrics.get(key)
            cells.append(f"[bold green]{_fmt(key, v)}[/]" if best is not None and v == best else _fmt(key, v))
        table.add_row(key, *cells)
    table.add_row("questions", *(str(s.n_questions) for s in results.systems), style="dim")
    return table


def print_table(results: EvalResults, console: Console | None = None) -> None:
    """Print :func:`metric_table` to the terminal (or the given console)."""
    (console or Console()).print(metric_table(results))


# --- plots -------------------------------------------------------------------------------------


CJK_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "SimHei")


@lru_cache(maxsize=1)
def _font_family() -> list[str]:
    """DejaVu Sans plus any installed CJK font as fallback, so CJK labels get measured right."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return ["DejaVu Sans", *(f for f in CJK_FONTS if f in installed)]


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    rc = {"svg.fonttype": "none", "svg.hashsalt": "irqa", "font.family": _font_family()}
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing CJK glyphs in matplotlib's font: the browser draws them
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _style(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)


def plot_metrics(systems: Sequence[SystemResult]) -> str | None:
    """Grouped bars of the rate metrics (0..1) per system."""
    keys = [k for k in BAR_KEYS if any(s.metrics.get(k) is not None for s in systems)]
    if not keys or not systems:
        return None
    fig = Figure(figsize=(8.5, 3.4))
    ax = fig.add_subplot()
    width = 0.8 / len(systems)
    for i, s in enumerate(systems):
        xs = [j + (i - (len(systems) - 1) / 2) * width for j in range(len(keys))]
        vals = [s.metrics.get(k) or 0.0 for k in keys]
        ax.bar(xs, vals, width * 0.92, label=s.name, color=PALETTE[i % len(PALETTE)])
    ax.set_xticks(range(len(keys)), keys, fontsize=9, rotation=20, ha="right", rotation_mode="anchor")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    _style(ax)
    ax.legend(
        frameon=False, fontsize=9, ncols=min(4, len(systems)), loc="upper center", bbox_to_anchor=(0.5, 1.18)
    )
    return _svg(fig)


def plot_latency(systems: Sequence[SystemResult]) -> str | None:
    """Box plot of per-question latency per system, with p50/p95 marked."""
    have = [s for s in systems if s.latencies_ms]
    if not have:
        return None
    fig = Figure(figsize=(8.5, 0.9 + 0.6 * len(have)))
    ax = fig.add_subplot()
    ax.boxplot(
        [s.latencies_ms for s in have],
        orientation="horizontal",
        widths=0.5,
        showfliers=True,
        patch_artist=True,
        boxprops={"facecolor": "#dbeafe", "edgecolor": "#4C72B0"},
        medianprops={"color": "#C44E52", "linewidth": 2},
        flierprops={"markersize": 3, "markerfacecolor": "#9ca3af", "markeredgecolor": "none"},
    )
    for i, s in enumerate(have, 1):
        p95 = s.metrics.get("latency_ms_p95")
        if p95 is not None:
            ax.plot([p95], [i], marker="D", markersize=6, color="#111827", linestyle="none")
    ax.set_yticks(range(1, len(have) + 1), [s.name for s in have])
    ax.invert_yaxis()  # first system on top, as in the table
    ax.set_xlabel("latency per question (ms); red line = p50, black diamond = p95")
    if max(max(s.latencies_ms) for s in have) > 20 * max(min(s.latencies_ms) for s in have) > 0:
        ax.set_xscale("log")
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", color="#e5e7eb", linewidth=0.8)
    return _svg(fig)


def plot_recall_curves(systems: Sequence[SystemResult]) -> str | None:
    """Mean recall@k against k for every system that has a curve."""
    have = [s for s in systems if s.recall_curve]
    if not have:
        return None
    fig = Figure(figsize=(8.5, 3.4))
    ax = fig.add_subplot()
    for i, s in enumerate(have):
        ks = range(1, len(s.recall_curve) + 1)
        marker = "o" if len(s.recall_curve) <= 20 else None
        ax.plot(
            ks,
            s.recall_curve,
            label=s.name,
            color=PALETTE[i % len(PALETTE)],
            linewidth=2,
            marker=marker,
            ms=4,
        )
    longest = max(len(s.recall_curve) for s in have)
    if longest > 20:
        ax.set_xscale("log")
    else:
        ax.set_xticks(range(1, longest + 1))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("k")
    ax.set_ylabel("recall@k")
    _style(ax)
    ax.legend(frameon=False, fontsize=9, loc="lower right")
    return _svg(fig)


# --- html --------------------------------------------------------------------------------------

CSS = """
:root{--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f8fafc;--ok:#15803d;--okbg:#dcfce7;--bad:#b91c1c;
--badbg:#fee2e2;--accent:#4C72B0}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);line-height:1.5;
font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Hiragino Sans GB","Microsoft YaHei",
"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif}
main{max-width:1100px;margin:0 auto;padding:28px 20px 60px}
h1{font-size:1.6rem;margin:0 0 4px}h2{font-size:1.2rem;margin:32px 0 12px}
.sub{color:var(--muted);font-size:.92rem}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin:12px 0;
box-shadow:0 1px 2px rgba(0,0,0,.04)}
table.metrics{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
table.metrics th,table.metrics td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:right}
table.metrics th:first-child,table.metrics td:first-child{text-align:left}
table.metrics thead th{background:#f1f5f9;font-weight:600}
td.best{font-weight:700;color:var(--ok)}
.plot svg{width:100%;height:auto}
.plot svg text{font-family:system-ui,"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif}
.q{margin:14px 0}.q h3{font-size:1rem;margin:0 0 6px}
.qid{color:var(--muted);font-weight:400;font-size:.85rem;margin-right:6px}
.badge{display:inline-block;font-size:.75rem;padding:1px 8px;border-radius:999px;margin-left:6px;
background:#eef2ff;color:#3730a3;vertical-align:middle}
.badge.ok{background:var(--okbg);color:var(--ok)}.badge.bad{background:var(--badbg);color:var(--bad)}
.badge.muted{background:#f3f4f6;color:var(--muted)}
.sys{border-top:1px dashed var(--line);padding-top:8px;margin-top:8px}
.sys b{font-size:.9rem}
.answer{background:#f9fafb;border-left:3px solid var(--accent);padding:6px 10px;margin:6px 0;
white-space:pre-wrap}
ol.passages{margin:6px 0 0;padding-left:22px;font-size:.88rem}
ol.passages li{margin:3px 0}
.mark{display:inline-block;width:1.2em;font-weight:700}
li.hit .mark{color:var(--ok)}li.miss .mark{color:var(--bad)}
li.hit .ptext{background:var(--okbg)}
.pid{color:var(--muted);font-size:.78rem;margin-right:4px}
details summary{cursor:pointer;color:var(--accent);font-size:.88rem}
footer{color:var(--muted);font-size:.8rem;margin-top:40px}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _metric_table_html(results: EvalResults) -> str:
    head = "".join(f"<th>{_e(s.name)}</th>" for s in results.systems)
    body = []
    for key in _keys(results):
        best = _best(results, key)
        cells = "".join(
            f'<td class="{"best" if best is not None and s.metrics.get(key) == best else ""}">'
            f"{_e(_fmt(key, s.metrics.get(key)))}</td>"
            for s in results.systems
        )
        body.append(f"<tr><td>{_e(key)}</td>{cells}</tr>")
    counts = "".join(f"<td>{s.n_questions}</td>" for s in results.systems)
    body.append(f'<tr class="sub"><td>questions</td>{counts}</tr>')
    return (
        f'<table class="metrics"><thead><tr><th>metric</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _system_block(row: QuestionRow) -> str:
    badges = []
    if row.hit_rank:
        badges.append(f'<span class="badge ok">hit @ {row.hit_rank}</span>')
    elif row.answerable is not False:
        badges.append('<span class="badge bad">no hit</span>')
    if row.abstained is not None:
        right = row.abstained == (row.answerable is False)
        cls = "ok" if right else "bad"
        badges.append(f'<span class="badge {cls}">{"abstained" if row.abstained else "answered"}</span>')
    if row.citation_hit is not None:
        ok = row.citation_hit
        badges.append(f'<span class="badge {"ok" if ok else "bad"}">citation {"✓" if ok else "✗"}</span>')
    if row.latency_ms is not None:
        badges.append(f'<span class="badge muted">{row.latency_ms:.0f} ms</span>')
    answer = f'<div class="answer">{_e(row.answer)}</div>' if row.answer else ""
    items = "".join(
        f'<li class="{"hit" if p.relevant else "miss"}">'
        f'<span class="mark">{"✓" if p.relevant else "✗"}</span>'
        f'<span class="pid">{_e(p.id)}{" · " + _e(p.code) if p.code else ""}</span>'
        f'<span class="ptext">{_e(p.text)}</span></li>'
        for p in row.passages
    )
    passages = (
        f"<details><summary>top {len(row.passages)} passages</summary>"
        f"<ol class='passages'>{items}</ol></details>"
        if items
        else '<div class="sub">no passages</div>'
    )
    return f'<div class="sys"><b>{_e(row.system)}</b>{"".join(badges)}{answer}{passages}</div>'


def _questions_html(rows: Sequence[QuestionRow], max_questions: int) -> str:
    grouped: dict[str, list[QuestionRow]] = {}
    for r in rows:
        grouped.setdefault(r.id, []).append(r)
    out = []
    for qid, group in list(grouped.items())[:max_questions]:
        first = group[0]
        tag = ""
        if first.answerable is not None:
            tag = (
                '<span class="badge">answerable</span>'
                if first.answerable
                else '<span class="badge muted">unanswerable</span>'
            )
        blocks = "".join(_system_block(r) for r in group)
        out.append(
            f'<div class="card q" id="q-{_e(qid)}"><h3><span class="qid">{_e(qid)}</span>'
            f"{_e(first.question)}{tag}</h3>{blocks}</div>"
        )
    more = len(grouped) - max_questions
    if more > 0:
        out.append(f'<p class="sub">… {more} more questions are in the JSON results.</p>')
    return "".join(out)


def render_html(results: EvalResults, max_questions: int = 200) -> str:
    """The whole report as one self-contained HTML string."""
    plots = [
        ("Metrics by system", plot_metrics(results.systems)),
        ("Recall@k", plot_recall_curves(results.systems)),
        ("Latency distribution", plot_latency(results.systems)),
    ]
    plot_html = "".join(
        f'<div class="card plot"><h2 style="margin-top:0">{_e(t)}</h2>{svg}</div>' for t, svg in plots if svg
    )
    meta = " · ".join(f"{_e(k)}: {_e(v)}" for k, v in sorted(results.meta.items()))
    n_q = max((s.n_questions for s in results.systems), default=0)
    title = f"irqa eval — {results.dataset}"
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{CSS}</style></head>
<body><main>
<h1>{_e(title)}</h1>
<div class="sub">{_e(results.kind)} evaluation · {n_q} questions · {len(results.systems)} systems
{(" · " + _e(results.created)) if results.created else ""}</div>
{f'<div class="sub">{meta}</div>' if meta else ""}
<h2>Metrics</h2><div class="card">{_metric_table_html(results)}</div>
{plot_html}
<h2>Per-question results</h2>
{_questions_html(results.rows, max_questions)}
<footer>Generated by irqa eval. Relevance: {
        "quote overlap (≥ 20 shared characters, whitespace ignored)"
        if results.kind == "questions"
        else "qrels"
    }.</footer>
</main></body></html>
"""


def write_html(results: EvalResults, path: str | Path, max_questions: int = 200) -> None:
    """Write :func:`render_html` to ``path`` (UTF-8)."""
    Path(path).write_text(render_html(results, max_questions), encoding="utf-8")
