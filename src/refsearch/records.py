"""The reference record: the one shape every source produces and every later stage consumes."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

KINDS = ("paper", "blog", "official-doc", "book", "course", "repo", "video", "talk", "list", "web", "thesis",
         "report", "software", "dataset", "other")


@dataclass(frozen=True)
class Reference:
    """One entry of a reading list.

    `topic` is the heading path inside the page (outermost first); `topic_en` is its English gloss,
    element by element, or empty when the headings are already English. `note` is the annotation as
    written (the user's own words, what a result table shows); `note_en` an English gloss of it when
    it is not English; `abstract` the work's own summary, kept apart because it is long and not the
    user's. `source` is "file:line" so that every later message can point back at the line the user
    wrote; `also_in` lists the "file:line" of the same work found in other files (merged duplicates).
    `topic_source` is "derived" when `topic` was not in the source but derived by the build (the
    page had no headings: derived_topics.py); an index sets it when it reads the reference, it is
    never stored.
    """

    id: str
    title: str
    page: str
    topic: tuple[str, ...] = ()
    topic_en: tuple[str, ...] = ()
    url: str | None = None
    year: int | None = None
    kind: str | None = None
    authors: tuple[str, ...] = ()
    note: str | None = None
    note_en: str | None = None
    abstract: str | None = None
    venue: str | None = None
    doi: str | None = None
    tags: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    source: str = ""
    also_in: tuple[str, ...] = ()
    topic_source: str | None = None

    @property
    def author(self) -> str | None:
        """The authors as one string, for callers written before `authors` existed."""
        return "; ".join(self.authors) or None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in _TUPLE_FIELDS:
            data[key] = list(data[key])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Reference":
        values = dict(data)
        for key in _TUPLE_FIELDS:
            values[key] = tuple(values.get(key) or ())
        return cls(**values)

    @property
    def breadcrumb(self) -> str:
        return " › ".join((self.page, *self.topic))


_TUPLE_FIELDS = ("topic", "topic_en", "authors", "tags", "also_in")
_GENERIC_FILE_NAMES = {"readme", "index"}


def page_key(path: Path) -> str:
    """A file's default page key (the ids' prefix): its name without suffix; for README.md or
    index.md, which every awesome list is called, its folder's name, so lists side by side differ."""
    folder = path.resolve().parent.name
    return folder if path.stem.lower() in _GENERIC_FILE_NAMES and folder else path.stem


def slugify(text: str, max_length: int = 60) -> str:
    """A readable, stable id part: lower-case words (CJK kept) joined by '-'.

    Long titles are cut and given a short hash so two long titles that share a prefix stay distinct.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    slug = re.sub(r"[^\w]+", "-", text, flags=re.UNICODE).strip("-_") or "untitled"
    if len(slug) > max_length:
        digest = hashlib.sha1(slug.encode()).hexdigest()[:6]
        slug = slug[:max_length].rstrip("-_") + "-" + digest
    return slug


class IdAllocator:
    """Ids for one source file: `<page>/<title-slug>`, stable when an entry moves within its page.

    Repeated titles get -2, -3… in file order; ids the file gives explicitly are reserved first.
    The next free suffix is remembered per title, so thousands of equal titles stay linear.
    """

    def __init__(self, reserved: Iterable[str] = ()):
        self._taken = set(reserved)
        self._next_suffix: dict[str, int] = {}

    def new(self, page_key: str, title: str) -> str:
        base = f"{slugify(page_key)}/{slugify(title)}"
        candidate, n = base, self._next_suffix.get(base, 2)
        while candidate in self._taken:
            candidate, n = f"{base}-{n}", n + 1
        self._next_suffix[base] = n
        self._taken.add(candidate)
        return candidate
