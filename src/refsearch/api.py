"""The public entry points: open an index (building or updating it when it should), build one,
ask its status. The CLI and the servers call these; nothing bypasses them.

    import refsearch
    index = refsearch.open()                      # the default index (the bundled list on first use)
    for hit in index.search("GPU slicing", k=3):
        print(hit.rank, hit.ref.title, hit.ref.topic)
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from .config import index_paths, resolve_target
from .errors import IndexProblem, RefsearchError, os_error_message
from .index import Index
from .state import Wanted, inspect

Say = Callable[[str], None]
# How long a query waits for another build of a stale index before answering from the current one.
QUERY_LOCK_WAIT = 2.0


def open(path: Path | str | Sequence[Path | str] | None = None, *, update: bool = True, model: str | None = None,
         say: Say | None = None, progress: Callable[[int, int], None] | None = None,
         one_query: bool = False):
    """The index at `path` (default: the user's default index), ready to search; several paths
    (or a config naming several) give one `Libraries` answering across them (libraries.py).

    A missing default index is built from the configured sources (or the bundled list). An index
    whose sources or model changed is brought up to date first, unless `update` is False (then
    `say` gets a warning); if that cannot happen now (another build holds it for more than
    QUERY_LOCK_WAIT seconds, a read-only medium, a broken source file, a full disk), it answers from
    what it has and `say` gets one warning, and only that. A detached index (sources not reachable,
    or not built by this user here) answers quietly from what it holds.
    `model`: refuse an index built with another model than this one. `one_query`: this process
    asks one query and exits (the CLI's `search QUERY`): the encoder opens ~10 ms sooner and
    encodes ~0.5 ms slower (servers and batches keep the default).
    """
    say = say or (lambda _message: None)
    paths = index_paths(path)
    if paths is not None:
        if len(paths) == 1:
            return open(paths[0], update=update, model=model, say=say, progress=progress, one_query=one_query)
        from .libraries import Libraries

        return Libraries([open(p, update=update, model=model, say=say, progress=progress, one_query=one_query)
                          for p in paths])
    target = resolve_target(None if isinstance(path, (list, tuple)) else path)  # an empty list: the default
    state = inspect(target.index, Wanted(target.sources))
    if state.condition == "missing":
        if not target.first:
            raise IndexProblem(f"{target.index}: no index here; run `refsearch build SOURCES --index {target.index}`.")
        say(f"no index at {target.index}; building it from {', '.join(map(str, target.first))} first…")
        say(build(target.first, target.index, progress=progress).summary())
    elif state.condition == "stale":
        if not update:
            say(f"warning: index is stale ({state.detail}); answering from it as built (--no-update).")
        else:
            _update(target, state, say, progress)
    try:
        index = _opened(target.index, model, trusted=state.trusted, one_query=one_query)
        if one_query and _build_encoder() is not None:
            index.encoder  # the query's encoder is the session the update opened (encoders/onnx.py)
        return index
    finally:
        _release_build_encoder()


def _build_encoder():
    """The onnx module when it keeps the encoder the last build in this process embedded with."""
    import sys

    onnx = sys.modules.get("refsearch.encoders.onnx")
    return onnx if onnx is not None and onnx.build_encoder_kept() else None


def _release_build_encoder() -> None:
    """Let go of the encoder the last build embedded with: no query of this process will use it."""
    onnx = _build_encoder()
    if onnx is not None:
        onnx.release_build_encoder()


def _update(target, state, say: Say, progress) -> None:
    """Update a stale index for a query; any reason it cannot is one warning, not a failure: the
    current generation was checked and answers. "Updating" is said once the update can start."""
    from .builder import build_index

    try:
        report = build_index(target.sources, target.index, model=target.model, encoder=target.encoder,
                             progress=progress, lock_wait=QUERY_LOCK_WAIT,
                             starting=lambda: say(f"index is stale ({state.detail}); updating it first…"))
    except (RefsearchError, OSError) as problem:
        reason = " ".join(str(problem).split()) if isinstance(problem, RefsearchError) else os_error_message(problem)
        stale = "index is stale" if reason in state.detail else f"index is stale ({state.detail})"  # said once
        say(f"warning: {stale} but cannot be updated now ({reason}); answering from it as built.")
    else:
        say(report.summary())


def build(sources: Sequence[Path | str] | None = None, index: Path | str | None = None, *,
          model: str | None = None, encoder: str | None = None, force: bool = False,
          progress: Callable[[int, int], None] | None = None, lock_wait: float | None = None,
          ray: str | None = None):
    """Build or update an index; returns a `BuildReport` (what was added, changed, removed).

    `sources` None: the sources the index was built from (for a default index not built yet, the
    configured or bundled ones). Only new or changed references are embedded again. `ray`: embed on Ray (a
    cluster's address, "auto", or "local" to start one on this machine; docs/scale.md).
    """
    from .builder import build_index

    target = resolve_target(index, model, encoder)
    chosen = [Path(s) for s in sources] if sources else target.sources
    if chosen is None and not (target.index / "CURRENT").exists():
        chosen = target.first  # a default index not built yet: from the configured or bundled list
    try:
        return build_index(chosen, target.index, model=target.model, encoder=target.encoder, force=force,
                           progress=progress, lock_wait=lock_wait, ray=ray)
    finally:
        _release_build_encoder()


def status(path: Path | str | None = None, checksums: bool = True):
    """A `Status`: fresh, stale or detached and why, what a build would do, the bytes on disk.

    `checksums` verifies every index file's sha256 (what `refsearch status` does); a server asked
    for its status on every call leaves it off and checks sizes, as a query does."""
    from .status_report import index_status

    return index_status(resolve_target(path).index, checksums)


def _opened(directory: Path, model: str | None, trusted: bool, one_query: bool) -> Index:
    from .store import open_generation

    generation = open_generation(directory)
    if generation is None:
        raise IndexProblem(f"{directory}: no index here; run `refsearch build SOURCES --index {directory}`.")
    recorded = generation.manifest["model"]
    model_path = Path(recorded["path"]) if trusted and recorded.get("path") else None
    if model is not None:
        from . import encoders

        spec = encoders.backend(recorded["encoder"]).resolve(model)
        if spec.fingerprint != recorded["fingerprint"]:
            raise IndexProblem(f"{directory}: index was built with model {recorded['id']!r}, not {model!r}; "
                               f"run `refsearch build --force --model {model}`.")
        model_path = spec.path
    return Index(generation, model_path, one_query=one_query)
