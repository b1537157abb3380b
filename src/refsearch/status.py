"""`refsearch status`: does the index still match its sources and model, and what does it hold?

Read-only. The current generation is opened with its checksums verified, so a damaged index is
reported exactly as a search would report it. Source files are compared by content hash; only when
something changed (files, or the model's own files) are the sources read, to count the references
the next build would embed (stale: new or changed) and drop (orphaned).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from . import store
from .build import LEXICAL_SETTINGS, stored_hashes
from .errors import IndexProblem, RefsearchError
from .lifecycle import SourceDiff, diff_sources
from .sources import read_sources
from .text import content_hash

# Parts of a generation, by file name prefix; the encoder directory is shared by generations.
PARTS = (("vectors", "vectors."), ("records", "records."), ("lexical", "lexical."), ("manifest", "manifest."))


@dataclass
class Status:
    index: Path
    generation: str
    created: str
    schema_version: int
    model: dict  # id, fingerprint, encoder, dimension as recorded at build time
    model_changed: bool | None  # the model's files fingerprint differently now (None: cannot tell)
    lexical_changed: bool  # this refsearch tokenises or weights differently than the build did
    references: int
    roots: list[str]
    diff: SourceDiff
    stale: int | None = None  # references the next build embeds (new or changed); None: unknown
    orphaned: int | None = None  # indexed references no longer in the sources; None: unknown
    problems: list[str] = field(default_factory=list)  # why something could not be checked
    sizes: dict[str, int] = field(default_factory=dict)  # part -> bytes on disk

    @property
    def up_to_date(self) -> bool:
        return not (self.diff.stale or self.model_changed or self.lexical_changed)


def index_status(index_dir: Path) -> Status:
    """Inspect `index_dir`; raise IndexProblem when there is no usable index there."""
    generation = store.open_generation(index_dir)
    if generation is None:
        raise IndexProblem(f"{index_dir}: no index here; run `refsearch build SOURCES --index {index_dir}`.")
    manifest = generation.manifest
    model = manifest["model"]
    if generation.encoder_dir is not None:
        from .encoders.onnx import read_encoder_config

        read_encoder_config(generation.encoder_dir)  # missing or truncated encoder files: IndexProblem
    status = Status(
        index=index_dir, generation=generation.directory.name, created=manifest.get("created", ""),
        schema_version=manifest["schema_version"],
        model={key: model.get(key) for key in ("id", "fingerprint", "encoder", "dimension")},
        model_changed=None, lexical_changed=manifest.get("lexical") != LEXICAL_SETTINGS,
        references=manifest["count"], roots=list(manifest["sources"]["roots"]), diff=SourceDiff(),
        sizes=_sizes(generation),
    )
    fingerprint = _current_fingerprint(model, status)
    try:
        status.diff = diff_sources(manifest)
    except RefsearchError as problem:
        status.problems.append(f"cannot compare the sources: {problem}")
        return status
    if status.diff.stale or status.model_changed:
        _count_stale(generation, fingerprint, status)
    else:
        status.stale = status.orphaned = 0
    return status


def _current_fingerprint(model: dict, status: Status) -> str:
    """The fingerprint the next build would embed with; records whether it differs from the index's."""
    from .encoders.models import resolve_model

    try:
        now = resolve_model(model["id"]).fingerprint
    except RefsearchError as problem:
        status.problems.append(f"cannot check the model: {problem}")
        return model["fingerprint"]
    status.model_changed = now != model["fingerprint"]
    return now


def _count_stale(generation: store.Generation, fingerprint: str, status: Status) -> None:
    roots = [Path(p) for p in status.roots if Path(p).exists()]
    try:
        references = read_sources(roots).references if roots else []
    except RefsearchError as problem:
        status.problems.append(f"cannot read the sources: {problem}")
        return
    indexed = stored_hashes(generation)
    status.stale = sum(1 for ref in references if indexed.get(ref.id) != content_hash(ref, fingerprint))
    status.orphaned = len(indexed.keys() - {ref.id for ref in references})


def _sizes(generation: store.Generation) -> dict[str, int]:
    sizes = {part: 0 for part, _ in PARTS}
    for path in generation.directory.iterdir():
        part = next((name for name, prefix in PARTS if path.name.startswith(prefix)), "manifest")
        sizes[part] += path.stat().st_size
    encoder = generation.encoder_dir
    sizes["encoder"] = _directory_size(encoder) if encoder else 0
    older = [g for g in generation.directory.parent.glob("gen-*") if g != generation.directory]
    sizes["older_generations"] = sum(_directory_size(g) for g in older)
    sizes["total"] = sum(sizes.values())
    return sizes


def _directory_size(directory: Path) -> int:
    """Bytes in a directory's files; 0 for what a concurrent build's garbage collection removed."""
    total = 0
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for path in directory.iterdir():
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
    return total


def status_json(status: Status) -> dict:
    return {
        "index": str(status.index),
        "generation": status.generation,
        "created": status.created,
        "schema_version": status.schema_version,
        "up_to_date": status.up_to_date,
        "model": {**status.model, "changed": status.model_changed},
        "lexical_changed": status.lexical_changed,
        "sources": {"roots": status.roots, "changed": status.diff.changed,
                    "added": status.diff.added, "removed": status.diff.removed},
        "references": {"indexed": status.references, "stale": status.stale, "orphaned": status.orphaned},
        "bytes": status.sizes,
        "problems": status.problems,
    }


def print_status(console, status: Status) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()

    def row(label: str, value: str, style: str = "") -> None:
        table.add_row(label, Text(value, style=style))  # Text: paths and titles are not markup

    row("index", f"{status.index} ({status.generation}, built {status.created})")
    if status.up_to_date:
        row("state", "up to date", "green")
    else:
        row("state", f"stale: {'; '.join(_reasons(status))}; `refsearch build` (or any search) updates it", "yellow")
    row("sources", ", ".join(status.roots))
    for label, files in (("  changed", status.diff.changed), ("  added", status.diff.added),
                         ("  removed", status.diff.removed)):
        for path in files:
            row(label, path)
    counts = f"{status.references} indexed; {_count(status.stale)} stale (new or changed), {_count(status.orphaned)} orphaned"
    row("references", counts)
    model = status.model
    row("model", f"{model['id']} (fingerprint {model['fingerprint']}, {model['encoder']} encoder, {model['dimension']} dimensions)")
    row("schema", f"version {status.schema_version}")
    row("on disk", " · ".join(f"{part} {_bytes(size)}" for part, size in status.sizes.items()))
    for problem in status.problems:
        row("warning", problem, "red")
    console.print(table)


def _reasons(status: Status) -> list[str]:
    reasons = []
    files = len(status.diff.changed) + len(status.diff.added) + len(status.diff.removed)
    if files:
        reasons.append(f"{files} source file(s) changed")
    if status.model_changed:
        reasons.append("the model's files changed")
    if status.lexical_changed:
        reasons.append("built by another version of the lexical index")
    return reasons


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


def _bytes(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    return f"{size / 1e3:.1f} kB" if size < 1e6 else f"{size / 1e6:.1f} MB"
