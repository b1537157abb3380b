"""The reference record: the one shape every source produces and every later stage consumes."""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

# The one vocabulary of kinds: imported formats map their types onto it (the raw type stays in
# extra["type"]); kinds typed by hand (YAML, Markdown, JSON Lines) are read through its synonyms.
KINDS = ("paper", "book", "chapter", "thesis", "report", "web", "blog", "official-doc", "course", "repo",
         "software", "dataset", "video", "audio", "talk", "news", "legal", "patent", "list", "other")
_KIND_SYNONYMS = {
    "article": "paper", "preprint": "paper", "proceedings paper": "paper", "conference paper": "paper",
    "journal article": "paper", "web page": "web", "webpage": "web", "website": "web", "site": "web",
    "link": "web", "bookmark": "web", "post": "blog", "blog post": "blog", "doc": "official-doc",
    "docs": "official-doc", "documentation": "official-doc", "manual": "official-doc",
    "book chapter": "chapter", "section": "chapter", "dissertation": "thesis", "tech report": "report",
    "code": "software", "tool": "software", "library": "software", "repository": "repo", "data": "dataset",
    "film": "video", "movie": "video", "podcast": "audio", "presentation": "talk", "slides": "talk",
    "lecture": "talk", "tutorial": "course", "case": "legal", "law": "legal", "newspaper": "news",
    "magazine": "news",
}


@functools.lru_cache(maxsize=1024)  # a library has a handful of kinds, written thousands of times
def kind_name(text: str | None) -> str | None:
    """A kind as someone wrote it ("Papers", "web page", "blog/Course") in the vocabulary's words;
    a part the vocabulary does not know is kept as written, lower-cased (a list's own kinds)."""
    parts = [" ".join(part.split()).lower() for part in (text or "").split("/")]
    named = [_known_kind(part) or part for part in parts if part]
    return "/".join(dict.fromkeys(named)) or None


def _known_kind(word: str) -> str | None:
    for candidate in (word, word.removesuffix("s"), word.removesuffix("es")):
        if candidate in KINDS:
            return candidate
        if candidate in _KIND_SYNONYMS:
            return _KIND_SYNONYMS[candidate]
    return None


@dataclass(frozen=True)
class Reference:
    """One entry of a reading list.

    `topic` is the heading path inside the page (outermost first); `topic_en` is its English gloss,
    element by element, or empty when the headings are already English. `note` is the annotation as
    written (the user's own words, what a result table shows); `note_en` an English gloss of it when
    it is not English; `abstract` the work's own summary, kept apart because it is long and not the
    user's. `source` is "file:line" so that every later message can point back at the line the user
    wrote; `also_in` lists the "file:line" of the same work found in other files (merged duplicates).
    `also_topics` holds the other topic paths of an entry filed under several (a Zotero item in
    several collections); `fulltext` names plain-text files with the work's full text, which a build
    indexes apart (refsearch.fulltext) so that no query reads them with the record.
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
    also_topics: tuple[tuple[str, ...], ...] = ()
    fulltext: tuple[str, ...] = ()
    topic_source: str | None = None

    def __repr__(self) -> str:
        year = f", {self.year}" if self.year else ""
        return f"Reference({self.id!r}, {short_text(self.title)!r}{year})"

    @property
    def author(self) -> str | None:
        """The authors as one string, for callers written before `authors` existed."""
        return "; ".join(self.authors) or None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in _TUPLE_FIELDS:
            data[key] = list(data[key])
        data["also_topics"] = [list(path) for path in self.also_topics]
        for key in OMITTED_WHEN_EMPTY:  # most sources never fill them: records stay as they were
            if not data[key]:
                del data[key]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Reference":
        values = dict(data)
        for key in _TUPLE_FIELDS:
            values[key] = tuple(values.get(key) or ())
        values["also_topics"] = tuple(tuple(path) for path in values.get("also_topics") or ())
        return cls(**values)

    @property
    def topics(self) -> tuple[tuple[str, ...], ...]:
        """Every topic path the entry is filed under, `topic` first."""
        return (self.topic, *self.also_topics)

    @property
    def breadcrumb(self) -> str:
        return " › ".join((self.page, *self.topic))

    @property
    def cite_key(self) -> str | None:
        """The citation key the user's reference manager gave it (BibTeX, CSL, Zotero), if any."""
        key = self.extra.get("key")
        return key if isinstance(key, str) and key.strip() else None

    @property
    def other_titles(self) -> tuple[str, ...]:
        """The titles of the same work found elsewhere under another title (merged into this one)."""
        titles = self.extra.get("titles")
        return tuple(t for t in titles if isinstance(t, str)) if isinstance(titles, list) else ()

    @property
    def lists(self) -> int:
        """How many files (lists, libraries) hold this work: its own and those of the duplicates
        merged into it (`also_in`), a file counted once. Independent lists that agree on a work are
        evidence a reader wants it (fusion's agreement prior, the "in 3 lists" reason)."""
        own = _file_of(self.source)
        return 1 + len({_file_of(place) for place in self.also_in} - {own})

    @property
    def handle(self) -> str:
        """The short name a result list shows and `show`/`related` take: its citation key, else its
        id without the page prefix (the full id when that short one is not unique); from one of
        several libraries searched together (libraries.py), with its library's name first."""
        library = self.extra.get("library")
        if isinstance(library, str):
            own = self.id.partition(":")[2]
            return f"{library}:{self.cite_key or own.partition('/')[2] or own}"
        return self.cite_key or self.id.partition("/")[2] or self.id


def short_text(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters: the reprs of the public types name things, a title or a
    topic, on one line; the fields in full are a `to_json()` or an attribute away."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


_TUPLE_FIELDS = ("topic", "topic_en", "authors", "tags", "also_in", "fulltext")
OMITTED_WHEN_EMPTY = ("also_topics", "fulltext")
_GENERIC_FILE_NAMES = {"readme", "index", "zotero"}  # zotero.sqlite: a library is its data directory


def _file_of(place: str) -> str:
    """The file of a "file:line" place (the whole text when it names no line)."""
    file, _, line = place.rpartition(":")
    return file if file and line.isdigit() else place


def doi_of(text: str | None) -> str | None:
    """A DOI in canonical lower case, from `10.x/y`, `doi:10.x/y` or a doi.org URL."""
    match = _DOI.search(text or "")
    return match[0].rstrip(".,;").lower() if match else None


_DOI = re.compile(r"10\.[0-9]{4,9}/\S+")


def normalised_title(title: str) -> str:
    """A title as a key: case, accents, punctuation and spacing do not make another title."""
    decomposed = unicodedata.normalize("NFKD", title.casefold())
    letters = decomposed if decomposed.isascii() else "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", letters).split())


def normalised_url(url: str | None) -> str | None:
    """A URL as a key: scheme, `www.`, a trailing slash or `index.html`, the fragment and tracking
    parameters do not make another page; the path's case does (GitHub's does not, but many do)."""
    if not url or "://" not in url:
        return None
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").removeprefix("www.")
    except ValueError:
        return None
    if not host:
        return None
    path = re.sub(r"/(?:index\.html?)?$", "", parts.path)
    query = "&".join(sorted(p for p in parts.query.split("&") if p and not _TRACKING.match(p)))
    return f"{host}{path}" + (f"?{query}" if query else "")


_TRACKING = re.compile(r"^(?:utm_\w+|ref|ref_src|fbclid|gclid|spm|from)=", re.IGNORECASE)


def page_key(path: Path) -> str:
    """A file's default page key (the ids' prefix): its name without suffix; for README.md or
    index.md, which every awesome list is called, and a Zotero data directory's zotero.sqlite, its
    folder's name, so lists (and libraries) side by side differ."""
    folder = path.resolve().parent.name
    return folder if path.stem.lower() in _GENERIC_FILE_NAMES and folder else path.stem


def page_keys(paths: Iterable[Path]) -> dict[Path, str]:
    """Each file's page key, unique among `paths`. Files that would share one are the common case,
    not an edge: browsers all write `bookmarks.html`, Web of Science `savedrecs.txt`, and a library
    exported twice is `My Library.json` and `My Library.yaml`. Such files are told apart by their
    suffix, then by their folders, nearest first ("chrome-bookmarks", "firefox-bookmarks"); a key
    no other file shares stays the plain one, so adding an unrelated file changes no id."""
    keys = {path: page_key(path) for path in paths}
    groups: dict[str, list[Path]] = {}
    for path, key in keys.items():
        groups.setdefault(slugify(key), []).append(path)
    for group in groups.values():
        if len(group) > 1:
            variants = {path: _key_variants(path, keys[path]) for path in group}
            depth = max(len(found) for found in variants.values())
            for level in range(depth):
                chosen = {path: found[min(level, len(found) - 1)] for path, found in variants.items()}
                if len({slugify(key) for key in chosen.values()}) == len(group) or level == depth - 1:
                    keys.update(chosen)
                    break
    return keys


def _key_variants(path: Path, key: str) -> list[str]:
    """`key` made more specific step by step: with the file's suffix, then with its folders."""
    suffix = path.name[len(path.stem):].lstrip(".") if path.stem != path.name else ""
    folders = list(path.resolve().parent.parts[1:])
    if folders and folders[-1] == key:
        folders.pop()  # README.md's key is already its folder's name
    variants = [key, f"{key}.{suffix}" if suffix else key]
    for depth in range(1, len(folders) + 1):
        prefix = "-".join(folders[-depth:])
        variants += [f"{prefix}-{key}", f"{prefix}-{key}.{suffix}" if suffix else f"{prefix}-{key}"]
    return variants


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
        return self.take(self.base(page_key, title))

    @staticmethod
    def base(page_key: str, title: str) -> str:
        """The id an entry gets when its title is the first of its kind in the file."""
        return f"{slugify(page_key)}/{slugify(title)}"

    def take(self, base: str) -> str:
        """The next id of `base` (itself, else numbered)."""
        candidate, n = base, self._next_suffix.get(base, 2)
        while candidate in self._taken:
            candidate, n = f"{base}-{n}", n + 1
        self._next_suffix[base] = n
        self._taken.add(candidate)
        return candidate
