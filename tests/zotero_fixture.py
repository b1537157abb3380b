"""Synthetic Zotero data directories for tests, so the Zotero tests run in a clone without ../shared.

The tables and columns are those of Zotero's public schema (zotero/zotero, resource/schema/
userdata.sql and system.sql), written out here for the tables the reader touches: ZOTERO7 as in a
Zotero 7 database (userdata 121, like the shared libraries), ZOTERO4 as in userdata.sql version 77
(Zotero 4: creators through creatorData, notes and attachments under `sourceItemID`, the tag type on
`tags`, the user library's items with libraryID NULL, no PDF annotations). Item type, field and
creator type numbers are Zotero's own (system.sql).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

ZOTERO7 = """
CREATE TABLE version (schema TEXT PRIMARY KEY, version INT NOT NULL);
CREATE TABLE settings (setting TEXT, key TEXT, value, PRIMARY KEY (setting, key));
CREATE TABLE itemTypes (itemTypeID INTEGER PRIMARY KEY, typeName TEXT, templateItemTypeID INT, display INT DEFAULT 1);
CREATE TABLE itemTypesCombined (itemTypeID INT NOT NULL, typeName TEXT NOT NULL, display INT DEFAULT 1 NOT NULL,
    custom INT NOT NULL, PRIMARY KEY (itemTypeID));
CREATE TABLE fields (fieldID INTEGER PRIMARY KEY, fieldName TEXT, fieldFormatID INT);
CREATE TABLE fieldsCombined (fieldID INT NOT NULL, fieldName TEXT NOT NULL, label TEXT, fieldFormatID INT,
    custom INT NOT NULL, PRIMARY KEY (fieldID));
CREATE TABLE creatorTypes (creatorTypeID INTEGER PRIMARY KEY, creatorType TEXT);
CREATE TABLE libraries (libraryID INTEGER PRIMARY KEY, type TEXT NOT NULL, editable INT NOT NULL,
    filesEditable INT NOT NULL, version INT NOT NULL DEFAULT 0, storageVersion INT NOT NULL DEFAULT 0,
    lastSync INT NOT NULL DEFAULT 0, archived INT NOT NULL DEFAULT 0);
CREATE TABLE groups (groupID INTEGER PRIMARY KEY, libraryID INT NOT NULL UNIQUE, name TEXT NOT NULL,
    description TEXT NOT NULL, version INT NOT NULL);
CREATE TABLE feeds (libraryID INTEGER PRIMARY KEY, name TEXT NOT NULL, url TEXT NOT NULL UNIQUE);
CREATE TABLE items (itemID INTEGER PRIMARY KEY, itemTypeID INT NOT NULL,
    dateAdded TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, dateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    clientDateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, libraryID INT NOT NULL, key TEXT NOT NULL,
    version INT NOT NULL DEFAULT 0, synced INT NOT NULL DEFAULT 0, UNIQUE (libraryID, key));
CREATE TABLE feedItems (itemID INTEGER PRIMARY KEY, guid TEXT NOT NULL UNIQUE, readTime TIMESTAMP,
    translatedTime TIMESTAMP);
CREATE TABLE itemDataValues (valueID INTEGER PRIMARY KEY, value UNIQUE);
CREATE TABLE itemData (itemID INT, fieldID INT, valueID, PRIMARY KEY (itemID, fieldID));
CREATE TABLE itemNotes (itemID INTEGER PRIMARY KEY, parentItemID INT, note TEXT, title TEXT);
CREATE TABLE itemAttachments (itemID INTEGER PRIMARY KEY, parentItemID INT, linkMode INT, contentType TEXT,
    charsetID INT, path TEXT, syncState INT DEFAULT 0, storageModTime INT, storageHash TEXT,
    lastProcessedModificationTime INT);
CREATE TABLE itemAnnotations (itemID INTEGER PRIMARY KEY, parentItemID INT NOT NULL, type INTEGER NOT NULL,
    authorName TEXT, text TEXT, comment TEXT, color TEXT, pageLabel TEXT, sortIndex TEXT NOT NULL,
    position TEXT NOT NULL, isExternal INT NOT NULL);
CREATE TABLE tags (tagID INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE itemTags (itemID INT NOT NULL, tagID INT NOT NULL, type INT NOT NULL, PRIMARY KEY (itemID, tagID));
CREATE TABLE creators (creatorID INTEGER PRIMARY KEY, firstName TEXT, lastName TEXT, fieldMode INT,
    UNIQUE (lastName, firstName, fieldMode));
CREATE TABLE itemCreators (itemID INT NOT NULL, creatorID INT NOT NULL, creatorTypeID INT NOT NULL DEFAULT 1,
    orderIndex INT NOT NULL DEFAULT 0, PRIMARY KEY (itemID, creatorID, creatorTypeID, orderIndex),
    UNIQUE (itemID, orderIndex));
CREATE TABLE collections (collectionID INTEGER PRIMARY KEY, collectionName TEXT NOT NULL,
    parentCollectionID INT DEFAULT NULL, clientDateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    libraryID INT NOT NULL, key TEXT NOT NULL, version INT NOT NULL DEFAULT 0, synced INT NOT NULL DEFAULT 0,
    UNIQUE (libraryID, key));
CREATE TABLE collectionItems (collectionID INT NOT NULL, itemID INT NOT NULL, orderIndex INT NOT NULL DEFAULT 0,
    PRIMARY KEY (collectionID, itemID));
CREATE TABLE deletedItems (itemID INTEGER PRIMARY KEY, dateDeleted DEFAULT CURRENT_TIMESTAMP NOT NULL);
CREATE TABLE deletedCollections (collectionID INTEGER PRIMARY KEY, dateDeleted DEFAULT CURRENT_TIMESTAMP NOT NULL);
"""

ZOTERO4 = """
CREATE TABLE version (schema TEXT PRIMARY KEY, version INT NOT NULL);
CREATE TABLE settings (setting TEXT, key TEXT, value, PRIMARY KEY (setting, key));
CREATE TABLE itemTypes (itemTypeID INTEGER PRIMARY KEY, typeName TEXT, templateItemTypeID INT, display INT DEFAULT 1);
CREATE TABLE fields (fieldID INTEGER PRIMARY KEY, fieldName TEXT, fieldFormatID INT);
CREATE TABLE creatorTypes (creatorTypeID INTEGER PRIMARY KEY, creatorType TEXT);
CREATE TABLE items (itemID INTEGER PRIMARY KEY, itemTypeID INT NOT NULL,
    dateAdded TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, dateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    clientDateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, libraryID INT, key TEXT NOT NULL,
    UNIQUE (libraryID, key));
CREATE TABLE itemDataValues (valueID INTEGER PRIMARY KEY, value UNIQUE);
CREATE TABLE itemData (itemID INT, fieldID INT, valueID, PRIMARY KEY (itemID, fieldID));
CREATE TABLE itemNotes (itemID INTEGER PRIMARY KEY, sourceItemID INT, note TEXT, title TEXT);
CREATE TABLE itemAttachments (itemID INTEGER PRIMARY KEY, sourceItemID INT, linkMode INT, mimeType TEXT,
    charsetID INT, path TEXT, originalPath TEXT, syncState INT DEFAULT 0, storageModTime INT, storageHash TEXT);
CREATE TABLE tags (tagID INTEGER PRIMARY KEY, name TEXT NOT NULL COLLATE NOCASE, type INT NOT NULL,
    dateAdded TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, dateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    clientDateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, libraryID INT, key TEXT NOT NULL,
    UNIQUE (libraryID, name, type), UNIQUE (libraryID, key));
CREATE TABLE itemTags (itemID INT, tagID INT, PRIMARY KEY (itemID, tagID));
CREATE TABLE creators (creatorID INTEGER PRIMARY KEY, creatorDataID INT NOT NULL,
    dateAdded TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, dateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    clientDateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, libraryID INT, key TEXT NOT NULL,
    UNIQUE (libraryID, key));
CREATE TABLE creatorData (creatorDataID INTEGER PRIMARY KEY, firstName TEXT, lastName TEXT, shortName TEXT,
    fieldMode INT, birthYear INT);
CREATE TABLE itemCreators (itemID INT, creatorID INT, creatorTypeID INT DEFAULT 1, orderIndex INT DEFAULT 0,
    PRIMARY KEY (itemID, creatorID, creatorTypeID, orderIndex));
CREATE TABLE collections (collectionID INTEGER PRIMARY KEY, collectionName TEXT NOT NULL,
    parentCollectionID INT DEFAULT NULL, dateAdded TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    dateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    clientDateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, libraryID INT, key TEXT NOT NULL,
    UNIQUE (libraryID, key));
CREATE TABLE collectionItems (collectionID INT, itemID INT, orderIndex INT DEFAULT 0, PRIMARY KEY (collectionID, itemID));
CREATE TABLE deletedItems (itemID INTEGER PRIMARY KEY, dateDeleted DEFAULT CURRENT_TIMESTAMP NOT NULL);
CREATE TABLE libraries (libraryID INTEGER PRIMARY KEY, libraryType TEXT NOT NULL);
CREATE TABLE groups (groupID INTEGER PRIMARY KEY, libraryID INT NOT NULL UNIQUE, name TEXT NOT NULL,
    description TEXT NOT NULL, editable INT NOT NULL, filesEditable INT NOT NULL);
CREATE TABLE annotations (annotationID INTEGER PRIMARY KEY, itemID INT, parent TEXT, textNode INT, offset INT,
    x INT, y INT, cols INT, rows INT, text TEXT, collapsed BOOL, dateModified DATE);
"""

ITEM_TYPES = {"note": 1, "book": 2, "bookSection": 3, "journalArticle": 4, "thesis": 7, "webpage": 13,
              "attachment": 14, "report": 15, "case": 17, "blogPost": 23, "presentation": 27, "computerProgram": 32,
              "conferencePaper": 33, "document": 34, "annotation": 37, "preprint": 38, "dataset": 39}
FIELDS = {"url": 1, "publisher": 8, "ISBN": 11, "publicationTitle": 12, "date": 14, "extra": 22, "DOI": 26,
          "university": 89, "abstractNote": 90, "title": 110, "caseName": 111, "proceedingsTitle": 114,
          "bookTitle": 115, "shortTitle": 116, "citationKey": 130}
CREATOR_TYPES = {"author": 1, "contributor": 2, "editor": 3, "translator": 4, "bookAuthor": 29}
USER_LIBRARY = 1


class ZoteroLibrary:
    """A Zotero data directory under `folder`, written through plain SQL (as Zotero would leave it)."""

    def __init__(self, folder: Path, layout: str = "zotero7", userdata: int | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "zotero.sqlite"
        self.old = layout == "zotero4"
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA synchronous = OFF")  # a test library need not survive a power cut
        self.db.executescript(ZOTERO4 if self.old else ZOTERO7)
        self.db.executemany("INSERT INTO version VALUES (?, ?)",
                            [("userdata", userdata or (77 if self.old else 121)), ("system", 32)])
        self.db.executemany("INSERT INTO itemTypes VALUES (?, ?, NULL, 1)", [(i, n) for n, i in ITEM_TYPES.items()])
        self.db.executemany("INSERT INTO fields VALUES (?, ?, NULL)", [(i, n) for n, i in FIELDS.items()])
        self.db.executemany("INSERT INTO creatorTypes VALUES (?, ?)", [(i, n) for n, i in CREATOR_TYPES.items()])
        if self.old:
            self.db.execute("INSERT INTO libraries VALUES (0, 'user')")
        else:
            self.db.executemany("INSERT INTO itemTypesCombined VALUES (?, ?, 1, 0)", [(i, n) for n, i in ITEM_TYPES.items()])
            self.db.executemany("INSERT INTO fieldsCombined VALUES (?, ?, NULL, NULL, 0)", [(i, n) for n, i in FIELDS.items()])
            self.db.execute("INSERT INTO libraries (libraryID, type, editable, filesEditable) VALUES (1, 'user', 1, 1)")
        self._next_key = 0

    def close(self) -> None:
        self.db.close()

    def key(self) -> str:
        self._next_key += 1
        return f"K{self._next_key:07d}"

    def _library(self, library: int | None) -> int | None:
        return None if self.old and library == USER_LIBRARY else library

    def _new_item(self, item_type: str, library: int | None = USER_LIBRARY, key: str | None = None) -> int:
        cursor = self.db.execute("INSERT INTO items (itemTypeID, libraryID, key) VALUES (?, ?, ?)",
                                 (ITEM_TYPES[item_type], self._library(library), key or self.key()))
        return cursor.lastrowid

    def item(self, item_type: str = "journalArticle", title: str | None = "A title", fields: dict | None = None,
             creators: list[tuple[str, str, str]] = (), tags: list[str] = (), collections: list[int] = (),
             library: int | None = USER_LIBRARY, key: str | None = None) -> int:
        """A regular item; `creators` are (first name, last name, role) in order (first name "" with a
        one-field name)."""
        item_id = self._new_item(item_type, library, key)
        values = {"title": title} if title is not None else {}
        for name, value in {**values, **(fields or {})}.items():
            self.set_field(item_id, name, value)
        for order, (first, last, role) in enumerate(creators):
            self._creator(item_id, first, last, role, order, library)
        for tag in tags:
            self._tag(item_id, tag, library)
        for collection in collections:
            self.file(item_id, collection)
        return item_id

    def set_field(self, item_id: int, name: str, value) -> None:
        row = self.db.execute("SELECT valueID FROM itemDataValues WHERE value = ?", (value,)).fetchone()
        value_id = row[0] if row else self.db.execute("INSERT INTO itemDataValues (value) VALUES (?)", (value,)).lastrowid
        self.db.execute("INSERT OR REPLACE INTO itemData VALUES (?, ?, ?)", (item_id, FIELDS[name], value_id))

    def _creator(self, item_id: int, first: str, last: str, role: str, order: int, library) -> None:
        mode = 1 if not first else 0
        if self.old:
            data = self.db.execute("INSERT INTO creatorData (firstName, lastName, fieldMode) VALUES (?, ?, ?)",
                                   (first, last, mode)).lastrowid
            creator = self.db.execute("INSERT INTO creators (creatorDataID, libraryID, key) VALUES (?, ?, ?)",
                                      (data, self._library(library), self.key())).lastrowid
        else:
            row = self.db.execute("SELECT creatorID FROM creators WHERE firstName = ? AND lastName = ? AND fieldMode = ?",
                                  (first, last, mode)).fetchone()
            creator = row[0] if row else self.db.execute(
                "INSERT INTO creators (firstName, lastName, fieldMode) VALUES (?, ?, ?)", (first, last, mode)).lastrowid
        self.db.execute("INSERT INTO itemCreators VALUES (?, ?, ?, ?)", (item_id, creator, CREATOR_TYPES[role], order))

    def _tag(self, item_id: int, name: str, library) -> None:
        if self.old:
            row = self.db.execute("SELECT tagID FROM tags WHERE name = ?", (name,)).fetchone()
            tag = row[0] if row else self.db.execute("INSERT INTO tags (name, type, libraryID, key) VALUES (?, 0, ?, ?)",
                                                     (name, self._library(library), self.key())).lastrowid
            self.db.execute("INSERT INTO itemTags VALUES (?, ?)", (item_id, tag))
        else:
            row = self.db.execute("SELECT tagID FROM tags WHERE name = ?", (name,)).fetchone()
            tag = row[0] if row else self.db.execute("INSERT INTO tags (name) VALUES (?)", (name,)).lastrowid
            self.db.execute("INSERT INTO itemTags VALUES (?, ?, 0)", (item_id, tag))

    def collection(self, name: str, parent: int | None = None, library: int | None = USER_LIBRARY) -> int:
        return self.db.execute("INSERT INTO collections (collectionName, parentCollectionID, libraryID, key) "
                               "VALUES (?, ?, ?, ?)", (name, parent, self._library(library), self.key())).lastrowid

    def file(self, item_id: int, collection: int) -> None:
        self.db.execute("INSERT INTO collectionItems (collectionID, itemID) VALUES (?, ?)", (collection, item_id))

    def note(self, parent: int | None, html: str) -> int:
        note_id = self._new_item("note")
        column = "sourceItemID" if self.old else "parentItemID"
        self.db.execute(f"INSERT INTO itemNotes (itemID, {column}, note, title) VALUES (?, ?, ?, '')",
                        (note_id, parent, html))
        return note_id

    def attachment(self, parent: int | None, fulltext: str | None = None, content_type: str = "application/pdf") -> int:
        key = self.key()
        attachment_id = self._new_item("attachment", key=key)
        columns = ("sourceItemID", "mimeType") if self.old else ("parentItemID", "contentType")
        self.db.execute(f"INSERT INTO itemAttachments (itemID, {columns[0]}, linkMode, {columns[1]}, path) "
                        "VALUES (?, ?, 1, ?, 'storage:paper.pdf')", (attachment_id, parent, content_type))
        if fulltext is not None:
            self.write_fulltext(key, fulltext)
        return attachment_id

    def write_fulltext(self, key: str, text: str) -> Path:
        cache = self.folder / "storage" / key / ".zotero-ft-cache"
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(text, encoding="utf-8")
        return cache

    def key_of(self, item_id: int) -> str:
        return self.db.execute("SELECT key FROM items WHERE itemID = ?", (item_id,)).fetchone()[0]

    def annotation(self, attachment: int, kind: int, text: str | None, comment: str | None = None,
                   page: str | None = "1", sort: str = "00000|000000|00000") -> int:
        annotation_id = self._new_item("annotation")
        self.db.execute("INSERT INTO itemAnnotations VALUES (?, ?, ?, NULL, ?, ?, '#ffd400', ?, ?, '{}', 0)",
                        (annotation_id, attachment, kind, text, comment, page, sort))
        return annotation_id

    def trash(self, item_id: int) -> None:
        self.db.execute("INSERT INTO deletedItems (itemID) VALUES (?)", (item_id,))

    def trash_collection(self, collection: int) -> None:
        self.db.execute("INSERT INTO deletedCollections (collectionID) VALUES (?)", (collection,))

    def group(self, name: str) -> int:
        library = self.db.execute("INSERT INTO libraries (type, editable, filesEditable) VALUES ('group', 1, 1)").lastrowid
        self.db.execute("INSERT INTO groups VALUES (?, ?, ?, '', 0)", (library + 1000, library, name))
        return library

    def feed_item(self, title: str) -> int:
        library = self.db.execute("INSERT INTO libraries (type, editable, filesEditable) VALUES ('feed', 0, 0)").lastrowid
        self.db.execute("INSERT INTO feeds VALUES (?, 'A feed', ?)", (library, f"https://example.org/feed/{library}"))
        item_id = self.item("journalArticle", title, library=library)
        self.db.execute("INSERT INTO feedItems (itemID, guid) VALUES (?, ?)", (item_id, f"guid-{item_id}"))
        return item_id


def better_bibtex(folder: Path, keys: list[tuple[int, str, str]], legacy: bool = False,
                  library: int = USER_LIBRARY) -> Path:
    """Better BibTeX's database beside zotero.sqlite with (item id, item key, citation key) rows, in
    its current layout (a `citationkey` table) or the LokiJS JSON it kept before."""
    import json

    path = Path(folder) / "better-bibtex.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    if legacy:
        db.execute("CREATE TABLE `better-bibtex` (name TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL)")
        data = {"data": [{"itemID": item_id, "itemKey": item_key, "libraryID": library, "citekey": key, "pinned": False}
                         for item_id, item_key, key in keys]}
        db.execute("INSERT INTO `better-bibtex` VALUES ('better-bibtex.citekey', ?)", (json.dumps(data),))
    else:
        db.execute("CREATE TABLE citationkey (itemID NOT NULL PRIMARY KEY, itemKey NOT NULL, libraryID NOT NULL, "
                   "citationKey NOT NULL CHECK (citationKey <> ''), pinned CHECK (pinned IN (0, 1)), lastPinned)")
        db.executemany("INSERT INTO citationkey VALUES (?, ?, ?, ?, 0, NULL)",
                       [(item_id, item_key, library, key) for item_id, item_key, key in keys])
    db.close()
    return path
