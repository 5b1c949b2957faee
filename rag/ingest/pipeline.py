"""The ingest pipeline: each stage once, in order, each a module of its own.

    bytes ─ extract (decode .txt / read .pdf .docx) ─ normalize ─ parse (header, Q&A)
          ─ chunk ─ embed (vector cache) ─ commit (a new index generation)

Incremental by design: a filing whose normalized text is unchanged is skipped, a changed one
replaces its old passages, and passage vectors come from the content-hash cache whenever the
same text was embedded before, so re-ingesting costs almost nothing.

Example::

    >>> from irqa.embeddings.cache import VectorCache
    >>> from irqa.rag.engine import sample_dir
    >>> from irqa.rag.store import open_store
    >>> store = open_store(f"local:{tmp / 'pipeline-index'}")
    >>> p = sample_dir() / "688775_insta360_2025-003.txt"
    >>> report, view = ingest_sources(store, embedder, VectorCache(tmp / "v.sqlite"), [Source.from_path(p)])
    >>> report.added, report.updated, report.skipped
    (['688775-2025-003'], [], [])
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from irqa.embeddings.base import Embedder
from irqa.embeddings.cache import VectorCache, embed_with_cache
from irqa.rag.companies import extend_alias_file
from irqa.rag.errors import FilingError, StoreError
from irqa.rag.ingest.chunk import Counter, iter_passages
from irqa.rag.ingest.extract import SUFFIXES, basename, extract_text, format_of
from irqa.rag.ingest.limits import IngestLimits
from irqa.rag.ingest.normalize import normalize_text
from irqa.rag.ingest.parse import check_structure, parse_normalized, unique_ids
from irqa.rag.ingest.tokens import count_tokens
from irqa.rag.models import Filing, FilingSummary, Passage
from irqa.rag.store import Store, StoreView, Upsert


class IngestProgress(Protocol):
    """``progress(stage, done, total, item)``: stage is "parse", "embed" or "write"; ``item`` names
    the file just parsed ("" for other stages), so a long run shows where it is."""

    def __call__(self, stage: str, done: int, total: int, item: str = "") -> None: ...


@dataclass
class Source:
    """One file to ingest: its display name and its bytes (names are never used as paths)."""

    name: str
    data: bytes

    @classmethod
    def from_path(cls, path: Path) -> Source:
        return cls(name=path.name, data=path.read_bytes())


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source name, one-line reason)
    passages: int = 0  # passages of added/updated filings
    embedded: int = 0  # of which freshly embedded (the rest came from the cache)
    #: quotable sentences of those passages embedded into the vector cache after the commit, so that
    #: answering does not embed them (``quote_vectors``); the error that stopped it, if any
    quote_vectors: int = 0
    quote_vectors_error: str | None = None
    seconds: float = 0.0
    #: what each accepted file yielded (Q&A pairs, passages), in file order: a parse that went
    #: wrong shows as a record with no Q&A or few passages
    records: list[FilingSummary] = field(default_factory=list)


def parse_bytes(data: bytes, filename: str, limits: IngestLimits | None = None) -> Filing:
    """A file's bytes → ``Filing``: extract, normalize, parse (``filename`` picks the format).

    ``NotARecord`` when the text is not a 投资者关系活动记录表, unless ``limits`` allow it.
    """
    limits = limits or IngestLimits()
    name = basename(filename)
    f = parse_normalized(normalize_text(extract_text(data, name, limits)), source=name)
    if limits.require_structure:
        check_structure(f)
    return f


def parse_file(path: Path) -> Filing:
    """Parse a ``.txt``, ``.pdf`` or ``.docx`` filing from disk."""
    path = Path(path)
    format_of(path.name)  # reject unsupported suffixes before reading anything
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FilingError(f"cannot read {path.name}: {e.strerror or e}") from None
    return parse_bytes(data, path.name)


def expand_paths(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files named directly, plus supported files found under folders (sorted, recursive)."""
    files: list[Path] = []
    errors: list[tuple[str, str]] = []
    for p in paths:
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES)
        elif p.is_file():
            files.append(p)
        else:
            errors.append((str(p), f"no such file or folder: {p}"))
    return files, errors


def ingest_sources(
    store: Store,
    embedder: Embedder | Callable[[], Embedder],
    cache: VectorCache | None,
    sources: list[Source],
    *,
    chunk_tokens: int = 256,
    overlap_tokens: int = 40,
    aliases_path: Path | None = None,
    rebuild: bool = False,
    delete_ids: Sequence[str] = (),
    progress: IngestProgress | None = None,
    limits: IngestLimits | None = None,
    quote_texts: Callable[[Passage], Iterable[str]] | None = None,
) -> tuple[IngestReport, StoreView | None]:
    """Parse, chunk, embed and commit; returns the report and the new snapshot (None if unchanged).

    ``quote_texts``: the quotable sentences of a passage (the answerer's units, handed in by the
    engine: ingest knows nothing of answers); after the commit they are embedded into ``cache`` —
    the vectors the answerer scores quotes by — so that an answer costs cosines, not a model call
    per candidate sentence (issue 23 item 3; README "Performance" has both sides). It runs outside
    the write lock and can only fail into the report: the index is committed either way, and a
    missing vector is embedded when a question needs it.

    ``embedder`` may be a zero-argument factory: a batch of unparsable files then never pays
    for loading the model. ``limits`` cap the work per file and per call (``IngestLimits``).
    """
    t0 = time.perf_counter()
    limits = limits or IngestLimits()
    report = IngestReport()
    parsed: dict[str, Filing] = {}
    chunked: dict[str, list[Passage]] = {}
    planned = 0  # passages of the files accepted so far (an upper bound: unchanged ones are skipped)
    read: list[tuple[Source, Filing]] = []
    for i, src in enumerate(sources, start=1):
        try:
            read.append((src, parse_bytes(src.data, src.name, limits)))
        except FilingError as e:
            report.failed.append((src.name, str(e)))
        if progress:
            progress("parse", i, len(sources), src.name)
    # records without 编号 are named <code>-<date>: two of one day must not overwrite each other
    for (src, _), f in zip(read, unique_ids([f for _, f in read]), strict=True):
        try:
            chunks = chunk_checked(f, src.name, chunk_tokens, overlap_tokens, planned, limits)
        except FilingError as e:
            report.failed.append((src.name, str(e)))
            continue
        parsed[f.id], chunked[f.id] = f, chunks
        planned += len(chunks)
        report.records.append(FilingSummary.of(f, len(chunks)))

    if not parsed and not delete_ids and not rebuild:  # nothing to do: don't even load the model
        report.seconds = time.perf_counter() - t0
        return report, None

    if not delete_ids and not rebuild and _all_unchanged(store, parsed):
        # the common no-op re-ingest: answered from the manifest, without loading any model
        report.skipped = list(parsed)
        report.seconds = time.perf_counter() - t0
        return report, None

    if callable(embedder):
        embedder = embedder()
    with store.lock():
        old = store.read_manifest() if store.exists() and not rebuild else None
        # the analyzer the index will have: its companies so far plus the new ones
        names = set()
        if old is not None:
            prior_view = store.load(embedder.name, embedder.family)  # refuses another model family
            names = set(prior_view.manifest.companies or ())
        indexed: dict[str, str] = dict(old.filings) if old is not None else {}
        for fid in delete_ids:
            if indexed.pop(fid, None) is not None:
                report.deleted.append(fid)
        fresh: list[Filing] = []
        for fid, f in parsed.items():
            prior = indexed.get(fid)
            if prior is not None and prior == f.content_hash:
                report.skipped.append(fid)
                continue
            (report.updated if prior is not None else report.added).append(fid)
            fresh.append(f)
        if not fresh and not report.deleted and old is not None:
            report.seconds = time.perf_counter() - t0
            return report, None
        if rebuild:  # a rebuild keeps exactly the given files, unchanged ones included
            fresh = list(parsed.values())

        chunks = {f.id: chunked[f.id] for f in fresh}
        texts = [p.embed_text() for f in fresh for p in chunks[f.id]]
        analyzer = store.analyzer(sorted(names | {f.company for f in fresh if f.company}))
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress("embed", done, len(texts))

        if progress:
            progress("embed", 0, len(texts))
        vectors, report.embedded = embed_with_cache(embedder, texts, cache, tick)
        report.passages = len(texts)
        upserts, at = [], 0
        for f in fresh:
            ps = chunks[f.id]
            own = texts[at : at + len(ps)]
            upserts.append(Upsert(f, ps, vectors[at : at + len(ps)], [analyzer.tokenize(t) for t in own]))
            at += len(ps)
        snap = store.write(
            embedder=embedder.name,
            dim=embedder.dim,
            family=embedder.family,
            upserts=upserts,
            delete=report.deleted,
            rebuild=rebuild,
        )
        if not rebuild:
            snap = store.compact_if_needed() or snap
        if aliases_path is not None:
            extend_alias_file(aliases_path, [f.header for f in fresh], store.dictionary)
    if quote_texts is not None and cache is not None:
        texts = [t for f in fresh for p in chunks[f.id] for t in quote_texts(p)]
        report.quote_vectors, report.quote_vectors_error = embed_quotes(embedder, cache, texts, progress)
    report.seconds = time.perf_counter() - t0
    return report, snap


def embed_quotes(
    embedder: Embedder,
    cache: VectorCache,
    texts: Iterable[str],
    progress: IngestProgress | None = None,
    batch: int = 1024,
) -> tuple[int, str | None]:
    """Embed ``texts`` (once each) into ``cache``, in batches so memory stays bounded; returns
    (freshly embedded, the error that stopped it)."""
    texts = list(dict.fromkeys(texts))
    fresh = 0
    try:
        for at in range(0, len(texts), batch):
            fresh += embed_with_cache(embedder, texts[at : at + batch], cache)[1]
            if progress:
                progress("quotes", min(at + batch, len(texts)), len(texts))
    except (sqlite3.Error, OSError) as e:  # a full cache disk: answers embed what is missing instead
        return fresh, f"{type(e).__name__}: {e}"
    return fresh, None


def _all_unchanged(store: Store, parsed: dict[str, Filing]) -> bool:
    """Whether every parsed filing is indexed already with the same content hash."""
    if not store.exists():
        return False
    indexed = store.read_manifest()
    return indexed is not None and all(
        indexed.filings.get(fid) == f.content_hash for fid, f in parsed.items()
    )


def chunk_checked(
    f: Filing,
    name: str,
    chunk_tokens: int,
    overlap_tokens: int,
    planned: int,
    limits: IngestLimits,
    count: Counter = count_tokens,
) -> list[Passage]:
    """The filing's passages, or ``FilingError`` as soon as they pass the per-file cap.

    Chunking stops at the first passage over ``max_passages_per_filing`` (issue 25: a
    1.5M-character upload was chunked in full, for minutes, before the cap refused it), so a
    refusal costs at most the cap's worth of chunking; then the per-call cap, as before.
    """
    cap = limits.max_passages_per_filing
    passages = list(itertools.islice(iter_passages(f, chunk_tokens, overlap_tokens, count), cap + 1))
    check_passages(name, len(passages), planned, limits)
    return passages


def check_passages(name: str, n: int, planned: int, limits: IngestLimits) -> None:
    """Refuse a file whose passages exceed the per-file cap or would exceed the per-call cap.

    ``n`` may be ``cap + 1`` for "more than the cap" (``chunk_checked`` stops counting there).
    """
    if n > limits.max_passages_per_filing:
        raise FilingError(
            f"{name} would become more than {limits.max_passages_per_filing:,} passages, the limit "
            f"for one filing (IRQA_MAX_PASSAGES_PER_FILING)"
        )
    cap = limits.max_passages_per_ingest
    if cap is not None and planned + n > cap:
        raise FilingError(
            f"{name} was not ingested: with it this upload would add over {cap:,} passages "
            f"(IRQA_MAX_PASSAGES_PER_UPLOAD); upload it on its own or in a smaller batch"
        )


__all__ = [
    "SUFFIXES",
    "IngestReport",
    "Source",
    "StoreError",
    "expand_paths",
    "ingest_sources",
    "parse_bytes",
    "parse_file",
]
