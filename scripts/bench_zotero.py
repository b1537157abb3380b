"""What a Zotero library's full text costs: build time and index size per 1,000 items, the freshness
check a query makes, and the query itself, with and without the attachments' extracted text.

    python scripts/bench_zotero.py [../shared/formats/zotero/san7o_research_papers] [--items 1000]

The library is a copy of a real one grown to --items regular items: each copy of an item gets a
new key and title and copies of its attachments' .zotero-ft-cache files (so the text is real, its
vocabulary that of 15 papers). One build embeds every item; then the same index is updated, after
an edit of one title each time, with the full-text caches moved away and moved back, in turns (the
vectors are reused both ways, so the difference is the full text's own cost: reading, passages,
BM25), and after an edit that leaves the full texts as they were (taken over from the previous
generation). Prints one table; docs/benchmarks.md
("Zotero") keeps the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import refsearch
from refsearch.state import inspect

QUERIES = ["distributed consensus with faulty processes", "declining birth rate policy", "climate damage projections",
           "lock service for distributed systems", "fuzzing smart contracts", "map reduce functional primitives",
           "social robots anxiety", "ocean depth on rocky planets", "leader election lease", "gossip protocol blocks"]


def grow(source: Path, folder: Path, items: int) -> None:
    """A copy of the library at `source` with `items` regular items (copies of its own)."""
    shutil.copytree(source, folder)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    db = sqlite3.connect(folder / "zotero.sqlite", isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    regular = [row for row in db.execute(
        "SELECT i.itemID, i.itemTypeID, i.libraryID FROM items i JOIN itemTypes t USING (itemTypeID) "
        "WHERE t.typeName NOT IN ('note', 'attachment', 'annotation') AND i.itemID NOT IN (SELECT itemID FROM deletedItems)")]
    title = db.execute("SELECT fieldID FROM fields WHERE fieldName = 'title'").fetchone()[0]
    db.execute("BEGIN")
    count, copy = len(regular), 0
    while count < items:
        copy += 1
        for item, item_type, library in regular:
            if count >= items:
                break
            new = db.execute("INSERT INTO items (itemTypeID, libraryID, key) VALUES (?, ?, ?)",
                             (item_type, library, f"C{copy:03d}{item:05d}")).lastrowid
            db.execute("INSERT INTO itemData SELECT ?, fieldID, valueID FROM itemData WHERE itemID = ? AND fieldID <> ?",
                       (new, item, title))
            old_title = db.execute("SELECT v.value FROM itemData d JOIN itemDataValues v USING (valueID) "
                                   "WHERE d.itemID = ? AND d.fieldID = ?", (item, title)).fetchone()
            value = db.execute("INSERT INTO itemDataValues (value) VALUES (?)",
                               (f"{old_title[0] if old_title else 'Untitled'} (copy {copy})",)).lastrowid
            db.execute("INSERT INTO itemData VALUES (?, ?, ?)", (new, title, value))
            for table in ("itemCreators", "itemTags", "collectionItems"):
                columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
                rest = ", ".join(column for column in columns if column != "itemID")
                db.execute(f"INSERT INTO {table} (itemID, {rest}) SELECT ?, {rest} FROM {table} WHERE itemID = ?",
                           (new, item))
            for attachment, key in db.execute("SELECT a.itemID, i.key FROM itemAttachments a JOIN items i USING (itemID) "
                                              "WHERE a.parentItemID = ?", (item,)).fetchall():
                new_key = f"A{copy:03d}{attachment:05d}"
                made = db.execute("INSERT INTO items (itemTypeID, libraryID, key) SELECT itemTypeID, libraryID, ? "
                                  "FROM items WHERE itemID = ?", (new_key, attachment)).lastrowid
                db.execute("INSERT INTO itemAttachments (itemID, parentItemID, linkMode, contentType, path) "
                           "SELECT ?, ?, linkMode, contentType, path FROM itemAttachments WHERE itemID = ?",
                           (made, new, attachment))
                cache = folder / "storage" / key / ".zotero-ft-cache"
                if cache.is_file():
                    (folder / "storage" / new_key).mkdir()
                    shutil.copyfile(cache, folder / "storage" / new_key / ".zotero-ft-cache")
            count += 1
    db.execute("COMMIT")
    db.close()


def edit(folder: Path, turn: str) -> None:
    """What an edit in Zotero does: one item's title changes (one reference to embed again)."""
    db = sqlite3.connect(folder / "zotero.sqlite", isolation_level=None)
    db.execute("UPDATE itemDataValues SET value = value || ? WHERE valueID = (SELECT d.valueID FROM itemData d "
               "JOIN fields f USING (fieldID) WHERE f.fieldName = 'title' LIMIT 1)", (f" (edited {turn})",))
    db.close()


def timed_build(index: Path, sources: list[Path] | None = None) -> float:
    started = time.perf_counter()
    refsearch.build(sources, index)
    return time.perf_counter() - started


def generation_bytes(index: Path, prefix: str = "") -> int:
    generation = index / (index / "CURRENT").read_text().strip()
    return sum(path.stat().st_size for path in generation.iterdir() if path.name.startswith(prefix))


def query_ms(index: Path) -> float:
    opened = refsearch.open(index, update=False)
    for query in QUERIES:  # warm: encoder loaded, arrays mapped
        opened.search(query)
    times = []
    for _ in range(3):
        for query in QUERIES:
            started = time.perf_counter()
            opened.search(query)
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def inspect_ms(index: Path) -> float:
    times = []
    for _ in range(15):
        started = time.perf_counter()
        inspect(index)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("library", nargs="?", default=str(Path(__file__).resolve().parents[2] / "shared" / "formats"
                                                          / "zotero" / "san7o_research_papers"))
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-zotero-") as tmp:
        folder, index, away = Path(tmp) / "Zotero", Path(tmp) / "index", Path(tmp) / "storage-away"
        grow(Path(args.library), folder, args.items)
        caches = list((folder / "storage").glob("*/.zotero-ft-cache"))
        text_mb = sum(path.stat().st_size for path in caches) / 1e6
        first = timed_build(index, [folder])
        count = len(refsearch.open(index, update=False))
        with_text, without_text, edited, results = [], [], [], {}
        for turn in range(args.turns):  # each build follows an edit (a query's freshness check watches the database)
            os.rename(folder / "storage", away)
            edit(folder, f"{turn}a")
            without_text.append(timed_build(index))
            results["without"] = (generation_bytes(index), inspect_ms(index), query_ms(index))
            os.rename(away, folder / "storage")
            edit(folder, f"{turn}b")
            with_text.append(timed_build(index))  # every full text is new to the index: read and indexed
            results["with"] = (generation_bytes(index), inspect_ms(index), query_ms(index))
            edit(folder, f"{turn}c")
            edited.append(timed_build(index))  # the same full texts: taken over from the previous generation
        fulltext_bytes = generation_bytes(index, "fulltext.")
        passages = refsearch.open(index, update=False).manifest["fulltext"]["passages"]
    per = 1000 / count
    print(f"library: {count} regular items, {len(caches)} full-text caches ({text_mb:.1f} MB of text), "
          f"{passages} passages indexed")
    print(f"first build (embeds every item): {first:.1f} s")
    print(f"{'':28} {'without full text':>18} {'with full text':>15} {'full text, per 1,000 items':>28}")
    w, wo = statistics.median(with_text), statistics.median(without_text)
    print(f"{'update build (vectors reused)':28} {wo:>16.1f} s {w:>13.1f} s {(w - wo) * per:>26.1f} s")
    print(f"{'an edit (full text taken over)':28} {'':>18} {statistics.median(edited):>13.1f} s")
    print(f"{'index size':28} {results['without'][0] / 1e6:>15.1f} MB {results['with'][0] / 1e6:>12.1f} MB "
          f"{fulltext_bytes / 1e6 * per:>25.1f} MB")
    print(f"{'freshness check (inspect)':28} {results['without'][1]:>15.1f} ms {results['with'][1]:>12.1f} ms "
          f"{(results['with'][1] - results['without'][1]) * per:>25.1f} ms")
    print(f"{'warm hybrid query (median)':28} {results['without'][2]:>15.1f} ms {results['with'][2]:>12.1f} ms")
    print(f"builds: with {', '.join(f'{t:.1f}' for t in with_text)} s; without {', '.join(f'{t:.1f}' for t in without_text)} s")


if __name__ == "__main__":
    main()
