"""Markdown inline text to entries: the rules that recognise a reference in one item, row or line.

markdown.py finds the blocks (headings, list items, table rows, HTML lines) with markdown-it-py;
this module reads the text of one of them, as written, and decides whether it is a reference.

List items, tried in this order:
- numbered reference, `**[3]** A. Author, "Title," Venue, 2019.`: the quoted text is the title,
  what precedes it the authors, the first year after it the year.
- seed style, `Title (2023, paper - Google) —— note`: the meta group is the last parenthesised
  group before "——", so "(CD4ML)" in a title stays in the title; "2020+" is read as 2020.
- linked, `[Title](url) <rest>`: title and url from the first non-image link (reference-style
  links and `<a href>` tags are turned into inline links first). Status prefixes before it
  (`[Pending Review]`, `【Not finished】`) are dropped; other words before it are kept as the
  start of the title ("How AI detects hate speech [Part 1](url)", "More in [x](url)"). In the
  rest, badges and alternative links right after the title (` ([Code](url))`, `【[docs](url)】`,
  `, [Part 2](url)`) are dropped; `by [Name](url)` or `by Name` names the author; if the rest
  starts with a separator (- – — : ： | ,) it is the note, otherwise trailing backtick tags are
  read first (`` `Org` `2020` ``: a four-digit tag is the year, the others are tags, the first of
  them the author) and what is left is the note. Links inside notes keep their text and lose
  their URL. An item whose first link is an in-page `#anchor` is a table of contents entry.
- bare URL, `1. https://...` or `Name: https://...`: kept, because the URL is the only handle on
  the resource (llm-resources-zh has 168 of them). The title is the text before the URL, else
  the URL without its scheme ("github.com/owner/repo").
- any other link-less item is not a reference (it may head nested items: markdown.py).
Table rows with a link become references: title (and any annotation in the same cell) from the
first linked cell, the other cells joined as the note, the year from a "Date"/"Year" column.
"""

from __future__ import annotations

import bisect
import html
import re
from dataclasses import dataclass, field

from refsearch.sources.common import YEARS, author_list

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
_ANCHOR_TARGET = re.compile(r"(?:\./)?(?:(?:readme|index)\.md)?#", re.IGNORECASE)
_BY = re.compile(r"\s*by\s+", re.IGNORECASE)
_BY_LEAD_CHARS = 20  # "Maintained by " before the author's link
_BY_NAME_CHARS = 60
_PREFIX_CHARS = 80  # words before the first link that still belong to the title ("More in [x](url)")
_NUMBERED = re.compile(r"\s*(?:\*\*|__)?\[[0-9]{1,4}\](?:\*\*|__)?\s*")
_QUOTED = re.compile(r"[\"“”]([^\"“”]{2,1000})[\"“”]")
_BACKTICK_RUN = re.compile(r"`+")
_MAX_NESTING = 32  # brackets nested deeper are text: real items nest links two or three deep
_HTML_LINK_OPEN = re.compile(r"<a\s[^<>]*?href\s*=\s*[\"']([^\"'<>]*)[\"'][^<>]*>", re.IGNORECASE)


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
    """Matching bracket positions (open -> close), found in one pass; escaped brackets ignored.

    Brackets nested deeper than `_MAX_NESTING` are left unpaired, so no character is inside more
    than that many links: the rules slice and read each link's text and target, and 50,000 nested
    `[a](` (1 MB) would otherwise make them copy and scan gigabytes."""
    pairs: dict[int, int] = {}
    if opening not in text:
        return pairs
    stack: list[int] = []
    too_deep = 0
    for token in re.finditer(r"\\.|" + re.escape(opening) + "|" + re.escape(closing), text, re.DOTALL):
        if token[0] == opening:
            if len(stack) < _MAX_NESTING:
                stack.append(token.start())
            else:
                too_deep += 1
        elif token[0] == closing:
            if too_deep:
                too_deep -= 1
            elif stack:
                pairs[stack.pop()] = token.start()
    return pairs


def _code_spans(text: str) -> list[tuple[int, int]]:
    """Code spans (start, end): a run of backticks up to the next run of the same length
    (CommonMark), found in one pass: each length keeps its place in the list of runs, so a note of
    500,000 backticks takes as long as any other note (a regex tried every start: over 100 s)."""
    runs = [(match.start(), match.end()) for match in _BACKTICK_RUN.finditer(text)]
    by_length: dict[int, list[int]] = {}
    for number, (start, end) in enumerate(runs):
        by_length.setdefault(end - start, []).append(number)
    searched = dict.fromkeys(by_length, 0)  # per length: how far its list has been searched
    spans, number = [], 0
    while number < len(runs):
        start, end = runs[number]
        same, at = by_length[end - start], searched[end - start]
        while at < len(same) and same[at] <= number:
            at += 1
        searched[end - start] = at
        if at == len(same):
            number += 1
            continue
        closer = same[at]
        spans.append((start, runs[closer][1]))
        number = closer + 1
    return spans


def _inside(position: int, spans: list[tuple[int, int]]) -> bool:
    """Whether `position` is inside one of `spans` (sorted by start, not overlapping)."""
    index = bisect.bisect_right(spans, (position, float("inf"))) - 1
    return index >= 0 and spans[index][0] <= position < spans[index][1]


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
    """The first real link: not an image, not empty, not shown as code (`` `[..](..)` `` in prose)."""
    spans = _code_spans(text) if "`" in text else []
    return next((link for link in _links(text) if not link.image and inline_text(link.text)
                 and not _inside(link.start, spans)), None)


def inline_text(text: str) -> str:
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


# --- entries ---------------------------------------------------------------------------------------


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


def item_entry(content: str) -> Entry | str | None:
    """A reference, or the text of a link-less item (a possible sub-heading), or None to skip."""
    if numbered := numbered_entry(content):
        return numbered
    content = _drop_status(content)
    if seed := _seed_entry(content):
        return seed
    if link := _first_link(content):
        return None if anchor_only(link.target) else _link_entry(content, link)
    if untitled := next((link for link in _links(content) if not link.image and "://" in link.target), None):
        return Entry(title=_without_scheme(untitled.target), url=untitled.target)  # `[](https://...)`
    if bare := _BARE_URL.search(content):
        return _bare_url_entry(content, bare)
    return inline_text(content) or None


def _drop_status(content: str) -> str:
    """Strip leading status labels such as `[Pending Review]`, `【Not finished】`, `[ ]`."""
    brackets = _pairs(content, "[", "]")
    position = 0
    while True:
        while position < len(content) and content[position].isspace():
            position += 1
        close = content.find("】", position) if content.startswith("【", position) else -1
        if close >= 0 and content.find("](", position, close) < 0:
            position = close + 1
        elif content.startswith("[", position) and position in brackets and not content.startswith("(", brackets[position] + 1):
            position = brackets[position] + 1
        else:
            return content[position:]


def _seed_entry(content: str) -> Entry | None:
    """`Title (2023, paper - Google) —— note`, as on the seed page; None if the item is not one."""
    split = _seed_split(content)
    if split is None:
        return None
    head, note = content[:split], content[split:].lstrip("—").strip()
    title_part, meta = _split_meta(head)
    link = _first_link(title_part)
    if meta is None and link:
        return None
    title = inline_text(title_part)
    if not title:
        return None
    year, kind, author = meta or (None, None, None)
    url = link.target if link and not anchor_only(link.target) else None
    return Entry(title, url, year, kind, (author,) if author else (), inline_text(note) or None)


def _seed_split(content: str) -> int | None:
    """Where the first "——" outside any link is."""
    spans = _merged([(link.start, link.end) for link in _links(content)])
    position = content.find(_SEED_SEPARATOR)
    while position >= 0:
        if not _inside(position, spans):
            return position
        position = content.find(_SEED_SEPARATOR, position + 1)
    return None


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The positions any of `spans` covers, as sorted spans that do not overlap (for `_inside`)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


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


def _is_year(tag: str) -> bool:
    """A four-digit tag that can be a year (`2019`); `0000` or `9999` stays a tag."""
    return bool(_TAG_YEAR.fullmatch(tag)) and int(tag) in YEARS


def _link_entry(content: str, link: _Link) -> Entry:
    rest = _drop_companions(_without_images(content[link.end :])).strip()
    by, rest = _split_by_author(rest)
    tags: list[str] = []
    if not rest or rest[0] not in _SEPARATORS:
        rest, tags = _split_trailing_tags(rest)
    note = inline_text(rest).lstrip(_NOTE_LEAD).strip()
    years = [int(tag) for tag in tags if _is_year(tag)]
    others = tuple(tag for tag in tags if not _is_year(tag))
    prefix = inline_text(content[: link.start])
    title = inline_text(link.text)
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


def _split_by_author(rest: str) -> tuple[str | None, str]:
    """`by [Name](url) - note`, `by Maintained by [Name](url)`, `by Name, note` -> (Name, the rest)."""
    match = _BY.match(rest)
    if not match:
        return None, rest
    after = rest[match.end() :]
    link = _first_link(after)
    if link and len(inline_text(after[: link.start])) <= _BY_LEAD_CHARS:
        return inline_text(link.text), after[link.end :].strip()
    name, *remainder = re.split(r"(\s[-–—:|]\s|[,;，；])", after, maxsplit=1)
    name = inline_text(name)
    if not name or len(name) > _BY_NAME_CHARS:
        return None, rest
    return name, "".join(remainder).strip()


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
    end = len(rest)  # the text kept so far is rest[:end]: a hundred thousand tags are not copied each time
    while True:
        while end and rest[end - 1] in " \t,，":
            end -= 1
        start = rest.rfind("`", 0, end - 1) if end and rest[end - 1] == "`" else -1
        tag = rest[start + 1 : end - 1].strip() if start >= 0 else ""
        if not tag:
            return rest[:end], tags[::-1]
        tags.append(tag)
        end = start


def _bare_url_entry(content: str, match: re.Match[str]) -> Entry:
    url = match[1].rstrip(".,;")
    before = inline_text(content[: match.start()]).rstrip(_NOTE_LEAD).strip()
    note = inline_text(content[match.end() :]).strip(_NOTE_LEAD)
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


def row_entry(cells: tuple[str, ...], columns: tuple[str, ...]) -> Entry | None:
    """A table row as one reference: the title from the column the header calls title, name, paper…
    (its link, or its text: `1) **Llama 2** - description`), else from the first cell whose link
    is not a generic "Paper"/"Code"/"Tweet"; the url from the title's link, else the row's first
    such link, the others kept in `extra["links"]`; year, authors, venue, tags and notes from the
    columns so named; other cells joined to the note. A row without a link, or whose title link
    is an in-page anchor, is not a reference."""
    roles = {index: role for index, name in enumerate(columns) for role, names in _COLUMNS.items() if name in names}
    links = [(index, link) for index, cell in enumerate(cells) for link in _links(cell)
             if not link.image and inline_text(link.text) and link.target]
    if not links or all(anchor_only(link.target) for _, link in links):
        return None
    titled = next((index for index, role in roles.items() if role == "title" and index < len(cells)), None)
    if titled is None:
        titled = next((index for index, link in links if not _GENERIC_LINK_TEXT.fullmatch(inline_text(link.text))),
                      next((index for index, cell in enumerate(cells) if index not in roles and inline_text(cell)),
                           links[0][0]))
    entry = _cell_entry(cells[titled])
    if entry is None or (entry.url and anchor_only(entry.url)):
        return None
    outside = [link for index, link in links if index != titled and not anchor_only(link.target)]
    url = entry.url or next((link.target for link in outside), None)
    extra = {"links": [{"text": inline_text(link.text), "url": link.target} for link in outside
                       if link.target != url]}
    found: dict[str, list[str]] = {role: [] for role in _COLUMNS}
    for index, cell in enumerate(cells):
        text = inline_text(cell)
        if index == titled or not text or _only_links(cell):
            continue  # a cell of links is the row's links, kept above
        role = roles.get(index, "note")
        found["note" if role == "title" else role].append(text)
    year = next((int(m[1]) for text in found["year"] if (m := _YEAR.search(text))), entry.year)
    authors = entry.authors or tuple(name for text in found["authors"] for name in author_list(text))
    tags = (*entry.tags, *(tag.strip() for text in found["tags"] for tag in re.split(r"[,;、，]", text) if tag.strip()))
    note = " · ".join(part for part in (entry.note, *found["note"]) if part) or None
    return Entry(entry.title, url, year, entry.kind, authors, note, tuple(dict.fromkeys(tags)),
                 venue=" · ".join(found["venue"]) or None, extra=extra if extra["links"] else {})


def _cell_entry(cell: str) -> Entry | None:
    """The title cell of a row: a linked title read as a list item, or plain text
    (`1) **Llama 2** - a family of LLMs`: enumeration dropped, a bold lead or the text before a
    separator is the title, the rest the note)."""
    if (link := _first_link(cell)) and not _GENERIC_LINK_TEXT.fullmatch(inline_text(link.text)):
        return _link_entry(cell, link)
    text = cell[_ENUMERATION.match(cell).end():] if _ENUMERATION.match(cell) else cell
    text = _without_links(text) if link else text
    if bold := _BOLD_LEAD.match(text):
        title, rest = inline_text(bold[2]), text[bold.end():]
    else:
        title, _, rest = inline_text(text).partition(" - ")
    title, note = title.strip(), inline_text(rest).lstrip(_NOTE_LEAD).strip()
    if not any(char.isalnum() for char in title):
        return None
    return Entry(title, None, None, None, (), note if any(char.isalnum() for char in note) else None)


def anchor_only(target: str) -> bool:
    """A link to a place on this page (`#section`, `./#section`, `README.md#section`): navigation,
    never a reference."""
    return bool(_ANCHOR_TARGET.match(target.strip()))


def numbered_entry(text: str) -> Entry | None:
    """`**[3]** A. Author and B. Author, "Title," *Venue*, 2019. [pdf](url)`, as in papers' reference
    lists pasted into a page: None unless the text starts with a bracketed number and quotes a title."""
    number = _NUMBERED.match(text)
    quoted = _QUOTED.search(text, number.end()) if number else None
    if not quoted or not inline_text(quoted[1]).strip(" ,.;:"):
        return None
    before = inline_text(text[number.end() : quoted.start()]).strip(" ,.;:")
    after = text[quoted.end() :]
    link = _first_link(after) or _first_link(quoted[1])
    authors = author_list(before)
    note = inline_text(_without_links(after)).strip(" ,.;:")
    return Entry(
        title=inline_text(quoted[1]).strip(" ,.;:"),
        url=link.target if link and not anchor_only(link.target) else None,
        year=next((int(m[1]) for m in _YEAR.finditer(after)), None),
        authors=authors,
        note=note if any(char.isalnum() for char in note) else None,
    )


def _without_links(text: str) -> str:
    kept, position = [], 0
    for link in _links(text):
        if link.start >= position:
            kept.append(text[position : link.start])
            position = link.end
    return "".join(kept) + text[position:]


def reference_links_inline(text: str, definitions: dict[str, dict]) -> str:
    """`[Title][ref]`, `[Title][]` and `[ref]` rewritten as `[Title](url)` from the page's
    `[ref]: url` definitions (markdown-it collects them; keys are normalised labels)."""
    if "]" not in text or not definitions:
        return text
    from markdown_it.common.utils import normalizeReference

    brackets = _pairs(text, "[", "]")
    kept, position = [], 0
    for opening in sorted(brackets):
        close = brackets[opening]
        if opening < position or text.startswith("(", close + 1):
            continue
        label_end = brackets.get(close + 1) if text.startswith("[", close + 1) else None
        label = text[close + 2 : label_end] if label_end is not None else ""
        target = definitions.get(normalizeReference(label or text[opening + 1 : close]))
        if target is None:
            continue
        kept.append(f"{text[position:opening]}[{text[opening + 1 : close]}](<{target['href']}>)")
        position = (label_end if label_end is not None else close) + 1
    return "".join(kept) + text[position:]


def html_links_inline(text: str) -> str:
    """`<a href="url"><b>Name</b></a>` rewritten as `[Name](url)`, so the link rules read it."""
    if "<a" not in text and "<A" not in text:
        return text
    lowered, kept, position = text.lower(), [], 0
    for opening in _HTML_LINK_OPEN.finditer(text, position):
        if opening.start() < position:
            continue
        close = lowered.find("</a", opening.end())
        if close < 0:
            break  # no closing tag after this one, so none after any later one either: linear time
        end = text.find(">", close)
        end = len(text) if end < 0 else end + 1
        kept.append(f"{text[position : opening.start()]}[{inline_text(text[opening.end() : close])}](<{html.unescape(opening[1])}>)")
        position = end
    return "".join(kept) + text[position:]
