"""sources -> records -> embeddings -> index: the incremental build.

Only references whose embedded text (under the same model) changed are embedded again; the others
reuse their vectors from the current generation, after its checksums are verified (reusing damaged
vectors would carry the damage forward). Vectors, records and facets are written in chunks as they
are made, so a build never holds its vectors twice.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import encoders, store, trust, vectors
from .catalog import Catalog, CatalogWriter
from .errors import IndexProblem, RefsearchError, SourceError
from .lexical import BM25Index
from .records import Reference
from .state import (BM25_PARAMS, LEXICAL_SETTINGS, IndexState, Wanted, inspect, record_roots, scan_sources,
                    sealed_facts)
from .text import content_hash, dense_text, lexical_fields

CHUNK = 2048

Progress = Callable[[int, int], None]  # (done, total) for texts being embedded


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
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        counts = f"{self.added} added / {self.changed} changed / {self.removed} removed / {self.unchanged} unchanged"
        verb = "built" if self.rebuilt else "up to date"
        return f"{self.index}: {verb}, {self.total} references ({counts}) in {self.seconds:.1f} s"


def build_index(sources: Sequence[Path] | None, index_dir: Path, model: str | None = None,
                encoder: str | None = None, force: bool = False, progress: Progress | None = None,
                lock_wait: float | None = None, starting: Callable[[], None] | None = None) -> BuildReport:
    """Bring `index_dir` up to date with `sources` (None: the sources it was built from).

    `lock_wait` bounds how long to wait for another build of the same index (None: as long as it
    takes); `starting` is called once the lock is held, the sources are read and there is something
    to do (so a build that cannot start says only why); see BuildReport for what changed.
    """
    started = time.perf_counter()
    index_dir = Path(os.path.abspath(Path(index_dir).expanduser()))
    report = BuildReport(index=index_dir)
    wanted = Wanted(tuple(Path(p) for p in sources) if sources is not None else None, model, encoder)
    with store.build_lock(index_dir, wait=lock_wait):
        state = _current_state(index_dir, wanted, report)
        if state.condition == "fresh" and not force:
            store.collect_garbage(index_dir)  # what dead builds left, even when nothing changed
            report.unchanged = report.total = state.generation.manifest["count"]
            report.seconds = time.perf_counter() - started
            return report
        roots = _roots(state)
        previous = None if force else _reusable(state.generation, report)
        recorded_model = state.generation.manifest["model"] if state.generation and state.trusted else {}
        encoder_name = encoder or recorded_model.get("encoder") or encoders.DEFAULT_ENCODER
        backend = encoders.backend(encoder_name)
        spec = backend.resolve(model or recorded_model.get("id"))
        files = scan_sources(roots)
        from .sources import read_sources

        references = list(read_sources(roots))
        if not references:
            raise RefsearchError(f"no references found in {', '.join(map(str, roots))}; nothing to index.")
        if starting:
            starting()
        encoder_impl, encoder_meta = backend.for_build(spec, index_dir)
        writer = store.GenerationWriter(index_dir)
        try:
            store_meta = _write_generation(writer, references, encoder_impl, previous, report, progress)
            manifest = {
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "count": len(references),
                "model": {"id": spec.model_id, "path": str(spec.path) if spec.path else None,
                          "fingerprint": spec.fingerprint, "encoder": encoder_name,
                          "dimension": encoder_impl.dimension, "files": spec.files, **encoder_meta},
                "vectors": store_meta,
                "sources": {"roots": record_roots(roots, index_dir), "files": files},
                "lexical": LEXICAL_SETTINGS,
            }
            manifest["seal"] = _seal(manifest, report)
            writer.publish(manifest)
        except BaseException:
            writer.discard()
            raise
        store.collect_garbage(index_dir)
    report.rebuilt = True
    report.total = len(references)
    report.seconds = time.perf_counter() - started
    return report


def _current_state(index_dir: Path, wanted: Wanted, report: BuildReport) -> IndexState:
    try:
        return inspect(index_dir, wanted)
    except IndexProblem as problem:
        report.notes.append(f"previous index unusable, rebuilding from scratch ({problem})")
        return IndexState(index_dir, None, roots=[Path(os.path.abspath(p)) for p in wanted.sources or ()])


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


def _reusable(generation: store.Generation | None, report: BuildReport) -> store.Generation | None:
    """The current generation if its vectors may be reused: checksums verified first."""
    if generation is None:
        return None
    try:
        store.verify_checksums(generation)
        return generation
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


def _write_generation(writer: store.GenerationWriter, references: list[Reference], encoder,
                      previous: store.Generation | None, report: BuildReport,
                      progress: Progress | None) -> dict:
    """Write catalog, vectors and lexical index; return the manifest's `vectors` entry."""
    old_by_id, old_rows, old_vectors = _previous(previous)
    hashes = [content_hash(ref, encoder.fingerprint) for ref in references]
    new_ids = {ref.id for ref in references}
    for ref, digest in zip(references, hashes):
        if ref.id not in old_by_id:
            report.added += 1
        elif old_by_id[ref.id] == digest:
            report.unchanged += 1
        else:
            report.changed += 1
    report.removed = sum(1 for ref_id in old_by_id if ref_id not in new_ids)

    to_embed = sum(1 for digest in hashes if digest not in old_rows)
    done = 0
    with contextlib.ExitStack() as unfinished:  # a failure closes the files being written
        catalog = CatalogWriter(writer.path)
        unfinished.callback(catalog.discard)
        store_writer = vectors.writer(vectors.DEFAULT_STORE, writer.path, encoder.dimension)
        unfinished.callback(store_writer.discard)
        for start in range(0, len(references), CHUNK):
            chunk = references[start:start + CHUNK]
            chunk_hashes = hashes[start:start + CHUNK]
            block = np.zeros((len(chunk), encoder.dimension), dtype=np.float32)
            missing = [i for i, digest in enumerate(chunk_hashes) if digest not in old_rows]
            if missing:
                block[missing] = encoder.encode([dense_text(chunk[i]) for i in missing])
                done += len(missing)
                if progress:
                    progress(done, to_embed)
            reused = [i for i, digest in enumerate(chunk_hashes) if digest in old_rows]
            if reused:
                block[reused] = old_vectors(np.array([old_rows[chunk_hashes[i]] for i in reused]))
            store_writer.add(block)
            for ref, digest in zip(chunk, chunk_hashes):
                catalog.add(ref, digest)
        catalog.finish()
        meta = store_writer.finish()
        unfinished.pop_all()
    lexical = BM25Index.build((lexical_fields(ref) for ref in references), **BM25_PARAMS)
    writer.files.extend(lexical.save(writer.tmp))
    return meta


def _previous(previous: store.Generation | None):
    """From the previous generation: id -> content hash, content hash -> row, and a function
    reading rows' vectors."""
    if previous is None:
        return {}, {}, None
    manifest = previous.manifest
    by_id, rows = {}, {}
    for row, (ref, digest) in enumerate(Catalog(previous).rows_with_hashes()):
        by_id[ref.id] = digest
        rows.setdefault(digest, row)
    old = vectors.open_store(previous.directory, manifest["vectors"], manifest["count"], manifest["model"]["dimension"])
    return by_id, rows, old.vectors
