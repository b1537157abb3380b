"""Large libraries stream: JSON Lines (also gzip-compressed) are read twice, never held whole, and
duplicates across files are planned in the first reading and merged in the second."""

from __future__ import annotations

import gzip
import json

import refsearch
from refsearch.sources import plan_sources, read_sources


def write_jsonl(path, rows, compressed=False):
    data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
    path.write_bytes(gzip.compress(data) if compressed else data)
    return path


def test_a_compressed_library_builds_and_is_never_held_whole(tmp_path, fake_encoder):
    rows = [{"id": f"arXiv:{n}", "title": f"Paper {n} on sparse attention", "abstract": "We study attention.",
             "year": 2025, "authors": ["A. Author"], "categories": ["cs.CL"], "keywords": ["attention"]}
            for n in range(50)]
    (tmp_path / "lib").mkdir()
    write_jsonl(tmp_path / "lib" / "papers.jsonl.gz", rows, compressed=True)
    plan = plan_sources([tmp_path / "lib"])
    assert plan.count == 50 and plan.files[0].references is None  # streamed again, not kept
    first = next(plan.references())
    assert first.id == "arXiv:0" and first.tags == ("cs.CL", "attention") and first.abstract == "We study attention."
    report = refsearch.build([tmp_path / "lib"], tmp_path / "idx")
    assert report.total == 50
    assert refsearch.open(tmp_path / "idx").search("Paper 7 sparse attention", k=1, mode="lexical")[0].ref.id == "arXiv:7"


def test_made_up_ids_avoid_ids_given_later_in_the_file(tmp_path):
    path = write_jsonl(tmp_path / "refs.jsonl", [{"title": "Same"}, {"title": "Other", "id": "refs/same"}])
    assert [ref.id for ref in read_sources([path]).references] == ["refs/same-2", "refs/same"]


def test_a_duplicate_across_files_merges_into_the_first_and_comes_out_complete(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"title": "Attention Is All You Need", "year": 2017},
                                       {"title": "Unrelated", "year": 2020}])
    write_jsonl(tmp_path / "b.jsonl", [{"title": "attention is all you need", "year": 2017, "url": "https://x.io"}])
    refs = read_sources([tmp_path]).references
    assert [ref.title for ref in refs] == ["Unrelated", "Attention Is All You Need"]
    merged = refs[1]
    assert merged.id == "a/attention-is-all-you-need" and merged.url == "https://x.io"
    assert merged.also_in == (f"{tmp_path / 'b.jsonl'}:1",)
    assert plan_sources([tmp_path]).count == 2


def test_an_entry_with_nothing_to_search_is_passed_over_and_noted(tmp_path):
    path = write_jsonl(tmp_path / "lib.jsonl", [{"title": "Kept"}, {"id": "pc:1", "title": "", "abstract": ""}])
    plan = plan_sources([path])
    assert [ref.title for ref in plan.references()] == ["Kept"] and plan.count == 1
    assert plan.warnings == [f"{path}:2: skipped an entry with no title and no text"]


def test_author_and_venue_filters_and_every_field_shown(tmp_path, fake_encoder):
    from typer.testing import CliRunner

    from refsearch.cli import app

    write_jsonl(tmp_path / "papers.jsonl", [
        {"title": "Deep belief nets", "authors": ["Geoffrey E. Hinton", "Simon Osindero"], "venue": "Neural Computation",
         "year": 2006, "abstract": "A fast learning algorithm.", "doi": "10.1162/neco.2006.18.7.1527"},
        {"title": "Deep residual learning", "authors": ["Kaiming He"], "venue": "CVPR", "year": 2016},
        {"title": "Dropout for deep nets", "authors": ["Nitish Srivastava", "Geoffrey Hinton"], "venue": "JMLR"}])
    refsearch.build([tmp_path / "papers.jsonl"], tmp_path / "idx")
    index = refsearch.open(tmp_path / "idx")
    by = lambda **f: sorted(h.ref.title for h in index.search("deep", k=10, filters=refsearch.Filters(**f)))
    assert by(author="hinton") == ["Deep belief nets", "Dropout for deep nets"]
    assert by(venue="cvpr") == ["Deep residual learning"]
    assert by(author="hinton", venue="jmlr") == ["Dropout for deep nets"]
    runner = CliRunner(env={"COLUMNS": "200"})
    found = runner.invoke(app, ["search", "deep", "--author", "He", "--json", "--index", str(tmp_path / "idx")])
    hit = json.loads(found.stdout)["results"][0]
    assert hit["title"] == "Deep residual learning" and hit["authors"] == ["Kaiming He"] and hit["venue"] == "CVPR"
    shown = runner.invoke(app, ["show", index.resolve("belief").id, "--index", str(tmp_path / "idx")])
    for text in ("Geoffrey E. Hinton; Simon Osindero", "Neural Computation", "10.1162/neco.2006.18.7.1527",
                 "A fast learning algorithm."):
        assert text in shown.stdout
