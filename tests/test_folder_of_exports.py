"""A folder as people keep it (issue 22): the shared formats as one folder, a library exported twice,
overlapping database exports and two browsers' bookmarks, all built together, each work once."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

from refsearch.records import KINDS
from refsearch.sources import plan_sources, read_file
from refsearch.sources.boilerplate import split_note

SHARED = Path(__file__).resolve().parents[2] / "shared"
FORMATS = SHARED / "formats"
pytestmark = pytest.mark.skipif(not FORMATS.is_dir(), reason="needs ../shared/formats")
LAW = FORMATS / "csl-json" / "zotero_better_csl_json_law_library"
WOS = FORMATS / "ris" / "asreview_db_exports" / "web_of_science_ris.txt"


def quietly(function, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args)


def records(text: str) -> list[str]:
    """A RIS export's records, each as written (`TY` to `ER`)."""
    return [record + "ER  -\n" for record in text.split("ER  -\n") if "TY  -" in record]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """One person's exports, as they pile up in a folder: a Zotero library as CSL-JSON and as
    CSL-YAML, two Web of Science exports that overlap (both called savedrecs.txt, as Web of Science
    always names them), and two browsers' bookmarks (both bookmarks.html)."""
    root = tmp_path_factory.mktemp("exports")
    for twin in LAW.glob("My_Library.*"):
        shutil.copy(twin, root / twin.name)
    wos = records(WOS.read_text("utf-8"))
    for name, part in (("2023", wos[:7]), ("2024", wos[3:])):
        (root / name).mkdir()
        (root / name / "savedrecs.txt").write_text("".join(part), "utf-8")
    for browser, export in (("chrome", "chrome_zh_nested_folders.html"), ("ie", "ie_export_bom_folded.htm")):
        (root / browser).mkdir()
        shutil.copy(FORMATS / "bookmarks" / export, root / browser / "bookmarks.html")
    return root


def test_the_shared_formats_build_as_one_folder():
    """Every folder of ../shared/formats at once: no 'duplicate id', and the references are the
    entries each file gives less the entries merged into the same work elsewhere."""
    plan = quietly(plan_sources, [FORMATS])
    entries = sum(len(file.references) for file in plan.files)
    assert plan.count == entries - len(plan.duplicates.into)
    refs = list(plan.references())
    assert len(refs) == plan.count and len({ref.id for ref in refs}) == plan.count
    merged = {}
    for position, survivor in plan.duplicates.into.items():
        pair = (plan.files[position[0]].path.name, plan.files[survivor[0]].path.name)
        merged[pair] = merged.get(pair, 0) + 1
    # the library's CSL-YAML twin: each of its 1,018 items is a CSL-JSON item, 2 of which are a case
    # entered twice (merged inside the JSON file); docs/schema.md lists the other merges
    twin = [position for position in plan.duplicates.into if plan.files[position[0]].path.name.endswith(".yaml")
            and plan.files[position[0]].path.parent == LAW]
    assert len(twin) == 1018
    assert merged[("My_Library.better-csl.json", "My_Library.better-csl.json")] == 2
    # one of the library's books is in biblatex_bulk_1241.bib too (read first: bibtex/ sorts before csl-json/)
    assert merged[("My_Library.better-csl.json", "biblatex_bulk_1241.bib")] == 1


def test_a_folder_of_exports_gives_each_work_once(folder):
    plan = quietly(plan_sources, [folder])
    refs = list(plan.references())
    by_file = {file.path.relative_to(folder).as_posix(): len(file.references) for file in plan.files}
    assert by_file["2023/savedrecs.txt"] == 7 and by_file["2024/savedrecs.txt"] == 7
    titles = [ref.title for ref in refs]
    wos = [ref for ref in refs if "savedrecs" in ref.source]
    assert len(wos) == 10 and len({ref.title for ref in wos}) == 10  # 7 + 7 records, 4 in both
    assert sum(ref.source.startswith(str(folder / "My_Library")) for ref in refs) == 1016
    overlap = [ref for ref in refs if "chrome" in ref.source and any("/ie/" in place for place in ref.also_in)]
    assert len(overlap) == 26  # the IE export's links that the Chrome export has too
    assert len(refs) == 1016 + 10 + (91 + 35 - 26)
    assert len(set(titles)) >= len(refs) - 40  # titles repeat only where the works differ (bookmark titles)
    both = [ref for ref in wos if ref.also_in]
    assert len(both) == 4 and {ref.id.split("/")[0] for ref in both} == {"2023-savedrecs"}  # the first export's ids
    assert {ref.id.split("/")[0] for ref in refs if "bookmarks" in ref.source} == {"chrome-bookmarks", "ie-bookmarks"}


@pytest.mark.slow
def test_a_title_query_finds_the_work_once(folder, tmp_path):
    import refsearch

    index_dir = tmp_path / "index"
    report = refsearch.build([folder], index_dir)
    assert report.merged == 1018 + 2 + 4 + 26  # the YAML twin, 2 cases entered twice, 4 records in both savedrecs, 26 links in both browsers
    index = refsearch.open(index_dir)
    sampled = [ref for ref in index if "savedrecs" in ref.source or "My_Library" in ref.source][::25]
    for ref in sampled:
        hits = index.search(ref.title, k=5)
        assert hits[0].ref.id == ref.id, (ref.title, [hit.ref.title for hit in hits])
        copies = [hit for hit in hits if (hit.ref.title.casefold(), hit.ref.year) == (ref.title.casefold(), ref.year)]
        assert len(copies) == 1, ref.title  # a district court's and an appeal court's case may share a name


def test_a_table_list_gives_one_reference_per_paper():
    refs = quietly(read_file, SHARED / "corpora" / "awesome-llm.md")
    milestones = [ref for ref in refs if ref.topic[-1:] == ("Milestone Papers",)]
    assert len(milestones) == 62  # the table's rows (SOURCES.md: 62 table entries)
    assert not {ref.title for ref in milestones} & {"Paper", "Link", "Date"}
    assert all(ref.url and ref.year and ref.authors for ref in milestones)
    attention = next(ref for ref in milestones if ref.title == "Attention Is All You Need")
    assert (attention.year, attention.authors, attention.tags) == (2017, ("Google",), ("Transformers",))
    assert not any(ref.url.startswith("#") for ref in refs if ref.url)


def test_no_note_is_a_databases_boilerplate():
    refs = [ref for folder in ("ris", "csl-json", "bibtex") for ref in quietly(plan_sources, [FORMATS / folder]).references()]
    notes = [ref.note for ref in refs if ref.note]
    assert not [note for note in notes if split_note(note).boilerplate]
    for marker in ("Export Date", "zotero://", "Times Cited", "mlzsync", "Journal Subset", "Cited By", "ID: TN_",
                   "Includes bibliographical references", "Date revised"):
        assert not [note for note in notes if marker in note], marker
    kept = [ref for ref in refs if ref.extra.get("database_notes")]
    assert len(kept) > 900 and all(isinstance(line, str) for ref in kept for line in ref.extra["database_notes"])


def test_display_text_is_clean():
    refs = [ref for folder in ("ris", "csl-json", "bibtex", "bookmarks") for ref in
            quietly(plan_sources, [FORMATS / folder]).references()]
    for field in ("title", "note", "abstract", "venue"):
        values = [getattr(ref, field) for ref in refs if getattr(ref, field)]
        for marker in ("<i>", "</i>", "<jats:", "<mml:", "<sub>", "\u00ad", "&amp;", "&nbsp;", "``"):
            assert not [value for value in values if marker in value], (field, marker)
    assert not [ref for ref in refs if ref.kind not in (*KINDS, None)]
