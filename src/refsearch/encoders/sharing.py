"""One copy of an encoder on disk, however many indexes are built with it.

An index keeps its query encoder in `encoder-<fingerprint>/` so that it answers on its own, wherever
it is copied. A build fills that folder with hard links to the cache's copy (`<cache>/onnx/<fingerprint>/`,
written once per model): 22 indexes of one model hold its 45 MB once, not 22 times. A link is the file
itself, so an index still answers when the cache is cleared, and `cp -r` or a move to another disk
copies the bytes. Where no link can be made (the index on another file system, a cache the user may
not link from) the files are copied, as before.

A linked file is only as sound as the cache's copy, so before any index links to it, each of its
files is checked against the sha256 recorded when it was written (`DIGESTS` in encoder.json); a
copy that fails, or that was written before digests were recorded, is written again. Nothing writes
into an encoder file once it is written: files are only replaced or removed, which leaves the other
links alone (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from pathlib import Path
from typing import Callable

from refsearch.atomic import link_or_copy, publish_folder, staging
from refsearch.encoders.folder import CONFIG_FILE, read_encoder_config
from refsearch.errors import IndexProblem, RefsearchError
from refsearch.files import build_lock, remove, sha256_file, sha256_index_file

DIGESTS = "file_sha256"  # encoder.json: each file's sha256 when it was written


def file_digests(directory: Path, names) -> dict[str, str]:
    """What a writer of an encoder folder records under DIGESTS."""
    return {name: sha256_file(directory / name) for name in names}


def install_encoder(index_dir: Path, cached: Callable[[], Path]) -> str:
    """The name of the index's encoder folder for the encoder `cached()` returns (the cache's copy,
    written there once), linked into the index first unless the index holds it already."""
    source = cached()
    config = read_encoder_config(source)
    target = index_dir / f"encoder-{config['fingerprint']}"
    held = target.is_dir() and not target.is_symlink()
    if not held or DIGESTS not in config:  # to be linked, or written before digests were recorded
        source = _verified(source, cached)
        config = read_encoder_config(source)
    if held:
        _link_copies(target, source, config[DIGESTS])
    else:
        _place(index_dir, source, [*config["file_sizes"], CONFIG_FILE], target)
    return target.name


def _verified(source: Path, cached: Callable[[], Path]) -> Path:
    """`source`, or when its files are not what was written there, the copy `cached()` writes anew."""
    if _intact(source):
        return source
    with build_lock(source.parent, activity="ONNX export"):
        if not _intact(source):  # another build may have written it anew meanwhile
            aside = source.with_name(f".{source.name}-damaged-{uuid.uuid4().hex}")
            with contextlib.suppress(FileNotFoundError):
                os.rename(source, aside)  # at once: no build links from a half-removed copy
            remove(aside)
    source = cached()
    if not _intact(source):
        raise RefsearchError(f"{source}: the encoder just written into the cache does not read back as written; "
                             "check the disk (or point REFSEARCH_CACHE at another one).")
    return source


def _intact(directory: Path) -> bool:
    """Every file of the encoder has the digest recorded when it was written."""
    try:
        config = read_encoder_config(directory)
    except IndexProblem:
        return False
    recorded = config.get(DIGESTS)
    return (isinstance(recorded, dict) and recorded.keys() == config["file_sizes"].keys()
            and file_digests(directory, recorded) == recorded)


def _place(index_dir: Path, source: Path, names: list[str], target: Path) -> None:
    """Link (or copy) `names` of `source` into a staging folder of the index, published whole."""
    with staging(index_dir, ".tmp-encoder-") as folder:
        for name in names:
            link_or_copy(source / name, folder / name)
        publish_folder(folder, target, complete=lambda path: path.is_dir() and not path.is_symlink())


def _link_copies(target: Path, source: Path, recorded: dict[str, str]) -> None:
    """Files of the index's encoder folder that are copies of the cache's (an index built before
    encoders were shared, or copied here) become links to it: each is replaced at once by a file of
    the same bytes, so a query reading it meanwhile sees no change. Costs a stat per file once linked."""
    for name, digest in recorded.items():
        ours, theirs = target / name, source / name
        try:
            mine, shared = os.lstat(ours), os.stat(theirs)
        except OSError:
            continue
        if (not stat.S_ISREG(mine.st_mode) or (mine.st_dev, mine.st_size) != (shared.st_dev, shared.st_size)
                or mine.st_ino == shared.st_ino or _index_file_digest(ours) != digest or sha256_file(theirs) != digest):
            continue
        link = target.parent / f".tmp-link-{uuid.uuid4().hex}"  # removed by the build's garbage collection if left
        try:
            os.link(theirs, link)
            os.replace(link, ours)
        except OSError:
            link.unlink(missing_ok=True)
            return  # the cache cannot be linked from: the index keeps its copies


def _index_file_digest(path: Path) -> str | None:
    """The sha256 of a file of the (untrusted) index, read without following a link; None if unreadable."""
    try:
        return sha256_index_file(path)
    except IndexProblem:
        return None

