"""The Ray Data embedding stage gives the local encoder's vectors, chunk for chunk, in order."""

from __future__ import annotations

import numpy as np
import pytest
from test_encoders import varied_texts

from refsearch.encoders.export import export_onnx
from refsearch.encoders.models import resolve_model
from refsearch.encoders.onnx import OnnxEncoder

pytestmark = pytest.mark.slow
pytest.importorskip("ray", reason="needs ray: pip install 'refsearch[ray]'")


def test_ray_vectors_equal_local_vectors_in_input_order(tmp_path):
    from refsearch import distributed

    exported = export_onnx(resolve_model(None), cache_dir=tmp_path)
    texts = varied_texts() * 3  # 306 texts: several Ray batches and windows
    sizes = [100, 0, 1, 150, 55]  # an empty chunk and a one-text chunk keep their places
    chunks, start = [], 0
    for size in sizes:
        chunks.append(texts[start : start + size])
        start += size

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(distributed, "CHUNKS_PER_DATASET", 2)  # three windows, three actor pools
        patch.setattr(distributed, "RAY_BATCH", 32)
        results = list(distributed.embed_chunks_on_ray(iter(chunks), exported, max_seq_length=128))

    local = OnnxEncoder(exported, max_seq_length=128)
    assert [r.shape for r in results] == [(size, 384) for size in sizes]
    assert all(r.dtype == np.float32 for r in results)
    for chunk, vectors in zip(chunks, results):
        if chunk:
            cosine = (vectors * local.encode(chunk)).sum(axis=1)
            assert cosine.min() >= 0.9999


def test_build_with_ray_gives_the_local_build_s_vectors(tmp_path, bundled_index):
    """`refsearch build --ray` (a local Ray, no address) embeds on Ray Data; the index is the same."""
    from typer.testing import CliRunner

    from conftest import BUNDLED
    from refsearch.cli import app
    from refsearch.index import Index

    result = CliRunner().invoke(app, ["build", str(BUNDLED), "--index", str(tmp_path / "ray-idx"), "--ray"])
    assert result.exit_code == 0, result.output
    on_ray = Index.open(tmp_path / "ray-idx")
    rows = np.arange(len(on_ray))
    assert [r.id for r in on_ray] == [r.id for r in bundled_index]
    ray_vectors, local_vectors = on_ray.vectors.vectors(rows), bundled_index.vectors.vectors(rows)
    assert (ray_vectors * local_vectors).sum(axis=1).min() >= 0.9999
