"""RIS exports (Scopus, Embase, Ovid, ProQuest, PubMed via Zotero, Web of Science saved as .txt).

rispy reads the tags; it is run with `enforce_list_tags=False` so that a tag repeated in one record
(several `AB` lines) keeps every value instead of the first. Line numbers, which rispy does not
keep, come from a scan that mirrors its record logic (a record opens at `TY  -`, closes at `ER  -`).
Numbered records (`1.` before `TY`), a BOM (stripped when the file is decoded), CRLF and
continuation lines (joined to the tag before them) are rispy's or ours to absorb.

Abstract: every `AB` and `N2` value (Ovid and Embase put the abstract in `N2`); annotation: `N1`
notes, without the cited-reference list Scopus appends to them; tags: `KW`; no topic (an export is a flat list; see bibtex.py for why none is invented).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from refsearch.records import IdAllocator, Reference, doi_of, page_key
from refsearch.sources.common import clean, inverted_name, is_et_al, kind_for, raw_type, warn, year_in

KINDS = {
    "jour": "paper", "ejour": "paper", "jfull": "paper", "abst": "paper", "conf": "paper", "cpaper": "paper",
    "inpr": "paper", "unpb": "paper", "mgzn": "news", "news": "news",
    "book": "book", "ebook": "book", "edbook": "book", "chap": "chapter", "echap": "chapter",
    "thes": "thesis", "rprt": "report", "gov": "report", "comp": "software", "data": "dataset",
    "aggr": "dataset", "gen": "other", "video": "video", "mpct": "video", "sound": "audio", "music": "audio",
    "slide": "talk", "stand": "official-doc", "blog": "blog", "web": "web", "pat": "patent",
    "case": "legal", "stat": "legal", "bill": "legal", "hear": "legal", "legal": "legal",
}
_CITED_LIST = "References:"  # Scopus appends the work's whole bibliography to N1 (43,094 characters)
_RECORD_START = re.compile(r"TY  -")
_RECORD_END = re.compile(r"ER  -")


def parse_ris(text: str, path: Path, key: str | None = None) -> list[Reference]:
    path = Path(path)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    records = _parser_class()(enforce_list_tags=False).parse_lines(iter(lines))
    starts = _record_lines(lines)
    key, ids, references = key or page_key(path), IdAllocator(), []
    for record, line in zip(records, starts):
        reference = _reference(record, path, line, key, ids)
        if reference is not None:
            references.append(reference)
    return references


def _record_lines(lines: list[str]) -> list[int]:
    """1-based line of each complete record's `TY` tag, in the order rispy returns the records."""
    starts, start = [], None
    for number, line in enumerate(lines, start=1):
        if start is None and _RECORD_START.match(line):
            start = number
        elif start is not None and _RECORD_END.match(line):
            starts.append(start)
            start = None
    return starts


@functools.cache
def _parser_class():
    """Built on first use, so that rispy is imported only when a RIS file is read."""
    import rispy

    class Parser(rispy.RisParser):
        """rispy, tolerant of a continuation line after a repeated tag (its value is then a list)."""

        def _add_single_value(self, record: dict, name: str, value: Any, is_multi: bool = False) -> None:
            if is_multi and isinstance(record.get(name), list) and isinstance(value, str):
                record[name][-1] = f"{record[name][-1]} {value}"
            elif is_multi and name not in record:
                record[name] = value
            else:
                super()._add_single_value(record, name, value, is_multi)

    return Parser


def _reference(record: dict[str, Any], path: Path, line: int, key: str, ids: IdAllocator) -> Reference | None:
    def first(*names: str) -> str | None:
        return next((value for name in names if (value := clean(" ".join(_texts(record.get(name)))))), None)

    title = first("title", "primary_title", "translated_title", "short_title")
    if not title:
        warn(path, line, "skipped a record without a title (TI or T1)")
        return None
    urls = _texts(record.get("urls"))
    abstracts = [clean(text) for name in ("abstract", "notes_abstract") for text in _texts(record.get(name))]
    notes = _notes(_texts(record.get("notes")))
    authors = [inverted_name(name) for field in ("authors", "first_authors") for name in _texts(record.get(field))
               if not is_et_al(name)]
    url = urls[0].strip() if urls else None
    source_type = first("type_of_reference") or ""
    return Reference(
        id=ids.new(key, title),
        title=title,
        page=key,
        url=url,
        year=year_in(first("year", "publication_year", "date")),
        kind=kind_for(source_type, url, KINDS),
        authors=tuple(dict.fromkeys(name for name in authors if name)),
        note=" · ".join(dict.fromkeys(note for note in notes if note)) or None,
        abstract="\n".join(dict.fromkeys(text for text in abstracts if text)) or None,
        venue=first("secondary_title", "journal_name", "alternate_title1", "alternate_title3", "alternate_title2"),
        doi=doi_of(first("doi")),
        tags=tuple(dict.fromkeys(tag for text in _texts(record.get("keywords")) if (tag := clean(text)))),
        extra={**raw_type(source_type), **_isbn(_texts(record.get("issn")))},
        source=f"{path}:{line}",
    )


def _isbn(numbers: list[str]) -> dict[str, str]:
    """RIS keeps ISBNs and ISSNs in one tag (`SN`); an ISBN has 10 or 13 digits, an ISSN 8."""
    isbn = next((number.strip() for number in numbers if len(re.sub(r"[^0-9Xx]", "", number)) in (10, 13)), None)
    return {"isbn": isbn} if isbn else {}


def _notes(values: list[str]) -> list[str | None]:
    """N1 values up to the cited-reference list (its continuation lines arrive as further values)."""
    notes = []
    for value in values:
        if value.lstrip().startswith(_CITED_LIST):
            break
        notes.append(clean(value))
    return notes


def _texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(item) for item in value if item]
    return [str(value)]
