"""``irqa eval questions|beir|selfqa`` and ``irqa bench``: measure retrieval quality and speed."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from irqa.cli.console import (
    IndexOpt,
    bar_callback,
    err,
    fail,
    open_engine,
    progress_bar,
    settings_for,
    user_errors,
)

out = Console(soft_wrap=True)

app = typer.Typer(
    help="Evaluate irqa against BM25, dense-only and a plain LangChain pipeline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

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
    return bar_callback(bar, {"embed": "Embedding documents"})


def _write(results, json_out: Path | None, html_out: Path | None) -> None:
    from irqa.eval.report import print_table, write_html, write_json

    print_table(results, out)
    for path, writer in ((json_out, write_json), (html_out, write_html)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            writer(results, path)
            err.print(f"wrote {path}", highlight=False)


@app.command("questions")
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
    from irqa.eval.relevance import load_questions
    from irqa.eval.runner import choose, run_questions

    with user_errors():
        keys = choose(retriever)
        questions = load_questions(file)[:max_questions]
        engine = open_engine(index, resident=True)
        with warnings.catch_warnings(), progress_bar() as bar:
            warnings.simplefilter("ignore", DeprecationWarning)
            results = run_questions(engine, questions, keys, k=k, dataset=file.stem, tick=_ticker(bar))
        _write(results, json_out, html_out)


@app.command("chat")
def chat_cmd(
    file: Annotated[Path, typer.Argument(help="Conversations (JSONL, see eval/chat.py).")],
    index: IndexOpt = None,
    json_out: JsonOut = None,
) -> None:
    """Score follow-up handling: each conversation's last question, rewritten as the chat API does."""
    import json
    import time

    from rich.markup import escape
    from rich.table import Table

    from irqa.api.chat import standalone_question
    from irqa.api.schemas import ChatMessage
    from irqa.eval.chat import chat_metrics, load_chats, score_chat

    with user_errors():
        cases = load_chats(file)
        engine = open_engine(index, resident=True)
        rows = []
        for case in cases:
            t0 = time.perf_counter()
            msgs = [ChatMessage(role=m.role, content=m.content) for m in case.messages]
            turn = standalone_question(engine, msgs)
            answer = engine.ask(turn.question, company=turn.company)
            rows.append(score_chat(case, turn.question, answer, (time.perf_counter() - t0) * 1000))
    metrics = chat_metrics(rows)
    table = Table(title=f"{file.stem} (chat)")
    table.add_column("metric")
    table.add_column("irqa", justify="right")
    for key, val in metrics.items():
        table.add_row(escape(key), "–" if val is None else f"{val:.3f}" if val <= 1 else f"{val:.1f}")
    out.print(table)
    for r in rows:
        if not r.cited:
            err.print(f"[yellow]miss[/] {r.id} {r.asked!r} → {r.standalone!r}", highlight=False)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "kind": "chat",
            "dataset": file.stem,
            "metrics": metrics,
            "rows": [r.model_dump() for r in rows],
        }
        json_out.write_text(json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True), encoding="utf-8")
        err.print(f"wrote {json_out}", highlight=False)


@app.command("beir")
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
    skip: Annotated[
        int,
        typer.Option(
            "--skip",
            min=0,
            help="Leave out the first N judged queries (file order), e.g. the half a model was tuned on.",
        ),
    ] = 0,
    split: Annotated[str, typer.Option("--split", help="qrels/<split>.tsv")] = "test",
) -> None:
    """Score any BEIR-layout dataset with ir_measures: Recall@1/5/10/100, MRR@10, nDCG@10.

    ``--skip N --max-queries M`` scores judged queries N+1…N+M in file order: FinTruthQA's tuned
    default was trained on the dev split's first 500 queries, so it is measured with ``--skip 500``.
    """
    from irqa.embeddings.cache import VectorCache
    from irqa.eval.beir import load_beir
    from irqa.eval.runner import choose, run_beir
    from irqa.eval.trec import write_run
    from irqa.rag.analysis import Analyzer
    from irqa.wiring import embedder_factory, engine_config, fusion_params

    with user_errors():
        keys = choose(retriever)
        s = settings_for(None)
        ds = load_beir(directory, split)
        if not ds.qrels:
            raise fail(f"{directory}: qrels/{split}.tsv judges no queries")
        query_ids = judged_query_ids(ds, skip, max_queries)
        if not query_ids:
            raise fail(f"{directory}: --skip {skip} leaves no judged queries (there are {len(ds.qrels)})")
        embedder = embedder_factory(s)()
        cache = VectorCache(s.cache_dir / "vectors.sqlite")
        params = fusion_params(s)
        with warnings.catch_warnings(), progress_bar() as bar:
            warnings.simplefilter("ignore", DeprecationWarning)
            results, runs = run_beir(
                ds,
                embedder,
                cache,
                keys,
                params=params,
                query_ids=query_ids,
                tick=_ticker(bar),
                analyzer=Analyzer(engine_config(s).dictionary),  # jieba's cache under irqa's
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


@app.command("selfqa")
def selfqa_cmd(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Records (folders or files) to evaluate; none: the index as it is."),
    ] = None,
    index: IndexOpt = None,
    json_out: JsonOut = None,
    html_out: HtmlOut = None,
    translations: Annotated[
        Path | None,
        typer.Option("--translations", help="English/mixed questions (JSONL); default: the built-in set."),
    ] = None,
    no_translations: Annotated[
        bool, typer.Option("--no-translations", help="Only the records' own (Chinese) questions.")
    ] = False,
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="Passages per question.")] = 10,
    max_questions: Annotated[
        int | None, typer.Option("--max-questions", min=1, help="The first N investor questions only.")
    ] = None,
) -> None:
    """Score irqa on the records' own Q&A: each investor question, masked from its passage, must
    find and quote its own answer; with its record left out, or asked about another company, it
    must be refused. Records given as PATHS are ingested into a temporary index (into --index
    when one is given); without PATHS the existing index is evaluated."""
    import dataclasses
    import tempfile

    from irqa.eval.selfqa import TRANSLATIONS, load_translations, print_selfqa, run_selfqa, write_html
    from irqa.rag.engine import Engine
    from irqa.wiring import build_engine, embedder_factory, engine_config, query_embedder_factory

    with user_errors(), tempfile.TemporaryDirectory(prefix="irqa-selfqa-") as tmp:
        extra = [] if no_translations else load_translations(translations or TRANSLATIONS)
        s = settings_for(index)
        if paths and index is None:  # a throwaway index: the user's own is never touched
            config = dataclasses.replace(
                engine_config(s), index=Path(tmp) / "index", store=None, aliases=None
            )
            engine = Engine(config, embedder_factory(s), query_embedder_factory(s, resident=True))
        else:
            engine = build_engine(s, resident=True)
        with warnings.catch_warnings(), progress_bar() as bar:
            warnings.simplefilter("ignore", DeprecationWarning)
            if paths:
                report = engine.ingest_paths(list(paths), progress=bar_callback(bar))
                for name, why in report.failed:
                    err.print(f"[yellow]skipped[/] {name}: {why}", highlight=False)
            elif not engine.store.exists():
                raise fail(f"no index at {engine.store.root}: give the records to evaluate as PATHS")
            ticker = bar_callback(bar, {"embed": "Embedding masked passages", "ask": "Asking"})
            dataset = paths[0].name if paths and len(paths) == 1 else "selfqa"
            results = run_selfqa(
                engine, extra, k=k, max_questions=max_questions, dataset=dataset, tick=ticker
            )
        print_selfqa(results, out)
        if json_out is not None:
            from irqa.eval.report import write_json

            json_out.parent.mkdir(parents=True, exist_ok=True)
            write_json(results, json_out)
            err.print(f"wrote {json_out}", highlight=False)
        if html_out is not None:
            html_out.parent.mkdir(parents=True, exist_ok=True)
            write_html(results, html_out)
            err.print(f"wrote {html_out}", highlight=False)


def judged_query_ids(ds, skip: int = 0, max_queries: int | None = None) -> list[str]:
    """Judged queries in file order, the first ``skip`` left out, at most ``max_queries`` kept."""
    qids = [q for q in ds.queries if q in ds.qrels][skip:]
    return qids[:max_queries] if max_queries else qids


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
    cli: Annotated[
        bool, typer.Option("--cli/--no-cli", help="Also time cold CLI processes and the server.")
    ] = True,
) -> None:
    """Ingest throughput, index size, memory, search/ask latency at 1k–100k passages, flat vs HNSW."""
    from irqa.eval.bench import print_bench, run_bench, write_bench
    from irqa.wiring import embedder_factory, engine_config, query_embedder_factory

    with user_errors():
        s = settings_for(None)
        figures = run_bench(
            engine_config(s),
            embedder_factory(s)(),
            corpus,
            query_embedder=query_embedder_factory(s, resident=True)(),
            cli=cli,
            sizes=[int(x) for x in sizes.split(",") if x.strip()],
            n_queries=queries,
            n_ask=ask_queries,
            log=lambda m: err.print(m, highlight=False),
        )
    print_bench(figures, out)
    if json_out is not None:
        write_bench(figures, json_out)
        err.print(f"wrote {json_out}", highlight=False)


@app.command("answer-quality")
def answer_quality_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            help='Q&A pairs (JSONL): {"_id", "question", "answer"[, "relevance": 1|2|3]} per line.'
        ),
    ],
    ratings_out: Annotated[
        Path | None, typer.Option("--out", help='Write {"_id", "rating": 1|2|3} per line here.')
    ] = None,
    json_out: JsonOut = None,
    model_file: Annotated[
        Path | None,
        typer.Option(
            "--model", help="A model from scripts/train_answer_quality.py (default: the shipped one)."
        ),
    ] = None,
) -> None:
    """Rate whether each company answer addresses its question: 1 does not answer, 2 partly, 3
    answers (FinTruthQA's relevance values). With labels: 3-class micro/macro-F1 and the F1 of
    "does not answer"."""
    import json
    import time

    from rich.table import Table

    from irqa.embeddings.cache import VectorCache
    from irqa.eval import answer_quality as aq
    from irqa.rag.analysis import Analyzer
    from irqa.wiring import embedder_factory, engine_config

    with user_errors():
        pairs = aq.load_pairs(file)
        model = aq.AnswerQualityModel.load(model_file) if model_file else aq.AnswerQualityModel.builtin()
        s = settings_for(None)
        embedder = embedder_factory(s)()
        cache = VectorCache(s.cache_dir / "vectors.sqlite")
        t0 = time.perf_counter()
        ratings = aq.rate_pairs(pairs, embedder, cache, Analyzer(engine_config(s).dictionary), model)
        ms = (time.perf_counter() - t0) * 1000 / len(pairs)
        body = aq.report(pairs, ratings, model, dataset=file.stem, embedder=embedder.name, ms_per_pair=ms)
        table = Table(title=f"{file.stem} (answer quality, {len(pairs)} pairs)")
        table.add_column("")
        table.add_column("all", justify="right")
        held = body["metrics_held_out"] if body["in_training_data"] else None
        if held is not None:
            table.add_column("not trained on", justify="right")
        for k, name in aq.RATINGS.items():
            table.add_row(f"rated {k} ({name})", str(body["rating_counts"][str(k)]), *([""] if held else []))
        for key in ("micro_f1", "macro_f1", "not_answer_f1") if body["metrics"] else ():
            row = [f"{body['metrics'][key]:.3f}"] + ([f"{held[key]:.3f}"] if held else [])
            table.add_row(key.replace("_", " "), *row)
        out.print(table)
        if body["in_training_data"]:
            err.print(
                f"{body['in_training_data']} of {body['labelled']} labelled pairs are in the model's training "
                "data: their figures are a training fit, not a measurement",
                highlight=False,
            )
        if ratings_out is not None:
            aq.write_ratings(ratings_out, pairs, ratings)
            err.print(f"wrote {ratings_out}", highlight=False)
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True)
            json_out.write_text(text, encoding="utf-8")
            err.print(f"wrote {json_out}", highlight=False)


@app.command("timeline")
def timeline_cmd(
    file: Annotated[Path, typer.Argument(help="Timeline questions (JSONL, see eval/timeline.py).")],
    index: IndexOpt = None,
    json_out: JsonOut = None,
    choose_threshold: Annotated[
        bool,
        typer.Option(
            "--choose/--no-choose",
            help="Choose the 'discussed' threshold on half the companies and report the other half "
            "(default); --no-choose scores the shipped threshold.",
        ),
    ] = True,
) -> None:
    """Score timelines: record recall (records quoted / records that discuss the topic), record
    precision and quote precision, against records and quotes written down by reading them."""
    import json

    from rich.table import Table

    from irqa.eval import timeline as ev
    from irqa.rag.timeline import TimelineParams

    with user_errors():
        cases = ev.load_cases(file)
        engine = open_engine(index, bootstrap=False, resident=True)
        rows = [ev.run_case(engine, c) for c in cases]
        params, grid = ev.choose(rows) if choose_threshold else (TimelineParams(), [])
        body = ev.report(rows, params)
    table = Table(
        title=f"{file.stem} (timeline, min_score {params.min_score}, term_weight {params.term_weight})"
    )
    table.add_column("")
    for col in ("questions", "records", "record recall", "record precision", "quote precision"):
        table.add_column(col, justify="right")
    for name, key in (("chosen on: " + "、".join(body["chosen_on"]), "fit"),
                      ("held out: " + "、".join(body["held_out"]), "held_out_scores"), ("all", "all")):  # fmt: skip
        s = body[key]
        table.add_row(
            name,
            str(s["questions"]),
            str(s["records_discussing"]),
            f"{s['record_recall']:.3f}",
            f"{s['record_precision']:.3f}",
            f"{s['quote_precision']:.3f}",
        )
    out.print(table)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        body["grid"] = grid
        json_out.write_text(json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True), encoding="utf-8")
        err.print(f"wrote {json_out}", highlight=False)
