"""A consistent, private copy of an SQLite database that another program has open and may be writing.

Why a byte copy, and not a connection to the database itself or SQLite's backup API: a running
Zotero keeps its database in WAL mode and, by default, under an exclusive lock, so any connection to
it (the backup API's too) fails with "database is locked", and a reader that did get in could hold
up Zotero's next checkpoint. `immutable=1` takes no lock but ignores the write-ahead log, where a
running Zotero's latest edits are, and reads torn pages if Zotero writes meanwhile. So the database
file and its log or journal are copied byte for byte into a private temporary folder (nothing is
ever opened for writing, locked, or created beside the original), and the copy is opened there:
SQLite then replays the committed part of the copied log (a half-appended transaction fails its
checksums and is left out) or rolls back a hot journal (a transaction caught mid-write), which
yields the last committed state. A copy is kept only if no copied file's size or modification time
changed while it was copied (a checkpoint or a write in between would mix two states); otherwise it
is taken again after a short pause.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from refsearch.errors import SourceError

ATTEMPTS = 6  # copies tried before giving up; pauses double from PAUSE: 0.05 + 0.1 + … ≈ 1.5 s in all
PAUSE = 0.05
_BESIDE = ("-wal", "-journal")  # what holds changes not (yet) in the main file


@contextlib.contextmanager
def snapshot(database: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a private copy of `database` as last committed; the copy is removed
    when the block ends. SourceError (naming the file) when it cannot be copied or opened."""
    database = Path(database)
    with tempfile.TemporaryDirectory(prefix="refsearch-snapshot-") as folder:
        copy = Path(folder) / "copy.sqlite"
        _copy_consistent(database, copy)
        try:
            connection = sqlite3.connect(copy, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as error:
            raise SourceError(database, None, f"cannot open a copy of this database ({error})") from None
        try:
            connection.execute("PRAGMA query_only = ON")
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()  # replays the log, rolls back a journal
            yield connection
        except sqlite3.DatabaseError as error:
            raise SourceError(database, None, f"not a readable SQLite database ({error})") from None
        finally:
            connection.close()


def _copy_consistent(database: Path, copy: Path) -> None:
    pause = PAUSE
    for attempt in range(ATTEMPTS):
        before = _states(database)
        if before[0] is None:
            raise SourceError(database, None, "no such file; check the path")
        for suffix, state in zip(("", *_BESIDE), before):
            target = Path(f"{copy}{suffix}")
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
            if state is not None:
                _copy_file(Path(f"{database}{suffix}"), target, database)
        if _states(database) == before:
            return
        if attempt < ATTEMPTS - 1:
            time.sleep(pause)
            pause *= 2
    raise SourceError(database, None, f"kept changing while it was copied ({ATTEMPTS} tries); another program is "
                                      "writing to it: try again in a moment")


def _states(database: Path) -> list[tuple[int, int] | None]:
    """(size, modification time) of the database and of each file beside it; None where there is none."""
    states = []
    for suffix in ("", *_BESIDE):
        try:
            info = os.stat(f"{database}{suffix}")
            states.append((info.st_size, info.st_mtime_ns))
        except FileNotFoundError:
            states.append(None)
        except OSError as error:
            raise SourceError(database, None, f"cannot read file: {error.strerror or error}") from None
    return states


def _copy_file(source: Path, target: Path, database: Path) -> None:
    try:
        with open(source, "rb") as reading, open(target, "wb") as writing:
            shutil.copyfileobj(reading, writing, 1 << 20)
    except FileNotFoundError:
        pass  # a log removed between the stat and the copy: the states differ, and the copy is taken again
    except OSError as error:
        where = database if source == database else source
        raise SourceError(where, None, f"cannot copy it to read it ({error.strerror or error}); "
                                       "is there space in the temporary folder?") from None
