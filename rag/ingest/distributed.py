"""Distributed ingest on Ray: ``irqa ingest PATH --ray`` / ``--ray-address auto|HOST:PORT``.

The same stages as ``pipeline.py``, spread over a cluster:

    driver: read files ─► Ray tasks: extract → normalize → parse → chunk (one task per file)
    driver: skip filings whose content hash is indexed already (resumable), look up the vector cache
    actor pool: tokenize (jieba + bigrams) and embed the missing passages, sorted by length
    driver: commit to the chosen store (``IRQA_STORE``: local or Milvus) every ``write_rows``
            passages, and put fresh vectors into the cache as they arrive

Files go in rounds (``files_per_round``): the next round is parsed while this one is embedded,
so the driver holds one round's passages and vectors at a time, not the whole corpus.

Embedding actors: one per GPU when the cluster has GPUs (``num_gpus=1``); otherwise
``actors`` of them holding a *fraction* of a CPU (``actor_cpus``, default 0.5): actors that
hold whole CPUs leave none for the parse tasks on small nodes and the job hangs silently.

Resumable: every commit is a complete store write, and vectors are cached as they arrive, so
a run that stops half-way is finished by running it again — committed filings are skipped by
content hash, and passages embedded before the stop come from the cache.

Files are read by the driver and shipped to the tasks as bytes: the workers need no shared
file system. The index this writes equals a plain ingest of the same files (same passage ids,
vectors of the same model; ``tests/test_ray_ingest.py`` checks it on a two-node cluster).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from irqa.embeddings.base import Embedder
from irqa.embeddings.cache import VectorCache, text_key
from irqa.rag.analysis import Analyzer, JiebaDictionary
from irqa.rag.companies import extend_alias_file
from irqa.rag.errors import FilingError, IrqaError
from irqa.rag.ingest.limits import IngestLimits
from irqa.rag.ingest.pipeline import (
    IngestProgress,
    IngestReport,
    Source,
    chunk_checked,
    expand_paths,
    parse_bytes,
)
from irqa.rag.models import Filing, FilingSummary, Passage
from irqa.rag.store import Store, Upsert


def _parse_and_chunk(
    src: Source, chunk_tokens: int, overlap_tokens: int, limits: IngestLimits
) -> tuple[Filing, list[Passage]] | str:
    """One file → (filing, passages), or the one-line reason it cannot be ingested."""
    try:
        f = parse_bytes(src.data, src.name, limits)
        passages = chunk_checked(f, src.name, chunk_tokens, overlap_tokens, 0, limits)
    except FilingError as e:
        return str(e)
    return f, passages


class EmbedWorker:
    """An embedding actor: loads the model once, then tokenizes and embeds batches.

    It tokenizes with an analyzer over the store's jieba ``dictionary`` and the index's company
    names, the same analyzer the plain pipeline uses (built once per set of names)."""

    def __init__(self, factory: Callable[[], Embedder], dictionary: JiebaDictionary) -> None:
        self.embedder = factory()
        self.dictionary = dictionary
        self._analyzer: Analyzer | None = None  # built with the first batch's names

    def info(self) -> tuple[str, int, str]:
        e = self.embedder
        return e.name, e.dim, getattr(e, "family", "")

    def work(self, ids: list[int], texts: list[str], embed: list[bool], names: list[str]):
        if self._analyzer is None or self._analyzer.names != Analyzer.normal_names(names):
            self._analyzer = Analyzer(self.dictionary, names)
        todo = [t for t, e in zip(texts, embed, strict=True) if e]
        vecs = self.embedder.embed_passages(todo) if todo else np.zeros((0, self.embedder.dim), np.float32)
        return ids, [self._analyzer.tokenize(t) for t in texts], np.asarray(vecs, np.float32)


def ray_init(address: str | None, num_cpus: int | None = None) -> Any:
    """Connect to ``address`` ("auto" or HOST:PORT), or start a local Ray for this run."""
    try:
        import ray
    except ImportError as e:
        raise IrqaError(f"--ray needs the scale extra: pip install -e '.[scale]' ({e})") from None
    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {"logging_level": "WARNING", "log_to_driver": False}
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, **kwargs)
    return ray


def ingest_ray(
    store: Store,
    embedder_factory: Callable[[], Embedder],
    cache: VectorCache | None,
    paths: Sequence[Path],
    *,
    address: str | None = None,
    chunk_tokens: int = 256,
    overlap_tokens: int = 40,
    aliases_path: Path | None = None,
    rebuild: bool = False,
    limits: IngestLimits | None = None,
    actors: int | None = None,
    actor_cpus: float = 0.5,
    task_cpus: float = 0.5,
    batch_size: int = 256,
    write_rows: int = 20_000,
    files_per_round: int = 512,
    progress: IngestProgress | None = None,
) -> IngestReport:
    """Ingest ``paths`` with Ray doing the parsing and embedding; the driver writes the store.

    Works in rounds of ``files_per_round`` files (the next round is parsed while this one is
    embedded), committing every ``write_rows`` passages, so memory stays bounded and an
    interrupted run loses at most the uncommitted round. ``embedder_factory`` must be picklable
    (e.g. ``functools.partial(load_embedder, "e5")``): each actor builds its own model.
    ``address`` None starts a local Ray for the run.
    """
    t0 = time.perf_counter()
    report = IngestReport()
    files, missing = expand_paths(list(paths))
    report.failed += missing
    rounds = [files[a : a + files_per_round] for a in range(0, len(files), files_per_round)]
    ray = ray_init(address)
    workers: list[Any] = []
    try:
        parse = ray.remote(num_cpus=task_cpus)(_parse_and_chunk)

        def submit(round_files: list[Path]) -> list[tuple[str, Any]]:
            out = []
            for f in round_files:
                try:
                    src = Source.from_path(f)
                except OSError as e:
                    report.failed.append((str(f), f"cannot read {f}: {e.strerror or e}"))
                    continue
                out.append(
                    (src.name, parse.remote(src, chunk_tokens, overlap_tokens, limits or IngestLimits()))
                )
            return out

        old = store.read_manifest() if store.exists() and not rebuild else None
        indexed = dict(old.filings) if old is not None else {}
        names_known = set(_indexed_companies(store, old))
        state = _Committer(store, cache, rebuild, write_rows, progress)
        parsed_n = 0
        nxt = submit(rounds[0]) if rounds else []
        for i in range(len(rounds)):
            current, nxt = nxt, (submit(rounds[i + 1]) if i + 1 < len(rounds) else [])
            fresh: list[tuple[Filing, list[Passage]]] = []
            for name, ref in current:  # source order, as a plain ingest
                got = ray.get(ref)
                parsed_n += 1
                if progress:
                    progress("parse", parsed_n, len(files), name)
                if isinstance(got, str):
                    report.failed.append((name, got))
                    continue
                f = got[0]
                report.records.append(FilingSummary.of(f, len(got[1])))
                prior = indexed.get(f.id)
                if prior == f.content_hash and not rebuild:
                    report.skipped.append(f.id)
                    continue
                (report.updated if prior is not None and not rebuild else report.added).append(f.id)
                indexed[f.id] = f.content_hash
                fresh.append(got)
            if not fresh:
                continue
            if not workers:
                workers = _start_workers(ray, embedder_factory, store.dictionary, actors, actor_cpus)
                state.model = ray.get(workers[0].info.remote())
                if old is not None:
                    store.load(state.model[0], state.model[2])  # refuses another model family
            names_known |= {f.company for f, _ in fresh if f.company}
            state.embed_and_commit(ray, workers, fresh, sorted(names_known), batch_size, report)
        state.flush()
        if state.commits:
            compact = getattr(store, "compact_if_needed", None)
            if compact is not None and not rebuild:
                with store.lock():
                    compact()
            if aliases_path is not None:
                extend_alias_file(aliases_path, state.headers, store.dictionary)
    finally:
        for w in workers:
            ray.kill(w)
        if address is None:
            ray.shutdown()
    report.seconds = time.perf_counter() - t0
    return report


def _start_workers(
    ray: Any, factory: Callable[[], Embedder], dictionary: JiebaDictionary, actors: int | None, cpus: float
) -> list[Any]:
    """One actor per GPU when there are GPUs; else ``actors`` (default: one per node) on a CPU fraction."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if gpus:
        cls = ray.remote(num_gpus=1, num_cpus=min(cpus, 1))(EmbedWorker)
    else:
        cls = ray.remote(num_cpus=cpus)(EmbedWorker)
    size = gpus or actors or max(1, sum(1 for n in ray.nodes() if n.get("Alive")))
    return [cls.remote(factory, dictionary) for _ in range(size)]


class _Committer:
    """Embeds rounds on the actor pool and writes the store every ``write_rows`` passages."""

    def __init__(
        self, store: Store, cache: VectorCache | None, rebuild: bool, write_rows: int, progress
    ) -> None:
        self.store, self.cache, self.rebuild = store, cache, rebuild
        self.write_rows, self.progress = write_rows, progress
        self.model: tuple[str, int, str] = ("", 0, "")
        self.pending: list[Upsert] = []
        self.rows = 0
        self.commits = 0
        self.headers: list = []
        self.embedded = self.total = 0
        self.written = 0

    def embed_and_commit(self, ray, workers, fresh, names, batch_size: int, report: IngestReport) -> None:
        name, dim, family = self.model
        texts = [p.embed_text() for _, ps in fresh for p in ps]
        keys = [text_key(t) for t in texts]
        vectors = np.zeros((len(texts), dim), np.float32)
        have = np.zeros(len(texts), bool)
        if self.cache is not None:
            known: dict[str, np.ndarray] = {}
            for model in [m for m in (family, name) if m]:
                known.update(self.cache.get_many(model, [k for k in keys if k not in known]))
            for i, k in enumerate(keys):
                if k in known:
                    vectors[i], have[i] = known[k], True
        report.passages += len(texts)
        report.embedded += int((~have).sum())
        self.total += len(texts)
        self.embedded += int(have.sum())
        if self.progress:
            self.progress("embed", self.embedded, self.total)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths batch well
        queue = [order[a : a + batch_size] for a in range(0, len(order), batch_size)]
        tokens: list[list[str]] = [[] for _ in texts]
        running: dict[Any, Any] = {}
        idle = list(workers)
        while queue or running:
            while queue and idle:
                ids = queue.pop(0)
                w = idle.pop()
                running[w.work.remote(ids, [texts[i] for i in ids], [not have[i] for i in ids], names)] = w
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                idle.append(running.pop(ref))
                ids, toks, vecs = ray.get(ref)
                new = [i for i in ids if not have[i]]
                for i, t in zip(ids, toks, strict=True):
                    tokens[i] = t
                for i, v in zip(new, vecs, strict=True):
                    vectors[i] = v
                if self.cache is not None and new:  # kept even if the run stops before committing
                    self.cache.put_many(family or name, {keys[i]: vectors[i] for i in new})
                self.embedded += len(new)
                if self.progress:
                    self.progress("embed", self.embedded, self.total)
        at = 0
        for f, ps in fresh:
            n = len(ps)
            self.pending.append(Upsert(f, ps, vectors[at : at + n], tokens[at : at + n]))
            self.headers.append(f.header)
            at, self.rows = at + n, self.rows + n
            if self.rows >= self.write_rows:
                self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        name, dim, family = self.model
        with self.store.lock():
            self.store.write(
                embedder=name,
                dim=dim,
                family=family,
                upserts=self.pending,
                rebuild=self.rebuild and self.commits == 0,
            )
        self.commits += 1
        self.written += len(self.pending)
        self.pending, self.rows = [], 0
        if self.progress:
            self.progress("write", self.written, self.written)


def _indexed_companies(store: Store, manifest) -> list[str]:
    if manifest is None:
        return []
    try:
        return [s.company for s in store.load().summaries() if s.company]
    except Exception:
        return []
