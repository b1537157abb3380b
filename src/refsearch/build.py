"""sources -> records -> embeddings -> index: the incremental build.

Only references whose embedded text (under the same model) changed are embedded again; the others
reuse their vectors from the current generation. Vectors are computed and added to FAISS in chunks
so a large build never holds its vectors twice.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import store
from .errors import IndexProblem, RefsearchError, SourceError
from .lexical import TOKENIZER, BM25Index
from .records import Reference
from .sources import discover_files, read_sources
from .text import content_hash, dense_text, lexical_fields

CHUNK = 2048
ENCODERS = ("onnx", "torch")

Progress = Callable[[int, int], None]  # (done, total) for texts being embedded


@dataclass
class SourceFile:
    path: str
    sha256: str
    size: int


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


def scan_sources(paths: Sequence[Path]) -> list[SourceFile]:
    files = []
    for path in discover_files(paths):
        try:
            files.append(SourceFile(str(path), store.sha256_file(path), path.stat().st_size))
        except OSError as error:
            raise SourceError(path, None, f"cannot read file: {error.strerror or error}") from None
    return files


def sources_fingerprint(files: Sequence[SourceFile]) -> str:
    digest = hashlib.sha256()
    for source in files:
        digest.update(f"{source.path}\0{source.sha256}\n".encode())
    return digest.hexdigest()


def build_index(sources: Sequence[Path], index_dir: Path, model: str | None = None,
                encoder: str = "onnx", force: bool = False, progress: Progress | None = None) -> BuildReport:
    """Bring `index_dir` up to date with `sources`; see BuildReport for what changed."""
    if encoder not in ENCODERS:
        raise RefsearchError(f"--encoder must be one of {', '.join(ENCODERS)}, not {encoder!r}.")
    started = time.perf_counter()
    _prepare_dictionary()
    sources = [Path(p).expanduser().resolve() for p in sources]
    report = BuildReport(index=index_dir)
    with store.build_lock(index_dir):
        previous = None if force else _previous_generation(index_dir, report)
        files = scan_sources(sources)
        fingerprint = sources_fingerprint(files)
        from .encoders.models import resolve_model

        spec = resolve_model(model or (previous.manifest["model"]["id"] if previous else None))
        if (previous and previous.manifest["sources"]["fingerprint"] == fingerprint
                and previous.manifest["model"]["fingerprint"] == spec.fingerprint
                and previous.manifest["model"]["encoder"] == encoder
                and previous.manifest["lexical"] == LEXICAL_SETTINGS):
            report.unchanged = report.total = previous.manifest["count"]
            report.seconds = time.perf_counter() - started
            return report
        references = list(read_sources(sources))
        if not references:
            raise RefsearchError(f"no references found in {', '.join(map(str, sources))}; nothing to index.")
        encoder_impl, model_meta = _encoder(index_dir, spec, encoder)
        writer = store.GenerationWriter(index_dir)
        try:
            _write_generation(writer, references, encoder_impl, previous, report, progress)
            writer.publish({
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "count": len(references),
                "model": model_meta,
                "sources": {"roots": [str(p) for p in sources], "fingerprint": fingerprint,
                            "files": [vars(f) for f in files]},
                "lexical": LEXICAL_SETTINGS,
            })
        except BaseException:
            writer.discard()
            raise
        store.collect_garbage(index_dir)
    report.rebuilt = True
    report.total = len(references)
    report.seconds = time.perf_counter() - started
    return report


BM25_PARAMS = {"k1": 1.2, "b": 0.75}
LEXICAL_SETTINGS = {**BM25_PARAMS, "tokenizer": TOKENIZER}


def _prepare_dictionary() -> None:
    """Convert CC-CEDICT for query translation now (once per installation), so no query pays for it."""
    from .cedict import DictionaryMissing, ensure_tables

    try:
        ensure_tables()
    except DictionaryMissing:
        pass  # translation falls back to the glossary


def _previous_generation(index_dir: Path, report: BuildReport) -> store.Generation | None:
    try:
        return store.open_generation(index_dir)
    except IndexProblem as problem:
        report.notes.append(f"previous index unusable, rebuilding from scratch ({problem})")
        return None


def _encoder(index_dir: Path, spec, backend: str):
    meta = {"id": spec.model_id, "path": str(spec.path), "fingerprint": spec.fingerprint, "encoder": backend}
    if backend == "torch":
        from .encoders.sbert import SentenceTransformerEncoder

        impl = SentenceTransformerEncoder(spec)
    else:
        from .encoders.export import export_onnx
        from .encoders.onnx import OnnxEncoder

        name = store.install_encoder(index_dir, export_onnx(spec), spec.fingerprint)
        impl = OnnxEncoder(index_dir / name)
        meta["encoder_dir"] = name
        meta["encoder_files"] = {p.name: p.stat().st_size for p in sorted((index_dir / name).iterdir())}
    meta["dimension"] = impl.dimension
    return impl, meta


def _write_generation(writer: store.GenerationWriter, references: list[Reference], encoder,
                      previous: store.Generation | None, report: BuildReport,
                      progress: Progress | None) -> None:
    import faiss

    old_hashes, old_vectors = _previous_vectors(previous)
    hashes = [content_hash(ref, encoder.fingerprint) for ref in references]
    old_by_id = stored_hashes(previous)
    new_ids = {ref.id for ref in references}
    for ref, digest in zip(references, hashes):
        if ref.id not in old_by_id:
            report.added += 1
        elif old_by_id[ref.id] == digest:
            report.unchanged += 1
        else:
            report.changed += 1
    report.removed = sum(1 for ref_id in old_by_id if ref_id not in new_ids)

    to_embed = sum(1 for digest in hashes if digest not in old_hashes)
    done = 0
    index = faiss.IndexFlatIP(encoder.dimension)
    for start in range(0, len(references), CHUNK):
        chunk = references[start:start + CHUNK]
        chunk_hashes = hashes[start:start + CHUNK]
        vectors = np.zeros((len(chunk), encoder.dimension), dtype=np.float32)
        missing = [i for i, digest in enumerate(chunk_hashes) if digest not in old_hashes]
        if missing:
            vectors[missing] = encoder.encode([dense_text(chunk[i]) for i in missing])
            done += len(missing)
            if progress:
                progress(done, to_embed)
        for i, digest in enumerate(chunk_hashes):
            if digest in old_hashes:
                vectors[i] = old_vectors(old_hashes[digest])
        index.add(vectors)
    faiss.write_index(index, str(writer.path("vectors.faiss")))

    with open(writer.path("records.jsonl"), "w", encoding="utf-8") as handle:
        for ref, digest in zip(references, hashes):
            handle.write(json.dumps({**ref.to_json(), "content_hash": digest}, ensure_ascii=False) + "\n")
    lexical = BM25Index.build((lexical_fields(ref) for ref in references), **BM25_PARAMS)
    for name in lexical.save(writer.tmp):
        writer.files.append(name)


def stored_hashes(previous: store.Generation | None) -> dict[str, str]:
    """Reference id -> content hash of the vector stored for it, in row order."""
    if previous is None:
        return {}
    ids = {}
    with open(previous.path("records.jsonl"), encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            ids[row["id"]] = row["content_hash"]
    return ids


def _previous_vectors(previous: store.Generation | None):
    """content hash -> row, and a function reading that row's vector from the old FAISS index."""
    if previous is None:
        return {}, None
    import faiss

    rows = {digest: row for row, digest in enumerate(stored_hashes(previous).values())}
    old = faiss.read_index(str(previous.path("vectors.faiss")))
    return rows, old.reconstruct
