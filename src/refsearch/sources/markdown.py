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

A page is read section by section (read_markdown): a page changed in one section is parsed again in
that section only, the others kept from the last reading, which an index keeps (takeover.py).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
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
from refsearch.sources.tidy import TOC_MARKER

_LIST_LINE = re.compile(r"\s*(?:[-*+]|[0-9]{1,9}[.)])\s+(.*)")
_HTML_ITEM_LEAD = re.compile(r"^(?:\s|&nbsp;|&#160;|:[a-z0-9_+-]+:|[-*+•·])*", re.IGNORECASE)
_HTML_ITEM = re.compile(r"<a\s[^<>]*href[^<>]*>.*?</a\s*>\s*[-–—:：|]\s*\S", re.IGNORECASE)
_ANCHOR_LINE = re.compile(r"\s*[*_]*\[[^\]]*\]\(#[^)]*\)[*_]*\s*")
_SENTENCE_ENDS = tuple("。.!?！？")
_SHORTCODE = re.compile(r":[a-z0-9_+-]+:")  # GitHub emoji in headings (":black_small_square: Shells")
_NEWLINE = re.compile(r"\r\n?")
_FENCE = re.compile(r"\s{0,3}(`{3,}|~{3,})")
_SECTION_START = re.compile(r"#{1,6}(?:[ \t]|$)")  # an ATX heading in column 0
_REFERENCE_DEFINITION = re.compile(r"\s*\[(?:[^\]\\]|\\.)+\]:")
# raw HTML blocks (CommonMark types 1-5), in which a "# line" is text: opening -> what closes them
_RAW_HTML = re.compile(r"\s*<(?:(script|pre|style|textarea)(?:[\s>]|$)|(!--)|(\?)|(![A-Za-z])|(!\[CDATA\[))", re.IGNORECASE)
_RAW_HTML_END = {1: re.compile(r"</(?:script|pre|style|textarea)>", re.IGNORECASE), 2: re.compile("-->"),
                 3: re.compile(r"\?>"), 4: re.compile(">"), 5: re.compile(r"\]\]>")}
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
    return read_markdown(text, path, key).references


@dataclass(frozen=True)
class Kept:
    """A section the last reading holds unchanged: its entries are that reading's `first`
    .. `first + count - 1`, each now `shift` lines further down the file."""

    first: int
    count: int
    shift: int


@dataclass
class PageRead:
    """A page read section by section: `references` are the entries of the sections read, `parts`
    says in file order how many of them each read section gave (an int) or which section was kept
    from the last reading (`Kept`), and `memo` is what the next reading needs to keep sections."""

    references: list[Reference]
    parts: list[int | Kept]
    memo: dict


_State = tuple  # (page title so far or None, ((heading level, heading), ...)): the context a section starts in


def read_markdown(text: str, path: Path, key: str | None = None, memo: object = None,
                  earlier_ids: Sequence[str] = ()) -> PageRead:
    """Read a page section by section; with the `memo` and entry ids of the last reading of the same
    file, a section whose text and context are unchanged is kept, not parsed again.

    Sections start at an ATX heading in column 0 after a blank line, outside code fences and raw
    HTML blocks (_prepared): no Markdown block crosses such a line, so a section parses alone as it
    does in the page. A page with reference definitions (`[ref]: url`, which any section may use) is
    one section. A section is kept only when the page's title, its set of headings (which tell a
    table of contents from entries) and every id its entries could share with the sections read
    (repeated titles are numbered in file order) are as before; otherwise the whole page is read,
    which gives what reading it fresh gives."""
    from markdown_it import MarkdownIt

    path, key = Path(path), key or page_key(path)
    # Blocks first; inline content is parsed only where the rules read it (_Page.inline), because
    # which lines of an item, paragraph or HTML block belong to an entry is decided on the lines.
    parser = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).disable("inline")
    parser.normalizeLink = _as_written
    prepared, starts = _prepared(_NEWLINE.sub("\n", text))  # markdown-it's line breaks, so our lines are its lines
    page = _Page(path, parser, prepared.split("\n"), key)
    earlier = _Earlier.read(memo, len(earlier_ids))
    read = page.read(starts, earlier, earlier_ids)
    if read is None:  # something a kept section depends on changed: read it all
        read = _Page(path, parser, prepared.split("\n"), key).read(starts, None, ())
    return read


@dataclass
class _Earlier:
    """The memo of the last reading (from an index: untrusted, so checked whole)."""

    page: str | None
    names: frozenset[str]
    # (digest, first line, entries, headings, starting context, {entry: id base} where its id is numbered)
    sections: list[tuple[str, int, int, tuple[str, ...], _State, dict[int, str]]]
    end: _State  # the context after the last section
    firsts: list[int]  # each section's first entry

    @classmethod
    def read(cls, memo: object, entries: int) -> _Earlier | None:
        try:
            sections = [(digest, line, count, tuple(names), _state(state), {at: base for at, base in numbered})
                        for digest, line, count, names, state, numbered in memo["sections"]]
            if not (all(isinstance(d, str) and type(n) is int and type(c) is int and c >= 0
                        and all(isinstance(name, str) for name in names)
                        and all(type(at) is int and isinstance(base, str) for at, base in numbered.items())
                        for d, n, c, names, _, numbered in sections)
                    and (memo["page"] is None or isinstance(memo["page"], str))
                    and sum(section[2] for section in sections) == entries):
                return None
            firsts = list(itertools.accumulate((section[2] for section in sections), initial=0))
            return cls(memo["page"], frozenset(name for section in sections for name in section[3]), sections,
                       _state(memo["end"]), firsts)
        except (TypeError, ValueError, KeyError, IndexError):
            return None


def _state(value: object) -> _State:
    """A section's starting context as the memo stores it (JSON lists), checked."""
    title, headings = value
    if title is not None and not isinstance(title, str):
        raise TypeError("not a title")
    headings = tuple((level, name) for level, name in headings)
    if not all(type(level) is int and isinstance(name, str) for level, name in headings):
        raise TypeError("not a heading")
    return title, headings


def _stored(state: _State) -> list:
    return [state[0], [list(heading) for heading in state[1]]]


def _as_written(url: str) -> str:
    """A link's URL as the page wrote it (markdown-it would percent-encode "中" and spaces)."""
    return url


def _tree(tokens, offset: int) -> list[_Node]:
    """The block tokens of a section starting after line `offset` as a tree, with page line numbers."""
    root = _Node("root", 0)
    stack = [root]
    for token in tokens:
        line = token.map[0] + 1 + offset if token.map else stack[-1].line
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
    def __init__(self, path: Path, parser, lines: list[str], key: str):
        self.path = path
        self.lines = lines
        self.parser = parser
        self.env: dict = {}  # the section's reference definitions (a page with any is one section)
        self.key = key
        self.page: str | None = None
        self.headings: list[tuple[int, str]] = []
        self.drafts: list[tuple[Entry, tuple[str, ...], int]] = []
        self.heading_names: frozenset[str] = frozenset()  # every heading of the page, normalised (after reading)
        self.section_names: list[str] = []  # the headings of the section being read, normalised

    def read(self, starts: list[int], earlier: _Earlier | None, earlier_ids: Sequence[str]) -> PageRead | None:
        """The page's sections in order, each kept from `earlier` or read; None when a kept one
        would differ from reading it (see read_markdown)."""
        unused: dict[str, list[int]] = {}
        for number, section in enumerate(earlier.sections if earlier else ()):
            unused.setdefault(section[0], []).append(number)
        # per section: (digest, first line, headings, starting context, earlier section kept or None, its drafts)
        sections: list[tuple[str, int, tuple[str, ...], _State, int | None, range]] = []
        for start, end in zip(starts, [*starts[1:], len(self.lines)]):
            text = "\n".join(self.lines[start:end])
            digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
            state = (self.page, tuple(self.headings))
            candidates = unused.get(digest, [])
            old = next((number for number in candidates if earlier.sections[number][4] == state), None)
            if old is not None:
                candidates.remove(old)
                names = earlier.sections[old][3]
                self.page, headings = earlier.sections[old + 1][4] if old + 1 < len(earlier.sections) else earlier.end
                self.headings = list(headings)
                drafts = range(0)
            else:
                self.section_names, self.env, first_draft = [], {}, len(self.drafts)
                self.blocks(_tree(self.parser.parse(text, self.env), start), ())
                names, drafts = tuple(self.section_names), range(first_draft, len(self.drafts))
            sections.append((digest, start + 1, names, state, old, drafts))
        self.heading_names = frozenset(name for section in sections for name in section[2])
        keeps = any(section[4] is not None for section in sections)
        if keeps and (earlier.page != self.page or earlier.names != self.heading_names):
            return None
        page, ids = self.page or self.key, IdAllocator()
        references: list[Reference] = []
        parts: list[int | Kept] = []
        memo: list[list] = []
        for digest, line, names, state, old, drafts in sections:
            numbered: dict[int, str] = {}  # entry in the section -> its id's base, where the id is numbered
            if old is not None:  # its ids must be the ones reading the whole page would number them
                first, count, numbered = earlier.firsts[old], earlier.sections[old][2], earlier.sections[old][5]
                for at, ref_id in enumerate(earlier_ids[first:first + count]):
                    if ids.take(numbered.get(at, ref_id)) != ref_id:
                        return None
                parts.append(Kept(first, count, line - earlier.sections[old][1]))
            else:
                count = 0
                for entry, topic, entry_line in map(self.drafts.__getitem__, drafts):
                    if self.contents_entry(entry):
                        continue
                    base = ids.base(self.key, entry.title)
                    ref_id = ids.take(base)
                    if ref_id != base:
                        numbered[count] = base
                    references.append(Reference(id=ref_id, page=page, topic=topic, source=f"{self.path}:{entry_line}",
                                                **{name: getattr(entry, name) for name in _ENTRY_FIELDS}))
                    count += 1
                parts.append(count)
            memo.append([digest, line, count, list(names), _stored(state), sorted(numbered.items())])
        return PageRead(references, parts, {"page": self.page, "sections": memo,
                                            "end": _stored((self.page, tuple(self.headings)))})

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
                self.heading(node.level, _heading_name(self.inline(_inline(node)).text))
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
        self.section_names.append(normalised_title(text))
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


def _heading_name(text: str) -> str:
    """A heading's text without GitHub emoji and a back-link to the contents ("CLI Tools
    [<sup>[TOC]</sup>](#table-of-contents)", book-of-secret-knowledge), which are not its name."""
    return " ".join(TOC_MARKER.sub("", _SHORTCODE.sub("", text)).split())


def _inline(node: _Node) -> str:
    return next((child.content for child in node.children if child.type == "inline"), "")


def _prepared(text: str) -> tuple[str, list[int]]:
    """The page with the seed's "Topic¶" lines written as ATX headings (so that one right under a
    list item starts a section instead of continuing the item) and `$$` math blocks blanked; line
    numbers are kept, code fences are left alone. With it, the lines (0-based) where sections start
    (read_markdown): an ATX heading in column 0 after a blank line, outside fences and raw HTML."""
    lines = text.split("\n")
    fence: str | None = None
    in_math = False
    pilcrows = 0
    starts, raw_end = [0], None
    for index, line in enumerate(lines):
        stripped = line.strip()
        code = fence is not None
        if fence is not None:
            fence = None if stripped.startswith(fence) and not stripped.strip(fence[0]) else fence
        elif in_math:
            in_math = "$$" not in line
            lines[index] = ""
        elif opening := _FENCE.match(line):
            fence, code = opening[1], True
        elif stripped.startswith("$$"):
            in_math = stripped == "$$" or not stripped.endswith("$$")
            lines[index] = ""
        elif stripped.endswith("¶") and not _LIST_LINE.fullmatch(line) and stripped[:-1].strip():
            pilcrows += 1
            lines[index] = ("# " if pilcrows == 1 else "## ") + stripped[:-1]
        if raw_end is not None:
            raw_end = None if raw_end.search(lines[index]) else raw_end
        elif not code:
            if index and not lines[index - 1].strip() and _SECTION_START.match(lines[index]):
                starts.append(index)
            elif raw := _RAW_HTML.match(lines[index]):
                closing = _RAW_HTML_END[raw.lastindex]
                raw_end = None if closing.search(lines[index], raw.end()) else closing
    if any(_REFERENCE_DEFINITION.match(line) for line in lines):
        starts = [0]  # a definition serves the whole page
    return "\n".join(lines), starts
