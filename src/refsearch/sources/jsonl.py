"""JSON Lines sources: one reference object per line (docs/schema.md), plain or gzip-compressed.

Known fields map onto `Reference`; every other field is kept in `extra` untouched, so datasets such
as BEIR corpora (`_id`, `title`, `text`, `metadata`) index without conversion. `categories` and
`keywords` (arXiv listings, paper lists) become tags.

A JSON Lines file can be a whole library (184,000 papers, 289 MB): `stream_jsonl` reads it line by
line, decompressing `.jsonl.gz` on the fly, so a build holds one line at a time, not the file.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from refsearch.errors import SourceError
from refsearch.records import IdAllocator, Reference, doi_of, page_key
from refsearch.sources.common import MAX_LINE_CHARS, check_reference, checked_year, encodable, reading_problem

_KNOWN = {"id", "_id", "title", "note", "text", "url", "year", "kind", "author", "authors", "topic", "tags",
          "abstract", "venue", "doi", "categories", "keywords"}


def parse_jsonl(text: str, path: Path, key: str | None = None) -> list[Reference]:
    rows = list(_objects(enumerate(text.split("\n"), start=1), path))
    reserved = {given for n, obj in rows if (given := _given_id(obj, path, n))}
    return [ref for _, ref in _references(rows, path, reserved, key=key)]


def stream_jsonl(path: Path, reserved: set[str] | None = None, skipped: list[str] | None = None,
                 key: str | None = None) -> Iterator[tuple[str | None, Reference]]:
    """(id given in the file or None, reference) per line, reading the file as a stream.

    Ids for lines without one are made from titles and must avoid every id the file gives, so a
    caller reads the file twice: once with `reserved` None to learn the given ids, then with them.
    Lines with nothing to search (no title and no text) are passed over, noted in `skipped`.
    """
    return _references(_objects(_lines(path), path), path, reserved or set(), skipped, key)


def _references(rows: Iterable[tuple[int, dict[str, Any]]], path: Path, reserved: set[str],
                skipped: list[str] | None = None, key: str | None = None) -> Iterator[tuple[str | None, Reference]]:
    ids, page = IdAllocator(reserved), key or page_key(Path(path))
    for n, obj in rows:
        if _empty(obj):
            if skipped is not None:
                skipped.append(f"{path}:{n}: skipped an entry with no title and no text")
            continue
        ref = _reference(obj, page, path, n, ids)
        check_reference(ref)
        yield _given_id(obj, path, n), ref


def _empty(obj: dict[str, Any]) -> bool:
    """An entry with nothing to search: datasets have some (90 of the 184,549 benchmark papers)."""
    return all(obj.get(key) is None or (isinstance(obj[key], str) and not obj[key].strip())
               for key in ("title", "note", "text", "abstract"))


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered lines of a (gzip-compressed) UTF-8 file, each read in bounded pieces."""
    try:
        handle = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")
        with handle:
            for n, raw in enumerate(iter(lambda: handle.readline(MAX_LINE_CHARS * 4 + 1), b""), start=1):
                if len(raw) > MAX_LINE_CHARS * 4:
                    raise SourceError(path, n, f"line is over {MAX_LINE_CHARS * 4:,} bytes; is this JSON Lines?")
                if b"\x00" in raw:
                    raise SourceError(path, n, "binary file (contains NUL bytes); expected UTF-8 text")
                try:
                    yield n, raw.decode("utf-8").removeprefix("\ufeff" if n == 1 else "")
                except UnicodeDecodeError as exc:
                    raise SourceError(path, n, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}); re-save the file as UTF-8") from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SourceError(path, None, f"cannot read file: {getattr(exc, 'strerror', None) or exc}") from None


def _objects(lines: Iterable[tuple[int, str]], path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for n, line in lines:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as exc:
            message = f"not valid JSON ({reading_problem(exc)}); each line must hold one JSON object"
            raise SourceError(path, n, message) from None
        if not isinstance(obj, dict):
            raise SourceError(path, n, f"expected a JSON object {{...}}, found {_json_type(obj)}")
        if "\\u" in line and not encodable(obj):
            raise SourceError(path, n, "contains an invalid \\u escape (a lone surrogate); fix the text")
        yield n, obj


def _reference(obj: dict[str, Any], page: str, path: Path, n: int, ids: IdAllocator) -> Reference:
    def text(key: str) -> str | None:
        return _text(obj.get(key), key, path, n)

    if obj.get("title") is not None and not isinstance(obj["title"], str):
        raise SourceError(path, n, f'"title" must be a string, found {_json_type(obj["title"])}')
    title = (text("title") or "").strip()
    if not title:
        raise SourceError(path, n, 'missing "title"; every reference needs a non-empty title')
    given_id = _given_id(obj, path, n)
    note_key = "note" if obj.get("note") is not None else "text"
    extra = {k: v for k, v in obj.items() if k not in _KNOWN}
    if note_key == "note" and obj.get("text") is not None:
        extra["text"] = obj["text"]
    if obj.get("id") is not None and obj.get("_id") is not None:
        extra["_id"] = obj["_id"]
    kind = text("kind")
    return Reference(
        id=given_id or ids.new(page, title),
        title=title,
        page=page,
        topic=_strings(obj.get("topic"), "topic", path, n),
        url=text("url"),
        year=_year(obj.get("year"), path, n),
        kind=kind.lower() if kind else None,
        authors=_strings(obj.get("authors"), "authors", path, n) or tuple(filter(None, [text("author")])),
        note=text(note_key),
        abstract=text("abstract"),
        venue=text("venue"),
        doi=doi_of(text("doi")),
        tags=tuple(dict.fromkeys(tag for key in ("tags", "categories", "keywords")
                                 for tag in _strings(obj.get(key), key, path, n))),
        extra=extra,
        source=f"{path}:{n}",
    )


def _given_id(obj: dict[str, Any], path: Path, n: int) -> str | None:
    key = "id" if obj.get("id") is not None else "_id"
    return _text(obj.get(key), key, path, n)


def _text(value: Any, key: str, path: Path, n: int) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise SourceError(path, n, f'"{key}" must be a string, found {_json_type(value)}')


def _strings(value: Any, key: str, path: Path, n: int) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(v for v in value if v)
    raise SourceError(path, n, f'"{key}" must be a string or a list of strings')


def _year(value: Any, path: Path, n: int) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return checked_year(value, path, n)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return checked_year(int(value), path, n)
    raise SourceError(path, n, f'"year" must be a whole number like 2019, found {_short(value)}')


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    names = {dict: "an object", list: "an array", str: "a string"}
    return names.get(type(value), "a number")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
