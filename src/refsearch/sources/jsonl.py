"""JSON Lines sources: one reference object per line (docs/schema.md).

Known fields map onto `Reference`; every other field is kept in `extra` untouched, so datasets such
as BEIR corpora (`_id`, `title`, `text`, `metadata`) index without conversion.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from refsearch.errors import SourceError
from refsearch.records import IdAllocator, Reference, page_key
from refsearch.sources.common import checked_year, doi_of

_KNOWN = {"id", "_id", "title", "note", "text", "url", "year", "kind", "author", "authors", "topic", "tags",
          "abstract", "venue", "doi"}


def parse_jsonl(text: str, path: Path) -> list[Reference]:
    page = page_key(Path(path))
    rows = list(_objects(text, path))
    ids = IdAllocator(given for n, obj in rows if (given := _given_id(obj, path, n)))
    return [_reference(obj, page, path, n, ids) for n, obj in rows]


def _objects(text: str, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as exc:
            message = f"not valid JSON ({_reason(exc)}); each line must hold one JSON object"
            raise SourceError(path, n, message) from None
        if not isinstance(obj, dict):
            raise SourceError(path, n, f"expected a JSON object {{...}}, found {_json_type(obj)}")
        if "\\u" in line and not _encodable(obj):
            raise SourceError(path, n, "contains an invalid \\u escape (a lone surrogate); fix the text")
        yield n, obj


def _encodable(obj: dict[str, Any]) -> bool:
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _reason(exc: Exception) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"


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
        tags=_strings(obj.get("tags"), "tags", path, n),
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
