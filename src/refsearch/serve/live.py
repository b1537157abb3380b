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

A server reads its generation into memory instead of mapping it (store.read_instead_of_mapping:
a mapped file truncated in place kills the process with SIGBUS), and before each answer checks
that the generation's files still have their sizes (a stat each, ~20 µs in all): a file cut short
or removed under the server gives 503 with the CLI's message until the index is built again.
"""

from __future__ import annotations

import ctypes
import gc
import os
import threading
from pathlib import Path
from typing import Callable

from .. import store
from ..errors import RefsearchError
from .answers import Answers

Say = Callable[[str], None]
WARM_UP_QUERY = "warm up"


class LiveIndex:
    def __init__(self, path: Path | str | None, say: Say, progress=None):
        import refsearch

        store.read_instead_of_mapping()
        self._say = say
        self._lock = threading.Lock()
        index = refsearch.open(path, say=say, progress=progress)  # builds or updates it, as a CLI search would
        self.directory = index.directory
        self._seen = self._pointer()
        if store.current_generation(self.directory) != index.generation.directory:
            self._seen = None  # a build published another generation meanwhile: the first request re-opens
        self._answers = _warm(Answers(index))

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
