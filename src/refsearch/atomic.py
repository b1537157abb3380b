"""Publishing atomically: the one way refsearch makes a file or a folder appear that another process,
or the next run after a crash, may read.

A file is written beside its final name, fsynced, then renamed over it (or linked into place, when
the first writer's copy must win). A folder is filled in a hidden sibling (`staging`); its files and
itself are fsynced, then it is renamed into place whole. The parent folder is fsynced after each
rename, so the rename survives a power cut too. Whenever a writer dies (SIGKILL, a full disk), a
reader sees what was there before or the whole new thing, never a part; what a dead writer left is
a hidden `.tmp-…` (or `.<name>-…`) entry that the next writer removes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from .files import remove


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """An OSError raised inside names `path` when it names no file: a failed write() or fsync()
    says only "No space left on device" or "Input/output error", not where."""
    try:
        yield
    except OSError as error:
        if error.filename is None:
            error.filename = str(path)
        raise


def fsync_path(path: Path) -> None:
    with naming(path):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_file(path: Path, data: bytes) -> None:
    """A new file of a folder being staged (fsynced when the folder is published)."""
    with naming(path):
        path.write_bytes(data)


def publish_file(path: Path, data: bytes, replace: bool = True) -> bool:
    """Write `data` to a temp file beside `path` (created 0600), fsync it, then rename it over
    `path`; with `replace` False, link it into place only when nothing is there yet (a key: the
    first writer's copy wins, and no reader sees half of it). Fsync the folder. Returns whether
    ours was published; errors name `path`."""
    with naming(path):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if replace:
                os.replace(tmp, path)
                published = True
            else:
                try:
                    os.link(tmp, path)
                    published = True
                except FileExistsError:
                    published = False
                os.unlink(tmp)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    fsync_path(path.parent)
    return published


@contextlib.contextmanager
def staging(parent: Path, prefix: str) -> Iterator[Path]:
    """A new hidden folder in `parent` (named `prefix` + random) to fill and `publish_folder`;
    whatever is left of it is removed on the way out (nothing, once it is published)."""
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish_folder(folder: Path, target: Path, complete: Callable[[Path], bool] = lambda target: False) -> bool:
    """Rename the filled staging `folder` to `target` whole, after fsyncing each of its files and
    itself; fsync the parent. A `target` already there that is `complete` (another writer's finished
    copy) wins: ours is left for `staging` to remove, and False is returned. Anything else in the way
    (what a dead writer left) is moved aside under the staging folder's hidden name and removed."""
    for name in sorted(os.listdir(folder)):
        fsync_path(folder / name)
    fsync_path(folder)
    for _ in range(3):
        try:
            with naming(target):
                os.rename(folder, target)  # fails when target is there and is not an empty folder
            break
        except OSError as error:
            failed = error
            if complete(target):
                return False
            aside = folder.with_name(f"{folder.name}-stale")
            try:
                os.rename(target, aside)
            except FileNotFoundError:
                continue
            remove(aside)
    else:
        raise failed
    fsync_path(target.parent)
    return True


def link_or_copy(source: Path, target: Path) -> None:
    """`source` at `target` too: a hard link (what is linked is never written to once published:
    a generation's files, an encoder's), or a copy where no link can be made (another file system,
    no permission to link, too many links); errors name `target`."""
    with naming(target):
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
