"""Per-reference features (docfeatures.py): computed at build time into the generation, read by
fusion for a query's candidates only; an index built before them is stale, answers without them,
and gets them from its next build without embedding anything again."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import refsearch
from refsearch import atomic, store
from refsearch.cli import app
from refsearch.docfeatures import FILE, DocumentFeatures

SERVING = """# Serving
## Model serving
- [KServe](https://kserve.io) - Kubernetes model serving (2019, repo)
- [Triton](https://triton.io) - GPU inference server with dynamic batching
"""
CHINESE = """# 参考资料
## 推理
- [KServe](https://kserve.io) - 在 Kubernetes 上部署模型
- [硅基流动](https://siliconflow.cn) - 国内的大模型接口平台，价格便宜
"""


@pytest.fixture
def index_dir(tmp_path, fake_encoder):
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "serving.md").write_text(SERVING, "utf-8")
    (tmp_path / "refs" / "zh.md").write_text(CHINESE, "utf-8")
    refsearch.build([tmp_path / "refs"], tmp_path / "idx")
    return tmp_path / "idx"


def features_by_title(index_dir):
    index = refsearch.open(index_dir)
    unreadable, lists = index.features.of_rows(np.arange(len(index)))
    return {ref.title: (round(float(u), 3), int(n)) for ref, u, n in zip(index, unreadable, lists)}


def test_a_build_stores_what_the_encoder_can_read_and_how_many_lists_hold_each_work(index_dir):
    manifest = store.open_generation(index_dir).manifest
    assert manifest["features"] == {"file": FILE, "format": "refsearch/doc-features@1"}
    found = features_by_title(index_dir)
    assert found["KServe"][1] == 2  # the same work on both pages: merged, in 2 lists
    assert found["Triton"] == (0.0, 1)
    assert found["硅基流动"][0] > 0.9 and found["硅基流动"][1] == 1  # Chinese only, no gloss


def test_explain_and_json_say_how_many_lists_hold_a_hit(index_dir):
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["search", "KServe", "--explain", "--index", str(index_dir)])
    assert result.exit_code == 0 and "in 2 lists" in result.output
    result = CliRunner().invoke(app, ["search", "KServe", "--explain", "--json", "--index", str(index_dir)])
    first = json.loads(result.output)["results"][0]
    assert first["title"] == "KServe" and first["explain"]["lists"] == 2


def test_an_index_built_before_features_answers_and_gets_them_without_embedding_again(index_dir, fake_encoder):
    path = store.current_generation(index_dir) / "manifest.json"
    manifest = json.loads(path.read_text("utf-8"))
    del manifest["features"]
    atomic.publish_file(path, json.dumps(manifest).encode())
    old = refsearch.open(index_dir, update=False)
    assert old.features is None and old.search("model serving")  # fusion without them
    state = refsearch.status(index_dir).state
    assert state.condition == "stale" and "per-reference features" in state.detail
    embedded = len(fake_encoder.encoded)
    report = refsearch.build(None, index_dir)
    assert report.rebuilt and report.unchanged == 3 and len(fake_encoder.encoded) == embedded
    assert isinstance(refsearch.open(index_dir).features, DocumentFeatures)


# --- with the real model (bundled_index marks these slow) --------------------------------------------


def test_on_the_bundled_list_the_default_ranks_as_fusion_without_document_facts(bundled_index):
    # no bundled work is in two lists and readability is off by default: every judged query ranks
    # exactly as issue 15's fusion did (docs/benchmarks.md, "Answers, round three": bundled unchanged)
    from dataclasses import replace
    from pathlib import Path

    from refsearch import evaluate
    from refsearch.fusion import DEFAULT_FUSION
    from refsearch.search import Searcher

    unreadable, lists = bundled_index.features.of_rows(np.arange(len(bundled_index)))
    assert (lists == 1).all() and unreadable.max() < 0.9  # glossed: the model reads half of each at least
    queries = evaluate.resolve(evaluate.load_eval_set(Path(__file__).parents[1] / "data" / "eval" / "bundled.yaml"),
                               bundled_index)
    before = Searcher(bundled_index, replace(DEFAULT_FUSION, agreement=0.0, readability=0.0))
    now = Searcher(bundled_index)
    for query in queries:
        assert [h.ref.id for h in now.search(query.text)] == [h.ref.id for h in before.search(query.text)], query.text
    # the readability switch, measured off, does not lose the bundled set either (0.897 both)
    switched = evaluate.run(Searcher(bundled_index, replace(DEFAULT_FUSION, readability=1.0)), queries, "hybrid")
    assert switched.summary()["mrr"] >= evaluate.run(now, queries, "hybrid").summary()["mrr"] - 0.01
