"""The index a server answers from: opened once, and opened again when a build publishes a new
generation, without a restart.

A build writes a whole generation directory and only then replaces the CURRENT pointer atomically
(store.py), so a server never has to fear a half-written index: it only has to notice the swap.
Every request stats CURRENT (a few microseconds; `os.replace` gives the pointer a new inode). When it
changed, the request that noticed opens the new generation through `refsearch.open` and warms it
(query encoder loaded, one search run), while concurrent requests keep answering from the old one;
then the new one replaces it. A generation that cannot be opened is reported once and the old one
keeps answering. A generation is known by its folder and its manifest, not by its folder's name
alone: an index deleted and built again at the same path starts again at `gen-1`.

A server follows its sources too (`SourceWatcher`): when they change, it rebuilds the index in the
background, one build at a time, and answers from the current generation until the new one is
published. Several indexes (`--index A --index B`) are each followed so (`LiveLibraries`), and
answer as one `Libraries`.

A server reads its generation into memory instead of mapping it (files.read_instead_of_mapping:
a mapped file truncated in place kills the process with SIGBUS), and before each answer checks
that the generation's files still have their sizes (a stat each, ~20 µs in all): a file cut short
or removed under the server gives 503 with the CLI's message until the index is built again.
"""

from __future__ import annotations

import ctypes
import gc
import os
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

from .. import store
from ..files import read_instead_of_mapping
from ..errors import IndexBusy, RefsearchError
from .answers import Answers

Say = Callable[[str], None]
WARM_UP_QUERY = "warm up"
# How often a server looks at its sources (state.inspect: a stat per file, no parser), and for how
# long a change must have stood still before it rebuilds: an editor saving twice, a `git pull`
# writing many files, or a Zotero sync are one update, not several.
CHECK_SECONDS = 2.0
SETTLE_SECONDS = 2.0


def live_index(paths: Sequence[Path | str] | None, say: Say, progress=None, follow: bool = False):
    """What a server answers from: one index (`LiveIndex`), or several as one (`LiveLibraries`:
    `--index A --index B`, or `index:` listing several in refsearch.yaml)."""
    from ..config import index_paths

    paths = index_paths(paths) or []
    if len(paths) > 1:
        return LiveLibraries(paths, say, progress, follow)
    return LiveIndex(paths[0] if paths else None, say, progress, follow)


class LiveIndex:
    def __init__(self, path: Path | str | None, say: Say, progress=None, follow: bool = False):
        """`follow`: watch the index's sources and rebuild it when they change (`SourceWatcher`)."""
        import refsearch

        read_instead_of_mapping()
        self._say = say
        self._lock = threading.Lock()
        index = refsearch.open(path, say=say, progress=progress)  # builds or updates it, as a CLI search would
        self.directory = index.directory
        self._seen = self._pointer()
        if store.current_generation(self.directory) != index.generation.directory:
            self._seen = None  # a build published another generation meanwhile: the first request re-opens
        self._answers = _warm(Answers(index))
        self.watcher = SourceWatcher(self.directory, say) if follow else None
        if self.watcher:
            self.watcher.start()

    @property
    def directories(self) -> list[Path]:
        return [self.directory]

    def changed(self) -> bool:
        """Whether CURRENT changed since the current generation was opened (one stat)."""
        return self._pointer() != self._seen

    def answers(self) -> Answers:
        """The answers of the current generation (re-opened first if a build published a new one);
        IndexProblem when a file of the generation is no longer as its manifest says."""
        if self.changed() and self._lock.acquire(blocking=False):
            try:
                self._reload()
            finally:
                self._lock.release()
        answers = self._answers
        store.check_sizes(answers.index.generation)
        return answers

    def _pointer(self) -> tuple[int, int, int] | None:
        try:
            info = os.stat(self.directory / "CURRENT")
        except OSError:
            return None
        return info.st_ino, info.st_mtime_ns, info.st_size

    def _reload(self) -> None:
        import refsearch

        _release_freed_memory()  # what the generation before the current one held is free by now
        pointer = self._pointer()  # before opening: a swap during the open is noticed next time
        old = self._answers.generation
        try:
            index = refsearch.open(self.directory, update=False, say=self._say)
            if index.generation != self._answers.index.generation:  # its folder and its manifest
                self._answers = _warm(Answers(index))
                self._say(f"now answering from {index.directory} ({self._answers.generation}, {len(index)} references)")
        except RefsearchError as problem:
            self._say(f"warning: cannot open the new index ({problem}); still answering from {old}.")
        self._seen = pointer


class LiveLibraries:
    """Several indexes answering as one (libraries.py): each opened, followed and re-opened as a
    `LiveIndex` of its own; their answers are those of one `Libraries` over their current
    generations, made again when any of them opens a new one."""

    def __init__(self, paths: Sequence[Path | str], say: Say, progress=None, follow: bool = False):
        self.members = [LiveIndex(path, say, progress, follow) for path in paths]
        self._lock = threading.Lock()
        self._answers: Answers | None = None
        self._made_of: list[Answers] = []
        self.answers()  # the libraries checked now (the same index named twice), not at the first request

    @property
    def directories(self) -> list[Path]:
        return [member.directory for member in self.members]

    def changed(self) -> bool:
        return any(member.changed() for member in self.members)

    def answers(self) -> Answers:
        from ..libraries import Libraries

        parts = [member.answers() for member in self.members]
        with self._lock:
            if self._answers is None or any(now is not then for now, then in zip(parts, self._made_of)):
                self._answers, self._made_of = Answers(Libraries([part.index for part in parts])), parts
            return self._answers


class SourceWatcher(threading.Thread):
    """Rebuilds the index in the background when its sources change, one build at a time, while
    the server keeps answering from the current generation; the request after the build published
    picks the new one up (LiveIndex.answers). Every CHECK_SECONDS it asks `state.inspect` (the
    freshness check a query makes: stats, no parser); a change is built once the changed files
    have stood still for SETTLE_SECONDS. An index whose sources cannot be reached, or that another
    user built, is not followed (detached: state.py). A build that fails (a broken source, the disk
    full) is said once, and tried again when the sources change again."""

    def __init__(self, directory: Path, say: Say, check: float = CHECK_SECONDS, settle: float = SETTLE_SECONDS):
        super().__init__(name="refsearch-sources", daemon=True)
        self.directory, self._say, self._check, self._settle = directory, say, check, settle
        self._stop = threading.Event()
        self._pending: tuple | None = None  # what changed, and since when it has stood still
        self._failed: tuple | None = None  # the change whose build failed (not tried again as it is)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        while not self._stop.wait(self._check):
            try:
                self.check()
            except Exception as error:  # the watcher must outlive anything: the server answers on
                self._say(f"warning: cannot check the sources of {self.directory} ({type(error).__name__}: {error}).")

    def check(self) -> bool:
        """Look once; build if a change has settled. True when a build published."""
        from ..state import inspect

        try:
            state = inspect(self.directory)
        except RefsearchError:
            return False  # a damaged index answers 503 until it is rebuilt by hand (reliability.md)
        if state.condition != "stale":
            self._pending = None
            return False
        change = _signature(state)
        if change == self._failed:
            return False
        if self._pending is None or self._pending[0] != change:
            self._pending = (change, time.monotonic())
            return False
        if time.monotonic() - self._pending[1] < self._settle:
            return False
        return self._build(change, state.detail)

    def _build(self, change: tuple, detail: str) -> bool:
        import refsearch

        self._say(f"sources changed ({detail}); updating {self.directory} in the background…")
        try:
            report = refsearch.build(None, self.directory, lock_wait=0.0)
        except IndexBusy:
            return False  # someone else is building it: look again next time
        except (RefsearchError, OSError) as problem:
            self._failed = change
            self._say(f"warning: cannot update {self.directory} ({' '.join(str(problem).split())}); "
                      "still answering from it as it was.")
            return False
        self._pending = self._failed = None
        self._say(report.summary())
        return report.rebuilt


def _signature(state) -> tuple:
    """What a stale state found changed, with the changed files' sizes and times (a file still
    being written changes its signature: the change has not settled)."""
    files = []
    for name in (*state.diff.changed, *state.diff.added):
        try:
            info = os.stat(name)
            files.append((name, info.st_size, info.st_mtime_ns))
        except OSError:
            files.append((name, -1, -1))
    return tuple(files), tuple(state.diff.removed), tuple(state.reasons)


def _release_freed_memory() -> None:
    """Give the memory freed since the last swap back to the system. glibc keeps freed memory in
    its per-thread arenas, and generations are opened on whichever thread noticed the swap: without
    this a server swapping every 30 s grew by a fifth over five minutes before it levelled off."""
    gc.collect()  # an old generation in a reference cycle is freed here, not at some later collection
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _warm(answers: Answers) -> Answers:
    """Load what the first query would (encoder, vectors, lexical arrays), so no request pays for it."""
    answers.index.search(WARM_UP_QUERY, k=1)
    return answers
