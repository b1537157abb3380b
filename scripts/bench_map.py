"""Topic map: principal components alone vs the neighbour-graph layout (topicmap.py), on an index.

A map is judged by what a reader uses it for:
- neighbourhood kept: of each reference's 10 nearest references in embedding space, the share that
  are among its 10 nearest points on the map (what "near on the map" promises);
- topic together: of each reference's 10 nearest points on the map, the share under the same topic
  (and on the same page); the same share among its 10 nearest in embedding space is the ceiling;
- seconds to compute it (it is computed at every build that changes the index).
Measured on 2,000 sampled references (all of a smaller index).

    python scripts/bench_map.py [--index DIR]    # default: the shared corpora (else the bundled list)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

SAMPLE = 2000
K = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, help="index to map (default: corpora, else bundled)")
    args = parser.parse_args()

    import refsearch
    from refsearch import topicmap
    from refsearch.catalog import PAGE, TOPIC

    index = refsearch.open(args.index or bench_index(), update=False)
    store = index.vectors
    vectors = store.vectors(np.arange(store.count))
    rows = np.random.default_rng(1).choice(store.count, min(SAMPLE, store.count), replace=False)
    near = _nearest(vectors[rows] @ vectors.T, rows)
    topics, pages = index.catalog.facet(TOPIC), index.catalog.facet(PAGE)
    print(f"{index.directory}: {store.count} references, {len(set(topics.tolist()))} topics, "
          f"{len(set(pages.tolist()))} pages; {len(rows)} sampled")
    print(f"{'method':14} {'seconds':>8} {'neighbourhood kept':>19} {'same topic':>11} {'same page':>10}")
    print(f"{'(embedding)':14} {'':>8} {1:19.3f} {_same(near, rows, topics):11.3f} {_same(near, rows, pages):10.3f}")
    methods = {"pca": lambda: topicmap._unit_square(topicmap.principal_components(store)),
               "knn-layout": lambda: topicmap.project(store)}
    for name, method in methods.items():
        started = time.perf_counter()
        points = method()
        seconds = time.perf_counter() - started
        distances = ((points[rows][:, None, :] - points[None, :, :]) ** 2).sum(axis=-1)
        on_map = _nearest(-distances, rows)
        kept = np.mean([len(set(a) & set(b)) / K for a, b in zip(near.tolist(), on_map.tolist())])
        print(f"{name:14} {seconds:8.2f} {kept:19.3f} {_same(on_map, rows, topics):11.3f} {_same(on_map, rows, pages):10.3f}")


def bench_index() -> Path:
    from bench_query import indexes

    found = indexes(None)
    return found.get("corpora", found["bundled"])


def _nearest(scores: np.ndarray, rows: np.ndarray) -> np.ndarray:
    scores[np.arange(len(rows)), rows] = -np.inf  # not itself
    return np.argpartition(-scores, K, axis=1)[:, :K]


def _same(near: np.ndarray, rows: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(labels[near] == labels[rows][:, None]))


if __name__ == "__main__":
    main()
