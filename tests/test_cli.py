"""End-to-end CLI tests with the real model on the bundled data."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from refsearch.cli import app
from refsearch.terminal import cell_width

MIG = "mlops-references/nvidia-multi-instance-gpu-mig"
runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def index_dir(bundled_index):
    return str(bundled_index.generation.directory.parent)


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_gpu_slicing_json_puts_mig_first(index_dir):
    result = invoke("search", "GPU slicing", "--json", "--index", index_dir)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["query"] == "GPU slicing"
    first = data["results"][0]
    assert first["id"] == MIG
    assert set(first) >= {"rank", "id", "title", "score", "topic", "page", "note", "note_en", "url", "year", "kind"}
    assert first["topic"] == "训练编排 + GPU"


def test_table_shows_topic_and_gloss(index_dir):
    result = invoke("search", "GPU slicing", "-k", "3", "--index", index_dir)
    assert result.exit_code == 0
    assert "Multi-Instance GPU" in result.stdout
    assert "训练编排 + GPU" in result.stdout


def test_results_fit_a_narrow_terminal(index_dir):
    result = CliRunner(env={"COLUMNS": "44"}).invoke(app, ["search", "特征存储 GPU slicing", "--related", "--context",
                                                           "--explain", "--index", index_dir])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith(" 1. ") for line in lines) and "\x1b" not in result.stdout  # a pipe: no colour
    too_wide = [line for line in lines if cell_width(line) > 44 and len(line.split()) > 1]  # but a long id or URL
    assert not too_wide


def test_context_lists_siblings(index_dir):
    result = invoke("search", "GPU slicing", "-k", "1", "--context", "--json", "--index", index_dir)
    context = json.loads(result.stdout)["results"][0]["context"]
    assert {c["title"] for c in context} == {"Ray Train Documentation", "Kubeflow Documentation"}


def test_chinese_query(index_dir):
    result = invoke("search", "特征存储", "-k", "3", "--json", "--index", index_dir)
    titles = [r["title"] for r in json.loads(result.stdout)["results"]]
    assert any("Feast" in t or "Feature Store" in t or "Michelangelo" in t for t in titles[:2])


def test_batch_prints_one_json_line_per_query(index_dir, tmp_path):
    queries = tmp_path / "q.txt"
    queries.write_text("GPU slicing\n\nfeature store\n", encoding="utf-8")
    result = invoke("search", "--batch", queries, "-k", "2", "--index", index_dir)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query"] for line in lines] == ["GPU slicing", "feature store"]
    assert lines[0]["results"][0]["id"] == MIG


def test_topics_and_show(index_dir):
    topics = json.loads(invoke("topics", "--json", "--index", index_dir).stdout)["topics"]
    assert len(topics) == 8 and sum(t["count"] for t in topics) == 27
    shown = json.loads(invoke("show", MIG, "--json", "--index", index_dir).stdout)
    assert shown["kind"] == "official-doc" and len(shown["context"]) == 2


def test_filters_apply_before_cut(index_dir):
    result = invoke("search", "serving", "--kind", "paper", "--year", "2022-2023", "--json", "--index", index_dir)
    results = json.loads(result.stdout)["results"]
    assert results and all(r["kind"] == "paper" and 2022 <= r["year"] <= 2023 for r in results)


def test_explain_lists_matched_terms(index_dir):
    result = invoke("search", "GPU 切片", "--explain", "--json", "-k", "1", "--index", index_dir)
    explain = json.loads(result.stdout)["results"][0]["explain"]
    assert "切片" in explain["matched_terms"] and explain["lexical_rank"] == 1


@pytest.mark.parametrize("args, message", [
    (["search", "   "], "QUERY is empty"),
    (["search", "x" * 1_000_001], "limit is"),
    (["search", "gpu", "-k", "0"], "-k must be"),
    (["search", "gpu", "-k", "-3"], "-k must be"),
    (["search", "gpu", "--year", "20x"], "--year"),
    (["show", "no/such-id"], "no reference matches"),
])
def test_bad_arguments_get_one_line_message(index_dir, args, message):
    result = invoke(*args, "--index", index_dir)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_missing_index_dir_is_a_clear_error(tmp_path):
    result = invoke("search", "gpu", "--index", tmp_path / "nothing")
    assert result.exit_code == 1
    assert "refsearch build" in result.stderr


def test_query_path_imports_no_torch(index_dir):
    """A cold search in a fresh process must not import torch, transformers or sentence_transformers."""
    code = (
        "import sys; from refsearch.cli import app; "
        f"sys.argv=['refsearch','search','GPU slicing','--json','--index',{index_dir!r}]\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in result.stderr, result.stderr
    assert json.loads(result.stdout)["results"][0]["id"] == MIG


def test_closed_pipe_stops_quietly(index_dir, tmp_path):
    """`refsearch search --batch … | head -1`: no traceback and no error line when the reader leaves."""
    queries = tmp_path / "queries.txt"
    queries.write_text("GPU slicing\n" * 400, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "refsearch", "search", "--batch", str(queries), "--index", index_dir],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert json.loads(process.stdout.readline())["results"][0]["id"] == MIG
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.wait(timeout=120)
    assert "Traceback" not in stderr and "error" not in stderr, stderr


def test_a_search_writes_nothing_in_the_home_folder(index_dir, tmp_path):
    """onnxruntime records telemetry under ~/.cache/Microsoft (a device id and an event database,
    fsynced on every session) unless told not to: an offline tool's search writes nothing there,
    nor anything else in HOME."""
    import os

    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("XDG_", "REFSEARCH_CACHE"))}
    # refsearch's own cache (a new one gets the CC-CEDICT tables for query translation) is put
    # outside HOME; onnxruntime's telemetry would go to ~/.cache/Microsoft whatever XDG says
    env.update(HOME=str(home), HF_HUB_OFFLINE="1", XDG_CACHE_HOME=str(tmp_path / "xdg-cache"))
    out = subprocess.run([sys.executable, "-m", "refsearch", "search", "GPU slicing", "--json", "--index", index_dir],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert json.loads(out.stdout)["results"][0]["id"] == MIG
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == []
