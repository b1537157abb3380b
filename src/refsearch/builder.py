"""sources -> records -> embeddings -> index: the incremental build.

Only references whose embedded text (under the same model) changed are embedded again; the others
reuse their vectors from the current generation, after its checksums are verified (reusing damaged
vectors would carry the damage forward), or from the journal of a build that was killed
(journal.py). References stream through in chunks: each chunk is embedded, then written to the
vectors, the catalog and the BM25 postings, so a build never holds its vectors twice. Pages without
headings then get topics of their own (derived_topics.py), before the catalog is finished.
"""

from __future__ import annotations

import contextlib
import os
import time
from array import array
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from . import derived_topics, encoders, store, takeover, topicmap, trust, vectors
from .catalog import CatalogWriter, record_line, with_hash, with_place
from .config import build_encoder
from .docfeatures import DocumentFeatures, FeaturesWriter
from .fulltext import FullTextWriter
from .errors import BuildInterrupted, IndexProblem, RefsearchError, SourceError
from .files import build_lock
from .journal import Journal
from .journal import discard_all as discard_journals
from .lexical import BM25_PARAMS, LEXICAL_SETTINGS, BM25Builder
from .records import Reference
from .state import (RECORDS_SETTINGS, IndexState, Wanted, inspect, record_roots,
                    resolve_roots,
                    scan_sources, sealed_facts)
from .text import content_hash, dense_text, lexical_fields

CHUNK = 2048
RUN_ROWS = 65_536  # rows taken over are written a run at a time, at most this many (their lines are held)

Progress = Callable[[int, int], None]  # (references indexed so far, references in all)


@dataclass
class BuildReport:
    index: Path
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    total: int = 0
    rebuilt: bool = False
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # one line each, for the user
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # files that are not reference lists, and why
    warnings: list[str] = field(default_factory=list)  # entries passed over inside files that were read
    merged: int = 0  # entries that were the same work as another (dedupe.py) and merged into it
    conflicts: list[str] = field(default_factory=list)  # pairs that share an identifier but not a title

    def __repr__(self) -> str:
        return f"BuildReport({self.summary()!r})"

    def summary(self) -> str:
        counts = f"{self.added} added / {self.changed} changed / {self.removed} removed / {self.unchanged} unchanged"
        verb = "built" if self.rebuilt else "up to date"
        merged = f"; {self.merged} duplicate entries merged" if self.merged else ""
        line = f"{self.index}: {verb}, {self.total} references ({counts}{merged}) in {self.seconds:.1f} s"
        if self.warnings:  # entries a parser could not read: the user should know without -v
            line += f"; passed over {len(self.warnings)} entr{'y' if len(self.warnings) == 1 else 'ies'} (--verbose lists them)"
        return line


def build_index(sources: Sequence[Path] | None, index_dir: Path, model: str | None = None,
                encoder: str | None = None, force: bool = False, progress: Progress | None = None,
                lock_wait: float | None = None, ray: str | None = None,
                starting: Callable[[], None] | None = None) -> BuildReport:
    """Bring `index_dir` up to date with `sources` (None: the sources it was built from).

    `lock_wait` bounds how long to wait for another build of the same index (None: as long as it
    takes); `ray` embeds on a Ray cluster (see `_embedder`); `starting` is called once the lock is
    held, the sources are read and there is something to do (so a build that cannot start says only
    why); see BuildReport for what changed. Ctrl-C raises BuildInterrupted, which says whether
    the index changed (it did only if CURRENT names another generation than before).
    """
    index_dir = Path(os.path.abspath(Path(index_dir).expanduser()))
    live = _live_generation(index_dir)
    try:
        return _build_index(sources, index_dir, model, encoder, force, progress, lock_wait, ray, starting)
    except KeyboardInterrupt as interrupt:
        raise BuildInterrupted(index_dir, changed=_live_generation(index_dir) != live) from interrupt


def _live_generation(index_dir: Path) -> str | None:
    """The generation CURRENT names (None: none, or not readable)."""
    try:
        generation = store.current_generation(index_dir)
    except (IndexProblem, OSError):
        return None
    return generation.name if generation else None


def _build_index(sources, index_dir: Path, model, encoder, force, progress, lock_wait, ray, starting) -> BuildReport:
    started = time.perf_counter()
    _prepare_dictionary()
    report = BuildReport(index=index_dir)
    wanted = Wanted(tuple(Path(p) for p in sources) if sources is not None else None, model, encoder)
    with build_lock(index_dir, wait=lock_wait):
        state = _current_state(index_dir, wanted, report)
        if state.condition == "fresh" and not force:
            discard_journals(index_dir)  # what dead builds left, even when nothing changed
            store.collect_garbage(index_dir)
            report.unchanged = report.total = state.generation.manifest["count"]
            report.seconds = time.perf_counter() - started
            return report
        roots = _roots(state)
        previous = None if force else _reusable(state.generation, report)
        recorded_model = state.generation.manifest["model"] if state.generation and state.trusted else {}
        encoder_name = build_encoder(encoder, recorded_model.get("encoder"))
        backend = encoders.backend(encoder_name)
        spec = backend.resolve(model or recorded_model.get("id"))
        files = scan_sources(roots, state.generation.manifest["sources"]["files"] if previous else ())
        from .sources import conflicts_summary, plan_sources, skipped_summary

        plan = plan_sources(roots, previous.reading if previous else None)
        report.skipped, report.warnings = plan.skipped, plan.warnings
        report.merged, report.conflicts = plan.duplicates.merged, [str(c) for c in plan.duplicates.conflicts]
        report.notes += [line for line in (skipped_summary(plan), conflicts_summary(plan)) if line]
        if not plan.count:
            raise RefsearchError(f"no references found in {', '.join(map(str, roots))}; nothing to index.")
        if starting:
            starting()
        encoder_impl, encoder_meta = backend.for_build(spec, index_dir)
        if previous:
            previous.allow_rows(encoder_impl.fingerprint, {"lexical": LEXICAL_SETTINGS, "records": RECORDS_SETTINGS})
        journal = Journal(index_dir, encoder_impl.fingerprint, encoder_impl.dimension)
        writer = store.GenerationWriter(index_dir)
        try:
            embed = _embedder(encoder_impl, index_dir, encoder_meta, ray)
            written = _write_generation(writer, plan, encoder_impl, embed, previous, journal, report, progress)
            store_meta, count = written.vectors, written.count
            map_meta = topicmap.write(writer.path, vectors.open_store(writer.tmp, store_meta, count,
                                                                      encoder_impl.dimension),
                                      written.map_kept(previous))
            takeover.write_reading(writer.path(takeover.READING), writer.path(takeover.RAW), writer.path(takeover.KEYS),
                                   _reading(plan, files, roots, written), written.raw_lines.values(),
                                   previous.reading if previous else None)
            manifest = {
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "count": count,
                "model": {"id": spec.model_id, "path": str(spec.path) if spec.path else None,
                          "fingerprint": spec.fingerprint, "encoder": encoder_name,
                          "vectors_fingerprint": encoder_impl.fingerprint,  # what content hashes are keyed by
                          "dimension": encoder_impl.dimension, "files": spec.files, **encoder_meta},
                "vectors": store_meta,
                "sources": {"roots": record_roots(roots, index_dir), "files": files},
                "lexical": LEXICAL_SETTINGS,
                "records": RECORDS_SETTINGS,
                "map": map_meta,
                "topics": written.topics,
                "features": written.features,
                **({"fulltext": written.fulltext} if written.fulltext else {}),
            }
            manifest["seal"] = _seal(manifest, report)
            writer.publish(manifest)
        except BaseException:
            writer.discard()
            raise
        discard_journals(index_dir)
        store.collect_garbage(index_dir)
    report.rebuilt = True
    report.total = count
    report.seconds = time.perf_counter() - started
    return report


def _prepare_dictionary() -> None:
    """Convert CC-CEDICT for query translation now (once per installation), so no query pays for it."""
    from .cedict import DictionaryMissing, ensure_tables

    try:
        ensure_tables()
    except DictionaryMissing:
        pass  # translation falls back to the glossary


def _current_state(index_dir: Path, wanted: Wanted, report: BuildReport) -> IndexState:
    try:
        return inspect(index_dir, wanted)
    except IndexProblem as problem:
        report.notes.append(f"previous index unusable, rebuilding from scratch ({problem})")
        roots = wanted.sources if wanted.sources is not None else _recorded_roots(index_dir)
        return IndexState(index_dir, None, roots=[Path(os.path.abspath(p)) for p in roots])


def _recorded_roots(index_dir: Path) -> list[Path]:
    """The sources a damaged index was built from, when its manifest still reads and carries this
    user's seal: the fix a damaged index's message names, `refsearch build --force`, then needs no
    SOURCES (a data file truncated in place left the manifest whole)."""
    try:
        generation = store.current_generation(index_dir)
        manifest = store.read_manifest(generation / "manifest.json") if generation else None
    except IndexProblem:
        return []
    if manifest is None or not trust.verify(sealed_facts(manifest), manifest.get("seal")):
        return []
    return resolve_roots(manifest["sources"]["roots"], index_dir)


def _roots(state: IndexState) -> list[Path]:
    if not state.roots:
        if state.generation is None:
            raise IndexProblem(f"{state.directory}: no index here to update; run `refsearch build SOURCES --index {state.directory}`.")
        raise RefsearchError(f"{state.directory} was built elsewhere or by another user; name its sources to attach "
                             f"it: `refsearch build SOURCES --index {state.directory}`.")
    for root in state.missing_roots:
        raise SourceError(root, None, "no such file or directory; check the path "
                                      "(or name the index's new sources: `refsearch build SOURCES --index DIR`)")
    for root in state.roots:
        if root == state.directory or state.directory in root.parents:
            raise RefsearchError(f"{root}: a source cannot be the index directory or inside it; keep the index "
                                 "beside or inside the source folder instead.")
    return state.roots


def _reusable(generation: store.Generation | None, report: BuildReport) -> takeover.Previous | None:
    """The current generation if its vectors, rows and reading may be taken over: checksums verified first."""
    if generation is None:
        return None
    try:
        store.verify_checksums(generation)
        return takeover.Previous(generation)
    except IndexProblem as problem:
        report.notes.append(f"previous index damaged, embedding everything again ({problem})")
        return None


def _seal(manifest: dict, report: BuildReport) -> str | None:
    try:
        return trust.seal(sealed_facts(manifest))
    except OSError as error:
        report.notes.append(f"cannot write the key that marks this index as yours ({error}); "
                            "searches will not update it automatically")
        return None


# (each chunk's texts, told how many of the chunk being embedded are done) -> their vectors, in order
Embed = Callable[[Iterable[list[str]], Callable[[int], None]], Iterator[np.ndarray]]


@dataclass
class Written:
    """What `_write_generation` wrote: the manifest's `vectors`, `topics`, `fulltext` (None: no
    reference has a full text) and `features` entries, the row count, each row's previous row (-1:
    not taken over), each unmerged entry's row (by its plan position), the merged entries as read and
    each file's rows (by its plan number: first, last and how many)."""

    vectors: dict
    count: int
    topics: dict
    fulltext: dict | None
    features: dict
    old_rows: np.ndarray
    row_of_position: dict[tuple[int, int], int]
    raw_lines: dict[tuple[int, int], bytes]
    rows_of_file: dict[int, list[int]]

    def map_kept(self, previous: takeover.Previous | None):
        """What topicmap.write needs to place new rows in the previous map (None: lay it out)."""
        if previous is None or not previous.rows_reusable or previous.map_points is None:
            return None
        return previous.map_points, self.old_rows, previous.manifest.get("map") or {}


def _write_generation(writer: store.GenerationWriter, plan, encoder, embed: Embed,
                      previous: takeover.Previous | None, journal: Journal, report: BuildReport,
                      progress: Progress | None) -> Written:
    """Stream references through embedding into catalog, vectors, lexical and full-text index and the
    per-reference features, chunk by chunk, then derive the topics of pages without any. A row the
    previous generation holds unchanged (takeover.py) is taken over whole: its stored line, facets,
    vector, postings and features. Other vectors come from the previous generation (same content
    hash), else the journal of an unfinished build, else `embed` (and then go into the journal).
    `embed` may work ahead on later chunks (Ray does), so each chunk waits in `pending` until its
    vectors come back. A file taken whole (sources.Whole) is taken over as one block of rows."""
    from .sources import Moved, Whole, fulltext_of

    total = plan.count
    hash_of_id = previous.hash_of_id if previous else lambda ref_id: None

    def first_old_rows(digests: list[str]) -> np.ndarray:  # the previous rows holding these vectors (-1: none)
        if previous and previous.vectors_reusable:
            return previous.first_rows_of_hashes(digests)
        return np.full(len(digests), -1, dtype=np.int64)
    lexical = BM25Builder(**BM25_PARAMS)
    if previous and previous.rows_reusable:
        lexical.take_over(previous.lexical)
    new_ids: set[str] = set()
    pending: deque[tuple[list, list[str], list[int]]] = deque()
    fresh = bytearray()  # per row: added or changed by this build (derived topics' stability rule)
    old_rows = array("q")
    row_of_position: dict[tuple[int, int], int] = {}
    rows_of_file: dict[int, list[int]] = {}  # plan number -> [first row, last row, rows]

    def row_of(item) -> tuple[Reference | None, int | None, bytes | None, str]:
        """(the reference, None, None, its content hash) to write anew, or (None, previous row, its
        record line now or None: as stored, its content hash) to take over."""
        if not isinstance(item, Reference):  # an unmerged entry not read again: a previous row
            if not previous.rows_reusable:
                item = plan.reference(item)
            elif isinstance(item, Moved):  # ... whose place in its file changed
                line = with_place(previous.reading.raw_line(item.where), item.source)
                return None, item.where, line, previous.hash_of_row(item.where)
            else:
                return None, item, None, previous.hash_of_row(item)
        digest = content_hash(item, encoder.fingerprint)
        line = record_line(item) if previous and previous.rows_reusable else None
        kept = previous.row_of_line(line, digest) if line else None
        return (item, None, None, digest) if kept is None else (None, kept, line, digest)

    def items() -> Iterator[tuple[tuple[int, int], object]]:
        """The plan's items, a file taken whole as one (its rows read back when they cannot be taken over)."""
        for position, item in plan.items():
            if not isinstance(item, Whole) or previous.rows_reusable:
                yield position, item
            else:
                for row in range(item.first_row, item.first_row + item.rows):
                    yield (position[0], -2 - row), previous.reference(row)

    def texts_to_embed() -> Iterator[list[str]]:
        for chunk in _chunks(items(), CHUNK, lambda item: isinstance(item[1], Whole)):
            if isinstance(chunk, tuple):  # a file taken whole: nothing to embed
                pending.append((chunk, None, None))
                continue
            rows, hashes = [], []
            for position, item in chunk:
                ref, kept, line, digest = row_of(item)
                rows.append((position, ref, kept, line))
                hashes.append(digest)
            for (_, ref, kept, _), digest in zip(rows, hashes):
                ref_id = previous.catalog.ids[kept] if ref is None else ref.id
                new_ids.add(ref_id)
                old = hash_of_id(ref_id)
                report.added += old is None
                report.unchanged += old == digest
                report.changed += old is not None and old != digest
            from_old = first_old_rows(hashes)
            missing = [i for i, digest in enumerate(hashes) if from_old[i] < 0 and digest not in journal.rows]
            pending.append((rows, (hashes, from_old), missing))
            yield [dense_text(rows[i][1]) for i in missing]

    with contextlib.ExitStack() as unfinished:  # a failure closes the files being written
        catalog = CatalogWriter(writer.path)
        unfinished.callback(catalog.discard)
        features = FeaturesWriter()
        kept_features = DocumentFeatures.load(previous.generation) if previous else None
        # its BM25 files are taken over as they are: only from a generation in this lexical format
        fulltext = FullTextWriter(writer.tmp, BM25_PARAMS, previous.generation if previous and previous.lexical_reusable
                                  else None)
        store_writer = vectors.writer(vectors.store_for(total), writer.path, encoder.dimension,
                                      previous.vectors_store if previous and previous.vectors_reusable else None)
        unfinished.callback(store_writer.discard)
        done = 0

        def encoded(count: int) -> None:  # texts of the chunk after `done` rows: the bar moves as batches finish
            if progress:
                progress(min(done + count, total), total)

        # rows taken over since the last one written anew, and the lines of those whose line changed
        # (by their place in the run); a run goes on across chunks (each cost ~10 ms of renumbering)
        run: tuple[list[int], dict[int, bytes]] = ([], {})
        with_fulltext = previous.stored.rows_with(b'"fulltext"') if previous and previous.rows_reusable else None

        def take_over_run() -> None:
            rows, replaced = run
            if rows:
                catalog.add_kept(previous.kept_rows, rows, *previous.stored.joined(rows, replaced))
                lexical.add_kept(rows)
                features.add_kept(kept_features, rows, previous.reference)
                rows.clear(), replaced.clear()

        def take_whole(number: int, whole: Whole) -> None:
            nonlocal done
            first, count = whole.first_row, whole.rows
            kept = np.arange(first, first + count, dtype=np.int64)
            store_writer.add(np.zeros((0, encoder.dimension), np.float32), kept)
            old_rows.frombytes(kept.tobytes())
            fresh.extend(bytes(count))
            run[0].extend(kept.tolist())
            for offset in np.flatnonzero(with_fulltext[first:first + count]).tolist():
                fulltext.add(done + offset, previous.reference(first + offset).fulltext)
            rows_of_file[number] = [done, done + count - 1, count]
            report.unchanged += count
            done += count
            if len(run[0]) >= RUN_ROWS:
                take_over_run()
            if progress:
                progress(done, total)

        def take_wholes() -> None:  # those before the chunk embedded next
            while pending and pending[0][1] is None:
                (position, whole), _, _ = pending.popleft()
                take_whole(position[0], whole)

        for embedded in embed(texts_to_embed(), encoded):
            take_wholes()
            rows, (hashes, from_old), missing = pending.popleft()
            if missing:
                journal.add([hashes[i] for i in missing], embedded)
            from_journal = [journal.rows[digest] for digest, old in zip(hashes, from_old.tolist()) if old < 0]
            store_writer.add(journal.vectors(np.array(from_journal, dtype=np.int64)) if from_journal
                             else np.zeros((0, encoder.dimension), np.float32), from_old)
            for row, ((position, ref, kept, line), digest) in enumerate(zip(rows, hashes), start=done):
                if position not in plan.duplicates.absorbs:
                    row_of_position[position] = row
                span = rows_of_file.setdefault(position[0], [row, row, 0])
                span[1:] = row, span[2] + 1
                old_rows.append(-1 if kept is None else kept)
                if kept is None:
                    take_over_run()
                    fresh.append(hash_of_id(ref.id) != digest)
                    catalog.add(ref, digest)
                    lexical.add(lexical_fields(ref))
                    features.add(ref)
                else:
                    fresh.append(False)
                    if line is not None:
                        run[1][len(run[0])] = with_hash(line, digest)
                    run[0].append(kept)
                    if with_fulltext[kept]:  # its full text's files, read again for the passages
                        ref = previous.reference(kept)
                if ref is not None and ref.fulltext:
                    fulltext.add(row, ref.fulltext)
            if len(run[0]) >= RUN_ROWS:
                take_over_run()
            done += len(rows)
            if progress:
                progress(done, total)
        take_wholes()
        take_over_run()
        if previous:
            previous.let_go_of_rows()
            ids, kept, taken = previous.catalog.ids, np.zeros(previous.catalog.count, dtype=bool), np.frombuffer(old_rows, dtype=np.int64)
            kept[taken[taken >= 0]] = True  # their ids are here still
            report.removed = sum(1 for row in np.flatnonzero(~kept).tolist() if ids[row] not in new_ids)
        with ThreadPoolExecutor(1) as pool:  # BM25's merge is numpy, mostly outside the GIL: beside the others
            merged = pool.submit(lexical.finish)
            features_meta = features.finish(writer.path)
            meta = store_writer.finish()
            bm25 = merged.result()
        kept_topics = _kept_topics(previous.generation if previous else None, encoder)
        derived = _derive_topics(catalog, vectors.open_store(writer.tmp, meta, done, encoder.dimension), bm25,
                                 np.frombuffer(bytes(fresh), dtype=bool), kept_topics,
                                 previous.derived_topics_of(np.frombuffer(old_rows, dtype=np.int64))
                                 if kept_topics else None)
        catalog.set_derived(derived)
        catalog.finish()
        fulltext_files, fulltext_meta = fulltext.finish(fulltext_of) or ([], None)
        unfinished.pop_all()
    writer.files.extend(fulltext_files)
    writer.files.extend(bm25.save(writer.tmp))
    return Written(meta, done, derived_topics.write(writer.path, derived, encoder.dimension), fulltext_meta,
                   features_meta, np.frombuffer(old_rows, dtype=np.int64), row_of_position, plan.raw_lines,
                   rows_of_file)


def _reading(plan, files: list[dict], roots: Sequence[Path], written: Written) -> Iterator[tuple[dict, list | bytes, np.ndarray | None]]:
    """The reading a generation keeps for the next build (takeover.write_reading): per file read (or
    passed over), its size and time as scanned, its rows and raw lines, whether it is alone (no
    entry of it shared a work key with another file's and its rows are one block: the next build
    may take it whole), and per entry where its record went: a row, or for a merged entry (either
    side) a raw line, numbered in the order `Written.raw_lines` has them."""
    from .sources.dedupe import key_digests

    stats = {os.path.normpath(roots[entry["root"]] / entry["path"]): (entry["size"], entry["mtime_ns"]) for entry in files}
    raw_number = {position: number for number, position in enumerate(plan.raw_lines)}
    recall = plan.recall  # the last reading (a file taken whole keeps its entries line)
    for number, file in enumerate(plan.files):
        stat = stats.get(os.path.abspath(file.path))
        if stat is None:
            continue  # a database (its companions make its state), or a file the scan did not list
        first, last, rows = written.rows_of_file.get(number, (0, -1, 0))
        alone = number not in plan.duplicates.crossed and rows == last - first + 1 > 0
        if file.whole is not None:
            raws, entries = len(file.whole.raw_lines), file.whole.entries
            raw_first = raw_number[number, -1] if raws else 0
            lines, keys = recall.entries_line(os.path.abspath(file.path)), file.whole.keys
        else:
            wheres = [_where(written, raw_number, (number, entry)) for entry in range(len(file.entries))]
            raws = [-where - 1 for where in wheres if where is not None and where < 0]
            raw_first, raws = (min(raws), len(raws)) if raws else (0, 0)
            entries = len(file.entries)
            lines = [[ref_id, facts, None if where is None else where - first if where >= 0 else where + raw_first]
                     for (ref_id, facts, _), where in zip(file.entries, wheres)]
            keys = key_digests((ref_id for ref_id, _, _ in file.entries), (facts for _, facts, _ in file.entries)) if alone else None
        conflicts = [[c.key, c.first, c.second, c.first_title, c.second_title, c.at[1]]
                     for c in plan.duplicates.conflicts if c.at[0] == number]  # a file taken whole's too
        yield (_summary(file.path, file.key, stat, file.warnings, None, entries=entries, rows=[max(first, 0), rows],
                        raws=[raw_first, raws], alone=alone, conflicts=conflicts,
                        **({"markdown": file.markdown} if file.markdown is not None else {})), lines, keys)
    for path, key, why in plan.skipped_kept:
        stat = stats.get(os.path.abspath(path))
        if stat is not None:
            yield _summary(path, key, stat, [], why), [], None


def _summary(path: Path, key: str, stat: tuple[int, int], warnings: list[str], skipped: str | None, **read) -> dict:
    """A file's summary line in the reading (takeover.Reading); `read`: what its entries came to
    (none for a file passed over)."""
    return {"path": os.path.abspath(path), "key": key, "size": stat[0], "mtime_ns": stat[1], "warnings": warnings,
            "skipped": skipped, **{"entries": 0, "rows": [0, 0], "raws": [0, 0], "alone": False, "conflicts": [],
                                   **read}}


def _where(written: Written, raw_number: dict, position: tuple[int, int]) -> int | None:
    """Where an entry's record went: its row, or -(n + 1) for raw line n (a merged entry)."""
    if position in raw_number:
        return -raw_number[position] - 1
    return written.row_of_position.get(position)


def _derive_topics(catalog: CatalogWriter, written: vectors.VectorStore, bm25, fresh: np.ndarray,
                   kept: dict, known: np.ndarray | None) -> list:
    """Derived topics for the pages without any (derived_topics.py), from the vectors and records
    just written (let go on return: a failure after this must leave no file of the new generation open)."""
    return derived_topics.derive(catalog.flat_pages(), written.vectors, bm25,
                                 catalog.written, fresh, kept, known)


def _kept_topics(previous: store.Generation | None, encoder) -> dict:
    """The derived topics of the previous generation, if its vectors are this encoder's."""
    if previous is None or previous.manifest["model"]["vectors_fingerprint"] != encoder.fingerprint:
        return {}
    return derived_topics.kept_topics(previous, encoder.dimension)


def _embedder(encoder, index_dir: Path, encoder_meta: dict, ray: str | None) -> Embed:
    """The local encoder, or the Ray Data stage (`ray`: a cluster's address, "auto", or "local" to
    start one here) running the same ONNX encoder that the index keeps for its queries."""
    if ray is None:
        return lambda chunks, encoded: (encoder.encode(texts, encoded=encoded) for texts in chunks)
    if "encoder_dir" not in encoder_meta:
        raise RefsearchError("--ray runs the ONNX encoders (onnx, onnx-int8), not this one.")
    from .distributed import embed_chunks_on_ray

    address = None if ray == "local" else ray
    return lambda chunks, _encoded: embed_chunks_on_ray(chunks, index_dir / encoder_meta["encoder_dir"], address)


def _chunks(items: Iterable, size: int, alone: Callable[[object], bool] = lambda item: False) -> Iterator[list | object]:
    """`items` in lists of `size`, but an item `alone` says so comes by itself, as it is."""
    chunk = []
    for item in items:
        if alone(item):
            if chunk:
                yield chunk
                chunk = []
            yield item
            continue
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
