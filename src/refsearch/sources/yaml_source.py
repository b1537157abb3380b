"""The project YAML format, `format: refsearch/references@1` (docs/schema.md).

The file is composed into YAML nodes with the safe loader and validated node by node, so that every
message can name the line the user wrote. Text fields are taken as written (`title: 1984` stays the
string "1984", `author: yes` stays "yes"); only `year` is read as a number. Aliases are refused:
the format has no use for them, and refusing them rules out self-referencing or exponentially
expanding documents.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from refsearch.errors import SourceError
from refsearch.records import IdAllocator, Reference, doi_of, page_key
from refsearch.sources.common import checked_year

FORMAT = "refsearch/references@1"
PAGE_KEYS = ("format", "page", "page_en", "key", "notes", "topics")
NOTE_KEYS = ("text", "text_en")
TOPIC_KEYS = ("name", "name_en", "references", "topics")
REFERENCE_KEYS = ("title", "year", "kind", "author", "url", "note", "note_en", "tags", "id", "abstract", "venue",
                  "doi")
_NULL_TAG = "tag:yaml.org,2002:null"

TopicPath = tuple[tuple[str, str | None], ...]


def parse_yaml(text: str, path: Path, key: str | None = None) -> list[Reference]:
    path = Path(path)
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, path) from None
    try:
        return _Reader(loader, text, path).page(key or page_key(path))
    except RecursionError:
        raise SourceError(path, None, "YAML nested too deeply; flatten the structure") from None
    finally:
        loader.dispose()


def _yaml_error(exc: yaml.YAMLError, text: str, path: Path) -> SourceError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(filter(None, (exc.context, exc.problem))) or "syntax error"
        syntax = isinstance(exc, (yaml.scanner.ScannerError, yaml.parser.ParserError))
        hint = "; check the indentation and quoting here" if syntax else ""
        return SourceError(path, mark.line + 1 if mark else None, f"invalid YAML: {_one_line(problem)}{hint}")
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        return SourceError(path, line, f"invalid YAML: {_one_line(exc.reason)} (character code {exc.character:#x})")
    return SourceError(path, None, f"invalid YAML: {_one_line(str(exc))}")


def _line(node: Node) -> int:
    return node.start_mark.line + 1


class _Reader:
    """Walks the composed node tree, turning each schema violation into a located SourceError."""

    def __init__(self, loader: yaml.SafeLoader, text: str, path: Path):
        self.loader = loader
        self.text_source = text
        self.path = path
        self.visited: set[int] = set()

    def error(self, node: Node | None, message: str) -> SourceError:
        return SourceError(self.path, _line(node) if node is not None else None, message)

    def page(self, file_key: str) -> list[Reference]:
        root = self.compose()
        if root is None:
            raise SourceError(self.path, 1, f"empty file; a refsearch YAML file starts with 'format: {FORMAT}'")
        if isinstance(root, MappingNode):  # the format first: another kind of file gets the plainest message
            self.check_format(root, next((v for k, v in root.value if k.value == "format"), None))
        fields = self.mapping(root, PAGE_KEYS, "the page")
        page = self.required_text(root, fields, "page", "the page")
        self.optional_text(fields.get("page_en"), "page_en")
        key = self.optional_text(fields.get("key"), "key") or file_key
        for note in self.sequence(fields.get("notes"), "notes"):
            note_fields = self.mapping(note, NOTE_KEYS, "a note")
            self.required_text(note, note_fields, "text", "a note")
            self.optional_text(note_fields.get("text_en"), "text_en")
        drafts = list(self.topics(fields.get("topics"), ()))
        ids = IdAllocator(draft["id"] for draft in drafts if draft["id"])
        for draft in drafts:
            draft["id"] = draft["id"] or ids.new(key, draft["title"])
        return [Reference(page=page, **draft) for draft in drafts]

    def compose(self) -> Node | None:
        try:
            return self.loader.get_single_node()
        except yaml.YAMLError as exc:
            raise _yaml_error(exc, self.text_source, self.path) from None

    def check_format(self, root: Node, node: Node | None) -> None:
        if node is None:
            raise self.error(root, f"missing 'format: {FORMAT}'; add it as the first line")
        value = self.optional_text(node, "format")
        if value != FORMAT:
            raise self.error(node, f"unsupported format {value!r}; this version reads 'format: {FORMAT}'")

    def topics(self, node: Node | None, path: TopicPath) -> Iterator[dict[str, Any]]:
        for topic in self.sequence(node, "topics"):
            fields = self.mapping(topic, TOPIC_KEYS, "a topic")
            name = self.required_text(topic, fields, "name", "a topic")
            here = (*path, (name, self.optional_text(fields.get("name_en"), "name_en")))
            for ref in self.sequence(fields.get("references"), "references"):
                yield self.reference(ref, here)
            yield from self.topics(fields.get("topics"), here)

    def reference(self, node: Node, path: TopicPath) -> dict[str, Any]:
        fields = self.mapping(node, REFERENCE_KEYS, "a reference")
        keys = ("kind", "author", "url", "note", "note_en", "id", "abstract", "venue", "doi")
        text = {key: self.optional_text(fields.get(key), key) for key in keys}
        glossed = any(name_en for _, name_en in path)
        return {
            "id": text["id"],
            "title": self.required_text(node, fields, "title", "a reference"),
            "topic": tuple(name for name, _ in path),
            "topic_en": tuple(name_en or name for name, name_en in path) if glossed else (),
            "url": text["url"],
            "year": self.year(fields.get("year")),
            "kind": text["kind"].lower() if text["kind"] else None,
            "authors": (text["author"],) if text["author"] else (),
            "note": text["note"],
            "note_en": text["note_en"],
            "abstract": text["abstract"],
            "venue": text["venue"],
            "doi": doi_of(text["doi"]),
            "tags": self.tags(fields.get("tags")),
            "source": f"{self.path}:{_line(node)}",
        }

    def enter(self, node: Node) -> None:
        if id(node) in self.visited:
            raise self.error(node, "this value is reused through a YAML alias (*name); write it out in full")
        self.visited.add(id(node))

    def mapping(self, node: Node, allowed: tuple[str, ...], what: str) -> dict[str, Node]:
        if not isinstance(node, MappingNode):
            raise self.error(node, f"{what} must be a mapping of 'key: value' lines, found {_kind(node)}")
        self.enter(node)
        fields: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if key not in allowed:
                shown = repr(key) if key is not None else "a non-text key"
                raise self.error(key_node, f"unknown key {shown} in {what}; allowed: {', '.join(allowed)}")
            if key in fields:
                raise self.error(key_node, f"duplicate key {key!r} in {what}")
            fields[key] = value_node
        return fields

    def sequence(self, node: Node | None, key: str) -> list[Node]:
        if node is None or _is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            raise self.error(node, f"'{key}' must be a list ('- ...' items), found {_kind(node)}")
        self.enter(node)
        return list(node.value)

    def optional_text(self, node: Node | None, key: str) -> str | None:
        if node is None or _is_null(node):
            return None
        if not isinstance(node, ScalarNode):
            raise self.error(node, f"'{key}' must be text, found {_kind(node)}")
        try:
            node.value.encode("utf-8")
        except UnicodeEncodeError:
            raise self.error(node, f"'{key}' contains an invalid \\u escape (a lone surrogate)") from None
        return node.value.strip() or None

    def required_text(self, owner: Node, fields: dict[str, Node], key: str, what: str) -> str:
        value = self.optional_text(fields.get(key), key)
        if value is None:
            raise self.error(fields.get(key) or owner, f"{what} has no '{key}'; add '{key}: ...'")
        return value

    def year(self, node: Node | None) -> int | None:
        if node is None or _is_null(node):
            return None
        try:
            value = self.loader.construct_object(node) if isinstance(node, ScalarNode) else None
        except (yaml.YAMLError, ValueError):
            value = None
        if not isinstance(value, int) or isinstance(value, bool):
            shown = _short(node.value) if isinstance(node, ScalarNode) else _kind(node)
            raise self.error(node, f"'year' must be a whole number like 2019, found {shown}")
        return checked_year(value, self.path, _line(node))

    def tags(self, node: Node | None) -> tuple[str, ...]:
        items = self.sequence(node, "tags")
        return tuple(tag for item in items if (tag := self.optional_text(item, "tags")))


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL_TAG


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return f"{_short(node.value)}"


def _short(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
