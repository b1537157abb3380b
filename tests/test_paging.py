"""Answers that fit: every list is a window that says how many more there are and how to get them,
server answers stay within their character budget, and results far below the best are left out
unless asked for."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import refsearch
from refsearch import paging, params
from refsearch.cli import app
from refsearch.errors import RefsearchError
from refsearch.search import shown_hits
from refsearch.serve.answers import Answers
from serving import make_project
from flat import built_flat_library, flat_index  # noqa: F401 (fixtures)

runner = CliRunner(env={"COLUMNS": "100"})


@pytest.fixture
def library(flat_index):
    return flat_index / "idx"


def invoke(*args):
    result = runner.invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_show_lists_a_window_of_its_topic_and_how_to_page(library):
    index = refsearch.open(library)
    ref = index.get("lib/bread-3")
    total = index.siblings(ref).total
    shown = invoke("show", "lib/bread-3", "--index", library)
    assert shown.count("  • ") == params.SIBLINGS_SHOWN and f"1-10 of {total}, nearest first" in shown
    assert f"… {total - 10} more: refsearch show lib/bread-3 --offset 10" in shown
    following = invoke("show", "lib/bread-3", "--offset", "10", "--limit", "5", "--index", library)
    assert following.count("  • ") == 5 and f"11-15 of {total}" in following
    assert not set(following.split("• ")[1:]) & set(shown.split("• ")[1:])
    data = json.loads(invoke("show", "lib/bread-3", "--json", "--index", library))
    assert len(data["context"]) == 10 and data["context_page"] == {"total": total, "offset": 0, "shown": 10,
                                                                  "next_offset": 10}


def test_context_lists_a_few_per_topic(library):
    shown = invoke("search", "sourdough crust", "-k", "10", "--context", "--index", library)
    context = shown.split("other reference(s) in this topic")[1:]
    assert context and all(part.count("  • ") <= paging.CONTEXT_SHOWN for part in context)
    assert "more: refsearch show lib/" in shown
    data = json.loads(invoke("search", "sourdough crust", "--context", "--json", "--index", library))
    assert all(len(hit["context"]) <= paging.CONTEXT_SHOWN and hit["context_page"]["total"] >= len(hit["context"])
               for hit in data["results"])


def test_topics_come_a_window_at_a_time(library):
    everything = json.loads(invoke("topics", "--json", "--index", library))
    total = everything["page"]["total"]
    first = json.loads(invoke("topics", "--json", "--limit", "1", "--index", library))
    assert len(first["topics"]) == 1 and first["page"]["next_offset"] == 1 and "ids" not in first["topics"][0]
    assert first["topics"][0]["topic_source"] == "derived" and first["topics"][0]["count"] > 1
    table = invoke("topics", "--limit", "1", "--index", library)
    assert f"Topics 1-1 of {total}" in table and f"… {total - 1} more: refsearch topics --offset 1" in table
    markdown = invoke("topics", "--format", "md", "--limit", "1", "--index", library)
    assert markdown.count("\n- ") <= paging.TOPIC_REFS_SHOWN + 1 and "more: `refsearch search QUERY --topic" in markdown


@pytest.mark.parametrize("args, message", [
    (["show", "lib/bread-3", "--limit", "0"], "--limit must be between 1 and 1000"),
    (["topics", "--offset", "-1"], "--offset must be 0 or more"),
    (["search", "gpu", "--offset", "995", "-k", "10"], "--offset plus -k must be at most 1000"),
])
def test_bad_windows_are_one_line(library, args, message):
    result = runner.invoke(app, [*args, "--index", str(library)])
    assert result.exit_code == 1 and message in result.stderr and len(result.stderr.splitlines()) == 1


def test_server_answers_fit_their_budget_and_say_where_to_go_on(library):
    answers = Answers(refsearch.open(library))
    shown = answers.show(id="lib/gpu-1", limit=1000)
    assert len(json.dumps(shown, ensure_ascii=False)) <= paging.ANSWER_CHARS
    small = Answers(refsearch.open(library))
    page = small.show(id="lib/gpu-1", offset=2, limit=3)["context_page"]
    assert page["offset"] == 2 and page["shown"] == 3 and page["next_offset"] == 5
    searched = answers.search(query="oven crust dough", k=5)
    assert searched["page"]["offset"] == 0 and len(searched["results"]) <= 5
    if searched["page"]["next_offset"] is not None:
        following = answers.search(query="oven crust dough", k=5, offset=searched["page"]["next_offset"])
        assert not {r["id"] for r in following["results"]} & {r["id"] for r in searched["results"]}
    with pytest.raises(RefsearchError, match="limit must be between"):
        answers.topics(limit=0)


def test_fit_cuts_long_fields_and_trailing_items():
    item = {"id": "a", "abstract": "word " * 2000, "authors": [f"author {n}" for n in range(50)], "extra": {"x": "y" * 9000}}
    answer = paging.fit({"query": "q", "results": [dict(item, id=str(n)) for n in range(20)],
                         "page": {"offset": 40, "shown": 20, "next_offset": 60}}, "results", budget=20_000)
    assert len(json.dumps(answer, ensure_ascii=False)) <= 20_000
    kept = len(answer["results"])
    assert 1 <= kept < 20 and answer["page"] == {"offset": 40, "shown": kept, "next_offset": 40 + kept, "cut_to_fit": True}
    first = answer["results"][0]
    assert len(first["abstract"]) <= paging.FIELD_CHARS + 2 and first["abstract_cut"] == {"characters": 10000}
    assert len(first["authors"]) == paging.LIST_ITEMS and first["authors_cut"] == {"items": 50}
    assert len(first["extra"]["x"]) <= paging.FIELD_CHARS + 2 and first["extra"]["x_cut"] == {"characters": 9000}
    assert paging.fit({"results": [{"id": "a"}]}, "results") == {"results": [{"id": "a"}]}


# --- weak matches ----------------------------------------------------------------------------------


@pytest.fixture
def infra(tmp_path, fake_encoder):
    return make_project(tmp_path)


def test_a_result_far_below_the_best_is_left_out_unless_asked_for(infra):
    hits = refsearch.open(infra).search("GPU slicing", k=3)
    assert hits[0].ref.title == "MIG" and hits[0].strength == 1.0
    assert [h.strength for h in hits] == sorted((h.strength for h in hits), reverse=True)
    weak = [hit.ref.title for hit in hits if hit.weak]
    assert "KServe" in weak and len(weak) < 3  # KServe is about neither GPUs nor slicing
    strong = hits[:3 - len(weak)]
    assert shown_hits(hits, 0, 3) == (strong, len(weak), None)
    assert shown_hits(hits, 0, 3, keep_weak=True) == (hits, 0, 3)
    assert shown_hits(hits, 1, 2, keep_weak=True) == (hits[1:], 0, 3)
    shown = invoke("search", "GPU slicing", "-k", "3", "--index", infra)
    assert "KServe" not in shown and f"{len(weak)} weak match" in shown and "--all shows them" in shown
    everything = invoke("search", "GPU slicing", "-k", "3", "--all", "--index", infra)
    assert "KServe" in everything and "weak match" in everything and "left out" not in everything
    data = json.loads(invoke("search", "GPU slicing", "-k", "3", "--json", "--index", infra))
    assert data["weak_cut"] == len(weak) and not any(r["weak"] for r in data["results"])
    data = json.loads(invoke("search", "GPU slicing", "-k", "3", "--json", "--all", "--index", infra))
    assert data["weak_cut"] == 0 and [r["title"] for r in data["results"] if r["weak"]] == weak
