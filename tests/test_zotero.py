"""Zotero as a source (issue 25): a data directory's zotero.sqlite, read from a private copy, with
notes, PDF annotations, collections, citation keys and each attachment's extracted full text.

The core tests run on synthetic libraries built from Zotero's public schema (zotero_fixture.py);
tests/test_zotero_shared.py compares the build with the real libraries in ../shared."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import refsearch
from conftest import examples
from refsearch.cli import app
from refsearch.errors import NoMatch
from refsearch.discover import candidate_files, watched_files
from refsearch.errors import SourceError
from refsearch.search import Filters
from refsearch.sources import read_sources
from refsearch.sources.zotero import _html_text, read_zotero
from zotero_fixture import ZoteroLibrary, better_bibtex

runner = CliRunner()
PDF_ONLY = "quokkas photosynthesise under moonlit eucalyptus canopies"


def rich_library(folder: Path, layout: str = "zotero7") -> tuple[ZoteroLibrary, dict[str, int]]:
    """A small library with everything the reader maps (see each assertion below)."""
    z = ZoteroLibrary(folder, layout)
    physics = z.collection("Physics")
    space = z.collection("Space", parent=physics)
    reading = z.collection("Reading group")
    ids = {}
    ids["paper"] = z.item("journalArticle", "Dark matter halos in dwarf galaxies", fields={
        "date": "2019-08-00 August 2019", "publicationTitle": "Astrophysical Journal", "DOI": "10.1000/XYZ.1",
        "abstractNote": "We measure halo profiles.", "url": "https://example.org/halos",
        "extra": "PMID: 1\nCitation Key: halos2019"},
        creators=[("Vera", "Rubin", "author"), ("Kent", "Ford", "author"), ("Ed", "Itor", "editor")],
        tags=["astronomy", "dark matter"], collections=[space, reading])
    ids["chapter"] = z.item("bookSection", "Stars and their spectra", fields={
        "bookTitle": "The Book of Stars", "ISBN": "978-3-16-148410-0", "date": "2001"},
        creators=[("", "Editors Collective", "editor")], collections=[physics])
    ids["talk"] = z.item("conferencePaper", "Consensus in the wild", fields={
        "proceedingsTitle": "Proceedings of PODC", "date": "2022-07-21 July 21, 2022"},
        creators=[("Leslie", "Lamport", "author")], tags=["consensus"])
    ids["web"] = z.item("webpage", "A page about lichens", fields={"extra": "DOI: 10.2000/LICHEN"})
    ids["case"] = z.item("case", None, fields={"caseName": "Doe v. Roe", "date": "1999"})
    ids["untitled"] = z.item("journalArticle", None, creators=[("Ada", "Lovelace", "author")],
                             fields={"date": "1843", "publicationTitle": "Taylor's Memoirs"})
    ids["empty"] = z.item("document", None)
    ids["trashed"] = z.item("journalArticle", "Thrown away", collections=[physics])
    z.trash(ids["trashed"])
    if not z.old:
        ids["feed"] = z.feed_item("An RSS entry")
        team = z.group("Team library")
        ids["group"] = z.item("preprint", "Group preprint on graphs", library=team,
                              collections=[z.collection("Graphs", library=team)])
        hidden = z.collection("Old stuff", parent=physics)
        z.trash_collection(hidden)
        z.file(ids["talk"], hidden)
    z.note(ids["paper"], "<div data-schema-version='8'><h1>My summary</h1><p>Halos are <b>cuspy</b>&amp; "
                         "dense.</p><script>alert(1)</script></div>")
    trashed_note = z.note(ids["paper"], "<p>a trashed note</p>")
    z.trash(trashed_note)
    z.note(None, "<p>A standalone note is not a reference</p>")
    pdf = z.attachment(ids["paper"], fulltext=f"Introduction. {PDF_ONLY}. Methods follow.")
    ids["pdf"] = pdf
    if not z.old:
        z.annotation(pdf, 1, "rotation curves stay flat", "key result", page="3", sort="00002|000100|00050")
        z.annotation(pdf, 2, None, "check the units", page="1", sort="00000|000010|00010")
        z.annotation(pdf, 3, None, None, page="4", sort="00003|000000|00000")  # an image area without a comment
    z.attachment(None, fulltext="a standalone PDF's text")  # not a reference
    return z, ids


@pytest.fixture
def library(tmp_path):
    z, ids = rich_library(tmp_path / "Zotero")
    yield z, ids
    z.close()


def by_title(refs):
    return {ref.title: ref for ref in refs}


def test_one_reference_per_regular_item_with_its_fields(library):
    z, ids = library
    read = read_sources([z.folder])
    refs = by_title(read.references)
    assert set(refs) == {"Dark matter halos in dwarf galaxies", "Stars and their spectra", "Consensus in the wild",
                         "A page about lichens", "Doe v. Roe", "Ada Lovelace · 1843 · Taylor's Memoirs",
                         "Group preprint on graphs"}
    assert [w for w in read.warnings if "empty Zotero item" in w] == [
        f"{z.path}:{ids['empty']}: skipped an empty Zotero item ({z.key_of(ids['empty'])}): no title, creator or note"]
    paper = refs["Dark matter halos in dwarf galaxies"]
    assert paper.id == "zotero/dark-matter-halos-in-dwarf-galaxies" and paper.page == "Zotero"
    assert paper.authors == ("Vera Rubin", "Kent Ford")  # the editor is a creator, not an author
    assert paper.extra["creators"] == [{"name": "Vera Rubin", "role": "author"}, {"name": "Kent Ford", "role": "author"},
                                       {"name": "Ed Itor", "role": "editor"}]
    assert (paper.year, paper.kind, paper.extra["type"]) == (2019, "paper", "journalArticle")
    assert (paper.venue, paper.doi, paper.url) == ("Astrophysical Journal", "10.1000/xyz.1", "https://example.org/halos")
    assert paper.abstract == "We measure halo profiles." and paper.tags == ("astronomy", "dark matter")
    assert paper.extra["key"] == "halos2019" and paper.extra["zotero_key"] == z.key_of(ids["paper"])
    assert paper.source == f"{z.path}:{ids['paper']}"
    chapter = refs["Stars and their spectra"]
    assert (chapter.kind, chapter.venue, chapter.extra["isbn"]) == ("chapter", "The Book of Stars", "978-3-16-148410-0")
    assert chapter.authors == ("Editors Collective",)  # only an editor: the editor stands as author
    talk = refs["Consensus in the wild"]
    assert (talk.kind, talk.venue, talk.year, talk.tags) == ("paper", "Proceedings of PODC", 2022, ("consensus",))
    assert "creators" not in talk.extra and "key" not in talk.extra
    assert refs["A page about lichens"].doi == "10.2000/lichen" and refs["A page about lichens"].kind == "web"
    assert (refs["Doe v. Roe"].kind, refs["Doe v. Roe"].year) == ("legal", 1999)
    assert refs["Group preprint on graphs"].page == "Team library"
    assert refs["Group preprint on graphs"].topic == ("Graphs",) and refs["Group preprint on graphs"].kind == "paper"


def test_notes_and_annotations_are_the_users_words(library):
    z, ids = library
    paper = by_title(read_zotero(z.path))["Dark matter halos in dwarf galaxies"]
    assert paper.extra["annotations"] == [  # child notes, then the PDF's annotations in page order
        {"kind": "note", "text": "My summary\nHalos are cuspy& dense."},
        {"kind": "sticky note", "comment": "check the units", "page": "1"},
        {"kind": "highlight", "text": "rotation curves stay flat", "comment": "key result", "page": "3"}]
    assert paper.note == "My summary Halos are cuspy& dense. · check the units · “rotation curves stay flat” — key result"


def test_collections_nested_several_and_unfiled(library):
    z, _ = library
    refs = by_title(read_zotero(z.path))
    paper = refs["Dark matter halos in dwarf galaxies"]
    assert paper.topic == ("Physics", "Space") and paper.also_topics == (("Reading group",),)
    assert paper.topics == (("Physics", "Space"), ("Reading group",))
    assert refs["Stars and their spectra"].topic == ("Physics",)
    assert refs["Consensus in the wild"].topic == ("Unfiled",)  # its only collection is in the trash
    assert refs["A page about lichens"].topic == ("Unfiled",) and refs["A page about lichens"].also_topics == ()


def test_full_text_files_are_named_not_read_into_the_record(library):
    z, ids = library
    paper = by_title(read_zotero(z.path))["Dark matter halos in dwarf galaxies"]
    cache = z.folder / "storage" / z.key_of(ids["pdf"]) / ".zotero-ft-cache"
    assert paper.fulltext == (str(cache),)
    assert "fulltext" in paper.to_json() and PDF_ONLY not in json.dumps(paper.to_json())
    assert "fulltext" not in by_title(read_zotero(z.path))["Consensus in the wild"].to_json()  # omitted when empty


@pytest.mark.parametrize("legacy", [False, True])
def test_better_bibtex_keys_from_its_database(library, legacy):
    z, ids = library
    better_bibtex(z.folder, [(ids["talk"], z.key_of(ids["talk"]), "lamport2022"),
                             (ids["paper"], z.key_of(ids["paper"]), "rubin2019halos")], legacy=legacy)
    refs = by_title(read_zotero(z.path))
    assert refs["Consensus in the wild"].extra["key"] == "lamport2022"
    assert refs["Dark matter halos in dwarf galaxies"].extra["key"] == "rubin2019halos"  # the database over Extra


def test_zoteros_own_citation_key_field_comes_first(library):
    z, ids = library
    z.set_field(ids["talk"], "citationKey", "native2022")
    better_bibtex(z.folder, [(ids["talk"], z.key_of(ids["talk"]), "lamport2022")])
    assert by_title(read_zotero(z.path))["Consensus in the wild"].extra["key"] == "native2022"


def test_an_unreadable_better_bibtex_database_is_a_warning(library, tmp_path):
    z, _ = library
    (z.folder / "better-bibtex.sqlite").write_bytes(b"not a database" * 100)
    read = read_sources([z.folder])
    assert len(read.references) == 7
    assert any("cannot read Better BibTeX's citation keys" in warning for warning in read.warnings)


def test_zotero_4_database(tmp_path):
    z, ids = rich_library(tmp_path / "zotero-4", layout="zotero4")
    refs = by_title(read_zotero(z.path))
    assert set(refs) == {"Dark matter halos in dwarf galaxies", "Stars and their spectra", "Consensus in the wild",
                         "A page about lichens", "Doe v. Roe", "Ada Lovelace · 1843 · Taylor's Memoirs"}
    paper = refs["Dark matter halos in dwarf galaxies"]
    assert paper.authors == ("Vera Rubin", "Kent Ford") and paper.tags == ("astronomy", "dark matter")
    assert paper.topics == (("Physics", "Space"), ("Reading group",)) and paper.page == "zotero-4"
    assert paper.note == "My summary Halos are cuspy& dense."  # Zotero 4 kept no PDF annotations
    assert paper.fulltext and paper.extra["key"] == "halos2019"
    z.close()


def _one_line_error(folder: Path, *needles: str) -> None:
    result = runner.invoke(app, ["build", str(folder), "--index", str(folder.parent / "index")])
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refsearch: ") and "Traceback" not in result.output, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_a_schema_older_than_zotero_4_is_one_clear_line(tmp_path):
    z = ZoteroLibrary(tmp_path / "Zotero", "zotero4", userdata=58)
    z.item("journalArticle", "Old times")
    z.close()
    with pytest.raises(SourceError, match=r"schema version 58 .* reads versions 77 \(Zotero 4\) and later"):
        read_zotero(z.path)
    _one_line_error(z.folder, "zotero.sqlite", "schema version 58")


def test_a_newer_schema_without_what_the_reader_needs_is_one_clear_line(tmp_path):
    z = ZoteroLibrary(tmp_path / "Zotero", userdata=140)
    z.item("journalArticle", "Future")
    z.db.execute("ALTER TABLE itemData RENAME TO itemFieldValues")
    z.close()
    _one_line_error(z.folder, "schema version 140", "newer than refsearch knows (121)", "itemData")


def test_a_newer_schema_that_has_what_the_reader_needs_is_read(tmp_path):
    z = ZoteroLibrary(tmp_path / "Zotero", userdata=130)
    z.item("journalArticle", "Still readable")
    z.db.execute("CREATE TABLE someNewThing (id INTEGER PRIMARY KEY)")
    z.close()
    assert [ref.title for ref in read_zotero(z.path)] == ["Still readable"]


@pytest.mark.parametrize("content", [b"", b"SQLite format 3\x00" + b"\x00" * 200, b"garbage" * 1000])
def test_a_zotero_sqlite_that_is_not_a_zotero_database_is_one_line(tmp_path, content):
    folder = tmp_path / "Zotero"
    folder.mkdir()
    (folder / "zotero.sqlite").write_bytes(content)
    _one_line_error(folder, "zotero.sqlite")


def test_another_sqlite_database_named_zotero_sqlite_is_one_line(tmp_path):
    folder = tmp_path / "Zotero"
    folder.mkdir()
    sqlite3.connect(folder / "zotero.sqlite").executescript("CREATE TABLE notes (x); INSERT INTO notes VALUES (1);")
    _one_line_error(folder, "not a Zotero database")


def test_hostile_values_are_read_as_text_or_cut(tmp_path):
    z = ZoteroLibrary(tmp_path / "Zotero")
    item = z.item("journalArticle", "x" * 5000, fields={"abstractNote": 12345, "date": b"\x00\xff", "url": "\x1b[31m"})
    z.db.execute("UPDATE itemNotes SET note = NULL")
    z.note(item, "<p>" + "<b>" * 3000 + "deep</p>")
    z.close()
    read = read_sources([z.folder])
    [ref] = read.references
    assert len(ref.title) <= 1000 and ref.title.endswith("…") and ref.abstract == "12345"
    assert any("title cut to 1,000" in warning for warning in read.warnings)
    assert ref.note == "deep"


@settings(max_examples=examples(200), deadline=None)
@given(st.text(max_size=300))
def test_note_html_never_fails_and_leaves_no_markup(html):
    text = _html_text(html)
    assert isinstance(text, str) and "\n\n" not in text and all(line == line.strip() for line in text.splitlines())


# --- folders -------------------------------------------------------------------------------------


def test_a_data_directory_is_one_source_and_its_other_files_are_not_read(library, tmp_path):
    z, ids = library
    (z.folder / "storage" / z.key_of(ids["pdf"]) / "snapshot.html").write_text("<html><p>page</p></html>")
    (z.folder / "zotero.sqlite.bak").write_bytes(z.path.read_bytes())
    (z.folder / "styles").mkdir()
    (z.folder / "styles" / "apa.csl").write_text("<style/>")
    (z.folder / "locate").mkdir()
    (z.folder / "locate" / "engines.json").write_text("[]")
    assert candidate_files([z.folder]) == [z.path]
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "refs.bib").write_text("@article{k, title={A BibTeX paper}, year={2020}}\n")
    read = read_sources([tmp_path])  # a folder holding the data directory and other sources
    assert read.skipped == [] and len(read.references) == 8
    better_bibtex(z.folder, [])
    z.db.execute("PRAGMA journal_mode = WAL")
    z.item("journalArticle", "Logged, not yet checkpointed")
    assert watched_files([tmp_path]) == [z.path, z.folder / "zotero.sqlite-wal", z.folder / "better-bibtex.sqlite",
                                         notes / "refs.bib"]  # not the .bak, not the caches (a stat each per query)


def test_the_database_named_directly_and_in_a_config_file(library, tmp_path, fake_encoder, monkeypatch):
    z, _ = library
    assert len(read_sources([z.path]).references) == 7
    config = tmp_path / "refsearch.yaml"
    config.write_text(f"encoder: fake\nsources: [{z.folder}]\nindex: {tmp_path / 'index'}\n")
    monkeypatch.setenv("REFSEARCH_CONFIG", str(config))
    result = runner.invoke(app, ["search", "dwarf galaxies halos", "--json", "-k", "1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"][0]["title"] == "Dark matter halos in dwarf galaxies"


# --- an index of a library ---------------------------------------------------------------------------


@pytest.fixture
def built(library, tmp_path, fake_encoder):
    z, ids = library
    index = tmp_path / "index"
    refsearch.build([z.folder], index)
    return z, ids, index


def test_a_phrase_only_in_the_pdf_finds_its_item_and_the_snippet_shows_it(built):
    z, _, index = built
    for mode in ("hybrid", "lexical"):
        result = runner.invoke(app, ["search", "moonlit eucalyptus quokkas", "--index", str(index), "--json",
                                     "--mode", mode])
        top = json.loads(result.stdout)["results"][0]
        assert top["title"] == "Dark matter halos in dwarf galaxies", mode
        assert "moonlit eucalyptus canopies" in top["fulltext"] and top["snippet"] == "We measure halo profiles."
    shown = runner.invoke(app, ["search", "moonlit eucalyptus quokkas", "--index", str(index), "-k", "1"]).stdout
    assert "full text: Introduction. quokkas photosynthesise under moonlit eucalyptus canopies." in " ".join(shown.split())


def test_the_full_text_is_not_in_the_records_nor_read_by_a_query_that_does_not_return_it(built, monkeypatch):
    from refsearch.fulltext import FullText

    z, _, index = built
    generation = next(index.glob("gen-*"))
    assert PDF_ONLY not in (generation / "records.jsonl").read_text()
    assert PDF_ONLY in (generation / "fulltext.passages.bin").read_text()
    read = []
    monkeypatch.setattr(FullText, "passage", lambda self, number: read.append(number) or "")
    opened = refsearch.open(index)
    [hit] = opened.search("lichens", k=1)
    assert hit.ref.title == "A page about lichens" and read == []  # no passage of any other reference is read
    opened.search("moonlit eucalyptus", k=3)
    assert len(read) == 1  # the one returned reference whose passage matched


def test_a_library_without_full_text_has_no_full_text_files(tmp_path, fake_encoder):
    z = ZoteroLibrary(tmp_path / "Zotero")
    z.item("journalArticle", "Only metadata")
    z.close()
    refsearch.build([z.folder], tmp_path / "index")
    generation = next((tmp_path / "index").glob("gen-*"))
    assert not list(generation.glob("fulltext.*")) and "fulltext" not in json.loads(
        (generation / "manifest.json").read_text())


def test_show_lists_annotations_and_collections(built):
    z, _, index = built
    result = runner.invoke(app, ["show", "zotero/dark-matter-halos-in-dwarf-galaxies", "--index", str(index)])
    out = result.stdout
    assert "also under: Reading group" in out and "annotations (3):" in out
    assert "• p. 3 · highlight: “rotation curves stay flat” — key result" in out
    assert "• p. 1 · sticky note: check the units" in out and "• note: My summary" in out
    shown = json.loads(runner.invoke(app, ["show", "zotero/dark-matter-halos-in-dwarf-galaxies", "--index", str(index),
                                           "--json"]).stdout)
    assert shown["also_topics"] == [["Reading group"]] and shown["extra"]["annotations"][2]["page"] == "3"


def test_collection_and_tag_filters(built):
    z, _, index = built
    opened = refsearch.open(index)

    def titles(**filters):
        return {hit.ref.title for hit in opened.search("dark halos stars consensus", k=20, filters=Filters(**filters))}

    assert titles(collection="Physics") == {"Dark matter halos in dwarf galaxies", "Stars and their spectra"}
    assert titles(collection="physics/space") == {"Dark matter halos in dwarf galaxies"}
    assert titles(collection="Physics › Space") == {"Dark matter halos in dwarf galaxies"}
    assert titles(collection="reading group") == {"Dark matter halos in dwarf galaxies"}  # its second collection
    with pytest.raises(NoMatch, match="no collection 'Phys'; close: Physics"):  # a name, not a substring
        titles(collection="Phys")
    assert titles(collection="Unfiled") == {"Consensus in the wild", "A page about lichens", "Doe v. Roe",
                                            "Ada Lovelace · 1843 · Taylor's Memoirs"}
    assert titles(tag="Dark Matter") == {"Dark matter halos in dwarf galaxies"}
    with pytest.raises(NoMatch, match="no tag 'dark'; close: dark matter"):  # a whole tag
        titles(tag="dark")
    assert titles(tag="consensus", collection="Physics") == set()
    assert titles(topic="reading") == {"Dark matter halos in dwarf galaxies"}  # topic filters see every path too
    result = runner.invoke(app, ["search", "halos", "--index", str(index), "--json", "--collection", "Space",
                                 "--tag", "astronomy"])
    assert [r["title"] for r in json.loads(result.stdout)["results"]] == ["Dark matter halos in dwarf galaxies"]
    listed = {t.breadcrumb: len(t.ref_ids) for t in opened.topics()}
    assert listed["Zotero › Reading group"] == 1 and listed["Zotero › Physics › Space"] == 1


def test_the_http_and_mcp_answers_take_collection_and_tag(built):
    from refsearch.serve.answers import Answers

    _, _, index = built
    answers = Answers(refsearch.open(index))
    found = answers.search(query="halos", collection="Reading group", tag="astronomy")
    assert [r["title"] for r in found["results"]] == ["Dark matter halos in dwarf galaxies"]
    with pytest.raises(NoMatch, match="no tag 'no such tag'"):
        answers.search(query="halos", tag="no such tag")


# --- live and safe -----------------------------------------------------------------------------------


def _digest(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.glob("zotero.sqlite*"))}


def test_the_library_changing_makes_the_index_stale_and_a_query_updates_only_what_changed(built, fake_encoder):
    z, ids, index = built
    z.db.execute("PRAGMA journal_mode = WAL")
    z.db.execute("PRAGMA wal_autocheckpoint = 0")  # the edit stays in the log, as in a running Zotero
    assert refsearch.status(index).state.condition == "stale"  # the journal mode changed the file header
    refsearch.build(None, index)
    z.item("journalArticle", "Tardigrades survive the vacuum of space", collections=[])
    assert (z.folder / "zotero.sqlite-wal").stat().st_size > 0
    state = refsearch.status(index).state
    assert state.condition == "stale" and str(z.folder / "zotero.sqlite-wal") in state.diff.changed + state.diff.added
    embedded = len(fake_encoder.encoded)
    result = runner.invoke(app, ["search", "tardigrades vacuum", "--index", str(index), "--json", "-k", "1"])
    assert json.loads(result.stdout)["results"][0]["title"] == "Tardigrades survive the vacuum of space"
    assert fake_encoder.encoded[embedded:-1] == ["Tardigrades survive the vacuum of space. Topic: Unfiled."]
    manifest = refsearch.open(index, update=False).manifest
    assert manifest["fulltext"] == {"passages": 1, "references": 1, "reused": True}  # the same PDF text: taken over
    # Zotero indexes a PDF again: it writes the cache and its full-text tables (the database changes)
    cache = z.folder / "storage" / z.key_of(ids["pdf"]) / ".zotero-ft-cache"
    cache.write_text("Platypuses detect electric fields with their bills.", encoding="utf-8")
    z.db.execute("INSERT INTO settings VALUES ('fulltext', 'indexed', 1)")
    embedded = len(fake_encoder.encoded)
    result = runner.invoke(app, ["search", "platypuses electric bills", "--index", str(index), "--json", "-k", "1",
                                 "--mode", "lexical"])
    top = json.loads(result.stdout)["results"][0]
    assert top["title"] == "Dark matter halos in dwarf galaxies" and "Platypuses detect" in top["fulltext"]
    assert fake_encoder.encoded[embedded:] == []  # the update embedded nothing (and lexical queries embed none)
    assert refsearch.open(index, update=False).manifest["fulltext"]["reused"] is False
    assert runner.invoke(app, ["search", "moonlit eucalyptus", "--index", str(index), "--json",
                               "--mode", "lexical"]).stdout.count("fulltext\": \"") == 0  # the old text is gone


def test_full_text_taken_over_follows_its_reference_to_another_row(built, fake_encoder):
    z, ids, index = built
    z.db.execute("UPDATE items SET itemID = 900 WHERE itemID = ?", (ids["paper"],))  # now read last
    for table in ("itemData", "itemCreators", "itemTags", "collectionItems"):
        z.db.execute(f"UPDATE {table} SET itemID = 900 WHERE itemID = ?", (ids["paper"],))
    z.db.execute("UPDATE itemAttachments SET parentItemID = 900 WHERE parentItemID = ?", (ids["paper"],))
    z.db.execute("UPDATE itemNotes SET parentItemID = 900 WHERE parentItemID = ?", (ids["paper"],))
    refsearch.build(None, index)
    opened = refsearch.open(index, update=False)
    assert opened.manifest["fulltext"]["reused"] and opened.row("zotero/dark-matter-halos-in-dwarf-galaxies") != 0
    [hit] = opened.search("moonlit eucalyptus quokkas", k=1, mode="lexical")
    assert hit.ref.title == "Dark matter halos in dwarf galaxies" and PDF_ONLY in hit.passage


HOLD_WRITE = textwrap.dedent("""
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("PRAGMA journal_mode = " + sys.argv[2])
    if sys.argv[3] == "exclusive":
        db.execute("PRAGMA locking_mode = EXCLUSIVE")
    db.execute("PRAGMA cache_size = 1")  # a big change spills into the file (or log) before it is committed
    db.execute("BEGIN IMMEDIATE")
    db.execute("UPDATE itemDataValues SET value = 'UNCOMMITTED ' || value")
    db.execute("CREATE TABLE ballast (x)")
    db.executemany("INSERT INTO ballast VALUES (?)", [("x" * 2000,) for _ in range(2000)])
    print("holding", flush=True)
    sys.stdin.readline()
    db.execute("ROLLBACK")
""")


@pytest.mark.parametrize("journal, locking", [("WAL", "normal"), ("WAL", "exclusive"), ("DELETE", "exclusive")])
def test_the_database_is_unchanged_by_a_build_even_while_another_process_writes(tmp_path, fake_encoder, journal,
                                                                                  locking):
    z, _ = rich_library(tmp_path / "Zotero")
    z.db.execute(f"PRAGMA journal_mode = {journal}")
    z.close()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITE, str(z.path), journal, locking],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        before = _digest(z.folder)
        assert ("zotero.sqlite-wal" if journal == "WAL" else "zotero.sqlite-journal") in before  # mid-write
        started = time.perf_counter()
        report = refsearch.build([z.folder], tmp_path / "index")
        assert time.perf_counter() - started < 30 and report.total == 7
        assert _digest(z.folder) == before  # byte for byte, the log or journal too
        titles = {ref.title for ref in refsearch.open(tmp_path / "index")}
        assert "Stars and their spectra" in titles and not any("UNCOMMITTED" in title for title in titles)
        assert holder.poll() is None  # never blocked, never disturbed
    finally:
        holder.communicate("done\n", timeout=30)
    assert holder.returncode == 0


def test_a_database_that_never_stops_changing_is_one_line(library, monkeypatch):
    from refsearch.sources import sqlite_snapshot

    z, _ = library
    monkeypatch.setattr(sqlite_snapshot, "PAUSE", 0.001)
    changing = iter(range(10**6))
    monkeypatch.setattr(sqlite_snapshot, "_states", lambda database: [(next(changing), 0), None, None])
    with pytest.raises(SourceError, match="kept changing while it was copied"):
        read_zotero(z.path)


def test_an_index_built_before_tag_facets_is_stale_and_a_build_adds_them(built, fake_encoder):
    from refsearch.catalog import TAG_IDS, TAG_PTR, TAGS, TOPIC_IDS, TOPIC_PTR

    _, _, index = built
    generation = next(index.glob("gen-*"))
    manifest = json.loads((generation / "manifest.json").read_text())
    for name in (TAGS, TAG_PTR, TAG_IDS, TOPIC_PTR, TOPIC_IDS):
        del manifest["files"][name]
        (generation / name).unlink()
    del manifest["records"]  # as an index written before catalog.RECORDS_FORMAT
    (generation / "manifest.json").write_text(json.dumps(manifest))
    opened = refsearch.open(index, update=False)
    assert [t.breadcrumb for t in opened.topics()][:1] == ["Zotero › Physics › Space"]  # each row's topic still lists
    with pytest.raises(refsearch.RefsearchError, match="built by an older refsearch.*run `refsearch build`"):
        opened.search("halos", filters=Filters(tag="astronomy"))
    state = refsearch.status(index).state
    assert state.condition == "stale" and "its sources were read by another refsearch version" in state.detail
    embedded = len(fake_encoder.encoded)
    assert [hit.ref.title for hit in refsearch.open(index).search("halos", filters=Filters(tag="astronomy"))] == [
        "Dark matter halos in dwarf galaxies"]
    assert len(fake_encoder.encoded) == embedded + 1  # the query's text only: every vector was reused


@pytest.mark.parametrize("layout", ["zotero4", "zotero7"])
def test_every_item_is_found_first_by_its_title(tmp_path, fake_encoder, layout):
    z, _ = rich_library(tmp_path / "Zotero", layout)
    z.close()
    refsearch.build([z.folder], tmp_path / "index")
    opened = refsearch.open(tmp_path / "index")
    for ref in opened:
        assert opened.search(ref.title, k=1)[0].ref.id == ref.id, ref.title


def test_the_database_named_as_the_source_is_watched_with_its_log(tmp_path, fake_encoder):
    z = ZoteroLibrary(tmp_path / "Zotero")
    z.db.execute("PRAGMA journal_mode = WAL")
    z.db.execute("PRAGMA wal_autocheckpoint = 0")
    z.item("journalArticle", "Lungfish breathe air")
    refsearch.build([z.path], tmp_path / "index")
    files = json.loads(next((tmp_path / "index").glob("gen-*/manifest.json")).read_text())["sources"]["files"]
    assert [entry["path"] for entry in files] == ["", "../zotero.sqlite-wal"]
    z.item("journalArticle", "Axolotls regrow limbs")
    state = refsearch.status(tmp_path / "index").state
    assert state.condition == "stale" and state.diff.changed == [str(z.folder / "zotero.sqlite-wal")]
    assert refsearch.open(tmp_path / "index").search("axolotls", k=1)[0].ref.title == "Axolotls regrow limbs"
    z.close()


def test_full_text_written_by_another_lexical_format_is_indexed_again_not_taken_over(built, fake_encoder, monkeypatch):
    """An index from a refsearch whose BM25 files differ: an update re-tokenizes every row, and the
    full-text index, whose passages are the same, is indexed again too (taken over, it would not load)."""
    from refsearch import builder, lexical, state

    z, _, index = built
    newer_format = lexical.FORMAT + "-next"
    newer = {**state.LEXICAL_SETTINGS, "format": newer_format}
    for module, name, value in ((lexical, "FORMAT", newer_format), (lexical, "LEXICAL_SETTINGS", newer),
                                (state, "LEXICAL_SETTINGS", newer), (builder, "LEXICAL_SETTINGS", newer)):
        monkeypatch.setattr(module, name, value)
    assert refsearch.status(index).state.condition == "stale"
    refsearch.build(None, index)
    opened = refsearch.open(index, update=False)
    assert opened.manifest["fulltext"]["reused"] is False
    [hit] = opened.search("moonlit eucalyptus quokkas", k=1, mode="lexical")
    assert hit.ref.title == "Dark matter halos in dwarf galaxies" and PDF_ONLY in hit.passage
