"""Property tests for the reference-manager parsers: random and mutated input raises nothing but
SourceError (warnings about skipped entries are fine)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sources_fuzz import parses_or_source_error

from refsearch.sources.bibtex import parse_bibtex
from refsearch.sources.bookmarks import parse_bookmarks
from refsearch.sources.csl import parse_csl_json, parse_csl_yaml
from refsearch.sources.ris import parse_ris

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BIBTEX = """@string{j = {Journal of {\\"U}ber}}
@article{key1, author = {M{\\"u}ller, Hans and Doe, J.}, title = {A {T}itle \\& more}, journal = j # " X",
  year = 2019, annote = {My \\textit{own} words}, keywords = {a, b}, crossref = {p}}
@proceedings(p, title = "Proc", year = "2018")
@misc{, title = {Empty key}, url = {https://x.example}}
"""
RIS = "1.\nTY  - JOUR\nTI  - Title\nAU  - Doe, J\nAB  - One.\nAB  - Two.\nKW  - a\nb\nPY  - 2019\nN1  - note\nER  - \n"
CSL = json.dumps([{"id": "a", "type": "article-journal", "title": "T", "issued": {"date-parts": [["2019", 1]]},
                   "author": [{"family": "Doe", "given": "J"}], "note": "n", "abstract": "ab"}], indent=1)
CSL_YAML = "---\nreferences:\n- id: a\n  title: T\n  issued:\n    - year: 2019\n  author:\n    - family: Doe\n"
BOOKMARKS = ('<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n<DT><H3>F</H3>\n<DL><p>\n'
             '<DT><A HREF="https://a.example" TAGS="x,y">A</A>\n<DD>note\n</DL><p>\n'
             '<DT><A HREF="javascript:void(0)">bm</A>\n</DL><p>\n')


def mutated(seed: str):
    """The seed with characters deleted, repeated or replaced by markup characters."""
    markup = st.sampled_from(list("{}()\"'@#,=\\$%&<>[]-\n\r\t ") + ["TY  - ", "ER  - ", "<DL>", "</DL>", "<DT><A HREF=\""])
    edits = st.lists(st.tuples(st.integers(0, len(seed)), st.integers(0, 8), markup), max_size=8)
    return edits.map(lambda ops: _apply(seed, ops))


def _apply(text: str, ops) -> str:
    for position, cut, insert in ops:
        position = min(position, len(text))
        text = text[:position] + insert + text[position + cut:]
    return text


@FAST
@pytest.mark.parametrize(("parse", "seed"), [(parse_bibtex, BIBTEX), (parse_ris, RIS), (parse_csl_json, CSL),
                                             (parse_csl_yaml, CSL_YAML), (parse_bookmarks, BOOKMARKS)],
                         ids=["bibtex", "ris", "csl-json", "csl-yaml", "bookmarks"])
@given(data=st.data())
def test_parser_raises_only_source_error(parse, seed, data):
    parses_or_source_error(parse, data.draw(st.one_of(st.text(max_size=200), mutated(seed))))


def test_the_seeds_read_as_intended():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bib = parse_bibtex(BIBTEX, Path("s.bib"))
        ris = parse_ris(RIS, Path("s.ris"))
        marks = parse_bookmarks(BOOKMARKS, Path("s.html"))
    first = bib[0]
    assert (first.title, first.authors, first.venue, first.note, first.tags) == (
        "A Title & more", ("Hans Müller", "J. Doe"), "Journal of Über X", "My own words", ("a", "b"))
    assert bib[-1].kind == "web"
    assert (ris[0].abstract, ris[0].tags, ris[0].source) == ("One.\nTwo.", ("a", "b"), "s.ris:2")
    assert [(m.title, m.topic, m.tags, m.note) for m in marks] == [("A", ("F",), ("x", "y"), "note")]
    assert parse_csl_json(CSL, Path("c.json"))[0].year == parse_csl_yaml(CSL_YAML, Path("c.yaml"))[0].year == 2019


@pytest.mark.parametrize("soup", ["<![0", "<![A x>", "<!DOCTYPE 0"])
def test_bookmarks_skip_declarations_the_standard_parser_gives_up_on(soup):
    """Found by the generated files above when ../shared's seeds are absent: html.parser raised
    AssertionError ("expected name token") on these; the links around them are still read."""
    from refsearch.sources.bookmarks import parse_bookmarks

    text = f'<DT><A HREF="https://x.io">X</A>{soup} <DT><A HREF="https://y.io">Y</A>'
    assert [ref.title for ref in parse_bookmarks(text, Path("b.html"))][:1] == ["X"]
