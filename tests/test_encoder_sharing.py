"""Indexes built with one model share one copy of its encoder (hard links to the cache's copy), and
each still answers on its own: copied elsewhere, with the cache gone (encoders/sharing.py).

The fast tests install a small stand-in encoder folder; the slow ones build with the real model in
a private cache.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BUNDLED
from refsearch.encoders import sharing
from refsearch.encoders.export import write_encoder_dir
from refsearch.encoders.folder import CONFIG_FILE, FORMAT

FINGERPRINT = "f1e2d3c4b5a69788"
FILES = {"model.onnx": b"graph", "model.onnx.data": b"\1" * 4096, "tokenizer.json": b"{}"}


def write_stand_in(out: Path, files: dict[str, bytes] = FILES, digests: bool = True) -> None:
    """A sound encoder folder as a writer leaves it (its digests recorded unless `digests` is False)."""
    for name, data in files.items():
        (out / name).write_bytes(data)
    config = {"format": FORMAT, "model_id": "m", "fingerprint": FINGERPRINT, "dimension": 4, "max_seq_length": 8,
              "pooling": "mean", "normalize": True, "input_names": ["input_ids"],
              "file_sizes": {name: len(data) for name, data in files.items()}}
    if digests:
        config[sharing.DIGESTS] = sharing.file_digests(out, files)
    (out / CONFIG_FILE).write_text(json.dumps(config), "utf-8")


@pytest.fixture
def cache(tmp_path):
    """A cache whose copy of the stand-in is written once by write_encoder_dir, as a build's is;
    `cache.writes` counts the writes."""

    class Cache:
        entry = tmp_path / "cache" / "onnx" / FINGERPRINT
        writes = 0

        def __call__(self) -> Path:
            def write(out: Path) -> None:
                Cache.writes += 1
                write_stand_in(out)

            return write_encoder_dir(self.entry, FINGERPRINT, write)

    return Cache()


def install(index_dir: Path, cached) -> Path:
    index_dir.mkdir(exist_ok=True)
    return index_dir / sharing.install_encoder(index_dir, cached)


def inodes(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_ino for p in directory.iterdir()}


def test_indexes_of_one_model_share_the_cache_copy(tmp_path, cache):
    folders = [install(tmp_path / f"idx{n}", cache) for n in range(3)]
    assert cache.writes == 1
    assert inodes(folders[0]) == inodes(folders[1]) == inodes(folders[2]) == inodes(cache.entry)
    assert not [p for p in tmp_path.glob("idx*/.*")]  # no staging left


def test_an_index_keeps_its_encoder_when_the_cache_is_cleared(tmp_path, cache):
    folder = install(tmp_path / "idx", cache)
    shutil.rmtree(tmp_path / "cache")
    assert {name: (folder / name).read_bytes() for name in FILES} == FILES


def test_a_damaged_cache_copy_is_written_again_not_linked(tmp_path, cache):
    """Same size, other bytes (what a size check misses): the copy is replaced before any index links to it."""
    first = install(tmp_path / "idx1", cache)
    damaged = cache.entry / "model.onnx.data"
    with open(damaged, "r+b") as handle:  # in place: the first index shares the damage, as a link must
        handle.write(b"\2")
    second = install(tmp_path / "idx2", cache)
    assert cache.writes == 2
    assert (second / "model.onnx.data").read_bytes() == FILES["model.onnx.data"]
    assert inodes(second) == inodes(cache.entry) != inodes(first)
    assert [p.name for p in cache.entry.parent.iterdir() if p.name != ".lock"] == [FINGERPRINT]  # damaged copy gone


def test_a_cache_copy_written_before_digests_is_written_again(tmp_path, cache):
    """...and the copies an index built then holds become links to the new one."""
    cache.entry.mkdir(parents=True)
    write_stand_in(cache.entry, digests=False)
    (tmp_path / "old").mkdir()
    shutil.copytree(cache.entry, tmp_path / "old" / f"encoder-{FINGERPRINT}")
    folder = install(tmp_path / "new", cache)
    assert cache.writes == 1 and sharing.DIGESTS in json.loads((folder / CONFIG_FILE).read_text("utf-8"))
    old = install(tmp_path / "old", cache)
    assert (old / "model.onnx.data").stat().st_ino == (cache.entry / "model.onnx.data").stat().st_ino


def test_where_no_link_can_be_made_the_files_are_copied(tmp_path, cache, monkeypatch):
    def refuse(source, target):
        raise OSError(errno.EXDEV, "Invalid cross-device link", str(source), None, str(target))

    monkeypatch.setattr(sharing.os, "link", refuse)
    folder = install(tmp_path / "idx", cache)
    assert {name: (folder / name).read_bytes() for name in FILES} == FILES
    assert all(folder.joinpath(name).stat().st_ino != ino for name, ino in inodes(cache.entry).items())


def test_an_index_holding_copies_links_them_at_its_next_build(tmp_path, cache, monkeypatch):
    """An index built before encoders were shared (or copied here) gives its copies up for links."""
    with monkeypatch.context() as patch:
        patch.setattr(sharing.os, "link", lambda *_: (_ for _ in ()).throw(PermissionError(errno.EPERM, "no")))
        folder = install(tmp_path / "idx", cache)
    assert (folder / "model.onnx.data").stat().st_nlink == 1
    install(tmp_path / "idx", cache)
    shared = {name: ino for name, ino in inodes(folder).items() if name != CONFIG_FILE}
    assert shared == {name: ino for name, ino in inodes(cache.entry).items() if name != CONFIG_FILE}
    assert [p.name for p in tmp_path.joinpath("idx").iterdir()] == [folder.name]


def test_an_index_copy_that_differs_from_the_cache_is_kept(tmp_path, cache):
    folder = install(tmp_path / "idx", cache)
    own = folder / "model.onnx.data"
    own.unlink()
    own.write_bytes(b"\3" * 4096)  # the index's own bytes (crafted, or damaged): never swapped for the cache's
    install(tmp_path / "idx", cache)
    assert own.read_bytes() == b"\3" * 4096


def test_an_index_file_that_links_elsewhere_is_not_read(tmp_path, cache):
    folder = install(tmp_path / "idx", cache)
    outside = tmp_path / "outside"
    outside.write_bytes(FILES["model.onnx.data"])
    os.utime(outside, (1_000_000, 2_000_000))
    (folder / "model.onnx.data").unlink()
    (folder / "model.onnx.data").symlink_to(outside)
    install(tmp_path / "idx", cache)
    assert (folder / "model.onnx.data").is_symlink() and outside.stat().st_atime == 1_000_000


@pytest.mark.slow
def test_three_indexes_hold_one_encoder_and_a_copy_answers(tmp_path, monkeypatch):
    """The issue's check: three indexes of the bundled list share their encoder's inodes; `cp -r` of one,
    with the cache then removed, answers as the original does."""
    import refsearch

    monkeypatch.setenv("REFSEARCH_CACHE", str(tmp_path / "cache"))
    indexes = [tmp_path / f"idx{n}" for n in range(3)]
    for index_dir in indexes:
        refsearch.build([BUNDLED], index_dir)
    folders = [next(index_dir.glob("encoder-*")) for index_dir in indexes]
    assert inodes(folders[0]) == inodes(folders[1]) == inodes(folders[2])
    encoder_bytes = sum(path.stat().st_size for path in folders[0].iterdir())
    assert refsearch.status(indexes[1]).shared == encoder_bytes > 20_000_000  # status says it is held once
    subprocess.run(["cp", "-r", str(indexes[0]), str(tmp_path / "copy")], check=True)
    assert refsearch.status(tmp_path / "copy").shared == 0  # a copy holds its own
    shutil.rmtree(tmp_path / "cache")
    answers = [[hit.ref.id for hit in refsearch.open(path).search("GPU slicing", k=5)]
               for path in (indexes[0], tmp_path / "copy")]
    assert answers[0] == answers[1] and len(answers[0]) == 5
