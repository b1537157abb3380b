"""An index directory is untrusted input: it may come from a shared folder or a download. Opening,
searching and asking the status of a crafted or damaged one ends in a normal answer or in
refsearch's own one-line error, never hangs, and reads, creates or changes nothing outside it.

The cases below are the ones found by hand; `test_hostile_index_directories_are_contained` (the
property-based test at the end) generates thousands more from a real index built with the fake
encoder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import refsearch
from refsearch import store
from refsearch.cli import app
from refsearch.errors import IndexProblem, RefsearchError

runner = CliRunner(env={"COLUMNS": "200"})

PAGE = """# Infra reading
## Serving
- [KServe](https://kserve.io) - Kubernetes model serving (2019, repo)
- [Triton](https://triton.io) - GPU inference server with dynamic batching
## GPUs
- [MIG](https://nvidia.com/mig) - GPU 切片调度: one A100 split into isolated slices
"""


@pytest.fixture
def index_dir(tmp_path, fake_encoder):
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "infra.md").write_text(PAGE, encoding="utf-8")
    refsearch.build([tmp_path / "refs"], tmp_path / "idx")
    return tmp_path / "idx"


@pytest.fixture
def sentinel(tmp_path):
    """A private file outside the index, whose last access time tells whether anything read it."""
    folder = tmp_path / "private"
    folder.mkdir()
    secret = folder / "secret.json"
    secret.write_text('{"pages": [["Secret", "s"]], "topics": [[0, ["x"], []]], "kinds": [null]}', "utf-8")
    os.utime(secret, (1_000_000, 2_000_000))  # atime before mtime: any read updates it (relatime)
    return secret


def rewrite_manifest(index_dir: Path, change) -> None:
    """Apply `change` to the manifest and make its size records match the files again (a crafted
    index is consistent with itself: size checks alone prove nothing about it)."""
    generation = store.current_generation(index_dir)
    path = generation / "manifest.json"
    manifest = json.loads(path.read_text("utf-8"))
    change(manifest)
    for name, entry in manifest.get("files", {}).items():
        if isinstance(entry, dict) and (generation / name).is_file():
            entry["size"] = (generation / name).stat().st_size
    path.write_text(json.dumps(manifest), "utf-8")


def assert_refused(index_dir: Path, *fragments: str) -> None:
    """The API raises IndexProblem naming the fix, the CLI prints one line and exits 1; both
    within a few seconds (a FIFO or a lock must not make them wait)."""
    with time_limit(10):
        with pytest.raises(IndexProblem) as raised:
            index = refsearch.open(index_dir)
            index.search("gpu")
            index.topics()
    with time_limit(10):
        result = runner.invoke(app, ["search", "gpu", "--index", str(index_dir)])
    assert "refsearch build --force" in str(raised.value) or "remove it" in str(raised.value), raised.value
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refsearch: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@contextlib.contextmanager
def time_limit(seconds: float):
    previous = signal.signal(signal.SIGALRM, _hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Hung(BaseException):
    """Raised by the alarm: not an OSError, which refsearch would turn into a message."""


def _hung(signum, frame):
    raise Hung("refsearch hung on a crafted index")


def assert_not_read(path: Path) -> None:
    assert path.stat().st_atime == 1_000_000, f"{path} was read"


# --- files that lead outside the index -------------------------------------------------------------


def test_an_unlisted_index_file_that_links_outside_is_not_read(index_dir, sentinel):
    """The manifest need not list a file for a reader to open it: each index file is opened without
    following links, whatever the manifest says."""
    generation = store.current_generation(index_dir)
    rewrite_manifest(index_dir, lambda m: m["files"].pop("facets.json"))
    (generation / "facets.json").unlink()
    (generation / "facets.json").symlink_to(sentinel)
    assert_refused(index_dir, "facets.json")
    assert_not_read(sentinel)


@pytest.mark.parametrize("name", ["CURRENT", "manifest.json", "records.offsets.npy", "lexical.json"])
def test_a_fifo_in_place_of_an_index_file_does_not_hang(index_dir, name):
    path = index_dir / name if name == "CURRENT" else store.current_generation(index_dir) / name
    if name != "CURRENT" and name != "manifest.json":
        rewrite_manifest(index_dir, lambda m: m["files"].pop(name))
    path.unlink()
    os.mkfifo(path)
    assert_refused(index_dir, name)


def test_a_generation_linked_from_outside_is_neither_kept_nor_read(index_dir, tmp_path, sentinel):
    """A `gen-N` symlink is not a generation: status does not measure it, a build removes the link
    (not what it points to) and does not read a manifest through it."""
    outside = tmp_path / "outside-gen"
    shutil.copytree(store.current_generation(index_dir), outside)
    os.utime(outside, (1_000_000, 2_000_000))
    (index_dir / "gen-0").symlink_to(outside)
    refsearch.status(index_dir)
    assert outside.stat().st_atime == 1_000_000, "status listed a folder outside the index"
    (tmp_path / "refs" / "infra.md").write_text(PAGE + "- [Ray](https://ray.io) - distributed Python\n", "utf-8")
    refsearch.build(None, index_dir)
    assert not (index_dir / "gen-0").exists() and (outside / "manifest.json").is_file()


# --- contents that lie ------------------------------------------------------------------------------


def test_a_topic_naming_a_missing_page_is_damage(index_dir):
    generation = store.current_generation(index_dir)
    facets = json.loads((generation / "facets.json").read_text("utf-8"))
    facets["topics"] = [[7, path, path_en] for _, path, path_en in facets["topics"]]
    (generation / "facets.json").write_text(json.dumps(facets), "utf-8")
    rewrite_manifest(index_dir, lambda m: None)
    assert_refused(index_dir, "facets.json", "damaged")


def test_infinite_numbers_in_the_facets_are_damage(index_dir):
    generation = store.current_generation(index_dir)
    text = (generation / "facets.json").read_text("utf-8")
    (generation / "facets.json").write_text(text.replace('"topics": [[0,', '"topics": [[1e999,', 1), "utf-8")
    rewrite_manifest(index_dir, lambda m: None)
    assert_refused(index_dir, "facets.json", "damaged")


@pytest.mark.parametrize("array", [
    np.zeros((3, 64), dtype=">f4"),  # big-endian
    np.zeros((3, 64), dtype=np.float64),
    np.array([{"x": 1}] * 3, dtype=object),
], ids=["big-endian", "float64", "object"])
def test_a_vectors_file_of_another_kind_is_damage(index_dir, array):
    path = store.current_generation(index_dir) / "vectors.npy"
    np.save(path, array, allow_pickle=True)
    rewrite_manifest(index_dir, lambda m: None)
    assert_refused(index_dir, "vectors.npy")


def test_a_vectors_header_that_lies_about_its_shape_is_damage(index_dir):
    path = store.current_generation(index_dir) / "vectors.npy"
    data = path.read_bytes()
    path.write_bytes(data.replace(b"'shape': (3, 64)", b"'shape': (2, 64)"))  # same header length
    rewrite_manifest(index_dir, lambda m: m.__setitem__("count", 2))
    assert_refused(index_dir)


@pytest.mark.parametrize("where", ["name", "folder-link", "file-link"])
def test_a_query_encoder_outside_the_index_is_not_read(index_dir, tmp_path, where):
    """The ONNX encoder's files are opened by tokenizers and onnxruntime, which follow links: the
    folder and every file in it must be the index's own (checked before onnxruntime is imported)."""
    from refsearch.encoders.onnx import CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE, OnnxBackend

    outside = tmp_path / "someone-elses-encoder"
    outside.mkdir()
    for name in (CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE):
        (outside / name).write_text('{"format": "refsearch/onnx-encoder@1"}', "utf-8")
        os.utime(outside / name, (1_000_000, 2_000_000))
    files = {name: (outside / name).stat().st_size for name in (CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE)}
    recorded = {"encoder_dir": "encoder-x", "encoder_files": files}
    if where == "name":
        recorded["encoder_files"] = {f"../../{outside.name}/{name}": size for name, size in files.items()}
        (index_dir / "encoder-x").mkdir()
    elif where == "folder-link":
        (index_dir / "encoder-x").symlink_to(outside)
    else:
        (index_dir / "encoder-x").mkdir()
        for name in files:
            (index_dir / "encoder-x" / name).symlink_to(outside / name)
    with pytest.raises(IndexProblem, match="build --force"):
        OnnxBackend().for_query(index_dir, recorded, None)
    for name in files:
        assert_not_read(outside / name)


def test_a_refused_index_raises_only_refsearch_errors_through_the_api(index_dir):
    (index_dir / "CURRENT").write_text("gen-1\x00")
    with pytest.raises(RefsearchError):
        refsearch.open(index_dir)
