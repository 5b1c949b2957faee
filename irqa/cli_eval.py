"""``irqa eval questions|beir`` and ``irqa bench``: measure retrieval quality and speed.

Mounted in ``irqa/cli.py``::

    from irqa.cli_eval import bench, eval_app
    app.add_typer(eval_app, name="eval")
    app.command()(bench)
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _cli():
    """``irqa.cli``, imported late: it mounts this module, so a top-level import would be circular."""
    from irqa import cli

    return cli


eval_app = typer.Typer(
    help="Evaluate irqa against BM25, dense-only and a plain LangChain pipeline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

IndexOpt = Annotated[Path | None, typer.Option("--index", help="Index directory (default: $IRQA_INDEX).")]
JsonOut = Annotated[Path | None, typer.Option("--json", help="Write the results JSON here.")]
HtmlOut = Annotated[Path | None, typer.Option("--html", help="Write the HTML report here.")]
RetrieverOpt = Annotated[
    str,
    typer.Option(
        "--retriever",
        "--systems",
        help="hybrid, dense, lexical, langchain, or all (comma lists work too).",
    ),
]


def _ticker(bar):
    tasks: dict[str, int] = {}

    def tick(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            label = "Embedding documents" if stage == "embed" else f"Running {stage}"
            tasks[stage] = bar.add_task(label, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return tick


def _write(results, json_out: Path | None, html_out: Path | None) -> None:
    from eval.report import print_table, write_html, write_json

    print_table(results, out)
    for path, writer in ((json_out, write_json), (html_out, write_html)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            writer(results, path)
            err.print(f"wrote {path}", highlight=False)


@eval_app.command("questions")
def questions_cmd(
    file: Annotated[Path, typer.Argument(help="Question file (JSONL, see eval/README.md).")],
    index: IndexOpt = None,
    json_out: JsonOut = None,
    html_out: HtmlOut = None,
    retriever: RetrieverOpt = "all",
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="Passages per question.")] = 10,
    max_questions: Annotated[int | None, typer.Option("--max-questions", min=1)] = None,
) -> None:
    """Score a rule-judged question set: hit@k, MRR, nDCG, citations, abstention, latency."""
    from eval.relevance import load_questions
    from eval.runner import choose, run_questions

    with _cli().user_errors():
        keys = choose(retriever)
        questions = load_questions(file)[:max_questions]
        engine = _cli().open_engine(index)
        with warnings.catch_warnings(), _cli().progress_bar() as bar:
            warnings.simplefilter("ignore", DeprecationWarning)
            results = run_questions(engine, questions, keys, k=k, dataset=file.stem, tick=_ticker(bar))
        _write(results, json_out, html_out)


@eval_app.command("beir")
def beir_cmd(
    directory: Annotated[Path, typer.Argument(help="BEIR dataset: corpus.jsonl, queries.jsonl, qrels/.")],
    json_out: JsonOut = None,
    html_out: HtmlOut = None,
    run_out: Annotated[
        Path | None,
        typer.Option("--run", help="Write the TREC run here (one file per system when several)."),
    ] = None,
    retriever: RetrieverOpt = "all",
    max_queries: Annotated[int | None, typer.Option("--max-queries", min=1)] = None,
    split: Annotated[str, typer.Option("--split", help="qrels/<split>.tsv")] = "test",
) -> None:
    """Score any BEIR-layout dataset with ir_measures: Recall@1/5/10/100, MRR@10, nDCG@10."""
    from embeddings.cache import VectorCache
    from eval.beir import load_beir
    from eval.runner import choose, run_beir
    from eval.trec import write_run
    from rag.retriever import FusionParams

    with _cli().user_errors():
        keys = choose(retriever)
        s = _cli().settings_for(None)
        ds = load_beir(directory, split)
        if not ds.qrels:
            raise _cli().fail(f"{directory}: qrels/{split}.tsv judges no queries")
        from embeddings.base import load_embedder

        embedder = load_embedder(s.embedder, threads=s.threads, device=s.device, batch_size=s.batch_size)
        cache = VectorCache(s.cache_dir / "vectors.sqlite")
        params = FusionParams(
            rrf_k=s.rrf_k,
            dense_weight=s.dense_weight,
            lexical_weight=s.lexical_weight,
            candidates=s.candidates,
        )
        with warnings.catch_warnings(), _cli().progress_bar() as bar:
            warnings.simplefilter("ignore", DeprecationWarning)
            results, runs = run_beir(
                ds, embedder, cache, keys, params=params, max_queries=max_queries, tick=_ticker(bar)
            )
        _write(results, json_out, html_out)
        if run_out is not None:
            run_out.parent.mkdir(parents=True, exist_ok=True)
            for name, run in runs.items():
                path = (
                    run_out if len(runs) == 1 else run_out.with_name(f"{run_out.stem}.{name}{run_out.suffix}")
                )
                write_run(path, run, tag=name)
                err.print(f"wrote {path}", highlight=False)


def bench(
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON here.")] = None,
    sizes: Annotated[str, typer.Option("--sizes", help="Corpus sizes for latency, comma separated.")] = (
        "1000,10000,100000"
    ),
    queries: Annotated[int, typer.Option("--queries", min=5, help="Queries per size.")] = 50,
    corpus: Annotated[
        Path, typer.Option("--corpus", help="BEIR dataset whose real passages/vectors seed the benchmark.")
    ] = Path("../shared/corpus/fintruthqa"),
    ask_queries: Annotated[int, typer.Option("--ask-queries", min=5, help="Questions for ask latency.")] = 20,
) -> None:
    """Ingest throughput, index size, memory, search/ask latency at 1k–100k passages, flat vs HNSW."""
    from eval.bench import print_bench, run_bench, write_bench

    with _cli().user_errors():
        s = _cli().settings_for(None)
        figures = run_bench(
            s,
            corpus,
            sizes=[int(x) for x in sizes.split(",") if x.strip()],
            n_queries=queries,
            n_ask=ask_queries,
            log=lambda m: err.print(m, highlight=False),
        )
    print_bench(figures, out)
    if json_out is not None:
        write_bench(figures, json_out)
        err.print(f"wrote {json_out}", highlight=False)


if __name__ == "__main__":  # python -m irqa.cli_eval … (before the sub-app is mounted in irqa.cli)
    eval_app()
