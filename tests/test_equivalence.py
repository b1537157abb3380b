"""The fp32 ONNX path gives the same answers as sentence-transformers on the bundled data (the
default int8 encoder is judged by the evals instead: docs/benchmarks.md)."""

import pytest
import yaml

from conftest import BUNDLED, ROOT

import refsearch

pytestmark = pytest.mark.slow  # the real model, through both encoders


@pytest.fixture(scope="module")
def torch_index(tmp_path_factory):
    directory = tmp_path_factory.mktemp("torch-index")
    refsearch.build([BUNDLED], directory, encoder="torch")
    return refsearch.open(directory)


@pytest.fixture(scope="module")
def fp32_index(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fp32-index")
    refsearch.build([BUNDLED], directory, encoder="onnx")
    return refsearch.open(directory)


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_top5_identical_for_every_eval_query(fp32_index, torch_index, mode):
    assert torch_index.manifest["model"]["encoder"] == "torch" and fp32_index.manifest["model"]["encoder"] == "onnx"
    queries = [q["query"] for q in yaml.safe_load((ROOT / "data" / "eval" / "bundled.yaml").read_text("utf-8"))["queries"]]
    assert len(queries) >= 30
    onnx, torch = fp32_index, torch_index
    for query in queries:
        assert [h.ref.id for h in onnx.search(query, k=5, mode=mode)] == \
               [h.ref.id for h in torch.search(query, k=5, mode=mode)], query
