"""The real Zotero libraries in ../shared/formats/zotero (Zotero 6 and 7 databases, PROVENANCE.txt):
what a build produces, compared with the databases read independently here in plain SQL, and a
phrase that only a PDF's extracted text holds. The databases are only ever read (immutable, here)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

import refsearch
from conftest import SHARED
from refsearch.cli import app

ZOTERO = SHARED / "formats" / "zotero"
LIBRARIES = ("san7o_research_papers", "lightbridge_bosniak")
pytestmark = pytest.mark.skipif(not ZOTERO.is_dir(), reason=f"the shared Zotero libraries are not at {ZOTERO}")
runner = CliRunner()


def expected(folder: Path) -> dict[str, dict]:
    """Each regular item that is not in the trash (and has a title or a creator), read with plain SQL:
    title (whitespace collapsed, as every reader does), creators in order, year, collection paths (a
    recursive query), annotations with text."""
    db = sqlite3.connect(f"file:{folder / 'zotero.sqlite'}?mode=ro&immutable=1", uri=True)

    def value(item: int, name: str):
        row = db.execute("SELECT v.value FROM itemData d JOIN fields f USING (fieldID) JOIN itemDataValues v "
                         "USING (valueID) WHERE d.itemID = ? AND f.fieldName = ?", (item, name)).fetchone()
        return row[0] if row else None

    paths = dict(db.execute("""
        WITH RECURSIVE tree(collectionID, path) AS (
            SELECT collectionID, collectionName FROM collections WHERE parentCollectionID IS NULL
            UNION ALL SELECT c.collectionID, tree.path || ' › ' || c.collectionName
                      FROM collections c JOIN tree ON c.parentCollectionID = tree.collectionID)
        SELECT collectionID, path FROM tree"""))
    items = {}
    for item, key in db.execute("SELECT i.itemID, i.key FROM items i JOIN itemTypes t USING (itemTypeID) "
                                "WHERE t.typeName NOT IN ('attachment', 'note', 'annotation') "
                                "AND i.itemID NOT IN (SELECT itemID FROM deletedItems)"):
        creators = [" ".join(part for part in (first, last) if part) for first, last in db.execute(
            "SELECT c.firstName, c.lastName FROM itemCreators ic JOIN creators c USING (creatorID) "
            "WHERE ic.itemID = ? ORDER BY ic.orderIndex", (item,))]
        if not value(item, "title") and not creators:
            continue  # nothing to find it by: the build skips it with a warning
        collections = sorted(paths[c] for (c,) in db.execute("SELECT collectionID FROM collectionItems WHERE itemID = ?",
                                                              (item,)))
        annotations = [text or comment for text, comment in db.execute(
            "SELECT n.text, n.comment FROM itemAnnotations n JOIN itemAttachments a ON a.itemID = n.parentItemID "
            "WHERE a.parentItemID = ? AND (n.text <> '' OR n.comment <> '') ORDER BY n.sortIndex", (item,))]
        notes = [note for (note,) in db.execute("SELECT note FROM itemNotes WHERE parentItemID = ?", (item,))]
        date = value(item, "date") or ""
        items[key] = {"title": " ".join((value(item, "title") or "").split()), "authors": creators, "year": int(date[:4]) if date[:4].isdigit()
                      and date[:4] != "0000" else None, "topics": collections or ["Unfiled"],
                      "annotations": len(annotations) + len(notes), "highlights": annotations}
    db.close()
    return items


@pytest.fixture(scope="module")
def shared_index(tmp_path_factory):
    """Both libraries built into one index with the fake encoder (quality aside, every field is real)."""
    from fakes import FakeBackend, FakeEncoder

    from refsearch import encoders

    encoders.register("fake", FakeBackend(FakeEncoder()))
    index = tmp_path_factory.mktemp("zotero-shared") / "index"
    report = refsearch.build([ZOTERO], index, encoder="fake")
    return index, report


def test_every_regular_item_is_one_reference_as_the_database_says(shared_index):
    index, report = shared_index
    built = {ref.extra["zotero_key"]: ref for ref in refsearch.open(index, update=False)}
    wanted = {key: item for library in LIBRARIES for key, item in expected(ZOTERO / library).items()}
    assert set(built) == set(wanted) and len(wanted) == 16  # 15 regular items + 1 (the other's trash holds its twin)
    for key, item in wanted.items():
        ref = built[key]
        assert (ref.title, list(ref.authors), ref.year) == (item["title"], item["authors"], item["year"]), key
        assert sorted(" › ".join(path) for path in ref.topics) == item["topics"], key
        annotations = ref.extra.get("annotations", [])
        assert len(annotations) == item["annotations"], key
        for highlight in item["highlights"]:
            assert highlight.strip() in (ref.note or ""), key
    assert [w for w in report.warnings if "skipped an empty Zotero item (XGMPBU84)" in w]
    bosniak = next(ref for ref in built.values() if ref.title.startswith("Bosniak"))
    assert bosniak.topics == (("Radiology",), ("Radiology", "renal")) and bosniak.doi == "10.1148/radiol.2019182646"
    assert bosniak.page == "lightbridge_bosniak" and bosniak.kind == "paper"


def test_the_build_leaves_the_shared_databases_as_they_were(shared_index):
    for library in LIBRARIES:
        folder = ZOTERO / library
        assert sorted(path.name for path in folder.iterdir() if path.name.startswith("zotero.sqlite")) == ["zotero.sqlite"]


def _haywire(index: Path) -> dict:
    result = runner.invoke(app, ["search", "processes go completely haywire following a malevolent plan", "--json",
                                 "--index", str(index), "--no-update"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["results"][0]


def test_a_phrase_only_in_a_pdfs_text_finds_its_item_with_the_snippet(shared_index):
    index, _ = shared_index
    top = _haywire(index)
    assert top["title"] == "Impossibility of distributed consensus with one faulty process"
    assert "go completely haywire" in top["fulltext"] and "malevolent plan" in top["fulltext"]
    assert "haywire" not in json.dumps({k: v for k, v in top.items() if k != "fulltext"})  # only the PDF says it


@pytest.mark.slow
def test_with_the_real_model_the_phrase_finds_its_item_first(tmp_path):
    refsearch.build([ZOTERO], tmp_path / "index")
    assert _haywire(tmp_path / "index")["title"] == "Impossibility of distributed consensus with one faulty process"
    result = runner.invoke(app, ["search", "renal cyst classification", "--json", "--index", str(tmp_path / "index"),
                                 "--collection", "renal"])
    assert [r["title"][:7] for r in json.loads(result.stdout)["results"]] == ["Bosniak"]
