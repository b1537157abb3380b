"""Helpers every parser shares: sane years, DOIs, kinds, warnings and limits on what one entry holds.

The limits exist so that a broken or hostile file fails fast with a message instead of filling the
index with megabytes of one "title": they are far above anything the shared real libraries hold
(longest title 437 characters, longest abstract 9,863; docs/schema.md lists them).
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path
from typing import Any

from refsearch.errors import SourceError
from refsearch.records import Reference

YEARS = range(1000, 2101)
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_LINE_CHARS = 1024 * 1024
MAX_FIELD_CHARS = {"title": 1_000, "note": 20_000, "note_en": 20_000, "abstract": 100_000, "venue": 1_000,
                   "url": 10_000, "doi": 1_000}
MAX_AUTHORS = 10_000  # physics collaborations sign with over 3,000 (arXiv astro-ph)

_YEAR_IN_TEXT = re.compile(r"(?<![0-9])([0-9]{4})(?![0-9])")
_DOI = re.compile(r"10\.[0-9]{4,9}/\S+")


class SourceWarning(UserWarning):
    """Something a parser read past on purpose (a broken entry, a `javascript:` bookmark).

    Raised through `warnings.warn`, so parsers keep their one-list signature and `read_sources`
    collects the messages for the build report.
    """


def warn(path: Path | str, line: int | None, message: str) -> None:
    where = f"{path}:{line}" if line else str(path)
    warnings.warn(SourceWarning(f"{where}: {message}"), stacklevel=2)


def year_in(text: str | None) -> int | None:
    """The first plausible year in free text ("2019-03-01", "Spring 1998", "forthcoming": None).

    Imported formats get years out of dates people and exporters write in many ways; a year outside
    `YEARS` there is a typo or a placeholder, so it is dropped rather than stopping the whole file.
    """
    for match in _YEAR_IN_TEXT.finditer(text or ""):
        if int(match[1]) in YEARS:
            return int(match[1])
    return None


def checked_year(value: int, path: Path | str, line: int | None) -> int:
    """A year the user typed as a number in our own formats: out of range is refused, not guessed."""
    if value not in YEARS:
        raise SourceError(path, line, f"year {value} is outside {YEARS.start}..{YEARS.stop - 1}; fix the year")
    return value


def doi_of(text: str | None) -> str | None:
    """A DOI in canonical lower case, from `10.x/y`, `doi:10.x/y` or a doi.org URL."""
    match = _DOI.search(text or "")
    return match[0].rstrip(".,;").lower() if match else None


def kind_for(source_type: str, url: str | None, kinds: dict[str, str]) -> str:
    """Our kind for an exporter's entry type; unknown types are kept lower-cased, as YAML kinds are.

    A `misc`/`online` entry with a URL is a web page; without one it says nothing, so it is "other".
    """
    name = source_type.strip().lower()
    if name in kinds:
        return kinds[name]
    if name in ("misc", "online", "electronic", "www", "webpage", "post-weblog", "elec", "icomm"):
        return "web" if url else "other"
    return name or "other"


def clean(text: str | None) -> str | None:
    """Whitespace collapsed; empty becomes None."""
    joined = " ".join((text or "").split())
    return joined or None


def reading_problem(error: Exception) -> str:
    """Why a JSON or YAML reader refused a value, in a few words on one line (a 5,000-digit number
    hits Python's limit on the digits of an int, whose message tells a programmer what to do)."""
    if isinstance(error, json.JSONDecodeError):
        return error.msg
    if isinstance(error, RecursionError):
        return "nested too deeply"
    if "integer string conversion" in str(error):
        return f"a number of over {sys.get_int_max_str_digits():,} digits"
    return " ".join(str(error).split())[:120] or type(error).__name__


def encodable(value: Any) -> bool:
    """Whether decoded JSON holds only text that UTF-8 can write: a `\\ud800` escape decodes to a
    lone surrogate, which fails much later (writing the index) with a traceback."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_reference(ref: Reference) -> None:
    """Refuse an entry whose fields exceed the limits, naming the entry's line."""
    path, _, line = ref.source.rpartition(":")
    where = (path or ref.source, int(line) if line.isdigit() else None)
    for name, limit in MAX_FIELD_CHARS.items():
        value = getattr(ref, name)
        if value and len(value) > limit:
            raise SourceError(*where, f"{name} is {len(value):,} characters long (limit {limit:,}); "
                                      "is a closing quote or bracket missing?")
    if len(ref.authors) > MAX_AUTHORS:
        raise SourceError(*where, f"{len(ref.authors):,} authors (limit {MAX_AUTHORS:,}); "
                                  "check the author list's separators")
