"""Vector stores: how an index keeps its dense vectors and finds the nearest ones.

A store is chosen by name (`STORES`) at build time and recorded in the manifest, so load uses the
same one; a new kind (an approximate FAISS index for large libraries) is one registration.

`flat` keeps the float32 rows in a plain `.npy` file, memory-mapped at query time, and searches
exactly with one numpy matrix product: below a few hundred thousand rows this is as fast as FAISS's
flat index and does not pay FAISS's import (about 35 ms of a cold query).
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from . import store
from .errors import IndexProblem, RefsearchError
from .store import REBUILD


class VectorStore(Protocol):
    count: int
    dimension: int

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), each (len(queries), at most k), best first; `allowed` masks rows out first.
        A row of -1 is no result (a score that is not a finite number: damaged vectors)."""
        ...

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored rows, as float32 (n, dimension)."""
        ...


class VectorWriter(Protocol):
    def add(self, vectors: np.ndarray) -> None: ...

    def finish(self) -> dict:
        """Close the files; return the manifest entry (`{"store": name, "files": [...], ...}`)."""
        ...

    def discard(self) -> None:
        """Close the files unfinished: the generation being written failed (its folder is removed)."""
        ...


class NpyAppender:
    """Writes a 2-D `.npy` file row block by row block, without knowing the row count up front.

    numpy pads `.npy` headers so the first dimension can grow to 21 digits without the header
    changing length; the header is rewritten with the final shape when the file is closed.
    """

    def __init__(self, path: Path, dtype: str, width: int):
        self.path, self.dtype, self.width, self.rows = path, np.dtype(dtype), width, 0
        with store.naming(path):
            self._handle = open(path, "wb")
            try:
                self._header()
            except BaseException:
                self._handle.close()
                raise

    def _header(self) -> None:
        self._handle.seek(0)
        np.lib.format.write_array_header_1_0(self._handle, {
            "descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
            "shape": (self.rows, self.width)})

    def add(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype).reshape(-1, self.width)
        with store.naming(self.path):
            self._handle.seek(0, os.SEEK_END)
            self._handle.write(block.tobytes())
        self.rows += len(block)

    def close(self) -> None:
        with store.naming(self.path):
            self._header()
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()

    def discard(self) -> None:
        """Close the file unfinished (what is still buffered may not fit either: that is not an error)."""
        with contextlib.suppress(OSError):
            self._handle.close()


def save_npy(path: Path, array: np.ndarray) -> None:
    """A whole array as a new `.npy` file of a generation being written (errors name it)."""
    with store.naming(path):
        np.save(path, array, allow_pickle=False)


def load_npy(path: Path, dtype: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """A read-only memory map of a `.npy` of exactly this dtype and shape (None: any length), or
    IndexProblem.

    The header is read from the file opened by `store.open_index_file` and checked before anything is
    mapped, and the file must hold exactly the bytes the header describes: another dtype (objects,
    which would need pickle, or another byte order), or a header that lies about the shape, is damage.
    """
    with store.open_index_file(path) as handle:
        try:
            version = np.lib.format.read_magic(handle)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"unknown .npy version {version}")
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            found, fortran_order, found_dtype = read_header(handle)
            size = os.fstat(handle.fileno()).st_size
        except Exception as error:  # numpy's header parser raises ValueError, SyntaxError, TokenError… on garbage
            raise IndexProblem(f"{path}: unreadable array ({' '.join(str(error).split())}); {REBUILD}.") from None
        if found_dtype != np.dtype(dtype) or len(found) != len(shape) or any(
                want is not None and have != want for have, want in zip(found, shape)):
            raise IndexProblem(f"{path}: expected {dtype} {shape}, found {found_dtype} {found}; {REBUILD}.")
        offset, nbytes = handle.tell(), math.prod(found) * found_dtype.itemsize
        if size != offset + nbytes:
            raise IndexProblem(f"{path}: {size:,} bytes, but its header describes {offset + nbytes:,}; {REBUILD}.")
        if nbytes == 0:
            return np.zeros(found, dtype=found_dtype)
        return np.memmap(handle, dtype=found_dtype, mode="r", offset=offset, shape=found,
                         order="F" if fortran_order else "C")


class FlatStore:
    """Exact inner-product search over memory-mapped float32 rows."""

    FILE = "vectors.npy"

    def __init__(self, directory: Path, count: int, dimension: int):
        self.count, self.dimension = count, dimension
        self._rows = load_npy(directory / self.FILE, "float32", (count, dimension))

    @classmethod
    def writer(cls, path_of: Callable[[str], Path], dimension: int) -> "FlatWriter":
        return FlatWriter(path_of(cls.FILE), dimension)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        # Vectors are too many to check on every load; a damaged or crafted file may hold inf or NaN,
        # which ranks nothing: such scores become -inf, and rows -1 below, without numpy's warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            scores = np.asarray(queries, dtype=np.float32).reshape(-1, self.dimension) @ self._rows.T
        scores[~np.isfinite(scores)] = -np.inf
        if allowed is not None:
            scores[:, ~allowed] = -np.inf
        k = min(k, self.count if allowed is None else int(allowed.sum()))
        if k <= 0:
            return np.zeros((len(scores), 0), np.float32), np.zeros((len(scores), 0), np.int64)
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < self.count else np.tile(
            np.arange(self.count), (len(scores), 1))
        picked = np.take_along_axis(scores, top, axis=1)
        order = np.lexsort((top, -picked), axis=1)[:, :k]
        picked, top = np.take_along_axis(picked, order, axis=1), np.take_along_axis(top, order, axis=1).astype(np.int64)
        return picked, np.where(np.isfinite(picked), top, -1)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self._rows[np.asarray(rows, dtype=np.int64)], dtype=np.float32)


class FlatWriter:
    def __init__(self, path: Path, dimension: int):
        self._file = NpyAppender(path, "float32", dimension)

    def add(self, vectors: np.ndarray) -> None:
        self._file.add(vectors)

    def finish(self) -> dict:
        self._file.close()
        return {"store": "flat", "files": [self._file.path.name]}

    def discard(self) -> None:
        self._file.discard()


STORES: dict[str, type] = {"flat": FlatStore}
DEFAULT_STORE = "flat"


def register(name: str, store: type) -> None:
    """Make a vector store kind available to builds and loads."""
    STORES[name] = store


def writer(name: str, path_of: Callable[[str], Path], dimension: int) -> VectorWriter:
    """A writer for a new generation; `path_of(name)` gives (and registers) each file's path."""
    return _kind(name).writer(path_of, dimension)


def open_store(directory: Path, entry: dict, count: int, dimension: int) -> VectorStore:
    return _kind(entry.get("store"))(directory, count, dimension)


def _kind(name) -> Callable:
    if name not in STORES:
        raise RefsearchError(f"vector store {name!r} is unknown to this refsearch ({', '.join(STORES)}); {REBUILD}.")
    return STORES[name]
