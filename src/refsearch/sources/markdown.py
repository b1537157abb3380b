"""Markdown reference pages: the seed's wiki export and "awesome"-style lists.

Two line-oriented steps. `_blocks` classifies lines (heading, list item, table row, other text) and
drops what is not content: fenced code, `$$` math, HTML lines and `<!-- -->` comments, blockquotes.
`parse_markdown` then tracks the topic path and turns items and table rows into references.
Markdown has no syntax errors, so whatever is not understood is skipped, never reported.

Topics: ATX headings by level, and lines ending in "¶" (the seed's wiki export: the first is the
page title, later ones are level-2 topics). The page title is the first H1 (or first ¶ line), else
the file stem; it is the `page`, not part of `topic`. A link-less list item with items nested under
it (awesome-python's "- Orchestration") adds a topic level for those items.

List items, tried in this order:
- seed style, `Title (2023, paper - Google) —— note`: the meta group is the last parenthesised
  group before "——", so "(CD4ML)" in a title stays in the title; "2020+" is read as 2020.
- linked, `[Title](url) <rest>`: title and url from the first non-image link. Status prefixes
  before it (`[Pending Review]`, `【Not finished】`) are dropped; other words before it are kept
  as the start of the title ("How AI detects hate speech [Part 1](url)", "More in [x](url)").
  In the rest, badges and alternative links right after the title (` ([Code](url))`,
  `【[docs](url)】`, `, [Part 2](url)`) are dropped; if the rest starts with a separator
  (- – — : ： | ,) it is the note, otherwise trailing backtick tags are read first
  (`` `Org` `2020` ``: a four-digit tag is the year, the others are tags, the first of them the
  author) and what is left is the note. Links inside notes keep their text and lose their URL.
  An item whose first link is an in-page `#anchor` is a table of contents entry and is skipped.
- bare URL, `1. https://...` or `Name: https://...`: kept, because the URL is the only handle on
  the resource (llm-resources-zh has 168 of them). The title is the text before the URL, else
  the URL without its scheme ("github.com/owner/repo").
- any other link-less item is not a reference (it may head nested items, see above).
Table rows with a link become references: title from the first link, the other cells joined as
the note, the year from a "Date"/"Year" column if there is one.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from refsearch.records import IdAllocator, Reference, page_key

_HEADING = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*))?")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_ITEM = re.compile(r"([ \t]*)(?:[-*+]|[0-9]{1,9}[.)])(?:[ \t]+(.*)|[ \t]*)")
_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})(.*)")
_HTML_LINE = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:[\s/>]|$)|<!")
_SEPARATOR_CELL = re.compile(r":?-+:?")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^<>\s]*)>")
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_EMPHASIS = re.compile(r"\*\*|__|~~|(?<![\w*])[*_](?=\S)|(?<=\S)[*_](?![\w*])")
_BARE_URL = re.compile(r"<?(https?://[^\s<>]+)>?")
_YEAR = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})(?![0-9])")
_META_YEAR = re.compile(r"([0-9]{4})\+?")
_META_KIND = re.compile(r"[A-Za-z][A-Za-z-]*(?:/[A-Za-z][A-Za-z-]*)*")
_TAG_YEAR = re.compile(r"[0-9]{4}")
_SEED_SEPARATOR = "——"
_SEPARATORS = "-–—:：|,，;；"
_NOTE_LEAD = " \t" + _SEPARATORS
_YEAR_COLUMNS = {"date", "year"}


# --- step 1: lines to blocks -------------------------------------------------------------------


@dataclass(frozen=True)
class _Heading:
    level: int
    text: str
    line: int


@dataclass(frozen=True)
class _Item:
    indent: int
    content: str
    line: int


@dataclass(frozen=True)
class _Row:
    cells: tuple[str, ...]
    columns: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class _Text:
    indent: int
    line: int


_Block = _Heading | _Item | _Row | _Text


def _blocks(text: str) -> Iterator[_Block]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    fence: str | None = None
    in_math = in_comment = False
    pilcrows = 0
    columns: tuple[str, ...] | None = None
    for index, raw in enumerate(lines):
        number = index + 1
        if fence is not None:
            fence = None if _closes_fence(raw, fence) else fence
            continue
        if in_math:
            in_math = "$$" not in raw
            continue
        line, in_comment = _strip_comments(raw, in_comment)
        stripped = line.strip()
        if columns is not None and "|" not in stripped:
            columns = None
        if not stripped or _HTML_LINE.match(stripped):
            continue
        if (opening := _FENCE.match(line)) and not (opening[1][0] == "`" and "`" in opening[2]):
            fence = opening[1]
            continue
        if stripped.startswith("$$"):
            in_math = stripped == "$$" or not stripped.endswith("$$")
            continue
        indent = len(line[: len(line) - len(line.lstrip())].expandtabs(4))
        if stripped.startswith(">"):
            yield _Text(indent, number)
        elif heading := _heading(line, number):
            yield heading
        elif item := _ITEM.fullmatch(line):
            yield _Item(len(item[1].expandtabs(4)), (item[2] or "").strip(), number)
        elif _is_separator_row(stripped):
            continue
        elif "|" in stripped and index + 1 < len(lines) and _is_separator_row(lines[index + 1].strip()):
            columns = tuple(_inline_text(cell).lower() for cell in _split_row(stripped))
        elif columns is not None or stripped.startswith("|"):
            yield _Row(_split_row(stripped), columns or (), number)
        elif stripped.endswith("¶") and (title := _inline_text(stripped[:-1])):
            pilcrows += 1
            yield _Heading(1 if pilcrows == 1 else 2, title, number)
        else:
            yield _Text(indent, number)


def _closes_fence(line: str, fence: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(fence) and not stripped.strip(fence[0])


def _strip_comments(line: str, in_comment: bool) -> tuple[str, bool]:
    """The line without `<!-- -->` comments, and whether a comment is still open at its end."""
    kept: list[str] = []
    position = 0
    while True:
        if in_comment:
            end = line.find("-->", position)
            if end < 0:
                return "".join(kept), True
            position, in_comment = end + 3, False
        start = line.find("<!--", position)
        if start < 0:
            kept.append(line[position:])
            return "".join(kept), False
        kept.append(line[position:start])
        position, in_comment = start + 4, True


def _heading(line: str, number: int) -> _Heading | None:
    match = _HEADING.fullmatch(line)
    if not match:
        return None
    text = _inline_text(_CLOSING_HASHES.sub("", match[2] or ""))
    return _Heading(len(match[1]), text, number) if text else None


def _is_separator_row(stripped: str) -> bool:
    if "-" not in stripped or "|" not in stripped:
        return False
    return all(_SEPARATOR_CELL.fullmatch(cell.strip()) for cell in _split_row(stripped))


def _split_row(stripped: str) -> tuple[str, ...]:
    """Cells of a table row: split on `|` outside code spans and not escaped."""
    body = stripped.removeprefix("|")
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    cells, current, in_code, escaped = [], [], False, False
    for char in body:
        if char == "|" and not in_code and not escaped:
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(char)
            in_code ^= char == "`"
        escaped = char == "\\" and not escaped
    cells.append("".join(current).strip())
    return tuple(cells)


# --- inline Markdown ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Link:
    start: int  # the "[" (or the "!" of an image)
    close: int  # the "]"
    end: int  # just after the ")"
    text: str
    target: str
    image: bool


def _pairs(text: str, opening: str, closing: str) -> dict[int, int]:
    """Matching bracket positions (open -> close), found in one pass; escaped brackets ignored."""
    pairs: dict[int, int] = {}
    if opening not in text:
        return pairs
    stack: list[int] = []
    for token in re.finditer(r"\\.|" + re.escape(opening) + "|" + re.escape(closing), text, re.DOTALL):
        if token[0] == opening:
            stack.append(token.start())
        elif token[0] == closing and stack:
            pairs[stack.pop()] = token.start()
    return pairs


def _links(text: str) -> list[_Link]:
    """Inline links and images `[text](target)`, nested ones included, in order of appearance."""
    parens = _pairs(text, "(", ")")
    links = []
    for opening, close in _pairs(text, "[", "]").items():
        paren = close + 1
        if paren in parens:
            image = opening > 0 and text[opening - 1] == "!"
            target = _link_target(text[paren + 1 : parens[paren]])
            start = opening - 1 if image else opening
            links.append(_Link(start, close, parens[paren] + 1, text[opening + 1 : close], target, image))
    return sorted(links, key=lambda link: link.start)


def _link_target(raw: str) -> str:
    raw = raw.strip()
    if raw.startswith("<") and ">" in raw:
        return raw[1 : raw.index(">")]
    return raw.split()[0] if raw else ""


def _first_link(text: str) -> _Link | None:
    return next((link for link in _links(text) if not link.image and _inline_text(link.text)), None)


def _inline_text(text: str) -> str:
    """Markdown inline markup to plain text: links keep their text, images and HTML tags go."""
    jumps: dict[int, int] = {}
    for link in _links(text):
        if link.image:
            jumps[link.start] = link.end
        else:
            jumps[link.start] = link.start + 1
            jumps[link.close] = link.end
    kept: list[str] = []
    position = 0
    while position < len(text):
        if position in jumps:
            position = jumps[position]
        elif text[position] == "\\" and position + 1 < len(text) and not text[position + 1].isalnum():
            kept.append(text[position + 1])
            position += 2
        else:
            kept.append(text[position])
            position += 1
    plain = _HTML_TAG.sub("", _AUTOLINK.sub(r"\1", "".join(kept)))
    plain = _EMPHASIS.sub("", html.unescape(plain)).replace("`", "")
    return " ".join(plain.split())


def _without_images(text: str) -> str:
    kept, position = [], 0
    for link in _links(text):
        if link.image and link.start >= position:
            kept.append(text[position : link.start])
            position = link.end
    return "".join(kept) + text[position:]


# --- step 2: blocks to references --------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    title: str
    url: str | None = None
    year: int | None = None
    kind: str | None = None
    author: str | None = None
    note: str | None = None
    tags: tuple[str, ...] = ()


def parse_markdown(text: str, path: Path) -> list[Reference]:
    path = Path(path)
    blocks = list(_blocks(text))
    title = next((b for b in blocks if isinstance(b, _Heading) and b.level == 1), None)
    key = page_key(path)
    page = title.text if title else key
    headings: list[tuple[int, str]] = []
    labels: list[tuple[int, str]] = []  # link-less list items that head the items nested under them
    ids = IdAllocator()
    references = []
    for block in blocks:
        if isinstance(block, _Heading):
            labels = []
            outer = [heading for heading in headings if heading[0] < block.level]
            headings = [] if block is title else [*outer, (block.level, block.text)]
            continue
        if isinstance(block, _Text):
            labels = labels if block.indent else []  # an unindented paragraph ends the list
            continue
        if isinstance(block, _Row):
            entry = _row_entry(block)
        else:
            labels = [label for label in labels if label[0] < block.indent]
            entry = _item_entry(block.content)
            if isinstance(entry, str):
                labels.append((block.indent, entry))
                continue
        if entry is not None:
            topic = tuple(name for _, name in headings) + tuple(name for _, name in labels)
            reference_id = ids.new(key, entry.title)
            source = f"{path}:{block.line}"
            references.append(Reference(id=reference_id, page=page, topic=topic, source=source, **asdict(entry)))
    return references


def _item_entry(content: str) -> _Entry | str | None:
    """A reference, or the text of a link-less item (a possible sub-heading), or None to skip."""
    content = _drop_status(content)
    if seed := _seed_entry(content):
        return seed
    if link := _first_link(content):
        return None if link.target.startswith("#") else _link_entry(content, link)
    if bare := _BARE_URL.search(content):
        return _bare_url_entry(content, bare)
    return _inline_text(content) or None


def _drop_status(content: str) -> str:
    """Strip leading status labels such as `[Pending Review]`, `【Not finished】`, `[ ]`."""
    brackets = _pairs(content, "[", "]")
    position = 0
    while True:
        while position < len(content) and content[position].isspace():
            position += 1
        rest = content[position:]
        if rest.startswith("【") and "】" in rest and "](" not in rest[: rest.index("】")]:
            position += rest.index("】") + 1
        elif rest.startswith("[") and position in brackets and not content.startswith("(", brackets[position] + 1):
            position = brackets[position] + 1
        else:
            return rest


def _seed_entry(content: str) -> _Entry | None:
    """`Title (2023, paper - Google) —— note`, as on the seed page; None if the item is not one."""
    split = _seed_split(content)
    if split is None:
        return None
    head, note = content[:split], content[split:].lstrip("—").strip()
    title_part, meta = _split_meta(head)
    link = _first_link(title_part)
    if meta is None and link:
        return None
    title = _inline_text(title_part)
    if not title:
        return None
    year, kind, author = meta or (None, None, None)
    url = link.target if link and not link.target.startswith("#") else None
    return _Entry(title, url, year, kind, author, _inline_text(note) or None)


def _seed_split(content: str) -> int | None:
    """Where the first "——" outside any link is."""
    spans = [(link.start, link.end) for link in _links(content)]
    position = content.find(_SEED_SEPARATOR)
    while position >= 0:
        if not any(start <= position < end for start, end in spans):
            return position
        position = content.find(_SEED_SEPARATOR, position + 1)
    return None


def _split_meta(head: str) -> tuple[str, tuple[int | None, str | None, str | None] | None]:
    head = head.rstrip()
    if not head.endswith(")"):
        return head, None
    opening = next((o for o, c in _pairs(head, "(", ")").items() if c == len(head) - 1), None)
    if opening is None or head[opening - 1 : opening] == "]":
        return head, None
    meta = _parse_meta(head[opening + 1 : -1])
    return (head[:opening].rstrip(), meta) if meta else (head, None)


def _parse_meta(inner: str) -> tuple[int | None, str | None, str | None] | None:
    """`2020+, official-doc`, `2015, paper - Google`, `blog - Tecton`, `official-doc`, `2019`."""
    first, _, rest = inner.partition(",")
    year = None
    if year_match := _META_YEAR.fullmatch(first.strip()):
        year, inner = int(year_match[1]), rest
    kind, _, author = (part.strip() for part in inner.partition(" - "))
    if kind and not _META_KIND.fullmatch(kind):
        return None
    if not kind and (year is None or author):
        return None
    return year, kind.lower() or None, author or None


def _link_entry(content: str, link: _Link) -> _Entry:
    rest = _drop_companions(_without_images(content[link.end :])).strip()
    tags: list[str] = []
    if not rest or rest[0] not in _SEPARATORS:
        rest, tags = _split_trailing_tags(rest)
    note = _inline_text(rest).lstrip(_NOTE_LEAD).strip()
    years = [int(tag) for tag in tags if _TAG_YEAR.fullmatch(tag)]
    others = tuple(tag for tag in tags if not _TAG_YEAR.fullmatch(tag))
    prefix = _inline_text(content[: link.start])
    title = _inline_text(link.text)
    return _Entry(
        title=f"{prefix} {title}" if any(char.isalnum() for char in prefix) else title,
        url=link.target or None,
        year=years[0] if years else None,
        author=others[0] if others else None,
        note=note if any(char.isalnum() for char in note) else None,
        tags=others,
    )


def _drop_companions(rest: str) -> str:
    """Drop alternative links that follow a title: `([Code](url))`, `【[docs](url)】`, `, [Part 2](url)`."""
    parens = _pairs(rest, "(", ")")
    links = {link.start: link.end for link in _links(rest) if not link.image}
    kept = 0
    while True:
        position = kept
        while position < len(rest) and rest[position] in " \t,":
            position += 1
        if position in links:
            kept = links[position]
            continue
        if rest.startswith("(", position):
            closing = parens.get(position, -1)
        elif rest.startswith("【", position):
            closing = rest.find("】", position)
        else:
            closing = -1
        if closing < 0 or not _only_links(rest[position + 1 : closing]):
            return rest[kept:]
        kept = closing + 1


def _only_links(text: str) -> bool:
    """Whether `text` is nothing but links (and punctuation between them)."""
    links = [link for link in _links(text) if not link.image]
    if not links:
        return False
    leftover, position = [], 0
    for link in links:
        if link.start >= position:
            leftover.append(text[position : link.start])
            position = link.end
    leftover.append(text[position:])
    return not any(char.isalnum() for part in leftover for char in part)


def _split_trailing_tags(rest: str) -> tuple[str, list[str]]:
    """Split `` ... `Airbnb` `2018` `` into the text before and the backtick tags."""
    tags: list[str] = []
    while True:
        rest = rest.rstrip(" \t,，")
        start = rest.rfind("`", 0, len(rest) - 1) if rest.endswith("`") else -1
        tag = rest[start + 1 : -1].strip() if start >= 0 else ""
        if not tag:
            return rest, tags[::-1]
        tags.append(tag)
        rest = rest[:start]


def _bare_url_entry(content: str, match: re.Match[str]) -> _Entry:
    url = match[1].rstrip(".,;")
    before = _inline_text(content[: match.start()]).rstrip(_NOTE_LEAD).strip()
    note = _inline_text(content[match.end() :]).strip(_NOTE_LEAD)
    title = before or re.sub(r"^https?://", "", url).rstrip("/") or url
    return _Entry(title=title, url=url, note=note or None)


def _row_entry(row: _Row) -> _Entry | None:
    cells = [(index, _first_link(cell)) for index, cell in enumerate(row.cells)]
    found = next(((index, link) for index, link in cells if link), None)
    if found is None or found[1].target.startswith("#"):
        return None
    index, link = found
    others = [_inline_text(cell) for i, cell in enumerate(row.cells) if i != index]
    year_cells = [row.cells[i] for i, name in enumerate(row.columns) if name in _YEAR_COLUMNS and i < len(row.cells)]
    year = next((int(m[1]) for cell in year_cells if (m := _YEAR.search(cell))), None)
    return _Entry(
        title=_inline_text(link.text),
        url=link.target or None,
        year=year,
        note=" · ".join(other for other in others if other) or None,
    )
