"""Vector stores: how an index keeps its dense vectors and finds the nearest ones.

A store is chosen by name (`STORES`) at build time and recorded in the manifest, so load uses the
same one; a new kind (an approximate FAISS index for large libraries) is one registration.

`flat` keeps the float32 rows in a plain `.npy` file, memory-mapped at query time, and searches
exactly with one numpy matrix product: as fast as FAISS's flat index at this size, without paying
FAISS's import (about 35 ms of a cold query). `ivf-sq8` is for libraries above `EXACT_BELOW`
references, where exact search reads every vector per query (docs/benchmarks.md, "Vectors at scale").
The builder picks by size (`store_for`) and the manifest records the choice.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
from array import array
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from . import files
from .errors import IndexProblem, RefsearchError
from .atomic import naming
from .files import REBUILD

# Below this many vectors exact search is the better choice: at 25,000 one query takes ~1.5-4 ms
# warm, at 50,000 ~6-12 ms, at 184,000 ~27 ms and a cold query maps 280 MB (bench_ann.py threshold).
EXACT_BELOW = 25_000


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
    def add(self, vectors: np.ndarray, previous_rows: np.ndarray | None = None) -> None:
        """Append rows. `previous_rows` (one per row appended; None: all -1) names the previous
        store's row that holds a row's vector, taken from there; the other rows' vectors are
        `vectors`, in order."""
        ...

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
        with naming(path):
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
        with naming(self.path):
            self._handle.seek(0, os.SEEK_END)
            self._handle.write(block.tobytes())
        self.rows += len(block)

    def close(self) -> None:
        with naming(self.path):
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
    with naming(path):
        np.save(path, array, allow_pickle=False)


def load_npy(path: Path, dtype: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """A read-only memory map of a `.npy` of exactly this dtype and shape (None: any length), or
    IndexProblem.

    The header is read from the file opened by `files.open_index_file` and checked before anything is
    mapped, and the file must hold exactly the bytes the header describes: another dtype (objects,
    which would need pickle, or another byte order), or a header that lies about the shape, is damage.
    """
    with files.open_index_file(path) as handle:
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
        order = "F" if fortran_order else "C"
        if not files.mapping():  # a server: read into memory (files.read_instead_of_mapping)
            data = files.read_exactly(handle, path, nbytes)
            return np.frombuffer(data, dtype=found_dtype).reshape(found, order=order)
        return np.memmap(handle, dtype=found_dtype, mode="r", offset=offset, shape=found, order=order)


class FlatStore:
    """Exact inner-product search over memory-mapped float32 rows."""

    FILE = "vectors.npy"

    def __init__(self, directory: Path, entry: dict, count: int, dimension: int):
        self.count, self.dimension = count, dimension
        self._rows = load_npy(directory / self.FILE, "float32", (count, dimension))

    @classmethod
    def writer(cls, path_of: Callable[[str], Path], dimension: int, previous: VectorStore | None = None) -> "FlatWriter":
        return FlatWriter(path_of(cls.FILE), dimension, previous)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        # Vectors are too many to check on every load; a damaged or crafted file may hold inf or NaN,
        # which ranks nothing: such scores become -inf, and rows -1 below, without numpy's warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            scores = np.asarray(queries, dtype=np.float32).reshape(-1, self.dimension) @ self._rows.T
        scores[~np.isfinite(scores)] = -np.inf
        if allowed is not None:
            scores[:, ~allowed] = -np.inf
        return _top_k(scores, min(k, self.count if allowed is None else int(allowed.sum())))

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self._rows[np.asarray(rows, dtype=np.int64)], dtype=np.float32)


def _top_k(scores: np.ndarray, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k best columns of each row of `scores`, best first (ties by row number); `rows` maps
    columns to row numbers when `scores` covers only some rows. A score that is not finite (damaged
    vectors) ranks nothing: its row number is -1."""
    if k <= 0:
        return np.zeros((len(scores), 0), np.float32), np.zeros((len(scores), 0), np.int64)
    width = scores.shape[1]
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < width else np.tile(np.arange(width), (len(scores), 1))
    picked = np.take_along_axis(scores, top, axis=1)
    numbers = top if rows is None else rows[top]
    order = np.lexsort((numbers, -picked), axis=1)[:, :k]
    picked, numbers = np.take_along_axis(picked, order, axis=1), np.take_along_axis(numbers, order, axis=1)
    return picked, np.where(np.isfinite(picked), numbers, -1).astype(np.int64)


class IvfStore:
    """FAISS inverted lists with 8-bit scalar quantisation, memory-mapped (only the probed lists are
    read): recall@10 0.964 at 184,000 papers and 0.957 at 1,000,000 vectors against exact search,
    with nlist ~2.5·√N (a power of two) and nprobe 64 (docs/benchmarks.md). The SQ8 codes decode to
    vectors within cosine 0.9999 of the originals: related reading and later builds use them.

    A filter that leaves fewer than EXACT_BELOW rows is answered exactly over those rows: the probed
    lists could miss them all.
    """

    FILE = "vectors.ivf"
    NPROBE = 64

    def __init__(self, directory: Path, entry: dict, count: int, dimension: int):
        import faiss

        faiss.omp_set_num_threads(1)  # one query: threads only wait on each other (350 ms vs 22 ms, loaded)
        path = directory / self.FILE
        try:
            mapped = faiss.IO_FLAG_MMAP_IFC if files.mapping() else 0  # a server reads it into memory
            index = faiss.read_index(str(path), mapped | faiss.IO_FLAG_READ_ONLY)
            ivf = faiss.extract_index_ivf(index)
        except RuntimeError as error:
            raise IndexProblem(f"{path}: unreadable vector index ({str(error).splitlines()[0][:200]}); {REBUILD}.") from None
        nprobe = entry.get("nprobe")
        if (index.ntotal != count or index.d != dimension or index.metric_type != faiss.METRIC_INNER_PRODUCT
                or not isinstance(nprobe, int) or not 0 < nprobe <= ivf.nlist):
            raise IndexProblem(f"{path}: vector index and records disagree; {REBUILD}.")
        ivf.nprobe = nprobe
        self.count, self.dimension, self._index, self._faiss, self._path = count, dimension, index, faiss, path

    @classmethod
    def writer(cls, path_of: Callable[[str], Path], dimension: int, previous: VectorStore | None = None) -> "IvfWriter":
        return IvfWriter(path_of(cls.FILE), dimension, previous)

    def untrained_copy(self, nlist: int):
        """An empty index with these lists' training (centroids and quantiser ranges), if it has
        `nlist` lists; else None."""
        faiss = self._faiss
        ivf = faiss.downcast_index(faiss.extract_index_ivf(self._index))
        if ivf.nlist != nlist or not isinstance(ivf, faiss.IndexIVFScalarQuantizer) or ivf.d != self.dimension:
            return None
        index = faiss.index_factory(self.dimension, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
        empty = faiss.downcast_index(faiss.extract_index_ivf(index))
        empty.quantizer.add(ivf.quantizer.reconstruct_n(0, nlist))
        faiss.copy_array_to_vector(faiss.vector_to_array(ivf.sq.trained), empty.sq.trained)
        empty.is_trained = True
        return index

    def lists_and_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """Each row's list and 8-bit code (IvfWriter takes rows over with them), checked: a row
        in no list or in two is damage."""
        faiss = self._faiss
        ivf = faiss.extract_index_ivf(self._index)
        lists = np.full(self.count, -1, dtype=np.int64)
        codes = np.empty((self.count, ivf.code_size), dtype=np.uint8)
        invlists, found = ivf.invlists, 0
        for number in range(ivf.nlist):
            size = invlists.list_size(number)
            if not size:
                continue
            ids = faiss.rev_swig_ptr(invlists.get_ids(number), size)
            if ids.min() < 0 or ids.max() >= self.count or (lists[ids] >= 0).any():
                raise IndexProblem(f"{self._path}: vector index and records disagree; {REBUILD}.")
            lists[ids] = number
            codes[ids] = faiss.rev_swig_ptr(invlists.get_codes(number), size * ivf.code_size).reshape(size, ivf.code_size)
            found += size
        if found != self.count or (lists < 0).any():
            raise IndexProblem(f"{self._path}: vector index and records disagree; {REBUILD}.")
        return lists, codes

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dimension)
        if allowed is not None and allowed.sum() < EXACT_BELOW:
            rows = np.flatnonzero(allowed)
            return _top_k(queries @ self.vectors(rows).T, min(k, len(rows)), rows)
        params = None
        if allowed is not None:
            selector = self._faiss.IDSelectorBatch(np.flatnonzero(allowed).astype(np.int64))
            params = self._faiss.SearchParametersIVF(sel=selector, nprobe=self._faiss.extract_index_ivf(self._index).nprobe)
        scores, rows = self._index.search(queries, min(k, self.count), params=params)
        return scores, rows.astype(np.int64)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        return self._index.reconstruct_batch(rows) if len(rows) else np.zeros((0, self.dimension), np.float32)


class IvfWriter:
    """Spools the rows' vectors to a scratch file while the build streams, then trains the lists on
    a sample and adds the rows block by block, so a build never holds all its vectors.

    An update keeps the previous generation's lists while their number stays the same (the library
    grew or shrank by less than about a factor of two): a row taken over keeps its list and 8-bit
    code, renumbered; only the new rows are assigned and encoded. Training took 9 s and adding every
    row again 2 s of an update at 184,000 papers.
    """

    TRAINING_SAMPLE = 100_000
    BLOCK = 65_536

    def __init__(self, path: Path, dimension: int, previous: VectorStore | None = None):
        self.path, self.dimension, self.rows, self._previous = path, dimension, 0, previous
        self._sources = array("q")  # per row: the previous store's row, or -1 (its vector is spooled)
        self._spool = path.with_name(path.name + ".spool")
        with naming(self._spool):
            self._handle = open(self._spool, "wb")

    def add(self, vectors: np.ndarray, previous_rows: np.ndarray | None = None) -> None:
        block = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dimension)
        sources = _sources(previous_rows, len(block), self._previous)
        with naming(self._spool):
            self._handle.write(block.tobytes())
        self._sources.extend(sources.tolist())
        self.rows += len(sources)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._handle.close()

    def finish(self) -> dict:
        import faiss

        with naming(self._spool):
            self._handle.close()
        nlist = max(1, 2 ** round(np.log2(max(2.5 * np.sqrt(self.rows), 1))))
        while nlist > 1 and nlist * 39 > self.rows:  # k-means wants 39 training vectors per list
            nlist //= 2
        factory = f"IVF{nlist},SQ8"
        sources = np.frombuffer(self._sources, dtype=np.int64)
        index = self._previous.untrained_copy(nlist) if isinstance(self._previous, IvfStore) else None
        try:
            if index is not None:
                self._fill_kept(faiss, index, sources)
            else:
                index = faiss.index_factory(self.dimension, factory, faiss.METRIC_INNER_PRODUCT)
                chosen = np.zeros(self.rows, dtype=bool)
                chosen[np.random.default_rng(0).choice(self.rows, min(self.rows, self.TRAINING_SAMPLE), replace=False)] = True
                index.train(np.concatenate([block[chosen[start:start + len(block)]] for start, block in self._blocks(sources)]))
                for _, block in self._blocks(sources):
                    index.add(block)
            faiss.extract_index_ivf(index).make_direct_map()  # reconstruct by row (related reading, later builds)
            faiss.write_index(index, str(self.path))
        except RuntimeError as error:  # FAISS says why in a page of C++ context
            why = f"cannot write the vector index ({str(error).splitlines()[0][:200]})"
            raise OSError(errno.EIO, why, str(self.path)) from None
        finally:
            self._spool.unlink(missing_ok=True)
        return {"store": "ivf-sq8", "files": [self.path.name], "factory": factory, "nprobe": min(IvfStore.NPROBE, nlist)}

    def _fill_kept(self, faiss, index, sources: np.ndarray) -> None:
        """Fill `index` (the previous lists' training, empty): each row taken over with its list and
        code in the previous store, the others assigned and encoded; each list in row order, as
        adding the rows one by one would leave it."""
        ivf = faiss.extract_index_ivf(index)
        lists = np.empty(self.rows, dtype=np.int64)
        codes = np.empty((self.rows, ivf.code_size), dtype=np.uint8)
        taken = sources >= 0
        if taken.any():
            old_lists, old_codes = self._previous.lists_and_codes()
            lists[taken], codes[taken] = old_lists[sources[taken]], old_codes[sources[taken]]
        new_rows = np.flatnonzero(~taken)
        with open(self._spool, "rb") as handle:
            for start in range(0, len(new_rows), self.BLOCK):
                rows = new_rows[start:start + self.BLOCK]
                block = np.fromfile(handle, dtype=np.float32, count=len(rows) * self.dimension).reshape(-1, self.dimension)
                assigned = np.ascontiguousarray(ivf.quantizer.assign(block, 1).ravel(), dtype=np.int64)
                encoded = np.empty((len(rows), ivf.code_size), np.uint8)  # swig_ptr keeps no array alive: each is named
                ivf.encode_vectors(len(rows), faiss.swig_ptr(block), faiss.swig_ptr(assigned), faiss.swig_ptr(encoded))
                lists[rows], codes[rows] = assigned, encoded
        order = np.argsort(lists, kind="stable")
        bounds = np.searchsorted(lists[order], np.arange(ivf.nlist + 1))
        for number in range(ivf.nlist):
            ids = np.ascontiguousarray(order[bounds[number]:bounds[number + 1]])
            if len(ids):
                listed = np.ascontiguousarray(codes[ids])
                ivf.invlists.add_entries(number, len(ids), faiss.swig_ptr(ids), faiss.swig_ptr(listed))
        ivf.ntotal = index.ntotal = self.rows

    def _blocks(self, sources: np.ndarray):
        """(first row, rows) in order, the spooled vectors read in blocks (read, not mapped: a
        build's memory stays flat) among those taken from the previous store."""
        with open(self._spool, "rb") as handle:
            for start in range(0, self.rows, self.BLOCK):
                part = sources[start:start + self.BLOCK]
                spooled = np.fromfile(handle, dtype=np.float32, count=int((part < 0).sum()) * self.dimension)
                yield start, _assembled(spooled.reshape(-1, self.dimension), part, self._previous, self.dimension)


class FlatWriter:
    def __init__(self, path: Path, dimension: int, previous: VectorStore | None = None):
        self._file, self._previous, self._dimension = NpyAppender(path, "float32", dimension), previous, dimension

    def add(self, vectors: np.ndarray, previous_rows: np.ndarray | None = None) -> None:
        block = np.asarray(vectors, dtype=np.float32).reshape(-1, self._dimension)
        sources = _sources(previous_rows, len(block), self._previous)
        self._file.add(_assembled(block, sources, self._previous, self._dimension))

    def finish(self) -> dict:
        self._file.close()
        return {"store": "flat", "files": [self._file.path.name]}

    def discard(self) -> None:
        self._file.discard()


def _sources(previous_rows: np.ndarray | None, given: int, previous: VectorStore | None) -> np.ndarray:
    """Each row's previous row (-1: its vector is given), checked against what was given."""
    if previous_rows is None:
        return np.full(given, -1, dtype=np.int64)
    sources = np.asarray(previous_rows, dtype=np.int64)
    if int((sources < 0).sum()) != given or (previous is None and (sources >= 0).any()):
        raise ValueError("previous_rows does not match the vectors given")
    return sources


def _assembled(given: np.ndarray, sources: np.ndarray, previous: VectorStore | None, dimension: int) -> np.ndarray:
    """The rows `sources` describes, the given vectors in order among those of the previous store."""
    if not (sources >= 0).any():
        return given
    block = np.empty((len(sources), dimension), dtype=np.float32)
    taken = sources >= 0
    block[taken] = previous.vectors(sources[taken])
    block[~taken] = given
    return block


STORES: dict[str, type] = {"flat": FlatStore, "ivf-sq8": IvfStore}


def store_for(count: int) -> str:
    """The store a build of `count` references writes: exact below EXACT_BELOW, approximate above."""
    return "flat" if count < EXACT_BELOW else "ivf-sq8"


def register(name: str, store: type) -> None:
    """Make a vector store kind available to builds and loads."""
    STORES[name] = store


def writer(name: str, path_of: Callable[[str], Path], dimension: int,
           previous: VectorStore | None = None) -> VectorWriter:
    """A writer for a new generation; `path_of(name)` gives (and registers) each file's path;
    `previous` is the current generation's store, of the same encoder: `add` may name its rows, and
    an IVF writer may keep its training."""
    return _kind(name).writer(path_of, dimension, previous)


def open_store(directory: Path, entry: dict, count: int, dimension: int) -> VectorStore:
    return _kind(entry.get("store"))(directory, entry, count, dimension)


def _kind(name) -> Callable:
    if name not in STORES:
        raise RefsearchError(f"vector store {name!r} is unknown to this refsearch ({', '.join(STORES)}); {REBUILD}.")
    return STORES[name]
