"""Markdown reference pages: the seed's wiki export, "awesome" lists and hand-written reading lists.

markdown-it-py (CommonMark plus tables, imported when a Markdown file is read) gives the structure,
with source line numbers: ATX and setext headings, nested lists whose items may be hard-wrapped
over several lines, tables, and the parts that are not content (fenced and indented code,
blockquotes, HTML comments). The inline content of what may be an entry (an item's lines, a cell, a
line of an HTML block) goes through markdown-it's inline parser, with the page's reference
definitions, and our rules (markdown_inline.py) read its tokens to decide which item, row or line
is a reference. Markdown has no syntax errors, so whatever is not understood is skipped.

Topics: headings by level, and lines ending in "¶" (the seed's wiki export: the first is the page
title, later ones are level-2 topics). The page title is the first H1 (or first ¶ line), else the
file stem; it is the `page`, not part of `topic`. A link-less list item with items nested under it
(awesome-python's "- Orchestration") adds a topic level for those items.

Beyond list items and table rows:
- an entry with no annotation of its own takes it from the link-less sub-items right under it
  (awesome-afl's `+ annotation` sub-bullets) or from the item's later paragraphs;
- reference-style links (`[Title][ref]` … `[ref]: url`) are links (markdown-it resolves them);
- `<a href="url">Name</a> - description` lines, in HTML blocks (the-book-of-secret-knowledge's
  `<p>` blocks) or in paragraphs, are entries; Markdown list lines inside an HTML block still are;
- paragraphs of numbered references (`**[3]** Author, "Title," Venue, 2019.`), one per line;
- `$$` display math is not content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from refsearch.records import IdAllocator, Reference, normalised_title, page_key
from refsearch.sources.markdown_inline import (
    Entry,
    item_entry,
    numbered_entry,
    row_entry,
)
from refsearch.sources.markdown_tokens import Inline, read_tokens

_LIST_LINE = re.compile(r"\s*(?:[-*+]|[0-9]{1,9}[.)])\s+(.*)")
_HTML_ITEM_LEAD = re.compile(r"^(?:\s|&nbsp;|&#160;|:[a-z0-9_+-]+:|[-*+•·])*", re.IGNORECASE)
_HTML_ITEM = re.compile(r"<a\s[^<>]*href[^<>]*>.*?</a\s*>\s*[-–—:：|]\s*\S", re.IGNORECASE)
_ANCHOR_LINE = re.compile(r"\s*[*_]*\[[^\]]*\]\(#[^)]*\)[*_]*\s*")
_SENTENCE_ENDS = tuple("。.!?！？")
_SHORTCODE = re.compile(r":[a-z0-9_+-]+:")  # GitHub emoji in headings (":black_small_square: Shells")
_NEWLINE = re.compile(r"\r\n?")
_FENCE = re.compile(r"\s{0,3}(`{3,}|~{3,})")
_ENTRY_FIELDS = [entry_field.name for entry_field in fields(Entry)]  # shallow: asdict's deep copy cost 50 µs an entry


@dataclass
class _Node:
    """A markdown-it block token with the tokens nested inside it."""

    type: str
    line: int  # 1-based line where the block starts
    content: str = ""
    level: int = 0
    children: list[_Node] = field(default_factory=list)


def parse_markdown(text: str, path: Path, key: str | None = None) -> list[Reference]:
    from markdown_it import MarkdownIt

    path = Path(path)
    env: dict = {}
    # Blocks first; inline content is parsed only where the rules read it (_Page.inline), because
    # which lines of an item, paragraph or HTML block belong to an entry is decided on the lines.
    parser = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).disable("inline")
    parser.normalizeLink = _as_written
    prepared = _prepared(_NEWLINE.sub("\n", text))  # markdown-it's line breaks, so our lines are its lines
    tree = _tree(parser.parse(prepared, env))
    return _Page(path, parser, env, prepared.split("\n"), key or page_key(path)).read(tree)


def _as_written(url: str) -> str:
    """A link's URL as the page wrote it (markdown-it would percent-encode "中" and spaces)."""
    return url


def _tree(tokens) -> list[_Node]:
    root = _Node("root", 0)
    stack = [root]
    for token in tokens:
        line = token.map[0] + 1 if token.map else stack[-1].line
        if token.nesting == 1:
            node = _Node(token.type, line, level=int(token.tag[1]) if token.tag[:1] == "h" and token.tag[1:].isdigit() else 0)
            stack[-1].children.append(node)
            stack.append(node)
        elif token.nesting == -1:
            stack.pop()
        else:
            stack[-1].children.append(_Node(token.type, line, token.content))
    return root.children


class _Page:
    def __init__(self, path: Path, parser, env: dict, lines: list[str], key: str):
        self.path = path
        self.lines = lines
        self.parser = parser
        self.env = env
        self.key = key
        self.page: str | None = None
        self.headings: list[tuple[int, str]] = []
        self.ids = IdAllocator()
        self.drafts: list[tuple[Entry, tuple[str, ...], int]] = []
        self.heading_names: set[str] = set()  # every heading of the page, normalised

    def read(self, tree: list[_Node]) -> list[Reference]:
        self.blocks(tree, ())
        page = self.page or self.key
        return [
            Reference(id=self.ids.new(self.key, entry.title), page=page, topic=topic,
                      source=f"{self.path}:{line}", **{name: getattr(entry, name) for name in _ENTRY_FIELDS})
            for entry, topic, line in self.drafts if not self.contents_entry(entry)
        ]

    def contents_entry(self, entry: Entry) -> bool:
        """A table of contents written with absolute links (`[Week 3](https://github.com/o/r#week-3)`):
        a link to a section anchor whose text is one of this page's headings is navigation."""
        return bool(entry.url and "#" in entry.url and normalised_title(entry.title) in self.heading_names)

    def add(self, entry: Entry, labels: tuple[str, ...], line: int) -> None:
        self.drafts.append((entry, tuple(name for _, name in self.headings) + labels, line))

    def inline(self, raw: str) -> Inline:
        """Inline source as the entry rules read it: markdown-it's inline tokens, with the page's
        reference definitions."""
        tokens: list = []
        self.parser.inline.parse(raw, self.parser, self.env, tokens)
        return read_tokens(tokens)

    # --- blocks -------------------------------------------------------------------------------

    def blocks(self, nodes: list[_Node], labels: tuple[str, ...]) -> None:
        for node in nodes:
            if node.type == "heading_open":
                self.heading(node.level, " ".join(_SHORTCODE.sub("", self.inline(_inline(node)).text).split()))
            elif node.type == "paragraph_open":
                self.paragraph(node, labels)
            elif node.type == "html_block":
                self.html_block(node, labels)
            elif node.type in ("bullet_list_open", "ordered_list_open"):
                self.items(node, labels)
            elif node.type == "table_open":
                self.table(node, labels)
            # blockquotes, code, fences, rules: not content

    def heading(self, level: int, text: str) -> None:
        if not text:
            return
        self.heading_names.add(normalised_title(text))
        if self.page is None and level == 1:
            self.page, self.headings = text, []
            return
        self.headings = [heading for heading in self.headings if heading[0] < level] + [(level, text)]

    def paragraph(self, node: _Node, labels: tuple[str, ...]) -> None:
        """Lines of a paragraph: numbered references (continued over wrapped lines), `<a href>`
        entries; anything else is prose."""
        current: tuple[list[str], int] | None = None
        for offset, line in enumerate(_inline(node).split("\n")):
            number = node.line + offset
            stripped = line.strip()
            if "[" in stripped and numbered_entry(self.inline(stripped)):  # "[3]" leads one: prose is not parsed
                self.flush(current, labels)
                current = ([stripped], number)
                continue
            elif current is not None and stripped:
                current[0].append(stripped)
                continue
            else:
                self.html_line(line, number, labels)
            self.flush(current, labels)
            current = None
        self.flush(current, labels)

    def flush(self, pending: tuple[list[str], int] | None, labels: tuple[str, ...]) -> None:
        if pending is not None and (entry := numbered_entry(self.inline(" ".join(pending[0])))):
            self.add(entry, labels, pending[1])

    def html_block(self, node: _Node, labels: tuple[str, ...]) -> None:
        if node.content.lstrip().startswith("<!--"):
            return
        for offset, line in enumerate(node.content.split("\n")):
            if item := _LIST_LINE.fullmatch(line):  # Markdown written inside an HTML block
                entry = item_entry(self.inline(item[1]))
                if isinstance(entry, Entry):
                    self.add(entry, labels, node.line + offset)
            else:
                self.html_line(line, node.line + offset, labels)

    def html_line(self, line: str, number: int, labels: tuple[str, ...]) -> None:
        """`&nbsp; :emoji: <a href="url">Name</a> - description<br>` is an entry."""
        content = line[_HTML_ITEM_LEAD.match(line).end() :]
        if content[:2].lower() == "<a" and _HTML_ITEM.match(content):
            entry = item_entry(self.inline(content))
            if isinstance(entry, Entry):
                self.add(entry, labels, number)

    def table(self, node: _Node, labels: tuple[str, ...]) -> None:
        columns: tuple[str, ...] = ()
        for section in node.children:
            for row in section.children:
                cells = tuple(self.inline(_inline(cell)) for cell in row.children)
                if section.type == "thead_open":
                    columns = tuple(cell.plain().lower() for cell in cells)
                elif entry := row_entry(cells, columns):
                    self.add(entry, labels, row.line)

    # --- lists --------------------------------------------------------------------------------

    def item_text(self, paragraph: _Node) -> str:
        """An item's paragraph, hard-wrapped lines joined, but cut before a "lazy" line (not
        indented in the source) that follows a finished sentence: that is the next paragraph of
        the page (the seed's closing note under its last item), not more of the item. A line that
        is only an in-page link (awesome-go's "⬆ back to top") is navigation, not text."""
        kept: list[str] = []
        for number, line in enumerate(_inline(paragraph).split("\n"), start=paragraph.line):
            raw = self.lines[number - 1] if number <= len(self.lines) else ""
            if _ANCHOR_LINE.fullmatch(line):
                continue
            if kept and raw[:1] not in (" ", "\t") and kept[-1].rstrip().endswith(_SENTENCE_ENDS):
                break
            kept.append(line)
        return "\n".join(kept)

    def items(self, node: _Node, labels: tuple[str, ...]) -> None:
        for item in node.children:
            first = item.children[0] if item.children and item.children[0].line == item.line else None
            if first is not None and first.type == "paragraph_open":
                entry = item_entry(self.inline(self.item_text(first)))
            elif first is not None and (raw := _LIST_LINE.fullmatch(self.lines[item.line - 1])):
                entry = item_entry(self.inline(raw[1]))  # "- 2019. Title" would read as a nested list
            else:
                entry = None
            rest = item.children[1:] if first is not None else item.children
            if isinstance(entry, Entry):
                if entry.note is None:
                    entry, rest = self.annotated(entry, rest)
                self.add(entry, labels, item.line)
            self.blocks(rest, (*labels, entry) if isinstance(entry, str) else labels)

    def annotated(self, entry: Entry, children: list[_Node]) -> tuple[Entry, list[_Node]]:
        """An entry without a note takes one from its later paragraphs, or else from the link-less
        sub-items right under it, which are then used up (not read as sub-headings)."""
        texts = [self.inline(_inline(child)).plain() for child in children if child.type == "paragraph_open"]
        used: list[_Node] = []
        if not any(texts):
            for child in children:
                notes = [self.sub_note(item) for item in child.children] if child.type.endswith("list_open") else []
                if notes and all(notes):
                    texts += notes
                    used.append(child)
        note = " ".join(text for text in texts if text)
        if not note:
            return entry, children
        return (Entry(entry.title, entry.url, entry.year, entry.kind, entry.authors, note, entry.tags),
                [child for child in children if child not in used])

    def sub_note(self, item: _Node) -> str | None:
        """A sub-item's text when it is an annotation: one paragraph of prose (links and URLs inside
        it are fine: "Smart Greybox Fuzzing (https://...)"), not one that starts with a link or URL
        and so is an entry of its own."""
        if len(item.children) != 1 or item.children[0].type != "paragraph_open":
            return None
        content = self.inline(self.item_text(item.children[0])).strip()
        if content.text.startswith(("[", "http://", "https://")) or any(link.start == 0 for link in content.links):
            return None
        return content.plain() or None


def _inline(node: _Node) -> str:
    return next((child.content for child in node.children if child.type == "inline"), "")


def _prepared(text: str) -> str:
    """The page with the seed's "Topic¶" lines written as ATX headings (so that one right under a
    list item starts a section instead of continuing the item) and `$$` math blocks blanked; line
    numbers are kept, code fences are left alone."""
    lines = text.split("\n")
    fence: str | None = None
    in_math = False
    pilcrows = 0
    for index, line in enumerate(lines):
        stripped = line.strip()
        if fence is not None:
            fence = None if stripped.startswith(fence) and not stripped.strip(fence[0]) else fence
        elif in_math:
            in_math = "$$" not in line
            lines[index] = ""
        elif opening := _FENCE.match(line):
            fence = opening[1]
        elif stripped.startswith("$$"):
            in_math = stripped == "$$" or not stripped.endswith("$$")
            lines[index] = ""
        elif stripped.endswith("¶") and not _LIST_LINE.fullmatch(line) and stripped[:-1].strip():
            pilcrows += 1
            lines[index] = ("# " if pilcrows == 1 else "## ") + stripped[:-1]
    return "\n".join(lines)
