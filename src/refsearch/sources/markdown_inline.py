"""Inline content to entries: the rules that recognise a reference in one item, row or line.

markdown.py finds the blocks (headings, list items, table rows, HTML lines) with markdown-it-py and
hands each one's inline content here as markdown-it read it (markdown_tokens.py: the text with its
links, code spans and bold spans; reference-style links and `<a href>` tags already links). These
rules decide whether it is a reference.

List items, tried in this order:
- numbered reference, `**[3]** A. Author, "Title," Venue, 2019.`: the quoted text is the title,
  what precedes it the authors, the first year after it the year.
- seed style, `Title (2023, paper - Google) —— note`: the meta group is the last parenthesised
  group before "——", so "(CD4ML)" in a title stays in the title; "2020+" is read as 2020.
- linked, `[Title](url) <rest>`: title and url from the first link with text. Status prefixes
  before it (`[Pending Review]`, `【Not finished】`) are dropped; other words before it are kept as
  the start of the title ("How AI detects hate speech [Part 1](url)", "More in [x](url)"). In the
  rest, badges and alternative links right after the title (` ([Code](url))`, `【[docs](url)】`,
  `, [Part 2](url)`) are dropped; `by [Name](url)` or `by Name` names the author; if the rest
  starts with a separator (- – — : ： | ,) it is the note, otherwise trailing code spans are read
  first (`` `Org` `2020` ``: a four-digit tag is the year, the others are tags, the first of them
  the author) and what is left is the note. Links inside notes keep their text and lose their
  URL. An item whose first link is an in-page `#anchor` is a table of contents entry.
- bare URL, `1. https://...` or `Name: <https://...>`: kept, because the URL is the only handle
  on the resource (llm-resources-zh has 168 of them). The title is the text before the URL, else
  the URL without its scheme ("github.com/owner/repo").
- any other link-less item is not a reference (it may head nested items: markdown.py).
Table rows with a link become references: title (and any annotation in the same cell) from the
first linked cell, the other cells joined as the note, the year from a "Date"/"Year" column.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from refsearch.sources.common import YEARS, author_list
from refsearch.sources.markdown_tokens import Inline, Link

_BARE_URL = re.compile(r"https?://[^\s<>]+")
_YEAR = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})(?![0-9])")
_META_YEAR = re.compile(r"([0-9]{4})\+?")
_META_KIND = re.compile(r"[A-Za-z][A-Za-z-]*(?:/[A-Za-z][A-Za-z-]*)*")
_TAG_YEAR = re.compile(r"[0-9]{4}")
_SEED_SEPARATOR = "——"
_SEPARATORS = "-–—:：|,，;；"
_NOTE_LEAD = " \t" + _SEPARATORS
_ANCHOR_TARGET = re.compile(r"(?:\./)?(?:(?:readme|index)\.md)?#", re.IGNORECASE)
_BY = re.compile(r"\s*by\s+", re.IGNORECASE)
_BY_LEAD_CHARS = 20  # "Maintained by " before the author's link
_BY_NAME_CHARS = 60
_PREFIX_CHARS = 80  # words before the first link that still belong to the title ("More in [x](url)")
_NUMBERED = re.compile(r"\s*\[[0-9]{1,4}\]\s*")
_QUOTED = re.compile(r"[\"“”]([^\"“”]{2,1000})[\"“”]")


@dataclass(frozen=True)
class Entry:
    title: str
    url: str | None = None
    year: int | None = None
    kind: str | None = None
    authors: tuple[str, ...] = ()
    note: str | None = None
    tags: tuple[str, ...] = ()
    venue: str | None = None
    extra: dict = field(default_factory=dict, compare=False)


def _plain(text: str) -> str:
    return " ".join(text.split())


def _first_link(content: Inline) -> Link | None:
    """The first link with text (a badge, `[![alt](img)](url)`, has none)."""
    return next((link for link in content.links if link.text.strip()), None)


def _outside_links(content: Inline, start: int, end: int) -> bool:
    """Whether no link overlaps `start`..`end` (a bisection: an item of many links and many "——"
    or brackets asks this often)."""
    covered = content.covered
    index = bisect.bisect_left(covered, (end,)) - 1
    return index < 0 or covered[index][1] <= start


def _closing(text: str, position: int, opening: str, closing: str) -> int:
    """Where the bracket opened at `position` closes, or -1."""
    depth = 0
    for index in range(position, len(text)):
        depth += (text[index] == opening) - (text[index] == closing)
        if depth == 0:
            return index
    return -1


def item_entry(content: Inline) -> Entry | str | None:
    """A reference, or the text of a link-less item (a possible sub-heading), or None to skip."""
    if numbered := numbered_entry(content):
        return numbered
    content = _drop_status(content)
    if seed := _seed_entry(content):
        return seed
    if link := _first_link(content):
        return None if anchor_only(link.target) else _link_entry(content, link)
    if untitled := next((link for link in content.links if "://" in link.target), None):
        return Entry(title=_without_scheme(untitled.target), url=untitled.target)  # `[](https://...)`
    if bare := _bare_url(content):
        return _bare_url_entry(content, *bare)
    return content.plain() or None


def _drop_status(content: Inline) -> Inline:
    """Strip leading status labels such as `[Pending Review]`, `【Not finished】`, `[ ]`."""
    text, position = content.text, 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if text.startswith("【", position):
            close = text.find("】", position)
        elif text.startswith("[", position):
            close = _closing(text, position, "[", "]")
            close = -1 if text.startswith("(", close + 1) else close
        else:
            close = -1
        if close < 0 or not _outside_links(content, position, close + 1):
            return content.cut(position)
        position = close + 1


def _seed_entry(content: Inline) -> Entry | None:
    """`Title (2023, paper - Google) —— note`, as on the seed page; None if the item is not one."""
    split = _seed_split(content)
    if split is None:
        return None
    head, note = content.cut(0, split), content.text[split:].lstrip("—").strip()
    title_part, meta = _split_meta(head)
    link = _first_link(title_part)
    if meta is None and link:
        return None
    title = title_part.plain()
    if not title:
        return None
    year, kind, author = meta or (None, None, None)
    url = link.target if link and not anchor_only(link.target) else None
    return Entry(title, url, year, kind, (author,) if author else (), _plain(note) or None)


def _seed_split(content: Inline) -> int | None:
    """Where the first "——" outside any link is."""
    position = content.text.find(_SEED_SEPARATOR)
    while position >= 0:
        if _outside_links(content, position, position + 1):
            return position
        position = content.text.find(_SEED_SEPARATOR, position + 1)
    return None


def _split_meta(head: Inline) -> tuple[Inline, tuple[int | None, str | None, str | None] | None]:
    """The title and the meta group that ends it, `(2023, paper - Google)`, outside any link."""
    text = head.text.rstrip()
    if not text.endswith(")"):
        return head, None
    depth, opening = 0, -1
    for index in range(len(text) - 1, -1, -1):
        depth += (text[index] == ")") - (text[index] == "(")
        if depth == 0:
            opening = index
            break
    if opening < 0 or not _outside_links(head, opening, len(text)):
        return head, None
    meta = _parse_meta(text[opening + 1 : -1])
    return (head.cut(0, len(text[:opening].rstrip())), meta) if meta else (head, None)


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


def _is_year(tag: str) -> bool:
    """A four-digit tag that can be a year (`2019`); `0000` or `9999` stays a tag."""
    return bool(_TAG_YEAR.fullmatch(tag)) and int(tag) in YEARS


def _link_entry(content: Inline, link: Link) -> Entry:
    rest = _drop_companions(content.cut(link.end)).strip()
    by, rest = _split_by_author(rest)
    tags: list[str] = []
    if not rest.text or rest.text[0] not in _SEPARATORS:
        rest, tags = _split_trailing_tags(rest)
    note = rest.plain().lstrip(_NOTE_LEAD).strip()
    years = [int(tag) for tag in tags if _is_year(tag)]
    others = tuple(tag for tag in tags if not _is_year(tag))
    prefix = _plain(content.text[: link.start])
    title = _plain(link.text)
    author = by or (others[0] if others else None)
    if len(prefix) > _PREFIX_CHARS:  # a sentence with a link in it: the link names the entry
        note, prefix = f"{prefix} {title} {note}".strip(), ""
    return Entry(
        title=f"{prefix} {title}" if any(char.isalnum() for char in prefix) else title,
        url=link.target or None,
        year=years[0] if years else None,
        authors=(author,) if author else (),
        note=note if any(char.isalnum() for char in note) else None,
        tags=others,
    )


def _split_by_author(rest: Inline) -> tuple[str | None, Inline]:
    """`by [Name](url) - note`, `by Maintained by [Name](url)`, `by Name, note` -> (Name, the rest)."""
    match = _BY.match(rest.text)
    if not match or any(start < match.end() for start, _ in rest.code):  # `` `By` `2019` ``: tags, not an author
        return None, rest
    after = rest.cut(match.end())
    link = _first_link(after)
    if link and len(_plain(after.text[: link.start])) <= _BY_LEAD_CHARS:
        return _plain(link.text), after.cut(link.end).strip()
    name = re.split(r"\s[-–—:|]\s|[,;，；]", after.text, maxsplit=1)[0]
    if not _plain(name) or len(_plain(name)) > _BY_NAME_CHARS:
        return None, rest
    return _plain(name), after.cut(len(name)).strip()


def _drop_companions(rest: Inline) -> Inline:
    """Drop alternative links that follow a title: `([Code](url))`, `【[docs](url)】`, `, [Part 2](url)`."""
    text = rest.text
    links = {link.start: link.end for link in rest.links if link.end > link.start}
    starts = [link.start for link in rest.links]
    kept = 0
    while True:
        position = kept
        while position < len(text) and text[position] in " \t,":
            position += 1
        if position in links:
            kept = links[position]
            continue
        if text.startswith("(", position):
            closing = _closing(text, position, "(", ")")
        elif text.startswith("【", position):
            closing = text.find("】", position)
        else:
            closing = -1
        if closing < 0 or not _only_links(rest, starts, position + 1, closing):
            return rest.cut(kept)
        kept = closing + 1


def _only_links(content: Inline, starts: list[int], start: int, end: int) -> bool:
    """Whether `start`..`end` of the text is nothing but links (and punctuation between them)."""
    first = bisect.bisect_left(starts, start)
    links = [link for link in content.links[first:bisect.bisect_right(starts, end)]
             if link.end <= end and link.text.strip()]
    if not links:
        return False
    position = start
    for link in links:
        if any(char.isalnum() for char in content.text[position : link.start]):
            return False
        position = max(position, link.end)
    return not any(char.isalnum() for char in content.text[position:end])


def _split_trailing_tags(rest: Inline) -> tuple[Inline, list[str]]:
    """Split `` ... `Airbnb` `2018` `` into the text before and the code-span tags."""
    text, code = rest.text, {end: start for start, end in rest.code}
    tags: list[str] = []
    end = len(text)
    while True:
        while end and text[end - 1] in " \t,，":
            end -= 1
        start = code.get(end)
        tag = text[start:end].strip() if start is not None else ""
        if not tag:
            return rest.cut(0, end), tags[::-1]
        tags.append(tag)
        end = start


def _bare_url(content: Inline) -> tuple[int, int] | None:
    """Where the first URL in the text is: an autolink (`<https://...>`) ends where it was closed."""
    match = _BARE_URL.search(content.text)
    if match is None:
        return None
    return match.start(), next((end for start, end in content.urls if start == match.start()), match.end())


def _bare_url_entry(content: Inline, start: int, end: int) -> Entry:
    url = content.text[start:end].rstrip(".,;")
    before = _plain(content.text[:start]).rstrip(_NOTE_LEAD).strip()
    note = _plain(content.text[end:]).strip(_NOTE_LEAD)
    return Entry(title=before or _without_scheme(url), url=url, note=note or None)


def _without_scheme(url: str) -> str:
    return re.sub(r"^https?://", "", url).rstrip("/") or url


# What a table's header names, read by column (headers are matched lower-cased, without markup)
_COLUMNS = {
    "title": {"title", "name", "paper", "papers", "project", "projects", "tool", "tools", "library", "model",
              "models", "resource", "resources", "article", "book", "course", "dataset", "repo", "repository",
              "software", "标题", "名称", "论文", "项目", "工具", "资源", "模型", "名字"},
    "year": {"date", "year", "published", "年份", "日期", "时间"},
    "authors": {"author", "authors", "by", "institute", "institution", "organization", "organisation", "org",
                "company", "maintainer", "作者", "机构", "团队"},
    "venue": {"venue", "conference", "journal", "publication", "会议", "期刊"},
    "tags": {"tags", "tag", "keywords", "keyword", "category", "categories", "type", "标签", "关键词", "类别"},
    "note": {"description", "desc", "summary", "notes", "note", "comment", "comments", "remarks", "about", "tldr",
             "简介", "描述", "说明", "备注", "介绍"},
}
_GENERIC_LINK_TEXT = re.compile(r"(?:paper|papers|pdf|link|links|code|github|repo|arxiv|tweet|blog|website|site|"
                                r"project|demo|video|slides|docs?|homepage|url|here|download|论文|代码|链接)\W*",
                                re.IGNORECASE)
_ENUMERATION = re.compile(r"\s*(?:[0-9]{1,4}[.)]|[-*•])\s+")
_BOLD_LEAD = re.compile(r"\s*(\*\*|__)(.+?)\1\s*")


_GENERIC_LINK_TEXT = re.compile(r"(?:paper|papers|pdf|link|links|code|github|repo|arxiv|tweet|blog|website|site|"
                                r"project|demo|video|slides|docs?|homepage|url|here|download|论文|代码|链接)\W*",
                                re.IGNORECASE)
_ENUMERATION = re.compile(r"\s*(?:[0-9]{1,4}[.)]|[-*•])\s+")


def row_entry(cells: tuple[Inline, ...], columns: tuple[str, ...]) -> Entry | None:
    """A table row as one reference: the title from the column the header calls title, name, paper…
    (its link, or its text: `1) **Llama 2** - description`), else from the first cell whose link
    is not a generic "Paper"/"Code"/"Tweet"; the url from the title's link, else the row's first
    such link, the others kept in `extra["links"]`; year, authors, venue, tags and notes from the
    columns so named; other cells joined to the note. A row without a link, or whose title link
    is an in-page anchor, is not a reference."""
    roles = {index: role for index, name in enumerate(columns) for role, names in _COLUMNS.items() if name in names}
    links = [(index, link) for index, cell in enumerate(cells) for link in cell.links
             if link.text.strip() and link.target]
    if not links or all(anchor_only(link.target) for _, link in links):
        return None
    titled = next((index for index, role in roles.items() if role == "title" and index < len(cells)), None)
    if titled is None:
        titled = next((index for index, link in links if not _GENERIC_LINK_TEXT.fullmatch(_plain(link.text))),
                      next((index for index, cell in enumerate(cells) if index not in roles and cell.plain()),
                           links[0][0]))
    entry = _cell_entry(cells[titled])
    if entry is None or (entry.url and anchor_only(entry.url)):
        return None
    outside = [link for index, link in links if index != titled and not anchor_only(link.target)]
    url = entry.url or next((link.target for link in outside), None)
    extra = {"links": [{"text": _plain(link.text), "url": link.target} for link in outside
                       if link.target != url]}
    found: dict[str, list[str]] = {role: [] for role in _COLUMNS}
    for index, cell in enumerate(cells):
        text = cell.plain()
        if index == titled or not text or _only_links(cell, [link.start for link in cell.links], 0, len(cell.text)):
            continue  # a cell of links is the row's links, kept above
        role = roles.get(index, "note")
        found["note" if role == "title" else role].append(text)
    year = next((int(m[1]) for text in found["year"] if (m := _YEAR.search(text))), entry.year)
    authors = entry.authors or tuple(name for text in found["authors"] for name in author_list(text))
    tags = (*entry.tags, *(tag.strip() for text in found["tags"] for tag in re.split(r"[,;、，]", text) if tag.strip()))
    note = " · ".join(part for part in (entry.note, *found["note"]) if part) or None
    return Entry(entry.title, url, year, entry.kind, authors, note, tuple(dict.fromkeys(tags)),
                 venue=" · ".join(found["venue"]) or None, extra=extra if extra["links"] else {})


def _cell_entry(cell: Inline) -> Entry | None:
    """The title cell of a row: a linked title read as a list item, or plain text
    (`1) **Llama 2** - a family of LLMs`: enumeration dropped, a bold lead or the text before a
    separator is the title, the rest the note)."""
    if (link := _first_link(cell)) and not _GENERIC_LINK_TEXT.fullmatch(_plain(link.text)):
        return _link_entry(cell, link)
    text = cell.cut(enumeration.end()) if (enumeration := _ENUMERATION.match(cell.text)) else cell
    text = text.without_links() if link else text
    lead = len(text.text) - len(text.text.lstrip())
    if bold := next(((start, end) for start, end in text.strong if start == lead and end > start), None):
        title, rest = _plain(text.text[bold[0] : bold[1]]), text.text[bold[1] :]
    else:
        title, _, rest = text.plain().partition(" - ")
    title, note = title.strip(), _plain(rest).lstrip(_NOTE_LEAD).strip()
    if not any(char.isalnum() for char in title):
        return None
    return Entry(title, None, None, None, (), note if any(char.isalnum() for char in note) else None)


def anchor_only(target: str) -> bool:
    """A link to a place on this page (`#section`, `./#section`, `README.md#section`): navigation,
    never a reference."""
    return bool(_ANCHOR_TARGET.match(target.strip()))


def numbered_entry(content: Inline) -> Entry | None:
    """`**[3]** A. Author and B. Author, "Title," *Venue*, 2019. [pdf](url)`, as in papers' reference
    lists pasted into a page: None unless the text starts with a bracketed number and quotes a title."""
    text = content.text
    number = _NUMBERED.match(text)
    quoted = _QUOTED.search(text, number.end()) if number else None
    if not quoted or not _plain(quoted[1]).strip(" ,.;:"):
        return None
    after = content.cut(quoted.end())
    link = _first_link(after) or _first_link(content.cut(quoted.start(1), quoted.end(1)))
    note = after.without_links().plain().strip(" ,.;:")
    return Entry(
        title=_plain(quoted[1]).strip(" ,.;:"),
        url=link.target if link and not anchor_only(link.target) else None,
        year=next((int(m[1]) for m in _YEAR.finditer(after.text)), None),
        authors=author_list(_plain(text[number.end() : quoted.start()]).strip(" ,.;:")),
        note=note if any(char.isalnum() for char in note) else None,
    )
