"""Opening an index for queries: build it when missing, bring it up to date when its sources changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from . import store
from .build import LEXICAL_SETTINGS, BuildReport, build_index, scan_sources, sources_fingerprint
from .errors import IndexProblem, RefsearchError, SourceError
from .index import Index

Say = Callable[[str], None]


@dataclass
class SourceDiff:
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return bool(self.changed or self.added or self.removed)


def diff_sources(manifest: dict) -> SourceDiff:
    """Which source files differ from those the index was built from (by content hash)."""
    built = {f["path"]: f["sha256"] for f in manifest["sources"]["files"]}
    roots = [Path(p) for p in manifest["sources"]["roots"]]
    existing = [p for p in roots if p.exists()]
    now = {f.path: f.sha256 for f in scan_sources(existing)} if existing else {}
    diff = SourceDiff()
    diff.changed = sorted(p for p in built.keys() & now.keys() if built[p] != now[p])
    diff.added = sorted(now.keys() - built.keys())
    diff.removed = sorted(built.keys() - now.keys())
    return diff


def open_for_query(index_dir: Path, sources: Sequence[Path] | None, model: str | None = None,
                   update: bool = True, say: Say = lambda _: None, progress=None) -> Index:
    """The index to answer from: built first if missing, refreshed first if stale (unless `update` is off)."""
    generation = store.open_generation(index_dir, verify=False) if (index_dir / "CURRENT").exists() else None
    if generation is None:
        if not sources:
            raise IndexProblem(f"{index_dir}: no index here; run `refsearch build SOURCES --index {index_dir}`.")
        say(f"no index at {index_dir}; building it from {', '.join(map(str, sources))} first…")
        say(build_index(sources, index_dir, model=model, progress=progress).summary())
        return Index.open(index_dir, model)
    try:
        diff = diff_sources(generation.manifest)
    except RefsearchError as problem:
        say(f"warning: cannot check the sources for changes ({problem}); answering from the index as built.")
        return Index.open(index_dir, model)
    files = len(diff.changed) + len(diff.added) + len(diff.removed)
    reason = f"{files} source file(s) changed" if diff.stale else None
    if generation.manifest.get("lexical") != LEXICAL_SETTINGS:
        reason = "its lexical index is from another refsearch version"
    if reason:
        if not update:
            say(f"warning: index is stale ({reason}); answering from the old index (--no-update).")
        else:
            say(f"index is stale ({reason}); updating it first…")
            try:
                say(refresh_index(index_dir, model=model, progress=progress).summary())
            except SourceError as problem:
                say(f"warning: the update failed ({problem}); answering from the index as built.")
    return Index.open(index_dir, model)


def refresh_index(index_dir: Path, model: str | None = None, encoder: str | None = None,
                  force: bool = False, progress=None) -> BuildReport:
    """Rebuild an index from the sources, model and encoder it was built with (unless overridden)."""
    generation = store.open_generation(index_dir, verify=False) if (index_dir / "CURRENT").exists() else None
    if generation is None:
        raise IndexProblem(f"{index_dir}: no index here to update; run `refsearch build SOURCES --index {index_dir}`.")
    built = generation.manifest
    return build_index([Path(p) for p in built["sources"]["roots"]], index_dir,
                       model=model or built["model"]["id"], encoder=encoder or built["model"]["encoder"],
                       force=force, progress=progress)


def fingerprint_of(paths: Sequence[Path]) -> str:
    return sources_fingerprint(scan_sources(paths))
