"""The ONNX path gives the same answers as sentence-transformers on the bundled data."""

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


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_top5_identical_for_every_eval_query(bundled_index, torch_index, mode):
    assert torch_index.manifest["model"]["encoder"] == "torch"
    queries = [q["query"] for q in yaml.safe_load((ROOT / "data" / "eval" / "bundled.yaml").read_text("utf-8"))["queries"]]
    assert len(queries) >= 30
    onnx, torch = bundled_index, torch_index
    for query in queries:
        assert [h.ref.id for h in onnx.search(query, k=5, mode=mode)] == \
               [h.ref.id for h in torch.search(query, k=5, mode=mode)], query
