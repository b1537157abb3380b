"""Updates that cost what changed (takeover.py): a file whose size and time are unchanged is not
read again, an unchanged row is taken over whole, the map places new rows; and the result is the
index a build from scratch would write."""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import refsearch
from refsearch import atomic, files, store
from refsearch.catalog import Catalog
from refsearch.lexical import BM25Index

A = """# Serving
## Model servers
- [KServe](https://kserve.io) - Kubernetes model serving
- [Triton](https://triton.io) - GPU inference server
## GPUs
- [MIG](https://nvidia.com/mig) - GPU 切片调度
- [vLLM](https://vllm.ai) - paged attention for LLM serving
"""
B = """# Reading
- [Triton Inference Server](https://triton.io) - NVIDIA's server, again
- [Ray](https://ray.io) - distributed Python
- [Dask](https://dask.org) - parallel arrays
"""
C = "".join(json.dumps({"title": title, "note": note, "year": 2020 + n}) + "\n"
            for n, (title, note) in enumerate([("Feature stores", "online and offline features"),
                                                ("Drift detection", "monitoring data drift"),
                                                ("Model registry", "versions of models")]))


@pytest.fixture
def library(tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    for name, text in (("a.md", A), ("b.md", B), ("c.jsonl", C)):
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def parsed(monkeypatch):
    """The files the parsers read, by name."""
    from refsearch import sources

    read = []
    for name in ("_read", "_markdown_file"):
        monkeypatch.setattr(sources, name, _counting(getattr(sources, name), read))
    return read


def _counting(read_file, read: list[str]):
    def counting(path, *args):
        read.append(path.name)
        return read_file(path, *args)

    return counting


def same_as_from_scratch(index_dir, folder, tmp_path):
    """The updated index holds what a build from scratch of the same sources holds."""
    fresh = tmp_path / "fresh"
    refsearch.build([folder], fresh, force=True)
    updated, scratch = (store.open_generation(d) for d in (index_dir, fresh))
    a, b = Catalog(updated), Catalog(scratch)
    assert [r.to_json() for r in a] == [r.to_json() for r in b]
    assert a.ids == b.ids and a.pages == b.pages and a.topics == b.topics and a.kinds == b.kinds
    assert np.array_equal(np.asarray(a._facet_rows), np.asarray(b._facet_rows))
    assert a._name_table == b._name_table
    assert a.author_names() == b.author_names() and a.tag_names() == b.tag_names()
    for name in ("facets.tag_ptr.npy", "facets.topic_ids.npy", "vectors.npy", "features.npy"):
        assert np.array_equal(np.load(updated.path(name)), np.load(scratch.path(name))), name
    x, y = BM25Index.load(updated.directory), BM25Index.load(scratch.directory)
    assert bytes(x.terms._blob) == bytes(y.terms._blob)
    assert np.array_equal(x.term_ptr, y.term_ptr) and np.array_equal(x.doc_ids, y.doc_ids)
    assert np.array_equal(x.frequencies, y.frequencies) and np.array_equal(x.lengths, y.lengths)
    assert np.allclose(x.idf, y.idf)
    for query in ("GPU serving", "drift", "分布式 Python"):
        got = [(h.ref.id, round(h.score, 4)) for h in refsearch.open(index_dir).search(query)]
        assert got == [(h.ref.id, round(h.score, 4)) for h in refsearch.open(fresh).search(query)]


def test_an_added_entry_reads_one_file_and_takes_every_other_row_over(tmp_path, library, fake_encoder, parsed):
    index_dir = tmp_path / "idx"
    refsearch.build([library], index_dir)
    before = Catalog(store.open_generation(index_dir))
    parsed.clear()
    fake_encoder.encoded.clear()
    text = A.replace("- [Triton]", "- [Seldon](https://seldon.io) - inference graphs\n- [Triton]")
    (library / "a.md").write_text(text, encoding="utf-8")
    report = refsearch.build(None, index_dir)
    assert (report.added, report.unchanged, report.removed) == (1, 9, 0)
    assert parsed == ["a.md"]  # b.md is not read again, nor is the JSON Lines file streamed
    assert fake_encoder.encoded == [fake_encoder.encoded[0]] and "Seldon" in fake_encoder.encoded[0]
    after = Catalog(store.open_generation(index_dir))
    moved = after.reference(after.row_of["a/triton"])
    assert moved.source.endswith("a.md:5")  # a line above it: its place is new, its row taken over
    assert before.reference(before.row_of["a/triton"]).source.endswith("a.md:4")
    same_as_from_scratch(index_dir, library, tmp_path)


def test_merges_across_files_follow_an_edit_to_one_of_them(tmp_path, library, fake_encoder, parsed):
    index_dir = tmp_path / "idx"
    refsearch.build([library], index_dir)
    merged = refsearch.open(index_dir).get("a/triton")
    assert len(merged.also_in) == 1 and merged.also_in[0].startswith(str(library / "b.md"))
    (library / "b.md").write_text(B.replace("- [Triton Inference Server](https://triton.io) - NVIDIA's server, again\n", ""),
                                  encoding="utf-8")
    parsed.clear()
    report = refsearch.build(None, index_dir)
    assert parsed == ["b.md"] and report.changed == 1  # the merged note lost b.md's words
    assert refsearch.open(index_dir).get("a/triton").also_in == ()
    same_as_from_scratch(index_dir, library, tmp_path)
    (library / "b.md").write_text(B + "- [KServe docs](https://kserve.io) - the same link\n", encoding="utf-8")
    refsearch.build(None, index_dir)
    assert refsearch.open(index_dir).get("a/kserve").also_in
    same_as_from_scratch(index_dir, library, tmp_path / "again")


def test_removing_entries_keeps_names_that_others_share(tmp_path, fake_encoder):
    folder = tmp_path / "lib"
    folder.mkdir()
    (folder / "a.bib").write_text("@article{smith2020, title = {Streams}, year = 2020}\n", encoding="utf-8")
    (folder / "b.bib").write_text("@article{smith2020, title = {Tables}, year = 2020}\n", encoding="utf-8")
    index_dir = tmp_path / "idx"
    refsearch.build([folder], index_dir)
    assert refsearch.open(index_dir).resolve("smith2020").title == "Streams"
    (folder / "a.bib").write_text("@article{jones2021, title = {Queues}, year = 2021}\n", encoding="utf-8")
    refsearch.build(None, index_dir)
    assert refsearch.open(index_dir).resolve("smith2020").title == "Tables"
    same_as_from_scratch(index_dir, folder, tmp_path)


def test_the_map_places_a_new_reference_and_keeps_the_others(tmp_path, fake_encoder):
    folder = tmp_path / "lib"
    folder.mkdir()
    lines = [f"- [Tool {n}](https://example.org/{n}) - {word} tooling" for n, word in
             enumerate(["serving", "training", "drift", "features", "registry"] * 8)]
    (folder / "list.md").write_text("# Tools\n" + "\n".join(lines) + "\n", encoding="utf-8")
    index_dir = tmp_path / "idx"
    refsearch.build([folder], index_dir)
    index = refsearch.open(index_dir)
    before = dict(zip(index.catalog.ids, index.topic_map().tolist()))
    (folder / "list.md").write_text("# Tools\n" + "\n".join(lines + ["- [New](https://example.org/new) - drift alarms"]) + "\n",
                                    encoding="utf-8")
    refsearch.build(None, index_dir)
    index = refsearch.open(index_dir)
    after = dict(zip(index.catalog.ids, index.topic_map().tolist()))
    assert {key: after[key] for key in before} == before
    assert 0 <= min(after["list/new"]) and max(after["list/new"]) <= 1
    assert index.manifest["map"]["placed"] == 1
    for n in range(5):  # past a tenth of the map placed, it is laid out anew
        (folder / "list.md").write_text("# Tools\n" + "\n".join(lines + [f"- [More {n}](https://example.org/m{n}) - x"])
                                        + "\n", encoding="utf-8")
        refsearch.build(None, index_dir)
    assert refsearch.open(index_dir).manifest["map"]["placed"] < 5


def test_the_reading_of_a_file_read_alike_is_copied_not_written_again(tmp_path, library, fake_encoder, monkeypatch):
    from refsearch import takeover

    index_dir = tmp_path / "idx"
    refsearch.build([library], index_dir)
    reading = store.current_generation(index_dir) / "records.reading.jsonl"
    before = reading.read_bytes().splitlines()
    dumped, dumps = [], json.dumps
    monkeypatch.setattr(takeover.json, "dumps", lambda value, **kw: dumped.append(value) or dumps(value, **kw))
    (library / "c.jsonl").write_text(C + dumps({"title": "Stream processing", "note": "logs"}) + "\n", encoding="utf-8")
    assert refsearch.build(None, index_dir).added == 1
    entries = [value for value in dumped if isinstance(value, list) and value and isinstance(value[0], list)]
    assert len(entries) == 1 and entries[0][-1][0] == "c/stream-processing"
    after = (store.current_generation(index_dir) / "records.reading.jsonl").read_bytes().splitlines()
    # (a summary line, then an entries line per file): those of a.md and b.md copied, c.jsonl's written
    assert after[2] == before[2] and after[4] == before[4] and after[6] != before[6]
    same_as_from_scratch(index_dir, library, tmp_path)


@pytest.mark.parametrize("damage", ["not-json", "other-reader", "rows-out-of-range", "rows-shared",
                                    "row-out-of-range", "bad-facts", "deep"])
def test_a_damaged_reading_is_ignored_and_every_file_read(tmp_path, library, fake_encoder, parsed, damage):
    """Damage to the reading as a whole (or to a file's summary) reads every file again; damage to a
    file's entries reads that file again, when its entries are asked for (b.md, changed, here)."""
    index_dir = tmp_path / "idx"
    refsearch.build([library], index_dir)
    generation = store.current_generation(index_dir)
    path = generation / "records.reading.jsonl"
    header, *reading = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    a_summary, b_entries, c_summary = reading[0], reading[3], reading[4]
    assert c_summary["alone"] and not a_summary["alone"]  # c.jsonl could be taken whole; a.md shares Triton with b.md
    if damage == "not-json":
        text = "{\n"
    else:
        if damage == "other-reader":
            header["reader"] = "0" * 32
        elif damage == "rows-out-of-range":
            c_summary["rows"][1] = 10_000
        elif damage == "rows-shared":
            a_summary.update(alone=True, rows=list(c_summary["rows"]))
        elif damage == "row-out-of-range":
            b_entries[0][2] = 10_000
        elif damage == "bad-facts":
            b_entries[0][1] = [["doi:x"], 5, None, None, None]
        else:
            b_entries[0][1] = "DEEP"
        text = "".join(json.dumps(line) + "\n" for line in (header, *reading)).replace('"DEEP"', "[" * 100_000 + "]" * 100_000)
    path.write_text(text, encoding="utf-8")
    manifest = json.loads((generation / "manifest.json").read_text("utf-8"))
    manifest["files"]["records.reading.jsonl"] = {"size": path.stat().st_size, "sha256": files.sha256_file(path)}
    atomic.publish_file(generation / "manifest.json", json.dumps(manifest).encode())
    (library / "b.md").write_text(B + "- [Spark](https://spark.apache.org) - big data\n", encoding="utf-8")
    parsed.clear()
    report = refsearch.build(None, index_dir)
    assert sorted(parsed) == (["b.md"] if damage in ("row-out-of-range", "bad-facts", "deep") else ["a.md", "b.md"])
    assert report.added == 1
    same_as_from_scratch(index_dir, library, tmp_path)


def test_a_previous_index_whose_offsets_are_out_of_order_is_never_copied_into_the_next(tmp_path, library, fake_encoder):
    """A crafted previous generation, consistent with its own checksums, whose record offsets go
    backwards: an update stops with a one-line IndexProblem and leaves that generation as it was."""
    from refsearch.errors import IndexProblem

    index_dir = tmp_path / "idx"
    refsearch.build([library], index_dir)
    generation = store.current_generation(index_dir)
    offsets = np.load(generation / "records.offsets.npy")
    offsets[3], offsets[4] = offsets[4] + 40, offsets[3]
    np.save(generation / "records.offsets.npy", offsets)
    manifest = json.loads((generation / "manifest.json").read_text("utf-8"))
    manifest["files"]["records.offsets.npy"]["sha256"] = files.sha256_file(generation / "records.offsets.npy")
    atomic.publish_file(generation / "manifest.json", json.dumps(manifest).encode())
    (library / "b.md").write_text(B + "- [Spark](https://spark.apache.org) - big data\n", encoding="utf-8")
    with pytest.raises(IndexProblem, match="records.offsets.npy: damaged"):
        refsearch.build(None, index_dir)
    assert store.current_generation(index_dir) == generation


def test_force_reads_everything_again(tmp_path, library, fake_encoder, parsed):
    index_dir = tmp_path / "idx"
    refsearch.build([library], index_dir)
    parsed.clear()
    refsearch.build(None, index_dir, force=True)
    assert sorted(parsed) == ["a.md", "b.md"]


PAGE = """# Tools

## Serving

- [KServe](https://kserve.io) - Kubernetes model serving
- [Triton](https://triton.io) - GPU inference server

## Training

- [Ray](https://ray.io) - distributed Python
- [Triton](https://triton-lang.org) - a language for GPU kernels

## Data

- [Dask](https://dask.org) - parallel arrays
"""


@pytest.fixture
def sections_parsed(monkeypatch):
    """The first line of every Markdown section parsed."""
    from refsearch.sources import markdown

    parsed = []
    original = markdown._tree

    def counting(tokens, offset):
        parsed.append(offset + 1)
        return original(tokens, offset)

    monkeypatch.setattr(markdown, "_tree", counting)
    return parsed


def built_page(tmp_path):
    """(the folder holding PAGE as tools.md, its index)"""
    folder = tmp_path / "lib"
    folder.mkdir()
    (folder / "tools.md").write_text(PAGE, encoding="utf-8")
    refsearch.build([folder], tmp_path / "idx")
    return folder, tmp_path / "idx"


def test_an_edited_page_is_read_again_only_in_the_section_that_changed(tmp_path, fake_encoder, sections_parsed):
    folder, index_dir = built_page(tmp_path)
    assert sections_parsed == [1, 3, 8, 13]
    sections_parsed.clear()
    (folder / "tools.md").write_text(PAGE.replace("- [Triton](https://triton.io)", "- [Seldon](https://seldon.io) - "
                                                  "inference graphs\n- [Triton](https://triton.io)"), encoding="utf-8")
    report = refsearch.build(None, index_dir)
    assert sections_parsed == [3] and (report.added, report.unchanged) == (1, 5)
    index = refsearch.open(index_dir)
    assert index.get("tools/dask").source.endswith("tools.md:16")  # kept, and moved down a line
    assert index.get("tools/triton-2").topic == ("Training",)  # numbered as reading it all numbers it
    same_as_from_scratch(index_dir, folder, tmp_path)


@pytest.mark.parametrize("edit", [
    ("- [Triton](https://triton.io) - GPU inference server\n", ""),  # the second Triton is numbered no more
    ("## Data", "## Data sets"),  # a heading: a table of contents may now link to it
    ("# Tools", "# Tools and more"),  # the page's title: every entry's page
    ("- [Dask]", "- [Triton](https://t.example) - third\n- [Dask]"),  # a third Triton, after the others
])
def test_a_change_that_reaches_other_sections_reads_the_page_as_new(tmp_path, fake_encoder, edit):
    folder, index_dir = built_page(tmp_path)
    assert PAGE.replace(*edit) != PAGE
    (folder / "tools.md").write_text(PAGE.replace(*edit), encoding="utf-8")
    refsearch.build(None, index_dir)
    same_as_from_scratch(index_dir, folder, tmp_path)


RECORD = st.fixed_dictionaries({
    "title": st.sampled_from(["Streams", "Tables", "Queues", "Logs", "Graphs", "Caches", "流处理"]),
    "year": st.sampled_from([2019, 2020]),
    "topic": st.sampled_from([[], ["Systems"], ["Systems", "Storage"], ["数据"]]),
    "authors": st.lists(st.sampled_from(["Ada", "Bo", "Cy", "Dee"]), max_size=3, unique=True),
    "tags": st.lists(st.sampled_from(["db", "ml", "ops"]), max_size=2, unique=True),
    "kind": st.sampled_from(["paper", "book", "tool"]),
    "venue": st.sampled_from(["", "VLDB", "SOSP"]),
    "doi": st.sampled_from(["", "10.1/a", "10.1/b"]),  # shared DOIs merge entries: also_topics, also_in
    "url": st.sampled_from(["", "https://a.example", "https://b.example"]),
})


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), RECORD), min_size=1, max_size=12),
       st.lists(st.tuples(st.sampled_from(["a", "b"]), RECORD), max_size=6), st.randoms())
def test_any_edit_of_a_library_updates_to_what_a_build_from_scratch_gives(tmp_path_factory, fake_encoder, first,
                                                                           added, shuffle):
    tmp_path = tmp_path_factory.mktemp("edit")
    folder = tmp_path / "lib"
    folder.mkdir()

    def write(records):
        for name in ("a", "b"):
            lines = [json.dumps({key: value for key, value in record.items() if value}) + "\n"
                     for file, record in records if file == name]
            (folder / f"{name}.jsonl").write_text("".join(lines) or "\n", encoding="utf-8")

    write(first)
    refsearch.build([folder], tmp_path / "idx")
    second = [record for record in first if shuffle.random() < 0.7] + added
    shuffle.shuffle(second)
    write(second or first[:1])
    refsearch.build(None, tmp_path / "idx")
    same_as_from_scratch(tmp_path / "idx", folder, tmp_path)


D = """# Papers
- [Paxos Made Simple](https://lamport.org/paxos) - consensus, plainly
- [Raft](https://raft.github.io) - understandable consensus
- [Paxos made simple](https://lamport.org/paxos) - the same paper, listed twice
- [Spanner](https://research.google/spanner) - TrueTime
- [Bigtable](https://research.google/spanner) - shares a URL, not a title
"""


@pytest.fixture
def papers(tmp_path):
    """c.md, changed by the tests, sorts before d.md, alone (it shares no work key with c.md), with
    a duplicate and a conflict of its own."""
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "c.md").write_text(B, encoding="utf-8")
    (folder / "d.md").write_text(D, encoding="utf-8")
    return folder


def _entries_asked(monkeypatch) -> list[str]:
    from refsearch import takeover

    asked, entries = [], takeover.Reading._entries
    monkeypatch.setattr(takeover.Reading, "_entries", lambda self, file: asked.append(Path(file["path"]).name) or entries(self, file))
    return asked


def test_a_file_alone_and_unchanged_is_taken_whole_without_its_entries(tmp_path, papers, fake_encoder, parsed, monkeypatch):
    index_dir = tmp_path / "idx"
    first = refsearch.build([papers], index_dir)
    assert first.merged == 1 and len(first.conflicts) == 1
    lines = (store.current_generation(index_dir) / "records.reading.jsonl").read_bytes().splitlines()
    asked = _entries_asked(monkeypatch)
    for n in range(2):  # c.md grows above d.md: d.md's block of rows moves down, twice
        (papers / "c.md").write_text(B + f"- [Flink {n}](https://flink.apache.org/{n}) - streams\n", encoding="utf-8")
        parsed.clear()
        report = refsearch.build(None, index_dir)
        assert (report.added, report.removed, report.merged, report.conflicts) == (1, n, 1, first.conflicts)
        assert parsed == ["c.md"] and "d.md" not in asked
        same_as_from_scratch(index_dir, papers, tmp_path / str(n))
    after = (store.current_generation(index_dir) / "records.reading.jsonl").read_bytes().splitlines()
    assert after[4] == lines[4] and after[3] != lines[3]  # d.md's entries copied; its summary moved on


def test_an_entry_sharing_a_work_key_with_a_file_taken_whole_plans_every_entry(tmp_path, papers, fake_encoder, monkeypatch):
    index_dir = tmp_path / "idx"
    refsearch.build([papers], index_dir)
    asked = _entries_asked(monkeypatch)
    (papers / "c.md").write_text(B + "- [Raft consensus](https://raft.github.io) - again, from c.md\n", encoding="utf-8")
    report = refsearch.build(None, index_dir)
    assert "d.md" in asked and report.merged == 2  # c.md comes first: its entry takes d.md's in
    raft = refsearch.open(index_dir).get("c/raft-consensus")
    assert raft.also_in and raft.also_in[0].startswith(str(papers / "d.md"))
    same_as_from_scratch(index_dir, papers, tmp_path)


def test_a_file_taken_whole_under_another_encoder_is_read_back_and_embedded(tmp_path, papers, fake_encoder):
    index_dir = tmp_path / "idx"
    refsearch.build([papers], index_dir)
    fake_encoder.fingerprint = "fake0002"
    fake_encoder.encoded.clear()
    (papers / "c.md").write_text(B + "- [Flink](https://flink.apache.org) - streams\n", encoding="utf-8")
    report = refsearch.build(None, index_dir)
    assert report.total == 8 and len(fake_encoder.encoded) == 8  # every row embedded again
    same_as_from_scratch(index_dir, papers, tmp_path)


def test_an_index_with_the_bm25_weights_of_an_earlier_refsearch_still_answers_and_updates(tmp_path, library, fake_encoder):
    """An index written before BM25 stored frequencies (refsearch/bm25@2: weights) is stale, not
    unreadable: searched without an update it answers as it did, and an update rewrites it."""
    from refsearch import lexical

    index_dir = tmp_path / "idx"
    refsearch.build([library], index_dir)
    expected = [(hit.ref.id, round(hit.score, 4)) for hit in refsearch.open(index_dir).search("GPU serving")]
    generation = store.current_generation(index_dir)
    index = BM25Index.load(generation)
    weights = index.frequencies * (1.2 + 1) / (index.frequencies + np.asarray(index._norms)[np.asarray(index.doc_ids)])
    np.save(generation / "lexical.weights.npy", weights.astype(np.float32))
    for name in ("lexical.frequencies.npy", "lexical.lengths.npy"):
        (generation / name).unlink()
    meta = json.loads((generation / "lexical.json").read_text("utf-8"))
    (generation / "lexical.json").write_text(json.dumps({**meta, "format": lexical.WEIGHED_FORMAT}), "utf-8")
    manifest = json.loads((generation / "manifest.json").read_text("utf-8"))
    for name in ("lexical.frequencies.npy", "lexical.lengths.npy"):
        del manifest["files"][name]
    for name in ("lexical.weights.npy", "lexical.json"):
        manifest["files"][name] = {"size": (generation / name).stat().st_size, "sha256": files.sha256_file(generation / name)}
    manifest["lexical"]["format"] = lexical.WEIGHED_FORMAT
    atomic.publish_file(generation / "manifest.json", json.dumps(manifest).encode())
    assert refsearch.status(index_dir).state.condition == "stale"
    old = refsearch.open(index_dir, update=False)
    assert [(hit.ref.id, round(hit.score, 4)) for hit in old.search("GPU serving")] == expected
    refsearch.build([library], index_dir)
    assert BM25Index.load(store.current_generation(index_dir)).weighed is False
    assert [(hit.ref.id, round(hit.score, 4)) for hit in refsearch.open(index_dir).search("GPU serving")] == expected
