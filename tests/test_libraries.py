"""Several libraries at once (libraries.py): one ranking across them, each hit naming its library,
and show, related, topics and filters across them."""

import json

import pytest
from typer.testing import CliRunner

import refsearch
from refsearch.cli import app
from refsearch.errors import RefsearchError

WORK = """# Work
## Serving
- [KServe](https://kserve.io) - Kubernetes model serving
- [Triton](https://triton.io) - GPU inference server
"""
READING = """# Reading
## GPUs
- [MIG](https://nvidia.com/mig) - GPU slicing and scheduling
- [Ray](https://ray.io) - distributed Python
"""


@pytest.fixture
def two(tmp_path, fake_encoder):
    found = []
    for name, text in (("work", WORK), ("reading", READING)):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.md").write_text(text, encoding="utf-8")
        refsearch.build([tmp_path / name], tmp_path / f"{name}-index")
        found.append(tmp_path / f"{name}-index")
    return found


def test_one_ranking_across_libraries_each_hit_naming_its_own(two):
    both = refsearch.open(two)
    hits = both.search("GPU", k=4, mode="lexical")
    assert {hit.ref.extra["library"] for hit in hits} == {"work-index", "reading-index"}
    assert [hit.rank for hit in hits] == list(range(1, len(hits) + 1))
    assert all(hit.ref.id.startswith(hit.ref.extra["library"] + ":") for hit in hits)
    assert hits[0].ref.title in ("MIG", "Triton")  # each library's best comes first
    assert both.resolve("reading-index:reading/mig").title == "MIG"
    assert both.resolve("kserve").extra["library"] == "work-index"  # a title only one library knows
    assert [r.title for r in both.siblings(both.resolve("Triton"))] == ["KServe"]
    assert any(s.ref.extra["library"] == "reading-index" for s in both.related("Triton", k=3))
    assert len(both) == 4 and len(both.topics()) == 2
    only = both.search("GPU", filters=refsearch.Filters(topic="GPUs"), mode="lexical")
    assert {hit.ref.title for hit in only} == {"MIG"}  # a filter one library cannot pass leaves the other's
    with pytest.raises(RefsearchError, match="named twice"):
        refsearch.open([two[0], two[0]])


def test_search_with_two_indexes_on_the_command_line(two):
    result = CliRunner().invoke(app, ["search", "GPU", "--index", str(two[0]), "--index", str(two[1]), "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)["results"]
    assert {hit["library"] for hit in found} == {"work-index", "reading-index"}
    shown = CliRunner().invoke(app, ["show", found[0]["id"], "--index", str(two[0]), "--index", str(two[1]), "--json"])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["id"] == found[0]["id"]


def test_a_config_may_name_a_set(two, tmp_path, monkeypatch):
    config = tmp_path / "set.yaml"
    config.write_text(f"encoder: fake\nindex: [{two[0]}, {two[1]}]\n", encoding="utf-8")
    monkeypatch.setenv("REFSEARCH_CONFIG", str(config))
    assert len(refsearch.open()) == 4


def test_a_library_with_nothing_on_the_question_does_not_come_second(two, monkeypatch):
    """Each library's scores are weighed by its best cosine against the best of all: the best guess
    of a library that holds nothing on the question (cosine 0.1) goes below the other's second hit
    (docs/benchmarks.md, "Several libraries as one"); libraries of two models are not weighed."""
    from refsearch.search import Hit

    both = refsearch.open(two)
    work, reading = both.indexes
    answers = {id(work): [Hit(1, work.resolve("KServe"), 1.0, dense_score=0.60),
                          Hit(2, work.resolve("Triton"), 0.9, dense_score=0.55, strength=0.8)],
               id(reading): [Hit(1, reading.resolve("MIG"), 1.0, dense_score=0.10)]}
    for index in both.indexes:
        monkeypatch.setattr(index, "search", lambda *args, index=index, **kwargs: answers[id(index)])
    assert [hit.ref.title for hit in both.search("serving", k=3)] == ["KServe", "Triton", "MIG"]
    monkeypatch.setitem(reading.manifest["model"], "vectors_fingerprint", "another model")
    assert [hit.ref.title for hit in both.search("serving", k=3)] == ["KServe", "MIG", "Triton"]
