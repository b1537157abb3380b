"""The topic map: computed at build time into the generation, deterministic, in the unit square, and
faithful to the embedding (clusters stay apart); an index built before maps gets one from its next
build without embedding anything again."""

from __future__ import annotations

import json

import numpy as np
import pytest

import refsearch
from refsearch import atomic, store, topicmap
from refsearch.errors import IndexProblem
from refsearch.vectors import FlatStore
from serving import make_project


def flat_store(tmp_path, vectors: np.ndarray) -> FlatStore:
    np.save(tmp_path / FlatStore.FILE, vectors.astype(np.float32))
    return FlatStore(tmp_path, {}, len(vectors), vectors.shape[1])


def clusters(count: int = 3, size: int = 40, dimension: int = 64, spread: float = 0.15, seed: int = 0):
    """Unit vectors around `count` random centres, and each one's cluster number."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((count, dimension))
    labels = np.repeat(np.arange(count), size)
    vectors = centres[labels] / np.linalg.norm(centres[labels], axis=1, keepdims=True)
    vectors = vectors + spread * rng.standard_normal(vectors.shape) / np.sqrt(dimension)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), labels


def test_clusters_stay_together_on_the_map(tmp_path):
    vectors, labels = clusters()
    points = topicmap.project(flat_store(tmp_path, vectors))
    assert points.shape == (120, 2) and points.dtype == np.float32
    assert points.min() >= 0 and points.max() <= 1 and np.ptp(points, axis=0).max() > 0.9
    distances = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1)
    np.fill_diagonal(distances, np.inf)
    nearest = np.argsort(distances, axis=1)[:, :5]
    assert np.mean(labels[nearest] == labels[:, None]) > 0.95
    centres = np.array([points[labels == c].mean(axis=0) for c in range(3)])
    spreads = [np.linalg.norm(points[labels == c] - centres[c], axis=1).mean() for c in range(3)]
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a, b in ((0, 1), (0, 2), (1, 2))]
    assert min(gaps) > 2 * max(spreads)


def test_the_same_vectors_give_the_same_map(tmp_path):
    vectors, _ = clusters(seed=3)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert np.array_equal(topicmap.project(flat_store(tmp_path / "a", vectors)),
                          topicmap.project(flat_store(tmp_path / "b", vectors)))


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_tiny_indexes_get_a_map(tmp_path, count):
    vectors = np.eye(4)[:count] if count else np.zeros((0, 4))
    points = topicmap.project(flat_store(tmp_path, vectors))
    assert points.shape == (count, 2) and (points.size == 0 or (points.min() >= 0 and points.max() <= 1))


def test_a_large_index_gets_principal_components(tmp_path, monkeypatch):
    monkeypatch.setattr(topicmap, "MAX_LAYOUT", 50)
    vectors, _ = clusters()
    store_ = flat_store(tmp_path, vectors)
    np.testing.assert_allclose(topicmap.project(store_), topicmap._unit_square(topicmap.principal_components(store_)))
    axes = topicmap.principal_components(store_)
    centred = vectors - vectors.mean(axis=0)
    reference = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
    for axis in (0, 1):  # the same axes as an exact decomposition, up to sign
        assert abs(np.corrcoef(axes[:, axis], reference[:, axis])[0, 1]) > 0.999


def test_a_build_stores_the_map_in_the_generation(tmp_path, fake_encoder):
    index_dir = make_project(tmp_path)
    manifest = store.open_generation(index_dir).manifest
    assert manifest["map"] == {"file": "map.npy", "method": "knn-layout@1", "placed": 0}
    assert manifest["files"]["map.npy"]["size"] > 0
    points = refsearch.open(index_dir).topic_map()
    assert points.shape == (3, 2) and points.dtype == np.float32


def test_an_index_built_before_maps_gets_one_without_embedding_again(tmp_path, fake_encoder):
    index_dir = make_project(tmp_path)
    path = store.current_generation(index_dir) / "manifest.json"
    manifest = json.loads(path.read_text("utf-8"))
    del manifest["map"]
    atomic.publish_file(path, json.dumps(manifest).encode())
    with pytest.raises(IndexProblem, match="built before topic maps; `refsearch build --index"):
        refsearch.open(index_dir, update=False).topic_map()
    state = refsearch.status(index_dir).state
    assert state.condition == "stale" and "no topic map" in state.detail
    embedded = len(fake_encoder.encoded)
    report = refsearch.build(None, index_dir)
    assert report.rebuilt and report.unchanged == 3 and len(fake_encoder.encoded) == embedded
    assert refsearch.open(index_dir).topic_map().shape == (3, 2)
