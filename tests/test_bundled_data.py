"""The bundled data: the curated copy of the seed page and the judged evaluation sets.

These read the YAML with plain `yaml.safe_load`, independently of refsearch's own loaders, so that a
loader bug cannot hide a data bug (or the other way round).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from refsearch.records import slugify

ROOT = Path(__file__).resolve().parents[1]
REFS_FILE = ROOT / "src" / "refsearch" / "bundled" / "mlops-references.yaml"
QUERIES_FILE = ROOT / "data" / "eval" / "bundled.yaml"
RELATED_FILE = ROOT / "data" / "eval" / "related.yaml"
SEED_FILE = ROOT.parent / "shared" / "seed" / "mlops-references.md"

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
HEADING_MARK = "¶"
NOTE_SEPARATOR = " —— "

PAGE_KEYS = {"format", "page", "page_en", "key", "notes", "topics"}
NOTE_KEYS = {"text", "text_en"}
TOPIC_KEYS = {"name", "name_en", "references", "topics"}
REFERENCE_KEYS = {"title", "year", "kind", "author", "url", "note", "note_en", "tags", "id"}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def page() -> dict:
    return load(REFS_FILE)


def walk_topics(topics: list[dict], path: tuple[str, ...] = ()):
    """(topic path, topic) for every topic, nested ones included, in page order."""
    for topic in topics:
        here = (*path, topic["name"])
        yield here, topic
        yield from walk_topics(topic.get("topics") or [], here)


def entries(page: dict) -> list[tuple[tuple[str, ...], dict]]:
    return [(path, ref) for path, topic in walk_topics(page["topics"]) for ref in topic.get("references") or []]


def derived_ids(page: dict) -> set[str]:
    return {ref.get("id") or f"{slugify(page['key'])}/{slugify(ref['title'])}" for _, ref in entries(page)}


def parse_seed() -> tuple[str, list[str], list[tuple[str, str, str]]]:
    """The seed page as (page title, page notes, [(topic, title, note)]), in page order."""
    if not SEED_FILE.is_file():
        pytest.skip("needs ../shared/seed/mlops-references.md (not in a plain clone)")
    lines = [line.rstrip("\n") for line in SEED_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    page_title = lines[0].removesuffix(HEADING_MARK)
    notes: list[str] = []
    items: list[tuple[str, str, str]] = []
    topic = None
    for line in lines[1:]:
        if line.endswith(HEADING_MARK):
            topic = line.removesuffix(HEADING_MARK)
        elif line.startswith("- "):
            head, note = line[2:].split(NOTE_SEPARATOR, 1)
            items.append((topic, head[: head.rindex(" (")], note))
        else:
            notes.append(line)
    return page_title, notes, items


def test_page_shape(page):
    assert page["format"] == "refsearch/references@1"
    assert page["key"] == "mlops-references"
    assert page["page"] == "参考资料 · ML 平台 / MLOps"
    assert page["page_en"]
    topics = list(walk_topics(page["topics"]))
    assert len(topics) == 8
    assert len(entries(page)) == 27


def test_only_schema_keys(page):
    assert set(page) <= PAGE_KEYS
    for note in page["notes"]:
        assert set(note) <= NOTE_KEYS, note
    for path, topic in walk_topics(page["topics"]):
        assert set(topic) <= TOPIC_KEYS, path
    for _, ref in entries(page):
        assert set(ref) <= REFERENCE_KEYS, ref["title"]


def test_page_notes_kept_with_translation(page):
    texts = [note["text"] for note in page["notes"]]
    assert "Reference · 速查" in texts
    assert any(text.startswith("待补") for text in texts)
    for note in page["notes"]:
        assert note.get("text_en"), note["text"]
        assert not CJK.search(note["text_en"]), note["text_en"]


def test_chinese_text_has_english_gloss(page):
    for path, topic in walk_topics(page["topics"]):
        if CJK.search(topic["name"]):
            assert topic.get("name_en") and not CJK.search(topic["name_en"]), path
        else:
            assert "name_en" not in topic, path
    for _, ref in entries(page):
        if CJK.search(ref["note"]):
            assert ref.get("note_en") and not CJK.search(ref["note_en"]), ref["title"]
        else:
            assert "note_en" not in ref, ref["title"]


def test_fields_are_well_formed(page):
    for _, ref in entries(page):
        assert ref["title"].strip() and ref["note"].strip(), ref
        assert ref["kind"] == ref["kind"].lower(), ref["title"]
        assert "year" not in ref or isinstance(ref["year"], int), ref["title"]
        assert "url" not in ref or ref["url"].startswith("https://"), ref["title"]
    assert len(derived_ids(page)) == 27, "two references share an id"


def test_nothing_dropped_from_seed(page):
    seed_title, seed_notes, seed_items = parse_seed()
    assert page["page"] == seed_title
    assert [note["text"] for note in page["notes"]] == seed_notes
    ours = [(path[-1], ref["title"], ref["note"]) for path, ref in entries(page)]
    assert len(seed_items) == 27
    assert ours == seed_items


@pytest.fixture(scope="module")
def ids(page) -> set[str]:
    return derived_ids(page)


def judged_ids(relevant: list) -> list[str]:
    return [item if isinstance(item, str) else item["ref"] for item in relevant]


def test_queries_point_at_real_references(ids):
    data = load(QUERIES_FILE)
    assert data["format"] == "refsearch/queries@1"
    queries = data["queries"]
    assert len(queries) >= 30
    assert len({q["query"] for q in queries}) == len(queries), "repeated query"
    for q in queries:
        assert q["query"].strip() and q["relevant"], q
        refs = judged_ids(q["relevant"])
        assert len(set(refs)) == len(refs), q["query"]
        assert set(refs) <= ids, (q["query"], set(refs) - ids)
        for item in q["relevant"]:
            if isinstance(item, dict):
                assert set(item) <= {"ref", "grade"} and item.get("grade", 1) in (1, 2), q["query"]


def test_related_points_at_real_references(ids):
    data = load(RELATED_FILE)
    assert data["format"] == "refsearch/related@1"
    judgments = data["judgments"]
    assert len(judgments) >= 15
    assert len({j["ref"] for j in judgments}) == len(judgments), "reference judged twice"
    for j in judgments:
        assert j["ref"] in ids, j["ref"]
        assert 3 <= len(j["related"]) <= 6, j["ref"]
        assert len(set(j["related"])) == len(j["related"]), j["ref"]
        assert j["ref"] not in j["related"], j["ref"]
        assert set(j["related"]) <= ids, (j["ref"], set(j["related"]) - ids)
