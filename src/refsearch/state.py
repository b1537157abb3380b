"""The one place that decides what state an index is in, and so what to do about it.

`inspect` compares a generation with what it should be built from now: the source files (stat
first; a file is hashed only when its size or time changed), the model (the same, through the
encoder backend), the encoder and the lexical settings. Build uses it to skip a build that would
change nothing, a query to decide whether to update first, `status` to explain. It imports no
parser and reads no index file beyond the manifest.

Conditions:
- missing: no index in the directory;
- fresh: matches its sources and model;
- stale: something changed; a build (or a query's update) would change the index;
- detached: its sources are not reachable (a copied index, an unplugged disk) or the index was not
  built by this user here (trust.py), so its sources are not looked at: it answers from what it
  holds, quietly; `refsearch build --index DIR SOURCES` attaches it again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from . import store, trust
from .files import sha256_file
from .errors import RefsearchError
from .catalog import RECORDS_FORMAT  # a new one (tag and topic-path facets, names) makes an index stale
from .lexical import LEXICAL_SETTINGS
from .docfeatures import FORMAT as FEATURES_FORMAT
from .discover import watched_files

RECORDS_SETTINGS = {"format": RECORDS_FORMAT}


@dataclass(frozen=True)
class Wanted:
    """What the caller wants the index to be built from; None keeps what the index records."""

    sources: tuple[Path, ...] | None = None
    model: str | None = None
    encoder: str | None = None


@dataclass
class SourceDiff:
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def files(self) -> int:
        return len(self.changed) + len(self.added) + len(self.removed)


@dataclass
class IndexState:
    directory: Path
    generation: store.Generation | None
    trusted: bool = False  # built by this user on this machine: its recorded paths may be read
    roots: list[Path] = field(default_factory=list)  # what it is (or would be) built from
    missing_roots: list[Path] = field(default_factory=list)
    roots_changed: bool = False  # the wanted sources are not the recorded ones
    diff: SourceDiff = field(default_factory=SourceDiff)
    model_changed: bool | None = False  # None: the model could not be checked
    encoder_changed: bool = False
    lexical_changed: bool = False
    records_changed: bool = False  # its sources were read by an older refsearch (catalog.RECORDS_FORMAT)
    map_missing: bool = False  # built before topic maps: a build adds one, reusing the vectors
    features_changed: bool = False  # no per-reference features of this format (docfeatures.py): a build adds them, reusing the vectors
    unreadable: str | None = None  # why the sources could not be compared (a build would fail on it)
    problems: list[str] = field(default_factory=list)  # what could not be checked

    @property
    def condition(self) -> str:
        if self.generation is None:
            return "missing"
        if self.detached:
            return "detached"
        return "stale" if self.reasons else "fresh"

    @property
    def detached(self) -> bool:
        return self.generation is not None and (bool(self.missing_roots) or not self.roots)

    @property
    def reasons(self) -> list[str]:
        reasons = []
        if self.roots_changed:
            reasons.append("its sources are not the ones it was built from")
        if self.diff.files:
            reasons.append(f"{self.diff.files} source file(s) changed")
        if self.model_changed:
            reasons.append("the model's files changed")
        if self.encoder_changed:
            reasons.append("another encoder was asked for")
        if self.lexical_changed:
            reasons.append("its lexical index is from another refsearch version")
        if self.records_changed:
            reasons.append("its sources were read by another refsearch version")
        if self.map_missing:
            reasons.append("it has no topic map (built by an older refsearch)")
        if self.features_changed:
            reasons.append("its per-reference features are missing or from another refsearch version")
        if self.unreadable:
            reasons.append(f"its sources cannot be read ({self.unreadable})")
        return reasons

    @property
    def detail(self) -> str:
        """Why it is detached, or what is stale, in words."""
        if self.missing_roots:
            return f"sources not found at {', '.join(map(str, self.missing_roots))}"
        if self.detached:
            return "built elsewhere or by another user; its sources are not checked"
        return "; ".join(self.reasons)


def inspect(directory: Path, wanted: Wanted = Wanted(), checksums: bool = False) -> IndexState:
    """The state of the index in `directory` against `wanted`; raises IndexProblem when it is damaged."""
    generation = store.open_generation(directory, checksums=checksums)
    state = IndexState(directory, generation)
    if generation is None:
        state.roots = [_absolute(p) for p in wanted.sources or ()]
        return state
    manifest = generation.manifest
    state.trusted = trust.verify(sealed_facts(manifest), manifest.get("seal"))
    recorded = resolve_roots(manifest["sources"]["roots"], directory) if state.trusted else []
    if wanted.sources is not None:
        state.roots = [_absolute(p) for p in wanted.sources]
        state.roots_changed = set(state.roots) != set(recorded) if state.trusted else True
    else:
        state.roots = recorded
    state.missing_roots = [root for root in state.roots if not root.exists()]
    state.lexical_changed = manifest["lexical"] != LEXICAL_SETTINGS
    state.records_changed = manifest.get("records") != RECORDS_SETTINGS
    state.map_missing = "map" not in manifest
    features = manifest.get("features")
    state.features_changed = not isinstance(features, dict) or features.get("format") != FEATURES_FORMAT
    model = manifest["model"]
    state.encoder_changed = wanted.encoder is not None and wanted.encoder != model["encoder"]
    if state.detached:
        return state
    if not state.roots_changed:
        try:
            state.diff = diff_sources(manifest["sources"]["files"], state.roots)
        except RefsearchError as problem:
            state.unreadable = str(problem)
            state.problems.append(f"cannot compare the sources: {problem}")
    state.model_changed = _model_changed(model, wanted.model, state)
    return state


def sealed_facts(manifest: dict) -> dict:
    """What a manifest says about things outside the index, the part a seal covers: the source
    roots, and the model an update embeds with (its path, its id, which for a local model is a path
    too, and the encoder that loads it)."""
    model = manifest["model"]
    return {"roots": manifest["sources"]["roots"], "model_path": model.get("path"), "model_id": model["id"],
            "encoder": model["encoder"]}


def _model_changed(model: dict, wanted: str | None, state: IndexState) -> bool | None:
    from . import encoders

    try:
        backend = encoders.backend(model["encoder"])
        if wanted is not None:
            return backend.resolve(wanted).fingerprint != model["fingerprint"]
        return backend.model_changed(model)
    except RefsearchError as problem:
        state.problems.append(f"cannot check the model: {problem}")
        return None


# --- source files ----------------------------------------------------------------------------------


def record_roots(roots: Sequence[Path], index_dir: Path) -> list[str]:
    """Roots as the manifest keeps them: relative to the index when they are inside the folder
    that holds it (so the two can be moved or copied together), absolute otherwise."""
    home = _absolute(index_dir).parent
    recorded = []
    for root in map(_absolute, roots):
        inside = root == home or home in root.parents
        recorded.append(os.path.relpath(root, _absolute(index_dir)) if inside else str(root))
    return recorded


def resolve_roots(recorded: Sequence[str], index_dir: Path) -> list[Path]:
    return [Path(os.path.normpath(_absolute(index_dir) / root)) for root in recorded]


def scan_sources(roots: Sequence[Path], recorded: Sequence[dict] = ()) -> list[dict]:
    """The manifest's entry for each candidate file: root number, path in the root, size, time, sha256.
    A file `recorded` (the current manifest's entries) lists with the same size and time keeps its
    recorded sha256 instead of being hashed again, as `diff_sources` judges it."""
    known = {(entry["root"], entry["path"], entry["size"], entry["mtime_ns"]): entry["sha256"] for entry in recorded}
    entries = []
    for root_number, path in _located(roots):
        try:
            info = path.stat()
            where = _in_root(path, roots[root_number])
            digest = known.get((root_number, where, info.st_size, info.st_mtime_ns)) or sha256_file(path)
            entries.append({"root": root_number, "path": where, "size": info.st_size, "mtime_ns": info.st_mtime_ns,
                            "sha256": digest})
        except OSError as error:
            raise RefsearchError(f"{path}: cannot read file: {error.strerror or error}") from None
    return entries


def diff_sources(recorded: list[dict], roots: Sequence[Path]) -> SourceDiff:
    """Which candidate files differ from those recorded: by size and time first, by content when those differ."""
    before = {(entry["root"], entry["path"]): entry for entry in recorded}
    now = {(root_number, _in_root(path, roots[root_number])): path for root_number, path in _located(roots)}
    diff = SourceDiff()
    for key in sorted(before.keys() & now.keys()):
        entry, path = before[key], now[key]
        try:
            info = path.stat()
            if (info.st_size, info.st_mtime_ns) != (entry["size"], entry["mtime_ns"]) and (
                    info.st_size != entry["size"] or sha256_file(path) != entry["sha256"]):
                diff.changed.append(str(path))
        except OSError as error:
            raise RefsearchError(f"{path}: cannot read file: {error.strerror or error}") from None
    diff.added = sorted(str(now[key]) for key in now.keys() - before.keys())
    diff.removed = sorted(str(roots[root] / path) if path else str(roots[root])
                          for root, path in before.keys() - now.keys() if root < len(roots))
    return diff


def _located(roots: Sequence[Path]) -> list[tuple[int, Path]]:
    """Each watched file with the number of the (first) root it lies in; a file beside a root that is
    a file (a Zotero database's log) goes with that root, which it follows."""
    located: list[tuple[int, Path]] = []
    for path in watched_files(roots):
        absolute = _absolute(path)
        number = next((i for i, root in enumerate(roots) if absolute == root or root in absolute.parents), None)
        located.append((located[-1][0] if number is None and located else number or 0, absolute))
    return located


def _in_root(path: Path, root: Path) -> str:
    """The path within its root; "" when the root is the file itself; relative to it ("../…") for
    a file beside a root that is a file."""
    if path == root:
        return ""
    if root in path.parents:
        return path.relative_to(root).as_posix()
    return Path(os.path.relpath(path, root)).as_posix()


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(Path(path).expanduser()))
