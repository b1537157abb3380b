"""Vectors embedded by a build that has not published yet, kept so a killed build resumes.

Embedding is nearly all of a large build's time (an hour for 184,000 abstracts on two cores), so a
build killed at any point must not lose what it embedded. Each chunk's vectors are appended to
`<index>/.journal-<model fingerprint>/vectors.f32` (raw float32 rows) and fsynced, and only then
their content hashes to `hashes.txt` (one per line) and fsynced: a row counts once its hash line is
complete, so a kill loses at most the chunk in flight. The next build (same model) reuses every
journalled vector whose content hash it needs, whatever order or sources it builds from, and the
journal is removed once a generation is published. It never reaches a published generation
directly: vectors are copied into the new generation's own files.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np

from .errors import IndexProblem
from .atomic import naming
from .files import open_index_file, remove

_HASH = re.compile(rb"[0-9a-f]{32}")


class Journal:
    def __init__(self, index_dir: Path, fingerprint: str, dimension: int):
        self.directory = index_dir / f".journal-{fingerprint}"
        self.dimension = dimension
        with naming(self.directory):
            if self.directory.is_symlink() or not self.directory.is_dir():
                remove(self.directory)  # the index directory is untrusted: write only in a folder of its own
                self.directory.mkdir()
        self._vectors_path = self.directory / "vectors.f32"
        self._hashes_path = self.directory / "hashes.txt"
        self.rows = self._recover()

    def _recover(self) -> dict[str, int]:
        """Hash -> row of every complete row; cut the files back to those rows."""
        row_bytes = 4 * self.dimension
        try:
            with open_index_file(self._vectors_path) as handle:
                stored_rows = os.fstat(handle.fileno()).st_size // row_bytes
            with open_index_file(self._hashes_path) as handle:
                lines = handle.read().split(b"\n")
        except IndexProblem:  # missing, or not a plain file of the index's own: start afresh
            stored_rows, lines = 0, []
        complete = []
        for line in lines[:-1]:  # the last piece has no newline yet: incomplete
            if not _HASH.fullmatch(line) or len(complete) >= stored_rows:
                break
            complete.append(line.decode())
        for path, size in ((self._vectors_path, len(complete) * row_bytes),
                           (self._hashes_path, sum(len(digest) + 1 for digest in complete))):
            with naming(path):
                if path.is_symlink() or (path.exists() and not path.is_file()):
                    remove(path)
                with open(path, "ab") as handle:
                    handle.truncate(size)
        self._count = len(complete)
        rows: dict[str, int] = {}
        for row, digest in enumerate(complete):
            rows.setdefault(digest, row)
        return rows

    def add(self, digests: list[str], block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=np.float32).reshape(len(digests), self.dimension)
        for path, data in ((self._vectors_path, block.tobytes()),
                           (self._hashes_path, "".join(f"{digest}\n" for digest in digests).encode())):
            with naming(path), open(path, "ab") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        for offset, digest in enumerate(digests):
            self.rows.setdefault(digest, self._count + offset)
        self._count += len(digests)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        with open_index_file(self._vectors_path) as handle:
            stored = np.memmap(handle, dtype=np.float32, mode="r").reshape(-1, self.dimension)
        return np.asarray(stored[np.asarray(rows, dtype=np.int64)])

    def discard(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def discard_all(index_dir: Path) -> None:
    """Remove every journal (after a publish: what they held is in the new generation or obsolete)."""
    for directory in index_dir.glob(".journal-*"):
        shutil.rmtree(directory, ignore_errors=True)
