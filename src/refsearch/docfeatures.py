"""What fusion knows about each reference besides the two rankings, computed when an index is built.

`features.npy` in a generation: float32 (count, 2), one row per reference, in row order:
- unreadable: the share of its own embedded text the English-only encoder cannot read
  (`text.unreadable_share`); fusion can let lexical evidence stand in for that share
  (`Fusion.readability`, measured and off by default; kept so that it can be measured again on
  other judged sets without a rebuild);
- lists: how many files hold the work (`Reference.lists`); a work several lists include earns a
  small prior.

Computed at build time so that a query costs no more: it reads only its candidates' rows of a
memory-mapped array, and checks them as it reads them (an index directory is untrusted, and checking
every row at open would make each query's cost grow with the index). An index built before these
existed is stale (`state.py`); until it is updated, fusion runs without them.
"""

from __future__ import annotations

from array import array
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .errors import IndexProblem
from .records import Reference
from .files import REBUILD
from .store import Generation

FILE = "features.npy"
FORMAT = "refsearch/doc-features@1"  # a new one makes an older index stale (its update reuses every vector)
COLUMNS = 2
MAX_LISTS = 1 << 20


def features_of(ref: Reference) -> tuple[float, float]:
    """(unreadable share, number of lists) of one reference: what a build stores for it."""
    from .text import unreadable_share

    return unreadable_share(ref), float(ref.lists)


class FeaturesWriter:
    """Collects each reference's row as a build streams them, and writes the array at the end."""

    def __init__(self):
        self._values = array("f")
        self._kept_from: DocumentFeatures | None = None
        self._kept_rows: list[int] = []  # rows of `_kept_from` taken over, not yet copied

    def add(self, ref: Reference) -> None:
        self._copy_kept()
        self._values.extend(features_of(ref))

    def add_kept(self, previous: "DocumentFeatures | None", rows: Sequence[int], reference: Callable[[int], Reference]) -> None:
        """Rows taken over unchanged from the previous generation (takeover.py): their features are
        copied (checked as any read is; a run of such rows in one read: row by row, an update of
        6,000 references spent 60 ms here), or computed from their records when that generation had none."""
        if previous is None:
            for row in rows:
                self.add(reference(row))
            return
        if previous is not self._kept_from:
            self._copy_kept()
            self._kept_from = previous
        self._kept_rows.extend(rows)

    def _copy_kept(self) -> None:
        if self._kept_rows:
            copied = np.column_stack(self._kept_from.of_rows(np.array(self._kept_rows))).astype(np.float32)
            self._values.frombytes(copied.tobytes())
        self._kept_rows = []

    def finish(self, path_of: Callable[[str], Path]) -> dict:
        """Write `features.npy` (`path_of(name)` registers it) and return the manifest's `features` entry."""
        from .vectors import save_npy

        self._copy_kept()
        save_npy(path_of(FILE), np.frombuffer(self._values, dtype=np.float32).reshape(-1, COLUMNS))
        return {"file": FILE, "format": FORMAT}


class DocumentFeatures:
    """The read side: rows of the memory-mapped array, checked as they are read."""

    def __init__(self, values: np.ndarray, path: Path):
        self._values, self._path = values, path

    @classmethod
    def load(cls, generation: Generation) -> "DocumentFeatures | None":
        """The generation's features; None when it has none of this format (built before them)."""
        from .vectors import load_npy

        entry = generation.manifest.get("features")
        if not isinstance(entry, dict) or entry.get("format") != FORMAT or entry.get("file") not in generation.manifest["files"]:
            return None
        path = generation.path(entry["file"])
        return cls(load_npy(path, "float32", (generation.manifest["count"], COLUMNS)), path)

    def of_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(unreadable share, number of lists) of each row, as float64; a value out of range is damage."""
        values = np.asarray(self._values[np.asarray(rows, dtype=np.int64)], dtype=np.float64)
        unreadable, lists = values[:, 0], values[:, 1]
        if not (np.isfinite(values).all() and ((unreadable >= 0) & (unreadable <= 1)).all()
                and ((lists >= 1) & (lists <= MAX_LISTS)).all()):
            raise IndexProblem(f"{self._path}: damaged (a value out of range); {REBUILD}.")
        return unreadable, lists
