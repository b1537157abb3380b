"""Derived topics: a page without headings gets topics of its own at build time, labelled with the
words its references share, used wherever topics are, kept across rebuilds that change little, and
read from an untrusted index without trusting it."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

import refsearch
from flat import THEMES, built_flat_library, flat_index, flat_library, write_jsonl  # noqa: F401 (fixtures)
from refsearch import atomic, derived_topics, store
from refsearch.catalog import Catalog
from refsearch.errors import IndexProblem
from refsearch.tokenizer import tokenize
from refsearch.topics import colour_groups

CHINESE = {
    "机器学习": ["机器学习模型训练", "机器学习特征工程", "机器学习评估方法"],
    "城市规划": ["城市规划交通设计", "城市规划土地利用", "城市规划公共空间"],
}


@pytest.fixture
def library(flat_index):
    return flat_index


def theme_of(ref_id: str) -> str:
    return ref_id.split("/")[1].split("-")[0]


def test_a_flat_page_gets_topics_that_follow_its_themes(library):
    index = refsearch.open(library / "idx")
    topics = index.topics()
    assert 2 <= len(topics) and all(topic.derived for topic in topics)
    assert max(len(topic.ref_ids) for topic in topics) <= 0.6 * len(index)
    for topic in topics:  # each topic is mostly one theme, and its label speaks of it
        themes = [theme_of(ref_id) for ref_id in topic.ref_ids]
        main = max(set(themes), key=themes.count)
        assert themes.count(main) >= 0.8 * len(themes), (topic.path, themes)
        assert any(word in topic.path[0] for word in THEMES[main]), (topic.path, main)
    ref = index.get("lib/birds-0")
    assert ref.topic_source == "derived" and ref.topic and ref.topic in [t.path for t in topics]
    siblings = index.siblings(ref, limit=5)
    assert len(siblings) == 5 and siblings.total == len(next(t for t in topics if t.path == ref.topic).ref_ids) - 1
    assert all(other.topic == ref.topic for other in siblings)
    found = index.search("songbird", k=3, filters=refsearch.Filters(topic=ref.topic[0]))
    assert found and all(hit.ref.topic == ref.topic for hit in found)
    assert any("same topic" in reason for s in index.related(ref, k=3) for reason in s.reasons)


def test_derived_topics_are_never_stored_in_the_records(library):
    generation = store.current_generation(library / "idx")
    records = [json.loads(line) for line in (generation / "records.jsonl").read_text("utf-8").splitlines()]
    assert all(record["topic"] == [] and "topic_source" not in record for record in records)
    facets = json.loads((generation / "facets.json").read_text("utf-8"))
    assert any(entry[3:] == ["derived"] for entry in facets["topics"])


def test_a_page_with_headings_keeps_its_own(tmp_path, fake_encoder):
    entries = [{**entry, "topic": entry["id"].split("/")[1].split("-")[0]} for entry in flat_library()]
    (tmp_path / "refs").mkdir()
    write_jsonl(tmp_path / "refs" / "lib.jsonl", entries)
    refsearch.build([tmp_path / "refs"], tmp_path / "idx")
    topics = refsearch.open(tmp_path / "idx").topics()
    assert sorted(t.path for t in topics) == [("birds",), ("bread",), ("gpu",)] and not any(t.derived for t in topics)


def test_a_small_flat_page_stays_as_it_is(tmp_path, fake_encoder):
    (tmp_path / "refs").mkdir()
    write_jsonl(tmp_path / "refs" / "lib.jsonl", flat_library(count_per_theme=10))
    refsearch.build([tmp_path / "refs"], tmp_path / "idx")
    (topic,) = refsearch.open(tmp_path / "idx").topics()
    assert topic.path == () and not topic.derived and len(topic.ref_ids) == 30


def kept_state(index_dir):
    manifest = store.open_generation(index_dir).manifest
    (page,) = manifest["topics"]["pages"]
    return page


def test_a_small_change_keeps_the_topics_a_large_one_derives_them_again(library):
    before = refsearch.open(library / "idx")
    labels = sorted(t.path for t in before.topics())
    entries = flat_library()
    added = {"id": "lib/birds-new", "title": "songbird flock migration wings survey"}
    write_jsonl(library / "refs" / "lib.jsonl", entries + [added])
    refsearch.build(None, library / "idx")
    after = refsearch.open(library / "idx")
    assert sorted(t.path for t in after.topics()) == labels  # kept, not derived again
    birds = [after.get(f"lib/birds-{n}").topic for n in range(30)]
    assert after.get("lib/birds-new").topic == max(set(birds), key=birds.count)  # joined the nearest topic
    assert kept_state(library / "idx")["changed"] == 1 and kept_state(library / "idx")["derived_at"] == 90
    write_jsonl(library / "refs" / "lib.jsonl", entries[:60] + [added])  # a third removed: derived again
    refsearch.build(None, library / "idx")
    page = kept_state(library / "idx")
    assert page["derived_at"] == 61 and page["changed"] == 0


def test_the_same_library_gives_the_same_topics(library, tmp_path):
    refsearch.build([library / "refs"], tmp_path / "again")
    first = [(t.path, t.ref_ids) for t in refsearch.open(library / "idx").topics()]
    assert [(t.path, t.ref_ids) for t in refsearch.open(tmp_path / "again").topics()] == first


def test_an_index_built_before_derived_topics_gets_them_without_embedding_again(library, fake_encoder):
    path = store.current_generation(library / "idx") / "manifest.json"
    manifest = json.loads(path.read_text("utf-8"))
    del manifest["topics"]
    manifest["records"] = {"format": 2}  # as the refsearch before derived topics wrote it
    atomic.publish_file(path, json.dumps(manifest).encode())
    status = refsearch.status(library / "idx")
    assert status.state.condition == "stale" and "read by another refsearch version" in status.state.detail
    embedded = len(fake_encoder.encoded)
    report = refsearch.build(None, library / "idx")
    assert report.unchanged == 90 and len(fake_encoder.encoded) == embedded
    assert refsearch.status(library / "idx").state.condition == "fresh"


@pytest.mark.parametrize("change", [
    lambda page: page.update(centroids=[0, 99]),
    lambda page: page.update(labels=[1, 2]),
    lambda page: page.update(count=-1),
    lambda page: page.update(page="lib"),
    lambda page: page.pop("derived_at"),
])
def test_kept_topics_that_do_not_hold_together_are_derived_again(library, change):
    path = store.current_generation(library / "idx") / "manifest.json"
    manifest = json.loads(path.read_text("utf-8"))
    change(manifest["topics"]["pages"][0])
    atomic.publish_file(path, json.dumps(manifest).encode())
    generation = store.open_generation(library / "idx")
    assert derived_topics.kept_topics(generation, 64) == {}
    write_jsonl(library / "refs" / "lib.jsonl", flat_library() + [{"id": "lib/x", "title": "oven crust"}])
    refsearch.build(None, library / "idx")  # no error: the topics are derived again
    assert kept_state(library / "idx")["derived_at"] == 91


def test_centroids_that_are_not_numbers_are_not_kept(library):
    generation = store.current_generation(library / "idx")
    centroids = np.load(generation / derived_topics.FILE)
    centroids[0, 0] = np.nan
    np.save(generation / derived_topics.FILE, centroids)
    assert derived_topics.kept_topics(store.Generation(generation, json.loads(
        (generation / "manifest.json").read_text("utf-8"))), 64) == {}


def rewrite(index_dir, name: str, text: str) -> None:
    """A file of the current generation replaced, its size recorded (a crafted index is consistent)."""
    generation = store.current_generation(index_dir)
    (generation / name).write_text(text, "utf-8")
    manifest = json.loads((generation / "manifest.json").read_text("utf-8"))
    manifest["files"][name]["size"] = (generation / name).stat().st_size
    (generation / "manifest.json").write_text(json.dumps(manifest), "utf-8")


@pytest.mark.parametrize("entry", [[0, ["x"], [], "invented"], [0, ["x"], [], "derived", 1], [0, ["x"]]])
def test_a_topic_entry_of_another_shape_is_damage(library, entry):
    generation = store.current_generation(library / "idx")
    facets = json.loads((generation / "facets.json").read_text("utf-8"))
    facets["topics"].append(entry)
    rewrite(library / "idx", "facets.json", json.dumps(facets))
    with pytest.raises(IndexProblem, match="facets.json: damaged"):
        Catalog(store.open_generation(library / "idx"))


def test_a_stored_topic_source_is_damage(library):
    generation = store.current_generation(library / "idx")
    lines = (generation / "records.jsonl").read_text("utf-8").splitlines(keepends=True)
    record = json.loads(lines[0])
    record["topic_source"] = "derived"
    lines[0] = json.dumps(record) + "\n"
    rewrite(library / "idx", "records.jsonl", "".join(lines))
    offsets = np.cumsum([0] + [len(line.encode()) for line in lines]).astype(np.uint64)
    np.save(store.current_generation(library / "idx") / "records.offsets.npy", offsets)
    index = refsearch.open(library / "idx", update=False)
    with pytest.raises(IndexProblem, match="unexpected field 'topic_source'"):
        index.reference(0)


# --- how topics are chosen and labelled ------------------------------------------------------------


def test_the_number_of_topics_grows_with_the_library():
    assert derived_topics.candidate_sizes(50) == [2, 3, 4]
    assert derived_topics.candidate_sizes(2500) == [11, 14, 18, 22, 27]
    assert max(derived_topics.candidate_sizes(200_000)) == derived_topics.MAX_TOPICS


def test_the_silhouette_prefers_the_true_clusters():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 16))
    labels = np.repeat(np.arange(3), 20)
    points = centres[labels] + 0.05 * rng.standard_normal((60, 16))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    distances = 1 - points @ points.T
    assert derived_topics.silhouette(distances, labels, 3) > 0.8
    assert derived_topics.silhouette(distances, rng.permutation(labels), 3) < 0.1


def test_labels_are_spelled_as_the_titles_write_them():
    texts = ["GPU Kernels for Sparse Attention", "Fast GPU kernels", "Kernels on the GPU", "Sparse kernels"]
    assert derived_topics.label_words(tokenize("gpu kernels sparse attention"), texts) == ["GPU", "kernels", "sparse"]
    assert derived_topics.label_words(["smith", "gpu"], texts) == ["GPU"]  # a token no title holds is passed over
    assert derived_topics.label_words(["og", "2019", "gpu"], ["gpu og 2019"] * 3) == ["gpu"]


def test_no_two_labels_of_a_page_have_the_same_words():
    words = [["movie", "IMDb", "seen", "rating"], ["imdb", "movie", "seen", "watchlist"], ["python"], [], ["Python"]]
    assert derived_topics._distinct(words, np.array([10, 20, 5, 3, 4])) == [
        "movie, IMDb, rating", "imdb, movie, seen", "python", "topic 4", "Python (5)"]


def test_chinese_labels_are_whole_words(tmp_path, fake_encoder):
    rng = random.Random(3)
    entries = [{"id": f"zh/{theme}-{n}", "title": rng.choice(titles) + f" 第{n}篇"}
               for theme, titles in CHINESE.items() for n in range(30)]
    (tmp_path / "refs").mkdir()
    write_jsonl(tmp_path / "refs" / "zh.jsonl", entries)
    refsearch.build([tmp_path / "refs"], tmp_path / "idx")
    labels = [t.path[0] for t in refsearch.open(tmp_path / "idx").topics()]
    assert any("机器学习" in label for label in labels) and any("城市规划" in label for label in labels), labels


def test_a_list_under_one_heading_is_coloured_by_the_level_below():
    keys = [("awesome-python-cn", ("资源列表", "Web 框架")), ("awesome-python-cn", ("资源列表", "爬虫")),
            ("awesome-python-cn", ("其他",)), ("mlops", ("Serving",)), ("mlops", ("Training",))]
    groups = colour_groups(keys, [500, 377, 2, 40, 60])
    assert groups == [("awesome-python-cn", "资源列表", "Web 框架"), ("awesome-python-cn", "资源列表", "爬虫"),
                      ("awesome-python-cn", "其他"), ("mlops", "Serving"), ("mlops", "Training")]
    assert colour_groups([("p", ("a",)), ("p", ("b",))], [90, 10]) == [("p", "a"), ("p", "b")]


def test_the_map_of_a_list_under_one_heading_is_coloured_by_its_subheadings(tmp_path, fake_encoder):
    from refsearch.render import map_json

    sections = "".join(f"### {name}\n" + "".join(f"- [{name} tool {n}](https://{name}.example/{n}) - {name} helper\n"
                                                 for n in range(5)) for name in ("Web", "Testing", "Science"))
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "awesome.md").write_text(f"# Awesome\n## Projects\n{sections}## Other\n- [Lone](https://lone.example) - x\n",
                                                  "utf-8")
    refsearch.build([tmp_path / "refs"], tmp_path / "idx")
    index = refsearch.open(tmp_path / "idx")
    shown = map_json(index, index.topic_map(), index.manifest["map"]["method"])
    assert sorted(group["name"] for group in shown["groups"]) == ["Other", "Science", "Testing", "Web"]
    assert {shown["groups"][topic["group"]]["name"] for topic in shown["topics"]} == {"Web", "Testing", "Science", "Other"}


def test_an_update_assigns_only_new_rows_and_every_row_keeps_its_nearest_topic(library, monkeypatch):
    before = refsearch.open(library / "idx")
    topic_of = {ref_id: before.get(ref_id).topic for topic in before.topics() for ref_id in topic.ref_ids}
    assigned, assign = [], derived_topics._assign
    monkeypatch.setattr(derived_topics, "_assign", lambda vectors, rows, centroids, known=None: assigned.append(
        len(rows) if known is None else int((known < 0).sum())) or assign(vectors, rows, centroids, known))
    write_jsonl(library / "refs" / "lib.jsonl", flat_library() + [{"id": "lib/bread-new", "title": "sourdough oven crust"}])
    refsearch.build(None, library / "idx")
    assert assigned == [1]  # the new row's vector only
    after = refsearch.open(library / "idx")
    assert all(after.get(ref_id).topic == topic for ref_id, topic in topic_of.items())
    page, generation = kept_state(library / "idx"), store.open_generation(library / "idx")
    start, end = page["centroids"]
    centroids = np.load(generation.path(derived_topics.FILE))[start:end]
    catalog = Catalog(generation)
    rows = np.arange(catalog.count)
    nearest = np.argmax(derived_topics._unit(after.vectors.vectors(rows)) @ centroids.T, axis=1)
    assert [after.get(catalog.ids[row]).topic for row in rows] == [(page["labels"][n],) for n in nearest]
