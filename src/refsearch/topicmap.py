"""The topic map: every reference as a point on a 2-D map of its embedding, computed when an index
is built and stored in the generation (`map.npy`, float32 (count, 2), both axes in [0, 1]).

The layout is a small UMAP-like one: each reference is pulled towards its nearest neighbours in
embedding space and pushed away from random others, starting from the two principal components.
Measured on the 6,426 references of the shared corpora (scripts/bench_map.py, docs/benchmarks.md
"Topic map"), PCA alone keeps almost no neighbourhood (2% of the 10 nearest references stay among
the 10 nearest on the map) and mixes topics; this layout keeps about 30% and puts references of the
same topic together almost as often as the embedding itself does. numpy only, seeded, so the same
vectors always give the same map.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .errors import IndexProblem

if TYPE_CHECKING:
    from .vectors import VectorStore

FILE = "map.npy"
METHOD = "knn-layout@1"
NEIGHBOURS = 10
EPOCHS = 100
NEGATIVES = 3  # random pairs pushed apart per neighbour pair, per epoch
# Finding neighbours compares every pair: beyond this many references the map is the principal
# components only (seconds instead of minutes at build time).
MAX_LAYOUT = 30_000
SEED = 20261126
# An update places a new reference among its nearest kept ones instead of laying the map out again
# (seconds at a few thousand references); once the references placed since the last layout pass
# this share of the map, the next build lays it out anew.
PLACE_NEIGHBOURS = 10
PLACED_SHARE = 0.1


def project(store: VectorStore) -> np.ndarray:
    """(count, 2) float32 map coordinates in [0, 1] for the store's unit vectors."""
    if store.count < 3:
        return np.full((store.count, 2), 0.5, dtype=np.float32)
    points = principal_components(store)
    if store.count <= MAX_LAYOUT:
        vectors = store.vectors(np.arange(store.count))
        points = layout(points, _nearest(vectors, min(NEIGHBOURS, store.count - 1)))
    return _unit_square(points)


def principal_components(store: VectorStore, chunk: int = 8192) -> np.ndarray:
    """The first two principal components, read in chunks (memory stays small at any count)."""
    blocks = [np.arange(start, min(start + chunk, store.count)) for start in range(0, store.count, chunk)]
    mean = sum(store.vectors(rows).sum(axis=0, dtype=np.float64) for rows in blocks) / store.count
    covariance = np.zeros((len(mean), len(mean)))
    for rows in blocks:
        block = store.vectors(rows) - mean
        covariance += block.T @ block
    top = _top_axes(covariance)
    return np.concatenate([(store.vectors(rows) - mean) @ top for rows in blocks]).astype(np.float32)


def _top_axes(covariance: np.ndarray, rounds: int = 200) -> np.ndarray:
    """The two leading eigenvectors by orthogonal iteration: `np.linalg.eigh` gives the same axes
    but its threaded LAPACK stalls for seconds on a busy 2-core machine (measured: 4.6 s vs 0.04 s)."""
    axes = np.random.default_rng(SEED).standard_normal((len(covariance), 2))
    for _ in range(rounds):
        axes, _ = np.linalg.qr(covariance @ axes)
    return axes


def layout(start: np.ndarray, nearest: np.ndarray) -> np.ndarray:
    """Refine `start` so neighbour pairs sit close and random pairs apart (UMAP's forces, with its
    curve 1 / (1 + d^2)), in full-batch steps whose size shrinks to zero."""
    n = len(start)
    rng = np.random.default_rng(SEED)
    points = (10.0 * (start - start.mean(axis=0)) / max(float(start.std(axis=0).max()), 1e-12)).astype(np.float32)
    heads, tails = _symmetric_edges(nearest)
    degree = np.bincount(heads, minlength=n).astype(np.float32)[:, None]
    negative_heads = np.repeat(heads, NEGATIVES)
    for epoch in range(EPOCHS):
        step = 1.0 - epoch / EPOCHS
        diff = points[heads] - points[tails]
        pull = _sum_by_head(-2.0 / (1.0 + (diff * diff).sum(axis=1)), diff, heads, n)
        diff = points[negative_heads] - points[rng.integers(0, n, len(negative_heads))]
        d2 = (diff * diff).sum(axis=1)
        push = _sum_by_head(2.0 / ((0.001 + d2) * (1.0 + d2)), diff, negative_heads, n)
        points += step * (pull + push) / degree
    return points


def _nearest(vectors: np.ndarray, k: int, chunk: int = 1024) -> np.ndarray:
    """Each row's k nearest rows by inner product, best first (itself among them), compared exactly."""
    found = np.empty((len(vectors), k + 1), dtype=np.int64)
    for start in range(0, len(vectors), chunk):
        scores = vectors[start:start + chunk] @ vectors.T
        top = np.argpartition(-scores, k, axis=1)[:, :k + 1]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        found[start:start + chunk] = np.take_along_axis(top, order, axis=1)
    return found


def _symmetric_edges(nearest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each neighbour pair in both directions, once, sorted by head (itself dropped)."""
    n = len(nearest)
    heads = np.repeat(np.arange(n), nearest.shape[1])
    tails = nearest.ravel()
    keep = heads != tails
    pairs = np.concatenate([np.stack([heads[keep], tails[keep]], 1), np.stack([tails[keep], heads[keep]], 1)])
    pairs = np.unique(pairs, axis=0)  # sorted by head, then tail
    return pairs[:, 0], pairs[:, 1]


def _sum_by_head(scale: np.ndarray, diff: np.ndarray, heads: np.ndarray, n: int) -> np.ndarray:
    """Per point, the sum of its pairs' moves (each clipped as UMAP clips them)."""
    moves = np.clip(scale[:, None] * diff, -4.0, 4.0)
    return np.stack([np.bincount(heads, moves[:, axis], minlength=n) for axis in (0, 1)], axis=1).astype(np.float32)


def _unit_square(points: np.ndarray) -> np.ndarray:
    """Both axes into [0, 1] with one scale (the map keeps its shape); far outliers are clipped to the edge."""
    low, high = np.percentile(points, 0.5, axis=0), np.percentile(points, 99.5, axis=0)
    span = max(float((high - low).max()), 1e-12)
    centred = (points - (low + high) / 2) / span + 0.5
    return np.clip(centred, 0.0, 1.0).astype(np.float32)


# --- in an index ---------------------------------------------------------------------------------


def write(path_of: Callable[[str], Path], store: VectorStore, kept: tuple[np.ndarray, np.ndarray, dict] | None = None) -> dict:
    """Write the map of a generation being built (`path_of(name)` registers its file); return the
    manifest's `map` entry. `kept`: the previous map's points, each row's previous row (-1: new)
    and the previous `map` entry; the new rows are then placed among the others (`place`) unless
    the rows placed since the last layout would exceed PLACED_SHARE of the map."""
    from .vectors import save_npy

    placed = place(store, *kept) if kept is not None else None
    if placed is not None:
        points, entry = placed
    else:
        points, entry = project(store), {"file": FILE, "method": METHOD if store.count <= MAX_LAYOUT else "pca@1", "placed": 0}
    save_npy(path_of(FILE), points)
    return entry


def place(store: VectorStore, old_points: np.ndarray, old_rows: np.ndarray, entry: dict) -> tuple[np.ndarray, dict] | None:
    """The previous map with the new rows placed, each at the mean of the points of its PLACE_NEIGHBOURS
    nearest kept rows (by the store's own search, weighted by similarity), and the manifest entry
    counting them; None when it should be laid out anew."""
    new = np.flatnonzero(old_rows < 0)
    placed = entry.get("placed", 0) if isinstance(entry.get("placed"), int) else 0
    kept = old_rows >= 0
    if (store.count < 3 or kept.sum() < PLACE_NEIGHBOURS or placed + len(new) > PLACED_SHARE * store.count
            or not isinstance(entry.get("method"), str)):
        return None
    points = np.empty((store.count, 2), dtype=np.float32)
    points[kept] = old_points[old_rows[kept]]
    if len(new):
        scores, rows = store.search(store.vectors(new), PLACE_NEIGHBOURS, allowed=kept)
        weights = np.where(rows >= 0, np.maximum(scores, 0.0) + 1e-6, 0.0)
        points[new] = (weights[:, :, None] * points[np.maximum(rows, 0)]).sum(axis=1) / weights.sum(axis=1, keepdims=True)
    return points, {"file": FILE, "method": entry["method"], "placed": placed + len(new)}


def load(generation) -> np.ndarray:
    """The generation's map, or IndexProblem naming the fix (indexes built before maps have none)."""
    from .vectors import load_npy

    entry = generation.manifest.get("map")
    if not isinstance(entry, dict) or entry.get("file") not in generation.manifest["files"]:
        raise IndexProblem(f"{generation.index_dir}: this index was built before topic maps; "
                           f"`refsearch build --index {generation.index_dir}` adds one (reusing its vectors).")
    return load_npy(generation.path(entry["file"]), "float32", (generation.manifest["count"], 2))
