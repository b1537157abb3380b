"""`refsearch status`: the index state (state.py) explained, with what a build would do and the bytes on disk.

Read-only. Unlike a query, status verifies every file's checksum (unless told not to), so a damaged
index is reported even where a query would not notice. When the sources or the model changed, the sources are read to
count the references the next build would embed (stale: new or changed) and drop (orphaned).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import store
from .files import plain_name
from .catalog import Catalog
from .errors import IndexProblem, RefsearchError
from .state import IndexState, inspect
from .text import content_hash

# Parts of a generation, by file name prefix; the encoder directory is shared by generations.
PARTS = (("vectors", "vectors."), ("records", "records."), ("facets", "facets."), ("lexical", "lexical."),
         ("fulltext", "fulltext."),
         ("manifest", "manifest."))


@dataclass
class Status:
    state: IndexState
    stale: int | None = None  # references the next build embeds (new or changed); None: unknown
    orphaned: int | None = None  # indexed references no longer in the sources; None: unknown
    problems: list[str] = field(default_factory=list)  # why something could not be checked
    sizes: dict[str, int] = field(default_factory=dict)  # part -> bytes on disk
    shared: int = 0  # of those, bytes in files other indexes hold too (hard links: encoders/sharing.py)

    def __repr__(self) -> str:
        state = self.state
        counts = ", ".join(f"{name}={value}" for name, value in (("stale", self.stale), ("orphaned", self.orphaned))
                           if value)
        problems = f", {len(self.problems)} problems" if self.problems else ""
        return (f"Status({str(state.directory)!r}, {state.condition}, {state.generation.directory.name}, "
                f"{self.manifest['count']} references{', ' + counts if counts else ''}{problems})")

    @property
    def manifest(self) -> dict:
        return self.state.generation.manifest


def index_status(index_dir: Path, checksums: bool = True) -> Status:
    """Inspect `index_dir`; raise IndexProblem when there is no usable index there."""
    state = inspect(index_dir, checksums=checksums)
    if state.generation is None:
        raise IndexProblem(f"{index_dir}: no index here; run `refsearch build SOURCES --index {index_dir}`.")
    status = Status(state, problems=list(state.problems), sizes=_sizes(state.generation),
                    shared=_shared_size(state.generation))
    if state.condition == "fresh":
        status.stale = status.orphaned = 0
    elif state.condition == "stale" and not status.problems:
        _count_stale(state, status)
    return status


def _count_stale(state: IndexState, status: Status) -> None:
    """What the next build would embed (new or changed references; all of them if the model changed)
    and drop (ids no longer in the sources)."""
    from .sources import read_sources

    try:
        references = read_sources(state.roots).references
    except RefsearchError as problem:
        status.problems.append(f"cannot read the sources: {problem}")
        return
    indexed = {ref.id: digest for ref, digest in Catalog(state.generation).rows_with_hashes()}
    fingerprint = status.manifest["model"]["vectors_fingerprint"]
    status.stale = len(references) if state.model_changed else sum(
        1 for ref in references if indexed.get(ref.id) != content_hash(ref, fingerprint))
    status.orphaned = len(indexed.keys() - {ref.id for ref in references})


def _sizes(generation: store.Generation) -> dict[str, int]:
    sizes = {part: 0 for part, _ in PARTS}
    for path in generation.directory.iterdir():
        part = next((name for name, prefix in PARTS if path.name.startswith(prefix)), "manifest")
        sizes[part] += path.lstat().st_size
    encoder = generation.manifest["model"].get("encoder_dir")
    sizes["encoder"] = _directory_size(generation.index_dir / encoder) if plain_name(encoder) else 0
    older = [g for g in store.generations(generation.index_dir) if g != generation.directory]
    sizes["older_generations"] = sum(_directory_size(g) for g in older)
    sizes["total"] = sum(sizes.values())
    return sizes


def _directory_size(directory: Path) -> int:
    """Bytes in a directory's files; 0 for what a concurrent build's garbage collection removed, and
    for a link (the index may be crafted: what it links to is not looked at)."""
    return sum(info.st_size for info in _file_stats(directory))


def _shared_size(generation: store.Generation) -> int:
    """Bytes of the index's encoder held once on disk for every index of its model (hard links)."""
    encoder = generation.manifest["model"].get("encoder_dir")
    if not plain_name(encoder):
        return 0
    return sum(info.st_size for info in _file_stats(generation.index_dir / encoder) if info.st_nlink > 1)


def _file_stats(directory: Path) -> list[os.stat_result]:
    """The lstat of each file in `directory` (none if it is a link or is gone)."""
    found = []
    if directory.is_symlink():
        return found
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for path in directory.iterdir():
            with contextlib.suppress(FileNotFoundError):
                found.append(path.lstat())
    return found
