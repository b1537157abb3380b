"""CSL-JSON (Zotero, Better CSL JSON, Manubot) and its CSL-YAML twin (`references:` list).

The JSON array is read item by item with `json.JSONDecoder.raw_decode`, so each reference keeps
the line its item starts on; the YAML is composed with PyYAML (libyaml when present) for the same
reason. `issued` may be date-parts (numbers or strings), a `literal` or `raw` string, an EDTF
string, or in YAML a list of `{year: ...}` or a date. Annotation: `note`; `abstract` apart;
`keyword` (comma-separated) are tags; no topic (a library export is flat; see bibtex.py).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from refsearch.errors import SourceError
from refsearch.records import IdAllocator, Reference, doi_of, page_key
from refsearch.sources.common import clean, encodable, is_et_al, kind_for, raw_type, reading_problem, warn, year_in
from refsearch.sources.common import person as person_name

KINDS = {
    "article-journal": "paper", "article": "paper", "paper-conference": "paper", "manuscript": "paper",
    "review": "paper", "review-book": "paper", "preprint": "paper",
    "article-magazine": "news", "article-newspaper": "news",
    "book": "book", "classic": "book", "chapter": "chapter", "entry": "chapter", "entry-encyclopedia": "chapter",
    "entry-dictionary": "chapter", "thesis": "thesis", "report": "report", "software": "software",
    "dataset": "dataset", "standard": "official-doc", "post-weblog": "blog", "post": "web", "webpage": "web",
    "motion_picture": "video", "broadcast": "video", "song": "audio", "speech": "talk", "presentation": "talk",
    "patent": "patent", "legal_case": "legal", "legislation": "legal", "bill": "legal", "regulation": "legal",
    "treaty": "legal", "hearing": "legal",
}


def parse_csl_json(text: str, path: Path, key: str | None = None) -> list[Reference]:
    path = Path(path)
    return _references(_json_items(text, path), path, key or page_key(path))


def parse_csl_yaml(text: str, path: Path, key: str | None = None) -> list[Reference]:
    path = Path(path)
    return _references(_yaml_items(text, path), path, key or page_key(path))


def _references(items, path: Path, key: str) -> list[Reference]:
    ids, references = IdAllocator(), []
    for item, line in items:
        if not isinstance(item, dict):
            raise SourceError(path, line, f"expected a CSL item (an object with a title), found {type(item).__name__}")
        reference = _reference(item, path, line, key, ids)
        if reference is not None:
            references.append(reference)
    return references


def _json_items(text: str, path: Path):
    decoder = json.JSONDecoder()
    position, line, counted = _skip_space(text, 0), 1, 0

    def line_at(at: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, at)
        counted = at
        return line

    if not text.startswith("[", position):
        raise SourceError(path, line_at(position), "expected a JSON array of CSL items ([{...}, ...])")
    position = _skip_space(text, position + 1)
    while not text.startswith("]", position):
        try:
            item, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise SourceError(path, error.lineno, f"not valid JSON ({error.msg})") from None
        except (ValueError, RecursionError) as error:
            raise SourceError(path, line_at(position), f"not valid JSON ({reading_problem(error)})") from None
        if text.find("\\u", position, end) >= 0 and not encodable(item):
            raise SourceError(path, line_at(position), "contains an invalid \\u escape (a lone surrogate); fix the text")
        yield item, line_at(position)
        position = _skip_space(text, end)
        if text.startswith(",", position):
            position = _skip_space(text, position + 1)
        elif not text.startswith("]", position):
            raise SourceError(path, line_at(position), "expected ',' or ']' after a CSL item")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _yaml_items(text: str, path: Path):
    import yaml
    from yaml.nodes import MappingNode, SequenceNode

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        root = yaml.compose(text, Loader=loader_class)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise SourceError(path, mark.line + 1 if mark else None, f"invalid YAML: {' '.join(str(error).split())[:200]}") from None
    items = None
    if isinstance(root, MappingNode):
        items = next((value for name, value in root.value if name.value == "references"), None)
    if not isinstance(items, SequenceNode):
        raise SourceError(path, 1, "expected CSL-YAML: a 'references:' list of items")
    constructor = loader_class("")
    for node in items.value:
        try:
            yield constructor.construct_document(node), node.start_mark.line + 1
        except (yaml.YAMLError, ValueError, TypeError) as error:  # a date like 2020-13-45, a 5,000-digit number
            raise SourceError(path, node.start_mark.line + 1, f"invalid CSL item ({reading_problem(error)})") from None


def _reference(item: dict[str, Any], path: Path, line: int, key: str, ids: IdAllocator) -> Reference | None:
    def text(name: str) -> str | None:
        value = item.get(name)
        if value is None or isinstance(value, str):
            return clean(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise SourceError(path, line, f'"{name}" must be text, found {type(value).__name__}')

    title = _title(item, path, line)
    if not title:
        warn(path, line, "skipped a CSL item without a title")
        return None
    url = text("URL")
    keywords = text("keyword") or ""
    return Reference(
        id=ids.new(key, title),
        title=title,
        page=key,
        url=url,
        year=_year(item.get("issued")),
        kind=kind_for(text("type") or "", url, KINDS),
        authors=_names(item.get("author") or item.get("editor")),
        note=text("note"),
        abstract=text("abstract"),
        venue=text("container-title") or text("event-title") or text("event"),
        doi=doi_of(text("DOI")),
        tags=tuple(dict.fromkeys(tag.strip() for tag in keywords.replace(";", ",").split(",") if tag.strip())),
        extra=_identifiers(item, text("type")),
        source=f"{path}:{line}",
    )


def _identifiers(item: dict[str, Any], source_type: str | None) -> dict[str, str]:
    """What `extra` keeps of an item: its id (the citation key, in Better CSL), its raw type, and the
    ids that name the work."""
    found = {"key": item["id"]} if isinstance(item.get("id"), str) else {}
    found.update(raw_type(source_type))
    for name, field in (("isbn", "ISBN"), ("pmid", "PMID"), ("pmcid", "PMCID")):
        if isinstance(item.get(field), (str, int)) and not isinstance(item.get(field), bool) and str(item[field]).strip():
            found[name] = str(item[field]).strip()
    return found


def _title(item: dict[str, Any], path: Path, line: int) -> str | None:
    title = item.get("title")
    if title is not None and not isinstance(title, str):
        raise SourceError(path, line, f'"title" must be text, found {type(title).__name__}')
    return clean(title)


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    names = []
    for person in value:
        if isinstance(person, dict):
            given, family = (" ".join(str(part) for part in parts if isinstance(part, (str, int)))
                             for parts in ([person.get("given")],
                                           [person.get(p) for p in ("non-dropping-particle", "family", "suffix")]))
            name = clean(person.get("literal")) or person_name(family, given)
        else:
            name = clean(str(person)) if isinstance(person, str) else None
        if name and not is_et_al(name):
            names.append(name)
    return tuple(names)


def _year(issued: Any) -> int | None:
    """The year of a CSL date in any of the shapes exporters write."""
    if isinstance(issued, (datetime.date, datetime.datetime)):
        return year_in(str(issued.year))
    if isinstance(issued, list):  # CSL-YAML: [{year: 2003, month: 1}]
        return next((year for part in issued if (year := _year(part))), None)
    if isinstance(issued, dict):
        parts = issued.get("date-parts")
        if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
            return year_in(str(parts[0][0]))
        for name in ("year", "literal", "raw"):
            if isinstance(issued.get(name), (str, int)) and not isinstance(issued.get(name), bool):
                return year_in(str(issued[name]))
        return None
    if isinstance(issued, (str, int)) and not isinstance(issued, bool):
        return year_in(str(issued))
    return None
