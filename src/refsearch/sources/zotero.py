"""Zotero: a data directory's `zotero.sqlite`, read directly, safely while Zotero runs, and in full.

What becomes what (docs/schema.md has the table): one reference per regular item (attachments,
notes, annotations, items in the trash and feed items are not references; an item with no title,
creator or note at all is skipped with a warning). Title (or a case's, statute's or email's
equivalent), creators in order (`authors`: the authors, or whoever the item type puts first;
`extra.creators` with every creator's role when any is not an author), date → year, item type →
kind (the raw type in `extra.type`), publication / proceedings / book / website title → venue,
DOI (also from a `DOI:` line in Extra), URL, ISBN (`extra.isbn`), abstract, tags, and the citation
key (`extra.key`: Zotero's own field, else Better BibTeX's database beside zotero.sqlite, else a
`Citation Key:` line in Extra); the Zotero item key is `extra.zotero_key`.

The user's own words are the `note`: child notes (HTML turned into text) and, from Zotero 6 on, the
PDF annotations of the item's attachments (highlighted text and comment; `extra.annotations` keeps
each with its kind and page label, which `show` lists). Collections give the topic path (nested
collections as the path); an item in several collections keeps the others in `also_topics`; one in
none sits under "Unfiled". Each attachment's `.zotero-ft-cache` (the text Zotero extracted from the
PDF or snapshot) is named in `fulltext`, for the build's full-text index (refsearch.fulltext).

The database is read from a private copy (sqlite_snapshot.py: Zotero keeps it locked and in WAL
mode, and it is never opened, locked or written to here). The schema is recognised by its tables'
columns, which covers Zotero 4 (userdata schema 77: creators through creatorData, notes under
`sourceItemID`, tag types on tags) to 7 (121); a database older than 77 is refused with one line,
and a newer one is read when it has what this reader needs, else refused with one line.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from refsearch.errors import SourceError
from refsearch.records import IdAllocator, Reference, doi_of, page_key
from refsearch.sources.common import MAX_AUTHORS, MAX_FIELD_CHARS, clean, person, stand_in_title, warn, year_in
from refsearch.sources.sqlite_snapshot import snapshot

OLDEST_USERDATA = 77  # Zotero 4.0 (the oldest schema tested: tests/zotero_fixture.py)
NEWEST_USERDATA = 121  # Zotero 7 (the newest schema tested: the shared libraries)
UNFILED = "Unfiled"
FULLTEXT_CACHE = ".zotero-ft-cache"
BETTER_BIBTEX = "better-bibtex.sqlite"

KINDS = {
    "journalArticle": "paper", "conferencePaper": "paper", "preprint": "paper", "magazineArticle": "paper",
    "newspaperArticle": "paper", "manuscript": "paper",
    "book": "book", "bookSection": "chapter", "thesis": "thesis", "report": "report",
    "webpage": "web", "forumPost": "web", "blogPost": "blog",
    "computerProgram": "software", "dataset": "dataset", "standard": "official-doc",
    "presentation": "talk", "podcast": "talk", "radioBroadcast": "talk",
    "videoRecording": "video", "film": "video", "tvBroadcast": "video",
    "case": "legal", "statute": "legal", "bill": "legal", "hearing": "legal", "regulation": "legal",
    "patent": "patent",
}
_NOT_REFERENCES = ("note", "attachment", "annotation")
_TITLE_FIELDS = ("title", "caseName", "nameOfAct", "subject", "shortTitle")
_DATE_FIELDS = ("date", "dateDecided", "dateEnacted", "issueDate", "filingDate")
_VENUE_FIELDS = ("publicationTitle", "proceedingsTitle", "bookTitle", "conferenceName", "websiteTitle", "blogTitle",
                 "forumTitle", "encyclopediaTitle", "dictionaryTitle", "programTitle", "seriesTitle", "university",
                 "institution", "court", "code")
# creator roles that are not the work's authors (unless an item has no other creator)
_SECONDARY_ROLES = {"editor", "seriesEditor", "translator", "contributor", "reviewedAuthor", "bookAuthor",
                    "cosponsor", "counsel", "attorneyAgent", "recipient", "commenter", "guest", "castMember",
                    "scriptwriter", "producer", "wordsBy", "interviewer"}
_ANNOTATION_KINDS = {1: "highlight", 2: "sticky note", 3: "image", 4: "ink", 5: "underline", 6: "text"}
_EXTRA_KEY = re.compile(r"^\s*(?:citation key|bibtex)\s*:\s*(\S+)\s*$", re.IGNORECASE | re.MULTILINE)
_EXTRA_DOI = re.compile(r"^\s*DOI\s*:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
_REQUIRED = {"items": {"itemID", "itemTypeID", "key"}, "itemData": {"itemID", "fieldID", "valueID"},
             "itemDataValues": {"valueID", "value"}, "itemCreators": {"itemID", "creatorID", "orderIndex"},
             "collections": {"collectionID", "collectionName", "parentCollectionID"},
             "collectionItems": {"collectionID", "itemID"}, "tags": {"tagID", "name"},
             "itemTags": {"itemID", "tagID"}, "itemNotes": {"itemID", "note"}, "itemAttachments": {"itemID"},
             "deletedItems": {"itemID"}, "creatorTypes": {"creatorTypeID", "creatorType"}}


_READ_TABLES = {*_REQUIRED, "version", "itemTypes", "itemTypesCombined", "fields", "fieldsCombined", "creators",
                "creatorData", "itemAnnotations", "libraries", "groups", "feeds", "feedItems", "deletedCollections"}


def read_zotero(path: Path, key: str | None = None) -> list[Reference]:
    """The regular items of the Zotero library whose database is `path` (see the module docstring);
    `key`: the ids' page key (default: the data directory's name, records.page_key)."""
    path = Path(path)
    with snapshot(path) as connection:
        try:
            library = _read_library(connection, path)
        except sqlite3.DatabaseError as error:
            raise SourceError(path, None, _unreadable(connection, error)) from None
    library.citation_keys.update(_better_bibtex_keys(path.parent / BETTER_BIBTEX))
    return library.references(path, key or page_key(path))


@dataclass
class _Library:
    items: list[tuple[int, str, int | None, str]] = field(default_factory=list)  # itemID, key, libraryID, type
    fields: dict[int, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    creators: dict[int, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))  # (name, role)
    tags: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    paths: dict[int, list[tuple[str, ...]]] = field(default_factory=lambda: defaultdict(list))  # collection paths
    annotations: dict[int, list[dict]] = field(default_factory=lambda: defaultdict(list))
    attachments: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))  # attachment keys
    group_names: dict[int | None, str] = field(default_factory=dict)
    citation_keys: dict[tuple[int | None, str] | int, str] = field(default_factory=dict)

    def references(self, path: Path, key: str) -> list[Reference]:
        ids, references = IdAllocator(), []
        for item_id, item_key, library_id, item_type in self.items:
            ref = self._reference(item_id, item_key, library_id, item_type, path, key, ids)
            if ref is not None:
                references.append(ref)
        return references

    def _reference(self, item_id: int, item_key: str, library_id: int | None, item_type: str, path: Path,
                   key: str, ids: IdAllocator) -> Reference | None:
        values = self.fields.get(item_id, {})
        creators = self.creators.get(item_id, [])
        authors = [name for name, role in creators if role not in _SECONDARY_ROLES] or [name for name, _ in creators]
        year = year_in(next((values[name] for name in _DATE_FIELDS if name in values), None))
        venue = next((text for name in _VENUE_FIELDS if (text := clean(values.get(name)))), None)
        annotations = self.annotations.get(item_id, [])
        title = next((text for name in _TITLE_FIELDS if (text := clean(values.get(name)))), None)
        title = title or stand_in_title(authors, year, venue) or _first_line(annotations)
        where = f"{path}:{item_id}"
        if not title:
            warn(path, item_id, f"skipped an empty Zotero item ({item_key}): no title, creator or note")
            return None
        extra_field = values.get("extra") or ""
        extra: dict = {"zotero_key": item_key, "type": item_type}
        citation_key = (clean(values.get("citationKey")) or self.citation_keys.get((library_id, item_key))
                        or self.citation_keys.get(item_id) or _first(_EXTRA_KEY, extra_field))
        if citation_key:
            extra["key"] = citation_key
        if isbn := clean(values.get("ISBN")):
            extra["isbn"] = isbn
        if any(role != "author" for _, role in creators):
            extra["creators"] = [{"name": name, "role": role} for name, role in creators]
        if annotations:
            extra["annotations"] = annotations
        paths = self.paths.get(item_id) or [(UNFILED,)]
        url = clean(values.get("url"))
        return Reference(
            id=ids.new(key, title),
            title=_clipped("title", title, where),
            page=self.group_names.get(library_id, key),
            topic=paths[0],
            also_topics=tuple(paths[1:]),
            url=_clipped("url", url, where),
            year=year,
            kind=KINDS.get(item_type, "other"),
            authors=tuple(_limited_authors(authors, where)),
            note=_clipped("note", " · ".join(_annotation_text(a) for a in annotations) or None, where),
            abstract=_clipped("abstract", clean(values.get("abstractNote")), where),
            venue=_clipped("venue", venue, where),
            doi=doi_of(values.get("DOI")) or doi_of(_first(_EXTRA_DOI, extra_field)),
            tags=tuple(dict.fromkeys(self.tags.get(item_id, []))),
            extra=extra,
            fulltext=tuple(str(cache) for attachment in self.attachments.get(item_id, [])
                           if (cache := path.parent / "storage" / attachment / FULLTEXT_CACHE).is_file()),
            source=where,
        )


# --- reading the database ----------------------------------------------------------------------------


def _read_library(db: sqlite3.Connection, path: Path) -> _Library:
    columns = _columns(db, path)
    library = _Library()
    deleted = "SELECT itemID FROM deletedItems"
    parent = "parentItemID" if "parentItemID" in columns["itemNotes"] else "sourceItemID"
    excluded = _excluded_libraries(db, columns)
    kinds = ", ".join(f"'{name}'" for name in _NOT_REFERENCES)
    item_types = "itemTypesCombined" if "itemTypesCombined" in columns else "itemTypes"
    feed_items = " AND i.itemID NOT IN (SELECT itemID FROM feedItems)" if "feedItems" in columns else ""
    for item_id, key, library_id, item_type in db.execute(
            f"SELECT i.itemID, i.key, i.libraryID, t.typeName FROM items i JOIN {item_types} t USING (itemTypeID) "
            f"WHERE t.typeName NOT IN ({kinds}) AND i.itemID NOT IN ({deleted}){feed_items} ORDER BY i.itemID"):
        if library_id not in excluded:
            library.items.append((item_id, str(key), library_id, str(item_type)))
    field_table = "fieldsCombined" if "fieldsCombined" in columns else "fields"
    for item_id, name, value in db.execute(
            f"SELECT d.itemID, f.fieldName, v.value FROM itemData d JOIN {field_table} f USING (fieldID) "
            "JOIN itemDataValues v USING (valueID)"):
        if value is not None:
            library.fields[item_id][str(name)] = str(value)
    names = ("JOIN creatorData n USING (creatorDataID)" if "creatorDataID" in columns["creators"] else "")
    table = "n" if names else "c"
    for item_id, first, last, mode, role in db.execute(
            f"SELECT ic.itemID, {table}.firstName, {table}.lastName, {table}.fieldMode, t.creatorType "
            f"FROM itemCreators ic JOIN creators c USING (creatorID) {names} "
            "JOIN creatorTypes t USING (creatorTypeID) ORDER BY ic.itemID, ic.orderIndex"):
        name = clean(last) if mode == 1 else person(last, first)  # CJK names keep their order
        if name:
            library.creators[item_id].append((name, str(role)))
    for item_id, name in db.execute("SELECT it.itemID, t.name FROM itemTags it JOIN tags t USING (tagID) "
                                    "ORDER BY it.itemID, t.name"):
        if clean(name):
            library.tags[item_id].append(clean(name))
    _read_collections(db, columns, library)
    for item_id, html in db.execute(
            f"SELECT n.{parent}, n.note FROM itemNotes n JOIN items i ON i.itemID = n.itemID "
            f"WHERE n.{parent} IS NOT NULL AND n.itemID NOT IN ({deleted}) ORDER BY n.{parent}, i.dateAdded, n.itemID"):
        if text := _html_text(html or ""):
            library.annotations[item_id].append({"kind": "note", "text": text})
    if "itemAnnotations" in columns:
        _read_annotations(db, library, deleted)
    attachment_parent = "parentItemID" if "parentItemID" in columns["itemAttachments"] else "sourceItemID"
    for item_id, key in db.execute(
            f"SELECT a.{attachment_parent}, i.key FROM itemAttachments a JOIN items i ON i.itemID = a.itemID "
            f"WHERE a.{attachment_parent} IS NOT NULL AND a.itemID NOT IN ({deleted}) ORDER BY a.{attachment_parent}, a.itemID"):
        if re.fullmatch(r"[A-Za-z0-9]+", str(key)):  # a folder name under storage/, never a path
            library.attachments[item_id].append(str(key))
    return library


def _columns(db: sqlite3.Connection, path: Path) -> dict[str, set[str]]:
    """Every table's columns; the schema version is checked here (one line when it is not one we read)."""
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    columns = {table: {name for (name,) in db.execute("SELECT name FROM pragma_table_info(?)", (table,))}
               for table in tables & _READ_TABLES}
    if "version" not in columns or "items" not in columns:
        raise SourceError(path, None, "not a Zotero database (it has no `version` or `items` table)")
    row = db.execute("SELECT version FROM version WHERE schema = 'userdata'").fetchone()
    version = row[0] if row else None
    if not isinstance(version, int) or version < OLDEST_USERDATA:
        raise SourceError(path, None, f"a Zotero database with schema version {version} (userdata), which refsearch "
                                      f"does not know: it reads versions {OLDEST_USERDATA} (Zotero 4) and later; "
                                      "open it in a current Zotero once to upgrade it, or export the library as "
                                      "BibTeX or CSL JSON")
    lacking = [f"{table}.{name}" for table, wanted in _REQUIRED.items()
               for name in sorted(wanted - columns.get(table, set()))]
    has = columns.get
    if not (has("itemTypesCombined") or has("itemTypes")) or not (has("fieldsCombined") or has("fields")):
        lacking.append("itemTypes or fields")
    if not {"parentItemID", "sourceItemID"} & columns.get("itemNotes", set()):
        lacking.append("itemNotes.parentItemID")
    if lacking:
        raise SourceError(path, None, _schema_problem(version, f"it has no {', '.join(lacking)}"))
    return columns


def _unreadable(db: sqlite3.Connection, error: sqlite3.DatabaseError) -> str:
    try:
        version = db.execute("SELECT version FROM version WHERE schema = 'userdata'").fetchone()[0]
    except (sqlite3.DatabaseError, TypeError):
        version = None
    return _schema_problem(version, str(error))


def _schema_problem(version, why: str) -> str:
    newer = isinstance(version, int) and version > NEWEST_USERDATA
    known = f"newer than refsearch knows ({NEWEST_USERDATA})" if newer else "not one refsearch can read"
    return (f"a Zotero database with schema version {version} (userdata), {known}: {why}; export the library "
            "as BibTeX or CSL JSON, or update refsearch")


def _excluded_libraries(db: sqlite3.Connection, columns: dict[str, set[str]]) -> set[int | None]:
    """Feed libraries (RSS items are not the user's references); group names are read on the way."""
    excluded: set[int | None] = set()
    if "feeds" in columns:
        excluded.update(library for (library,) in db.execute("SELECT libraryID FROM feeds"))
    type_column = "type" if "type" in columns.get("libraries", set()) else "libraryType"
    if type_column in columns.get("libraries", set()):
        excluded.update(library for library, kind in db.execute(f"SELECT libraryID, {type_column} FROM libraries")
                        if kind == "feed")
    return excluded


def _read_collections(db: sqlite3.Connection, columns: dict[str, set[str]], library: _Library) -> None:
    if {"libraryID", "groupID", "name"} <= columns.get("groups", set()):
        library.group_names.update((library_id, str(name)) for library_id, name in
                                   db.execute("SELECT libraryID, name FROM groups") if clean(str(name)))
    trashed = set()
    if "deletedCollections" in columns:
        trashed = {collection for (collection,) in db.execute("SELECT collectionID FROM deletedCollections")}
    collections = {collection: (clean(str(name)) or "(unnamed)", parent) for collection, name, parent in
                   db.execute("SELECT collectionID, collectionName, parentCollectionID FROM collections")}

    def path_of(collection: int) -> tuple[str, ...] | None:
        path: list[str] = []
        seen = set()
        while collection is not None:
            if collection in trashed or collection not in collections or collection in seen:
                return None  # in the trash, or a broken or circular parent chain
            seen.add(collection)
            name, collection = collections[collection]
            path.insert(0, name)
        return tuple(path)

    paths = {collection: path_of(collection) for collection in collections}
    for item_id, collection in db.execute("SELECT itemID, collectionID FROM collectionItems"):
        if paths.get(collection):
            library.paths[item_id].append(paths[collection])
    for item_id, found in library.paths.items():
        library.paths[item_id] = sorted(set(found))


def _read_annotations(db: sqlite3.Connection, library: _Library, deleted: str) -> None:
    """PDF (and EPUB, snapshot) annotations, Zotero 6 on: in the order of the attachment and the page."""
    for item_id, kind, text, comment, page in db.execute(
            "SELECT a.parentItemID, n.type, n.text, n.comment, n.pageLabel FROM itemAnnotations n "
            "JOIN itemAttachments a ON a.itemID = n.parentItemID "
            f"WHERE a.parentItemID IS NOT NULL AND n.itemID NOT IN ({deleted}) AND a.itemID NOT IN ({deleted}) "
            "ORDER BY a.parentItemID, a.itemID, n.sortIndex, n.itemID"):
        entry = {"kind": _ANNOTATION_KINDS.get(kind, "annotation"), "text": clean(text), "comment": clean(comment),
                 "page": clean(str(page)) if page is not None else None}
        if entry["text"] or entry["comment"]:
            library.annotations[item_id].append({name: value for name, value in entry.items() if value})


def _better_bibtex_keys(database: Path) -> dict:
    """Citation keys from Better BibTeX's own database: (libraryID, item key) → key, or itemID → key.
    Its layout changed over the years (a `citationkey` table since BBT 6; before, LokiJS JSON in a
    `better-bibtex` table); anything else, or no such file, gives no keys."""
    if not database.is_file():
        return {}
    keys: dict = {}
    try:
        with snapshot(database) as db:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "citationkey" in tables:
                rows = [dict(zip(("itemID", "itemKey", "libraryID", "citationKey"), row)) for row in
                        db.execute("SELECT itemID, itemKey, libraryID, citationKey FROM citationkey")]
            elif "better-bibtex" in tables:
                row = db.execute("SELECT data FROM `better-bibtex` WHERE name = 'better-bibtex.citekey'").fetchone()
                data = json.loads(row[0]).get("data", []) if row else []
                rows = [{**entry, "citationKey": entry.get("citekey")} for entry in data if isinstance(entry, dict)]
            else:
                rows = []
    except (SourceError, sqlite3.DatabaseError, ValueError, AttributeError):
        warn(database, None, "cannot read Better BibTeX's citation keys here; using those in Extra")
        return {}
    for row in rows:
        key = row.get("citationKey")
        if isinstance(key, str) and key.strip():
            if isinstance(row.get("itemKey"), str):
                keys[(row.get("libraryID"), row["itemKey"])] = key.strip()
            if isinstance(row.get("itemID"), int):
                keys[row["itemID"]] = key.strip()
    return keys


# --- values ------------------------------------------------------------------------------------------


def _first_line(annotations: list[dict]) -> str | None:
    """A standalone item's first note line, which is what Zotero shows as a note's title."""
    for annotation in annotations:
        if annotation["kind"] == "note":
            return clean(annotation["text"].splitlines()[0][:200])
    return None


def _annotation_text(annotation: dict) -> str:
    text, comment = annotation.get("text"), annotation.get("comment")
    if annotation["kind"] == "note":
        return " ".join(text.split())
    return " — ".join(part for part in (f"“{text}”" if text else None, comment) if part)


def _first(pattern: re.Pattern, text: str) -> str | None:
    match = pattern.search(text)
    return match[1] if match else None


def _clipped(name: str, value: str | None, where: str) -> str | None:
    """A field cut to its limit (common.MAX_FIELD_CHARS) with a warning: one overlong field in a
    library of thousands should not stop the build, as it does in a file the user edits by hand."""
    limit = MAX_FIELD_CHARS[name]
    if value is None or len(value) <= limit:
        return value
    path, _, item = where.rpartition(":")
    warn(path, int(item), f"{name} cut to {limit:,} of its {len(value):,} characters")
    return value[:limit - 1].rsplit(" ", 1)[0] + "…"


def _limited_authors(authors: list[str], where: str) -> list[str]:
    if len(authors) <= MAX_AUTHORS:
        return authors
    path, _, item = where.rpartition(":")
    warn(path, int(item), f"kept the first {MAX_AUTHORS:,} of {len(authors):,} creators")
    return authors[:MAX_AUTHORS]


class _Text(HTMLParser):
    """A note's HTML as text: block elements and <br> end lines; script and style are dropped."""

    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table",
              "ul", "ol", "hr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden = max(0, self._hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def _html_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)
