"""Results back out: references written as BibTeX, RIS or CSL-JSON, for a reference manager.

Written with the libraries that read them (bibtexparser, rispy, json), so what a manager imports is
what they parse. The annotation travels in the note field (BibTeX `note`, RIS `N1`, CSL `note`).
A reference read from a manager's export keeps its citation key and its raw entry type when that
type is one of the format's own (`extra["key"]`, `extra["type"]`); any other gets the format's type
for its kind and a key made from its short id. Authors are written as the display names refsearch
keeps ("Ilya Sutskever", "王小明"): BibTeX reads "First Last" as it reads "Last, First"; CSL gets
`literal` names, which every CSL processor accepts, rather than a guessed family/given split.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from .errors import RefsearchError
from .params import EXPORTS
from .records import Reference

FORMATS = EXPORTS  # declared with the parameters that take them (params.py)
MEDIA_TYPES = {"bibtex": "application/x-bibtex; charset=utf-8", "ris": "application/x-research-info-systems; charset=utf-8",
               "csl-json": "application/vnd.citationstyles.csl+json"}  # what the HTTP API sends each as

# our kind -> (BibTeX type, RIS type, CSL type)
_TYPES = {
    "paper": ("article", "JOUR", "article-journal"), "book": ("book", "BOOK", "book"),
    "chapter": ("incollection", "CHAP", "chapter"), "thesis": ("phdthesis", "THES", "thesis"),
    "report": ("techreport", "RPRT", "report"), "web": ("misc", "ELEC", "webpage"),
    "blog": ("misc", "BLOG", "post-weblog"), "official-doc": ("manual", "GEN", "document"),
    "software": ("misc", "COMP", "software"), "repo": ("misc", "COMP", "software"),
    "dataset": ("misc", "DATA", "dataset"), "video": ("misc", "VIDEO", "motion_picture"),
    "talk": ("misc", "SLIDE", "speech"), "news": ("article", "NEWS", "article-newspaper"),
    "legal": ("misc", "CASE", "legal_case"), "patent": ("misc", "PAT", "patent"),
}
_FALLBACK = ("misc", "GEN", "document")
_BIBTEX_TYPES = {"article", "book", "booklet", "inbook", "incollection", "inproceedings", "manual", "mastersthesis",
                 "misc", "phdthesis", "proceedings", "techreport", "unpublished", "online", "software", "dataset",
                 "thesis", "report", "collection", "conference"}
_CSL_TYPES = {"article", "article-journal", "article-magazine", "article-newspaper", "bill", "book", "broadcast",
              "chapter", "dataset", "document", "entry", "entry-dictionary", "entry-encyclopedia", "legal_case",
              "legislation", "manuscript", "motion_picture", "paper-conference", "patent", "post", "post-weblog",
              "report", "review", "software", "speech", "standard", "thesis", "webpage"}


def export(refs: Iterable[Reference], fmt: str) -> str:
    """`refs` as one file's text in `fmt` (one of FORMATS)."""
    refs = list(refs)
    if fmt == "bibtex":
        return _bibtex(refs)
    if fmt == "ris":
        return _ris(refs)
    if fmt == "csl-json":
        return json.dumps([_csl(ref) for ref in refs], ensure_ascii=False, indent=1) + "\n"
    raise RefsearchError(f"--format {fmt!r}: export formats are {', '.join(FORMATS)}.")


def _types(ref: Reference) -> tuple[str, str, str]:
    return _TYPES.get((ref.kind or "").split("/")[0], _FALLBACK)


def _key(ref: Reference) -> str:
    """The citation key: the one the manager gave, else the short id as a BibTeX key can hold it."""
    return ref.cite_key or re.sub(r"[^\w:.-]+", "-", ref.id.partition("/")[2] or ref.id).strip("-") or "ref"


def _bibtex(refs: list[Reference]) -> str:
    import bibtexparser
    from bibtexparser.model import Entry, Field

    library = bibtexparser.Library()
    keys: dict[str, int] = {}
    for ref in refs:
        raw = str(ref.extra.get("type") or "").lower()
        entry_type = raw if raw in _BIBTEX_TYPES else _types(ref)[0]
        venue_field = "booktitle" if entry_type in ("inproceedings", "incollection", "conference") else "journal"
        values = {"title": ref.title, "author": " and ".join(ref.authors), "year": ref.year,
                  venue_field: ref.venue, "doi": ref.doi, "url": ref.url, "abstract": ref.abstract,
                  "keywords": ", ".join(ref.tags), "note": _annotation(ref)}
        key = _key(ref)
        keys[key] = keys.get(key, 0) + 1
        key = key if keys[key] == 1 else f"{key}-{keys[key]}"  # two works with one key stay two entries
        library.add(Entry(entry_type, key, [Field(name, _braced(str(value))) for name, value in values.items() if value]))
    return bibtexparser.write_string(library)


def _braced(value: str) -> str:
    """A value BibTeX can hold between braces: unbalanced braces become parentheses."""
    depth = 0
    for char in value:
        depth += (char == "{") - (char == "}")
        if depth < 0:
            break
    return value if depth == 0 else value.replace("{", "(").replace("}", ")")


def _ris(refs: list[Reference]) -> str:
    import rispy
    from rispy.writer import RisWriter

    class Writer(RisWriter):
        def set_header(self, count: int) -> str:  # rispy numbers records ("1."); managers expect none
            return ""

    records = []
    for ref in refs:
        record = {"type_of_reference": _types(ref)[1], "id": _key(ref), "title": ref.title,
                  "authors": list(ref.authors), "year": str(ref.year) if ref.year else None,
                  "secondary_title": ref.venue, "doi": ref.doi, "urls": [ref.url] if ref.url else [],
                  "abstract": ref.abstract, "keywords": list(ref.tags),
                  "notes": _ris_notes(ref)}
        records.append({name: value for name, value in record.items() if value})
    return rispy.dumps(records, implementation=Writer).lstrip("\n")


def _ris_notes(ref: Reference) -> list[str]:
    """The note and its gloss as N1 fields of one line each: a RIS field ends at its line's end, so
    a reader kept only a note's first line (and no gloss)."""
    return [" ".join(text.split()) for text in (ref.note, ref.note_en) if text and text.strip()]


def _csl(ref: Reference) -> dict:
    raw = str(ref.extra.get("type") or "")
    item = {"id": _key(ref), "type": raw if raw in _CSL_TYPES else _types(ref)[2], "title": ref.title,
            "author": [{"literal": name} for name in ref.authors],
            "issued": {"date-parts": [[ref.year]]} if ref.year else None, "container-title": ref.venue,
            "DOI": ref.doi, "URL": ref.url, "abstract": ref.abstract, "keyword": ", ".join(ref.tags),
            "note": _annotation(ref)}
    return {name: value for name, value in item.items() if value}


def _annotation(ref: Reference) -> str | None:
    """The user's words: the note, and its English gloss when there is one."""
    return "\n".join(text for text in (ref.note, ref.note_en) if text) or None
