"""markdown-it's inline tokens as plain text with spans: what the entry rules (markdown_inline.py) read.

The rules ask where a link is, what comes before and after it, which parts are code (backtick
tags) or bold (a table cell's bold lead); they never need the markup itself. So one pass over the
tokens writes the text a reader sees (link text, code without backticks, no images, no HTML tags,
no emphasis marks; entities and escapes decoded) and records the links, code spans and bold spans
as positions in it. Autolinks (`<https://...>`) stay text, with their place kept in `urls`: the
rules read them as bare URLs, the one handle a link-less item has. `<a href="url">Name</a>` is a
link like `[Name](url)`.
"""

from __future__ import annotations

import bisect
import html
import re
from dataclasses import dataclass
from functools import cached_property

_HTML_LINK_OPEN = re.compile(r"<a\s[^<>]*?href\s*=\s*[\"']([^\"'<>]*)[\"'][^<>]*>", re.IGNORECASE)
_HTML_LINK_CLOSE = re.compile(r"</a\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class Link:
    start: int  # in Inline.text
    end: int
    text: str  # Inline.text[start:end]
    target: str


Span = tuple[int, int]


@dataclass(frozen=True)
class Inline:
    """One item's, cell's or line's inline content: its text and where links, code and bold are."""

    text: str
    links: tuple[Link, ...] = ()
    code: tuple[Span, ...] = ()
    strong: tuple[Span, ...] = ()
    urls: tuple[Span, ...] = ()  # autolinks

    def cut(self, start: int, end: int | None = None) -> Inline:
        """The part from `start` to `end`, with the spans that lie wholly inside it."""
        end = len(self.text) if end is None else end
        return Inline(self.text[start:end],
                      tuple(Link(link.start - start, link.end - start, link.text, link.target)
                            for link in self.links if start <= link.start and link.end <= end),
                      _inside(self.code, start, end), _inside(self.strong, start, end), _inside(self.urls, start, end))

    @cached_property
    def covered(self) -> list[Span]:
        """The text inside links, as sorted spans that do not overlap (an `<a href>` may sit in a link)."""
        merged: list[Span] = []
        for link in self.links:
            if merged and link.start < merged[-1][1]:
                merged[-1] = (merged[-1][0], max(link.end, merged[-1][1]))
            else:
                merged.append((link.start, link.end))
        return merged

    def strip(self) -> Inline:
        start = len(self.text) - len(self.text.lstrip())
        return self.cut(start, max(start, len(self.text.rstrip())))

    def plain(self) -> str:
        """The text with its whitespace runs made single spaces."""
        return " ".join(self.text.split())

    def without_links(self) -> Inline:
        """The text with each link (its text too) taken out; code, bold and URL spans outside links kept."""
        parts: list[Span] = []  # (start, end) of the text kept, in order
        position = 0
        for link in self.links:
            if link.start >= position:
                parts.append((position, link.start))
                position = link.end
        parts.append((position, len(self.text)))
        shifts, size = [], 0
        for part_start, part_end in parts:
            shifts.append(size - part_start)
            size += part_end - part_start
        starts = [part_start for part_start, _ in parts]

        def kept(spans: tuple[Span, ...]) -> tuple[Span, ...]:
            found = []
            for a, b in spans:
                index = bisect.bisect_right(starts, a) - 1
                if b <= parts[index][1]:
                    found.append((a + shifts[index], b + shifts[index]))
            return tuple(found)

        return Inline("".join(self.text[a:b] for a, b in parts), (), kept(self.code), kept(self.strong), kept(self.urls))


def _inside(spans: tuple[Span, ...], start: int, end: int) -> tuple[Span, ...]:
    return tuple((a - start, b - start) for a, b in spans if start <= a and b <= end) if spans else ()


def read_tokens(tokens) -> Inline:
    """markdown-it inline tokens (an inline token's children) as an Inline."""
    text: list[str] = []
    size = 0
    links: list[Link] = []
    code: list[Span] = []
    strong: list[Span] = []
    urls: list[Span] = []
    strong_starts: list[int] = []
    # the Markdown link and the `<a href>` being read: where its text starts (in characters, in parts), its target
    opened: dict[str, tuple[int, int, str]] = {}
    for token in tokens:
        kind = token.type
        added = ""
        if kind in ("text", "text_special"):
            added = token.content
        elif kind == "code_inline":
            added = token.content
            code.append((size, size + len(added)))
        elif kind in ("softbreak", "hardbreak"):
            added = "\n"
        elif kind == "link_open" and token.markup == "autolink":
            urls.append((size, size))
        elif kind == "link_close" and token.markup == "autolink":
            urls[-1] = (urls[-1][0], size)
        elif kind == "link_open":
            opened["md"] = (size, len(text), str(token.attrGet("href") or ""))
        elif kind == "link_close" and "md" in opened:
            links.append(_closed(opened.pop("md"), size, text))
        elif kind == "strong_open":
            strong_starts.append(size)
        elif kind == "strong_close" and strong_starts:
            strong.append((strong_starts.pop(), size))
        elif kind == "html_inline":
            if opening := _HTML_LINK_OPEN.fullmatch(token.content):
                opened["html"] = (size, len(text), html.unescape(opening[1]))
            elif "html" in opened and _HTML_LINK_CLOSE.fullmatch(token.content):
                links.append(_closed(opened.pop("html"), size, text))
        # images, emphasis and other HTML tags: nothing a reader sees as text
        if added:
            text.append(added)
            size += len(added)
    links.sort(key=lambda link: link.start)  # a link closes after the `<a href>` inside it
    return Inline("".join(text), tuple(links), tuple(code), tuple(sorted(strong)), tuple(urls))


def _closed(opened: tuple[int, int, str], size: int, parts: list[str]) -> Link:
    start, first_part, target = opened
    return Link(start, size, "".join(parts[first_part:]), target)
