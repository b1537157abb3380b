"""Related reading on the bundled data with the real model."""

import json

import pytest
from typer.testing import CliRunner

from refsearch.cli import app
from refsearch.errors import RefsearchError
from refsearch.related import related, resolve_reference

VLLM = "mlops-references/vllm-easy-fast-and-cheap-llm-serving-with-pagedattention"
runner = CliRunner(env={"COLUMNS": "200"})


def test_fuzzy_titles_resolve(bundled_index):
    assert resolve_reference(bundled_index, "vllm").id == VLLM
    assert resolve_reference(bundled_index, "flash attention").title.startswith("FlashAttention")
    assert resolve_reference(bundled_index, VLLM).id == VLLM


def test_ambiguous_reference_lists_candidates(bundled_index):
    with pytest.raises(RefsearchError) as error:
        resolve_reference(bundled_index, "nvidia")
    assert "ambiguous" in str(error.value) and "triton" in str(error.value).lower() and "mig" in str(error.value).lower()


def test_suggestions_carry_reasons(bundled_index):
    anchor = resolve_reference(bundled_index, "vllm")
    suggestions = related(bundled_index, anchor, k=5)
    assert anchor.id not in {s.ref.id for s in suggestions}
    assert all(s.reasons and s.reasons[0].startswith("similar") for s in suggestions)
    same_topic = [s for s in suggestions if any(r.startswith("same topic") for r in s.reasons)]
    assert len(same_topic) >= 2  # SGLang, FlashAttention, Speculative Decoding share LLM Inference
    assert [s.score for s in suggestions] == sorted((s.score for s in suggestions), reverse=True)


def test_diverse_spans_more_topics(bundled_index):
    anchor = resolve_reference(bundled_index, "kserve")
    plain = {s.ref.topic for s in related(bundled_index, anchor, k=5)}
    diverse = {s.ref.topic for s in related(bundled_index, anchor, k=5, diverse=True)}
    assert len(diverse) >= len(plain)


def test_other_topics_only_for_see_also(bundled_index):
    anchor = resolve_reference(bundled_index, "vllm")
    assert all(s.ref.topic != anchor.topic for s in related(bundled_index, anchor, k=3, other_topics=True))


def test_cli_related_json_and_markdown(bundled_index):
    index_dir = str(bundled_index.generation.directory.parent)
    data = json.loads(runner.invoke(app, ["related", "vllm", "--json", "--index", index_dir]).stdout)
    assert data["ref"]["id"] == VLLM and len(data["related"]) == 5 and data["related"][0]["reasons"]
    md = runner.invoke(app, ["related", "vllm", "--format", "md", "-k", "3", "--index", index_dir]).stdout
    assert md.startswith("### Further reading after vLLM") and md.count("\n- ") == 3
    result = runner.invoke(app, ["related", "nvidia", "--index", index_dir])
    assert result.exit_code == 1 and "ambiguous" in result.stderr


def test_search_related_adds_see_also(bundled_index):
    index_dir = str(bundled_index.generation.directory.parent)
    data = json.loads(runner.invoke(app, ["search", "paged attention", "--related", "--json", "--index", index_dir]).stdout)
    assert data["results"][0]["id"] == VLLM
    assert data["see_also"] and all(s["id"] != VLLM for s in data["see_also"])


def test_markdown_search_and_topics(bundled_index):
    index_dir = str(bundled_index.generation.directory.parent)
    md = runner.invoke(app, ["search", "drift", "--format", "md", "-k", "2", "--all", "--index", index_dir]).stdout
    assert md.startswith("### Further reading: drift") and md.count("\n- ") == 2
    topics = runner.invoke(app, ["topics", "--format", "md", "--index", index_dir]).stdout
    assert topics.count("### ") == 8
