"""Real reading lists from ../shared/corpora ingest cleanly, with the entry counts SOURCES.md reports.

SOURCES.md counted entries with a line regex: list items and table rows whose first link is not an
in-page #anchor (bare-URL items counted apart), and "annotations" as entries with text after the
link. The parser should agree within 5%: the known differences are small (production-ml's 8
"Quick links" table rows are all #anchor links, i.e. a table of contents, so we skip them: 1.4%),
while a real regression (a dropped table, nested items lost, an HTML block swallowing a section)
moves a count by more than that.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from refsearch.sources import read_file, read_sources

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
TOLERANCE = 0.05

# file: (linked entries, bare-URL items, annotated entries) as given in SOURCES.md
EXPECTED = {
    "production-ml.md": (556, 0, 548),
    "awesome-llm.md": (369, 0, 209),
    "applied-ml.md": (544, 0, 0),  # "~0 real": only backtick tags after the link
    "ml-sys-tutorial-zh.md": (87, 0, 72),
    "llm-resources-zh.md": (481, 168, 228),
    "awesome-python.md": (505, 0, 482),
    "awesome-index.md": (684, 0, 471),
    "awesome-go.md": (3033, 0, 2933),
}

pytestmark = pytest.mark.skipif(not CORPORA.is_dir(), reason="../shared/corpora is not available")


@pytest.fixture(scope="module")
def parsed():
    return {name: read_file(CORPORA / name) for name in EXPECTED}


def is_bare(ref, lines: list[str]) -> bool:
    """A reference read from an item with a bare URL and no [text](url) link."""
    return "](" not in lines[int(ref.source.rsplit(":", 1)[1]) - 1]


def within(actual: int, expected: int) -> bool:
    return abs(actual - expected) <= TOLERANCE * expected


@pytest.mark.parametrize("name", list(EXPECTED))
def test_entry_counts_match_sources_md(parsed, name):
    refs = parsed[name]
    lines = (CORPORA / name).read_text(encoding="utf-8").split("\n")
    bare = sum(is_bare(ref, lines) for ref in refs)
    linked, notes = len(refs) - bare, sum(bool(ref.note) for ref in refs)
    expected_linked, expected_bare, expected_annotated = EXPECTED[name]
    print(f"{name}: {linked} linked (SOURCES.md {expected_linked}), {bare} bare ({expected_bare}), "
          f"{notes} with a note ({expected_annotated} annotated)")
    assert within(linked, expected_linked), (linked, expected_linked)
    assert within(bare, expected_bare), (bare, expected_bare)
    # Annotations are not lost: at least 90% of the annotated entries SOURCES.md counted have a note,
    assert notes >= 0.9 * expected_annotated
    # and where nearly every entry is annotated, nearly every reference carries its note.
    if expected_annotated >= 0.9 * expected_linked:
        assert notes >= 0.9 * len(refs)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_references_are_clean(parsed, name):
    refs = parsed[name]
    assert len({ref.id for ref in refs}) == len(refs)
    for ref in refs:
        assert ref.title.strip() == ref.title and ref.title, ref.source
        assert "](" not in ref.title and "](" not in (ref.note or ""), ref.source
        assert ref.page and ref.source.startswith(str(CORPORA / name))
    assert sum(bool(ref.topic) for ref in refs) >= 0.99 * len(refs)


def test_specific_corpus_entries(parsed):
    applied = {ref.title: ref for ref in parsed["applied-ml.md"]}
    zipline = applied["Sputnik: Airbnb’s Apache Spark Framework for Data Engineering"]
    assert (zipline.author, zipline.year, zipline.topic) == ("Airbnb", 2020, ("Data Engineering",))
    llm = {ref.title: ref for ref in parsed["awesome-llm.md"]}
    assert llm["Attention Is All You Need"].year == 2017
    python = {ref.title: ref for ref in parsed["awesome-python.md"]}
    assert python["langchain"].topic == ("Projects", "AI and Agents", "Orchestration")
    assert {ref.page for ref in parsed["awesome-go.md"]} == {"Awesome Go"}


def test_whole_directory_ingests_with_unique_ids():
    refs = read_sources([CORPORA]).references
    assert len(refs) >= sum(linked + bare for linked, bare, _ in EXPECTED.values()) * (1 - TOLERANCE)
    assert len({ref.id for ref in refs}) == len(refs)
