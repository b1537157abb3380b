"""Browser bookmark exports: the Netscape bookmark file (Firefox, Chrome, Edge, IE, Delicious, Pinboard).

Read with the standard library's tolerant HTML parser: the format is tag soup (`<DT>` and `<p>`
are never closed, IE writes `FOLDED` attributes and a space before `>`). Folders (`<H3>` followed
by a `<DL>`) give the topic path; the `<DD>` text after a link is its annotation; `TAGS="a,b"` are
tags; the page is the file's page key (every export's `<H1>` just says "Bookmarks"). Links that are
not pages to read (`place:` smart folders, `javascript:` bookmarklets, `data:`, `about:`,
`chrome:`) are skipped and counted in one warning.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from refsearch.records import IdAllocator, Reference, page_key
from refsearch.sources.common import clean, warn

SKIPPED_SCHEMES = ("place:", "javascript:", "data:", "about:", "chrome:")


def parse_bookmarks(text: str, path: Path, key: str | None = None) -> list[Reference]:
    path = Path(path)
    reader = _Reader()
    reader.feed(text)
    reader.close()
    key, ids = key or page_key(path), IdAllocator()
    references = [
        Reference(id=ids.new(key, title), title=title, page=key, topic=topic, url=url, kind="web",
                  note=clean(" ".join(note)), tags=tags, source=f"{path}:{line}")
        for title, url, topic, tags, note, line in reader.links
    ]
    if reader.skipped:
        shown = ", ".join(sorted(reader.skipped))
        warn(path, None, f"skipped {sum(reader.skipped.values())} bookmarks that are not pages ({shown} links)")
    return references


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str, tuple[str, ...], tuple[str, ...], list[str], int]] = []
        self.skipped: dict[str, int] = {}
        self.folders: list[str | None] = []  # one per open <DL>; None for a list that is not a folder
        self.pending_folder: list[str] | None = None  # text of an <H3> being read, then waiting for its <DL>
        self.in_folder_name = False
        self.link: dict | None = None  # the <A> being read
        self.note: list[str] | None = None  # the <DD> text being read, for the last link
        self.after_link = False  # a <DD> after a folder's <H3> describes the folder, not a link

    def parse_html_declaration(self, i: int) -> int:
        """`<![` or `<!DOCTYPE` followed by garbage: the standard library (3.11) gives up with an
        AssertionError; in tag soup it is skipped like any other bogus `<!...>`."""
        try:
            return super().parse_html_declaration(i)
        except AssertionError:
            return self.parse_bogus_comment(i)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("dt", "dl") or (tag == "a" and self.note is not None):
            self.note = None
        if tag == "h3":
            self.pending_folder, self.in_folder_name, self.after_link = [], True, False
        elif tag == "dl":
            name = clean(" ".join(self.pending_folder)) if self.pending_folder is not None else None
            self.folders.append(name)
            self.pending_folder = None
        elif tag == "a":
            values = {name.lower(): value or "" for name, value in attrs}
            self.link = {"href": values.get("href", "").strip(), "tags": values.get("tags", ""),
                         "text": [], "line": self.getpos()[0]}
        elif tag == "dd" and self.after_link:
            self.note = self.links[-1][4]

    def handle_endtag(self, tag: str) -> None:
        if tag == "h3":
            self.in_folder_name = False
        elif tag == "dl":
            if self.folders:
                self.folders.pop()
            self.note = None
        elif tag == "a" and self.link is not None:
            self._finish_link(self.link)
            self.link = None

    def handle_data(self, data: str) -> None:
        if self.link is not None:
            self.link["text"].append(data)
        elif self.in_folder_name and self.pending_folder is not None:
            self.pending_folder.append(data)
        elif self.note is not None:
            self.note.append(data)

    def _finish_link(self, link: dict) -> None:
        href = link["href"]
        scheme = next((s for s in SKIPPED_SCHEMES if href.lower().startswith(s)), None)
        if scheme or not href:
            self.after_link = False
            self.skipped[scheme or "empty"] = self.skipped.get(scheme or "empty", 0) + 1
            return
        title = clean(" ".join(link["text"])) or href
        topic = tuple(name for name in self.folders if name)
        tags = tuple(dict.fromkeys(t.strip() for t in link["tags"].split(",") if t.strip()))
        self.links.append((title, href, topic, tags, [], link["line"]))
        self.after_link = True
