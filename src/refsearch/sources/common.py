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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from refsearch.errors import SourceError
from refsearch.records import KINDS, Reference, kind_name

YEARS = range(1000, 2101)
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_LINE_CHARS = 1024 * 1024
MAX_FIELD_CHARS = {"title": 1_000, "note": 20_000, "note_en": 20_000, "abstract": 100_000, "venue": 1_000,
                   "url": 10_000, "doi": 1_000}
MAX_AUTHORS = 10_000  # physics collaborations sign with over 3,000 (arXiv astro-ph)

_YEAR_IN_TEXT = re.compile(r"(?<![0-9])([0-9]{4})(?![0-9])")


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


def kind_for(source_type: str, url: str | None, kinds: dict[str, str]) -> str:
    """Our kind (records.KINDS) for an exporter's entry type; a type we do not know is "other" (the
    reader keeps the raw type in `extra["type"]`, so `ser` or `nameonly` never reach a result list).

    A `misc`/`online` entry with a URL is a web page; without one it says nothing, so it is "other".
    """
    name = source_type.strip().lower()
    if name in kinds:
        return kinds[name]
    if name in ("misc", "online", "electronic", "www", "webpage", "post-weblog", "elec", "icomm"):
        return "web" if url else "other"
    return kind_name(name) if kind_name(name) in KINDS else "other"


def raw_type(source_type: str | None) -> dict[str, str]:
    """The exporter's own type, kept beside our kind (an `extra` entry), when it says more than the kind."""
    name = (source_type or "").strip()
    return {"type": name} if name else {}


_CJK_NAME = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_ET_AL = re.compile(r"(?:et\.?\s*al\.?|and\s+others|others|u\.\s*a\.|等人?)", re.IGNORECASE)
_ET_AL_TAIL = re.compile(r"\s+(?:et\.?\s*al\.?|等人?)\s*$", re.IGNORECASE)


def person(family: str | None, given: str | None) -> str | None:
    """A display name, given name first ("Ilya Sutskever"); a Chinese, Japanese or Korean name keeps
    its order and takes no space ("王小明"), as its owner writes it."""
    family, given = clean(family), clean(given)
    if not family or not given:
        return family or given
    if _CJK_NAME.search(family) or _CJK_NAME.search(given):
        return family + given
    return f"{given} {family}"


def is_et_al(name: str) -> bool:
    """"et al.", "and others", "等": a list's way of saying there are more authors, not an author."""
    return bool(_ET_AL.fullmatch(name.strip(" ,.;")))


def inverted_name(name: str) -> str | None:
    """One name as exporters write it: "Last, First" (RIS, BibTeX) turned round; anything else as is."""
    family, comma, given = name.partition(",")
    if comma and "," not in given and not is_et_al(given):
        return person(family, given)
    return clean(name)


def author_list(text: str) -> tuple[str, ...]:
    """Authors written in running text ("A. Author, B. Author and C. Author", "Sutskever, Ilya, et
    al."): "et al." is dropped, and a list of single (Latin) words in pairs is read as "Last, First"
    pairs; Chinese names are single words that need no pairing ("张三, 李四")."""
    parts = [_ET_AL_TAIL.sub("", part).strip(" ,.;") for part in re.split(r",\s*|\s+and\s+|;\s*|\s*&\s*", text)]
    parts = [part for part in parts if part and not is_et_al(part)]
    if len(parts) % 2 == 0 and all(" " not in part and not _CJK_NAME.search(part) for part in parts):
        parts = [person(family, given) for family, given in zip(parts[::2], parts[1::2])]
    return tuple(dict.fromkeys(part for part in parts if part))


def stand_in_title(authors: Sequence[str], year: int | None, venue: str | None) -> str | None:
    """For untitled entries (physics and APA libraries hold `Author, Journal, 1953, vol, page`; Zotero
    items saved without a title): what a citation would show, so the entry stays findable instead of
    being dropped."""
    if not authors and not venue:
        return None
    names = ", ".join(authors[:3]) + (" et al." if len(authors) > 3 else "")
    return " · ".join(str(part) for part in (names, year, venue) if part)


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
