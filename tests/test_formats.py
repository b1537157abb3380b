"""Each reference-manager format read from the real files in ../shared/formats: entry counts against
each folder's PROVENANCE.txt (every difference explained), and sampled fields against the file."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from refsearch.sources import read_file, read_sources

FORMATS = Path(__file__).resolve().parents[2] / "shared" / "formats"
pytestmark = pytest.mark.skipif(not FORMATS.is_dir(), reason="needs ../shared/formats")


def read(relative: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_file(FORMATS / relative)


def by_title(refs):
    return {ref.title: ref for ref in refs}


def line_of(ref) -> int:
    return int(ref.source.rsplit(":", 1)[1])


# file: (entries in PROVENANCE.txt, references we read)
BIBTEX = {
    "zotero_bbt_real_user_files/annote_crossref_planning_bib_issue873.bib": (988, 988),
    "zotero_bbt_real_user_files/jabref_groups_abstracts_issue97.bib": (911, 911),
    "zotero_bbt_real_user_files/mendeley_export_nonstandard_types.bib": (512, 512),
    "zotero_bbt_real_user_files/large_7k_undefined_macros_issue1436.bib": (7166, 7166),
    # 284 entries (PROVENANCE counts keys; `10.1:18` is used twice); 10 APA/legal test entries have no
    # title, author or venue (`@constitution{11.9:23, ...}`) and are skipped with a warning each
    "zotero_bbt_real_user_files/biblatex_plus_in_fieldnames_issue2660.bib": (283, 274),
    "zotero_bbt_real_user_files/jabref51_crossref_issue1641.bib": (20, 20),
    # 23 entries have unbalanced braces (`{John Wiley {{\&} Sons, Ltd.}`): skipped with a warning each
    "zotero_bbt_real_user_files/papers3_library_3725_issue1296.bib": (3725, 3702),
    "zotero_bbt_real_user_files/biblatex_bulk_1241.bib": (1241, 1241),
    # the two @set entries only group other entries: no title, author or venue
    "biblatex_examples/biblatex-examples.bib": (92, 90),
    "biblatex_examples/97-annotations.bib": (1, 1),
    "biblatex_examples/95-customlists.bib": (4, 4),  # untitled: a stand-in title from authors and venue
    "jgrey_games/in_progress_games_2023version_empty_keys.bib": (323, 323),  # 321 share the empty key
}
RIS = {"baseline_bom_crlf_100.ris": 100, "embase_bom.ris": 6, "ovid_psycinfo_numbered.ris": 6, "proquest.ris": 6,
       "pubmed_via_zotero.ris": 6, "scopus.ris": 6, "web_of_science_ris.txt": 10, "ris_issue_992.txt": 19,
       "tag_notes_labels.ris": 32}
CSL = {
    "zotero_better_csl_json_law_library/My_Library.better-csl.json": 1018,
    "zotero_better_csl_json_law_library/My_Library.better-csl.yaml": 1018,
    "zotero_bbt_csl_fixtures/bbt_issue1179.csl.json": 26,
    "zotero_bbt_csl_fixtures/bbt_dates_issue360_811.csl.json": 15,
    "zotero_bbt_csl_fixtures/bbt_pandoc_schomd.csl.json": 4,
    "zotero_bbt_csl_fixtures/bbt_creators_issue365_825.csl.json": 6,  # 7 items, one without a title
}
# links in PROVENANCE.txt minus the `place:` smart folders (Firefox has 2)
BOOKMARKS = {"firefox_zh_with_DD_descriptions.html": 131, "chrome_zh_nested_folders.html": 91,
             "delicious_flat_tags_dd.html": 995, "ie_export_bom_folded.htm": 35}


LARGE = {"zotero_bbt_real_user_files/large_7k_undefined_macros_issue1436.bib",
         "zotero_bbt_real_user_files/papers3_library_3725_issue1296.bib"}  # seconds each: not the fast lane


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in LARGE else name
                                  for name in BIBTEX])
def test_bibtex_counts(name):
    refs = read(f"bibtex/{name}")
    assert len(refs) == BIBTEX[name][1]
    assert len({ref.id for ref in refs}) == len(refs)


@pytest.mark.parametrize("name", RIS)
def test_ris_counts(name):
    assert len(read(f"ris/asreview_db_exports/{name}")) == RIS[name]


@pytest.mark.parametrize("name", CSL)
def test_csl_counts(name):
    assert len(read(f"csl-json/{name}")) == CSL[name]


@pytest.mark.parametrize("name", BOOKMARKS)
def test_bookmark_counts(name):
    assert len(read(f"bookmarks/{name}")) == BOOKMARKS[name]


@pytest.mark.slow  # builds about 40 files into indexes: 8 s
def test_every_shared_format_file_builds_alone():
    for path in sorted(FORMATS.rglob("*")):
        if path.is_file() and path.name not in ("PROVENANCE.txt", "README.md"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert read_sources([path]).references, path


def test_bibtex_fields_from_the_biblatex_examples():
    refs = by_title(read("bibtex/biblatex_examples/biblatex-examples.bib"))
    anima = refs["De Anima"]
    assert (anima.authors, anima.year, anima.kind, anima.tags) == (("Aristotle",), 1907, "book", ("primary",))
    assert anima.note == "A book entry with an author and an editor"  # \texttt{} gone, lines joined
    assert line_of(anima) == 370
    frontier = refs["The True Frontier: Confronting and Avoiding the Realities of Space in American Science Fiction Films"]
    assert frontier.authors == ("Gary Westfahl",)
    assert frontier.venue  # the crossref parent's title became its booktitle
    assert all("\\" not in ref.title and "{" not in ref.title for ref in refs.values())


def test_bibtex_strings_concatenation_and_round_parens():
    (spaces,) = read("bibtex/zotero_bbt_edge_cases/Spaces_lost_when_expanding_string_variables_during_import_issue1081.bib")
    assert (spaces.title, spaces.venue, spaces.year, spaces.authors) == ("Title", "a space between this and this", 1990, ("Author",))
    (round_parens,) = read("bibtex/zotero_bbt_edge_cases/Issues_with_round_instead_of_curly_braces_do_not_import_correctly_issue871.bib")
    assert round_parens.title and round_parens.year


def test_bibtex_jabref_groups_become_topics():
    refs = read("bibtex/zotero_bbt_real_user_files/jabref51_crossref_issue1641.bib")
    assert {ref.topic for ref in refs} >= {("Ecology_and_Power",)}
    old_style = read("bibtex/zotero_bbt_real_user_files/jabref_groups_abstracts_issue97.bib")
    topics = {ref.topic for ref in old_style}
    assert ("Cu2O",) in topics
    # PROVENANCE: 476 abstract fields, of which 16 say "Not Available" or "No Abstract."
    assert sum(bool(ref.abstract) for ref in old_style) == 460
    assert sum(ref.extra.get("database_notes", [""])[-1] in ("Not Available", "No Abstract.") for ref in old_style) == 16


def test_bibtex_annotations_and_latex_accents():
    refs = read("bibtex/zotero_bbt_real_user_files/annote_crossref_planning_bib_issue873.bib")
    assert sum(bool(ref.note) for ref in refs) >= 53  # PROVENANCE: 53 annote (+ notes)
    assert not any("\\'" in ref.title or '\\"' in ref.title for ref in refs)
    mendeley = read("bibtex/zotero_bbt_real_user_files/mendeley_export_nonstandard_types.bib")
    assert sum(bool(ref.abstract) for ref in mendeley) == 313


def test_ris_fields():
    refs = read("ris/asreview_db_exports/web_of_science_ris.txt")
    first = refs[0]
    assert first.title == "Holding Yourself Captive: Perceptions of Custody During Interviews and Interrogations"
    assert first.authors[:3] == ("F Alceste", "TJ Luke", "SM Kassin")  # "Last, First" turned round
    assert first.venue == "JOURNAL OF APPLIED RESEARCH IN MEMORY AND COGNITION"
    assert first.abstract.startswith("Police custody activates important legal safeguards.")
    assert "Police custody" in first.tags and line_of(first) == 1
    ovid = read("ris/asreview_db_exports/ovid_psycinfo_numbered.ris")
    assert line_of(ovid[0]) == 2 and ovid[0].doi == "10.1002/cpp.2398" and ovid[0].abstract  # N2 abstract
    bom = read("ris/asreview_db_exports/baseline_bom_crlf_100.ris")
    assert sum(bool(ref.abstract) for ref in bom) == 98 and bom[0].kind == "paper"
    keywords = read("ris/asreview_db_exports/ris_issue_992.txt")
    assert "Joint Commission" in keywords[0].tags  # a KW continuation line


def test_csl_fields_and_dates():
    refs = read("csl-json/zotero_better_csl_json_law_library/My_Library.better-csl.json")
    first = refs[0]
    assert first.title.startswith("2002 Formal Ethics Opinion 8") and first.year == 2003 and line_of(first) == 2
    assert sum(bool(ref.abstract) for ref in refs) == 457
    # 581 notes, of which 554 are only Zotero's "Select: zotero://…" link or Juris-M's sync data
    assert sum(bool(ref.note) for ref in refs) == 27
    assert sum(bool(ref.extra.get("database_notes")) and not ref.note for ref in refs) == 554
    yaml_twin = read("csl-json/zotero_better_csl_json_law_library/My_Library.better-csl.yaml")
    assert [(r.title, r.year, r.authors) for r in yaml_twin] == [(r.title, r.year, r.authors) for r in refs]
    dates = read("csl-json/zotero_bbt_csl_fixtures/bbt_dates_issue360_811.csl.json")
    assert sum(ref.year is not None for ref in dates) >= 12


def test_bookmark_fields():
    refs = read("bookmarks/firefox_zh_with_DD_descriptions.html")
    assert sum(bool(ref.note) for ref in refs) == 54  # 64 <DD>: 9 empty, 1 describes a folder
    assert refs[0].topic == ("Mozilla Firefox",) and refs[0].title == "帮助和教程" and refs[0].kind == "web"
    delicious = by_title(read("bookmarks/delicious_flat_tags_dd.html"))
    assert delicious["Room (2015) - IMDb"].tags == ("imdb", "movie", "towatch")
    chrome = read("bookmarks/chrome_zh_nested_folders.html")
    assert chrome[0].topic == ("书签栏", "预装", "Links")


def test_place_links_are_counted_in_a_warning(tmp_path):
    read_result = read_sources([FORMATS / "bookmarks" / "firefox_zh_with_DD_descriptions.html"])
    assert any("skipped 2 bookmarks that are not pages (place: links)" in note for note in read_result.warnings)


def test_markdown_styles_beyond_inline_links():
    afl = by_title(read("markdown/awesome-afl_setext_subbullet-annotations.md"))
    assert afl["AFL"].authors == ("Michal Zalewski",)
    assert afl["AFL"].note.startswith("Original & first versions of AFL fuzzer")
    assert afl["AFL"].topic == ("Welcome to Awesome AFL", "Projects")  # the setext heading
    docker = by_title(read("markdown/awesome-docker_2017_reference-style.md"))
    assert docker["Docker Cheat Sheet"].url == "https://github.com/wsargent/docker-cheat-sheet"
    assert docker["Docker Cheat Sheet"].authors == ("@wsargent",)
    secrets = by_title(read("markdown/book-of-secret-knowledge_html-a-href.md"))
    assert len(secrets) > 850
    assert (secrets["HexChat"].url, secrets["HexChat"].note) == ("https://hexchat.github.io/index.html",
                                                                 "is an IRC client based on XChat.")
    assert secrets["HexChat"].topic[-1] == "Messengers/IRC Clients"  # ":black_small_square:" gone
