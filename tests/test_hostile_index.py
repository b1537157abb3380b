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
import tempfile
import warnings
from pathlib import Path

import click.testing
import numpy as np
import pytest
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import refsearch
from refsearch import files, store
from refsearch.cli import app
from refsearch.errors import IndexProblem, RefsearchError
from flat import flat_library, write_jsonl

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


@pytest.mark.parametrize("key", ["id", "encoder"])
def test_a_model_named_in_an_altered_manifest_is_not_looked_at(index_dir, tmp_path, fake_encoder, key):
    """The update of a stale index embeds with the model and encoder its manifest names: a manifest
    altered to name another model folder (a model id may be a path) no longer carries this user's
    seal, so the index is detached and neither is looked at."""
    from refsearch import encoders

    backend = encoders.backend("fake")
    asked = []
    real_resolve = backend.resolve
    backend.resolve = lambda model: asked.append(model) or real_resolve(model)
    outside = tmp_path / "someone-elses-model"
    outside.mkdir()
    (outside / "config.json").write_text("{}", "utf-8")
    path = store.current_generation(index_dir) / "manifest.json"
    manifest = json.loads(path.read_text("utf-8"))
    manifest["model"][key] = str(outside) if key == "id" else "torch"
    path.write_text(json.dumps(manifest), "utf-8")
    (tmp_path / "refs" / "infra.md").write_text(PAGE + "- [Ray](https://ray.io) - distributed Python\n", "utf-8")
    assert refsearch.status(index_dir).state.condition == "detached"
    refsearch.open(index_dir)
    assert str(outside) not in asked and len(refsearch.open(index_dir)) == 3


@pytest.mark.parametrize("change", [
    lambda m: m["files"].__setitem__("\n", {"size": 1, "sha256": "0" * 64}),
    lambda m: m["files"].__setitem__("vectors.npy\x1b[2J", {"size": 1, "sha256": "0" * 64}),
    lambda m: m["files"].__setitem__("a\u202eb", {"size": 1, "sha256": "0" * 64}),
    lambda m: m["vectors"].__setitem__("files", [[]]),
], ids=["newline-name", "escape-name", "bidi-name", "list-as-name"])
def test_a_manifest_name_that_is_not_a_plain_file_name_is_damage(index_dir, change):
    """Found by the generated test: a file named "\\n" made a two-line message, a list where a vector
    file's name belongs a TypeError."""
    rewrite_manifest(index_dir, change)
    with pytest.raises(IndexProblem) as raised:
        refsearch.open(index_dir)
    assert str(raised.value) == f"{store.current_generation(index_dir)}/manifest.json: incomplete or damaged manifest; " \
                                "run `refsearch build --force`."


def test_a_lock_that_links_elsewhere_creates_nothing_there(index_dir, tmp_path):
    """A stale index of this user's whose .lock is a link: the update is not made (the lock is not
    opened through the link, so nothing is created where it points) and the query answers, warning
    once."""
    target = tmp_path / "private-file-created-by-lock"
    (index_dir / ".lock").unlink()
    (index_dir / ".lock").symlink_to(target)
    (tmp_path / "refs" / "infra.md").write_text(PAGE + "- [Ray](https://ray.io) - distributed Python\n", "utf-8")
    result = runner.invoke(app, ["search", "gpu", "--json", "--all", "--index", str(index_dir)])
    assert result.exit_code == 0 and len(json.loads(result.stdout)["results"]) == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and ".lock: is a symbolic link; remove it." in lines[0], result.stderr
    assert not target.exists()


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


def test_an_unknown_field_in_a_record_is_damage(index_dir):
    path = store.current_generation(index_dir) / "records.jsonl"
    path.write_bytes(path.read_bytes().replace(b'"title"', b'"evilx"', 1))  # same length: offsets still match
    rewrite_manifest(index_dir, lambda m: None)
    assert_refused(index_dir, "records.jsonl: damaged (row 0 has an unexpected field 'evilx')")


def test_a_lexical_doc_id_out_of_range_is_damage(index_dir):
    path = store.current_generation(index_dir) / "lexical.doc_ids.npy"
    doc_ids = np.load(path)
    doc_ids[:] = 3  # the index has rows 0, 1, 2 (postings are checked as a query reads them)
    np.save(path, doc_ids)
    rewrite_manifest(index_dir, lambda m: None)
    assert_refused(index_dir, "lexical index is damaged")


@pytest.mark.parametrize("value", [np.nan, 2.0, -1.0], ids=["nan", "share-over-one", "negative"])
def test_per_reference_features_out_of_range_are_damage(index_dir, value):
    path = store.current_generation(index_dir) / "features.npy"
    features = np.load(path)
    features[:, 0] = value  # read for a query's candidates only, and checked as they are read
    np.save(path, features)
    rewrite_manifest(index_dir, lambda m: None)
    assert_refused(index_dir, "features.npy: damaged")


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


@pytest.mark.parametrize("name, at, mask", [("facets.npy", 19, 8), ("records.offsets.npy", 66, 1)])
def test_a_garbled_array_header_is_damage(index_dir, name, at, mask):
    """Found by the generated test: numpy's header parser raises SyntaxError or tokenize's TokenError
    on some flipped bits, not only ValueError."""
    path = store.current_generation(index_dir) / name
    data = bytearray(path.read_bytes())
    data[at] ^= mask
    path.write_bytes(bytes(data))
    rewrite_manifest(index_dir, lambda m: None)
    assert_refused(index_dir, f"{name}: unreadable array")


def test_a_vectors_header_that_lies_about_its_shape_is_damage(index_dir):
    path = store.current_generation(index_dir) / "vectors.npy"
    data = path.read_bytes()
    path.write_bytes(data.replace(b"'shape': (3, 64)", b"'shape': (2, 64)"))  # same header length
    rewrite_manifest(index_dir, lambda m: m.__setitem__("count", 2))
    assert_refused(index_dir)


def test_vectors_that_are_not_numbers_rank_nothing_and_print_no_warning(index_dir):
    """Vectors are too many to check on every query: inf or NaN in them (damage, or a crafted file)
    must neither reach the output as a score (NaN is not JSON) nor print numpy's warnings."""
    path = store.current_generation(index_dir) / "vectors.npy"
    vectors = np.load(path)
    vectors[0, :] = np.inf
    vectors[1, :] = np.nan
    np.save(path, vectors)
    rewrite_manifest(index_dir, lambda m: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hits = refsearch.open(index_dir).search("gpu slicing", k=3, mode="dense")
        result = runner.invoke(app, ["search", "gpu slicing", "--json", "--index", str(index_dir)])
    assert [hit.ref.title for hit in hits] == ["MIG"]
    assert result.exit_code == 0, result.output
    scores = [hit["score"] for hit in json.loads(result.stdout, parse_constant=_not_json)["results"]]
    assert scores and all(np.isfinite(scores))


def _not_json(constant: str):
    raise AssertionError(f"{constant} in the JSON output")


@pytest.mark.parametrize("array", ["lexical.idf.npy", "lexical.frequencies.npy", "lexical.lengths.npy"])
def test_lexical_weights_that_are_not_numbers_are_damage(index_dir, array):
    path = store.current_generation(index_dir) / array
    values = np.load(path)
    values[:] = np.inf  # weights are checked as a query reads them
    np.save(path, values)
    rewrite_manifest(index_dir, lambda m: None)
    assert_refused(index_dir, "lexical index is damaged")


@pytest.mark.parametrize("where", ["name", "folder-link", "file-link"])
def test_a_query_encoder_outside_the_index_is_not_read(index_dir, tmp_path, where):
    """The ONNX encoder's files are opened by tokenizers and onnxruntime, which follow links: the
    folder and every file in it must be the index's own (checked before onnxruntime is imported)."""
    from refsearch.encoders.folder import CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE
    from refsearch.encoders.onnx import OnnxBackend

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


# --- generated hostile index directories ----------------------------------------------------------
#
# Each example copies a real index (built with the fake encoder), changes it the way a careless copy,
# a damaged disk or someone crafting it could, and opens, searches and asks the status of it through
# the API and through one CLI command. Whatever happens must be a normal answer or refsearch's own
# error, within TIME_LIMIT seconds, and nothing outside the example's index directory may be read
# (Python's audit hook sees every open, listing and mmap; a sentinel's access time catches reads
# by C code), created, changed or removed (a snapshot of everything beside it).

HOSTILE_EXAMPLES = 2000  # CI (the whole suite); the fast lane runs the first FAST_EXAMPLES
FAST_EXAMPLES = 100
TIME_LIMIT = 20
OUTSIDE = "@OUTSIDE@"  # replaced by the sentinel's path when a change is applied


class Audit:
    """Paths opened, listed, mapped or changed while `recording` (sys.addaudithook cannot be removed,
    so one hook per process records into whichever Audit is current)."""

    current: "Audit | None" = None
    READS = {"open", "os.listdir", "os.scandir", "glob.glob"}
    WRITES = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.symlink", "os.link", "os.truncate",
              "os.chmod", "os.chown", "os.utime", "shutil.rmtree", "shutil.move", "shutil.copyfile"}

    def __init__(self):
        self.reads: list[tuple[str, bool]] = []  # (path, follows the last link)
        self.writes: list[str] = []

    @classmethod
    def install(cls) -> None:
        if not getattr(cls, "installed", False):
            import sys

            sys.addaudithook(cls._hook)
            cls.installed = True

    @staticmethod
    def _hook(event: str, args: tuple) -> None:
        audit = Audit.current
        if audit is None or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
            return
        path = os.fsdecode(os.fspath(args[0]))
        if event == "open":
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            mode = args[1] if len(args) > 1 and isinstance(args[1], str) else "r"
            writing = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) or any(c in mode for c in "wax+")
            (audit.writes.append(path) if writing else audit.reads.append((path, not flags & os.O_NOFOLLOW)))
        elif event in Audit.READS:
            audit.reads.append((path, True))
        elif event in Audit.WRITES:
            audit.writes.extend(os.fsdecode(os.fspath(a)) for a in args[:2] if isinstance(a, (str, bytes, os.PathLike)))

    def __enter__(self):
        Audit.current = self
        return self

    def __exit__(self, *exc):
        Audit.current = None


def _resolved(path: str, follow: bool) -> Path:
    """Where a path leads (its last link followed only if the open followed it)."""
    absolute = os.path.abspath(path)
    if follow:
        return Path(os.path.realpath(absolute))
    return Path(os.path.realpath(os.path.dirname(absolute))) / os.path.basename(absolute)


def _inside(path: Path, roots) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _snapshot(root: Path, skip: Path) -> dict[str, tuple]:
    """Every entry under `root` but `skip`, with its type, size and modification time (links not
    followed; not the access time, which the sentinel checks, nor ctime, which setting it changes)."""
    entries = {}
    for folder, folders, files in os.walk(root):
        if Path(folder) == skip or skip in Path(folder).parents:
            folders[:] = []
            continue
        for name in folders + files:
            info = os.lstat(os.path.join(folder, name))
            entries[os.path.join(folder, name)] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return entries


# Values a crafted manifest or JSON file may hold where refsearch expects something else.
hostile_scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from([0, -1, 1, 2, 3, 64, 2**31, 2**63, 10**30, -(10**30)]),
    st.integers(), st.floats(), st.text(max_size=12),
    st.sampled_from(["", ".", "..", "../x", "/etc/passwd", OUTSIDE, f"{OUTSIDE}/secret.json", "a/b", "a\\b", "x\0y",
                     "gen-1", "CURRENT", "manifest.json", "vectors.npy", "onnx", "torch", "flat", "fake", "nope"]),
)
hostile_values = st.recursive(hostile_scalars, lambda inner: st.lists(inner, max_size=3)
                              | st.dictionaries(st.text(max_size=8) | st.sampled_from(["size", "sha256", "id"]),
                                                inner, max_size=3), max_leaves=6)
MANIFEST_PATHS = [("count",), ("schema_version",), ("format",), ("seal",), ("model",), ("model", "id"),
                  ("model", "path"), ("model", "fingerprint"), ("model", "encoder"), ("model", "dimension"),
                  ("model", "files"), ("model", "encoder_dir"), ("model", "encoder_files"), ("vectors",),
                  ("vectors", "store"), ("vectors", "files"), ("sources",), ("sources", "roots"),
                  ("sources", "files"), ("lexical",), ("files",)]
NPY_DTYPES = ["int8", "int32", "int64", "uint64", "float16", "float32", "float64", ">f4", ">i4", ">u8", "bool", "object"]


class Example:
    """One hostile index directory: a copy of the base index and the changes made to it."""

    def __init__(self, base: Path, root: Path, outside: Path, data):
        self.index = root / "idx"
        shutil.copytree(base, self.index, symlinks=True)
        self.generation = store.current_generation(self.index)
        self.outside, self.data = outside, data

    def draw(self, strategy, label: str):
        return self.data.draw(strategy, label=label)

    @property
    def replaced(self) -> bool:
        """An earlier change replaced the generation itself (its files are then not to be touched:
        a link leads outside)."""
        return self.generation.is_symlink() or not self.generation.is_dir()

    def files(self) -> list[str]:
        return [] if self.replaced else sorted(p.name for p in self.generation.iterdir())

    def hostile(self, value):
        """`value` with OUTSIDE replaced by the sentinel folder's path."""
        if isinstance(value, str):
            return value.replace(OUTSIDE, str(self.outside))
        if isinstance(value, list):
            return [self.hostile(v) for v in value]
        if isinstance(value, dict):
            return {self.hostile(k): self.hostile(v) for k, v in value.items()}
        return value

    # -- changes -------------------------------------------------------------------------------

    def change_manifest(self) -> None:
        file = self.generation / "manifest.json"
        try:
            manifest = json.loads(file.read_bytes()) if not self.replaced and file.is_file() and not file.is_symlink() else None
        except ValueError:
            manifest = None
        if not (isinstance(manifest, dict) and isinstance(manifest.get("files"), dict) and manifest["files"]):
            return  # an earlier change already broke it
        files = sorted(manifest["files"])
        how = self.draw(st.sampled_from(["set", "delete", "rename-file", "file-entry", "add-file"]), "manifest change")
        if how in ("set", "delete"):
            path = self.draw(st.sampled_from(MANIFEST_PATHS), "manifest key")
            parent = manifest
            for key in path[:-1]:
                parent = parent.get(key) if isinstance(parent, dict) else None
            if not isinstance(parent, dict):
                return
            if how == "delete":
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = self.hostile(self.draw(hostile_values, "value"))
        elif how == "rename-file":
            name = self.draw(st.sampled_from(files), "file")
            manifest["files"][self.hostile(self.draw(hostile_scalars.map(str), "new name"))] = manifest["files"].pop(name)
        elif how == "file-entry":
            name = self.draw(st.sampled_from(files), "file")
            key = self.draw(st.sampled_from(["size", "sha256", None]), "key")
            value = self.hostile(self.draw(hostile_values, "value"))
            if key is None or not isinstance(manifest["files"][name], dict):
                manifest["files"][name] = value
            else:
                manifest["files"][name][key] = value
        else:
            manifest["files"][self.hostile(self.draw(hostile_scalars.map(str), "added name"))] = {"size": 10, "sha256": "0" * 64}
        file.write_text(json.dumps(manifest), "utf-8")

    def change_file(self) -> None:
        targets = [*self.files(), "CURRENT", ".lock", "gen-1"]
        name = self.draw(st.sampled_from(targets), "target")
        path = self.index / name if name in ("CURRENT", ".lock", "gen-1") else self.generation / name
        how = self.draw(st.sampled_from(["truncate", "append", "garbage", "flip", "link-file", "link-folder",
                                         "link-nowhere", "link-device", "fifo", "folder", "delete"]), "how")
        if how in ("truncate", "append", "garbage", "flip") and (path.is_symlink() or not path.is_file()):
            return  # an earlier change made it a link (to outside) or a FIFO
        if how == "truncate":
            size = path.stat().st_size
            os.truncate(path, self.draw(st.integers(0, max(size - 1, 0)), "length"))
        elif how == "append":
            with open(path, "ab") as handle:
                handle.write(self.draw(st.binary(min_size=1, max_size=64), "bytes"))
        elif how == "garbage":
            path.write_bytes(self.draw(st.binary(max_size=256), "bytes"))
        elif how == "flip":
            data = bytearray(path.read_bytes())
            if data:
                at = self.draw(st.integers(0, len(data) - 1), "at")
                data[at] ^= self.draw(st.integers(1, 255), "mask")
                path.write_bytes(bytes(data))
        else:
            self._replace(path, how)

    def _replace(self, path: Path, how: str) -> None:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        if how == "link-file":
            path.symlink_to(self.outside / "secret.json")
        elif how == "link-folder":
            path.symlink_to(self.outside / "gen-copy" if path == self.generation else self.outside)
        elif how == "link-nowhere":
            path.symlink_to(self.outside / "nothing-here")
        elif how == "link-device":
            path.symlink_to("/dev/zero")
        elif how == "fifo":
            os.mkfifo(path)
        elif how == "folder":
            path.mkdir()

    def change_content(self) -> None:
        """A change that keeps the file's kind: an array with another dtype, shape or values, JSON
        with other values, a records row with other fields, CURRENT naming something else."""
        name = self.draw(st.sampled_from([*self.files(), "CURRENT"]), "target")
        path = self.index / name if name == "CURRENT" else self.generation / name
        if path.is_symlink() or not path.is_file():
            return  # an earlier change made it a link (to outside), a FIFO or a folder
        if path.name == "CURRENT":
            path.write_text(self.draw(st.sampled_from(["gen-2", "gen-0", "gen-1\0", "../private", "gen-99999999999",
                                                       "gen-1/../gen-1", " gen-1 ", ""]), "current"), "utf-8")
        elif path.suffix == ".npy":
            self._change_array(path)
        elif path.name == "records.jsonl":
            lines = path.read_bytes().splitlines(keepends=True)
            row = self.draw(st.integers(0, max(len(lines) - 1, 0)), "row")
            try:
                record = json.loads(lines[row])
            except (IndexError, ValueError):
                return  # an earlier change garbled it
            if not isinstance(record, dict):
                return
            key = self.draw(st.sampled_from([*record, "unknown", "extra", "content_hash"]), "field")
            if self.draw(st.booleans(), "delete field"):
                record.pop(key, None)
            else:
                record[key] = self.hostile(self.draw(hostile_values, "value"))
            lines[row] = json.dumps(record).encode() + b"\n"
            path.write_bytes(b"".join(lines))
        elif path.suffix == ".json":
            try:
                data = json.loads(path.read_bytes())
            except ValueError:
                return  # an earlier change garbled it
            path.write_text(json.dumps(self._changed_json(data), allow_nan=True), "utf-8")

    def _changed_json(self, data):
        """`data` with one value somewhere inside it replaced, removed or added."""
        if isinstance(data, (dict, list)) and data and self.draw(st.booleans(), "descend"):
            keys = sorted(data) if isinstance(data, dict) else range(len(data))
            key = self.draw(st.sampled_from(list(keys)), "key")
            data[key] = self._changed_json(data[key])
            return data
        if isinstance(data, dict) and self.draw(st.booleans(), "add key"):
            data[self.draw(st.text(max_size=6), "new key")] = self.hostile(self.draw(hostile_values, "value"))
            return data
        return self.hostile(self.draw(hostile_values, "value"))

    def _change_array(self, path: Path) -> None:
        try:  # mapped, then copied: an earlier lying header must not make this allocate gigabytes
            array = np.array(np.load(path, mmap_mode="r", allow_pickle=False))
        except Exception:  # numpy's errors on a garbled header vary (ValueError, SyntaxError, TokenError…)
            return  # an earlier change garbled it
        how = self.draw(st.sampled_from(["dtype", "shape", "values", "header-lies"]), "array change")
        if how == "dtype":
            dtype = self.draw(st.sampled_from(NPY_DTYPES), "dtype")
            with np.errstate(all="ignore"):  # NaN cast to an integer: whatever it becomes is fine here
                array = np.array(array.tolist(), dtype=object) if dtype == "object" else array.astype(dtype)
        elif how == "shape":
            rows = self.draw(st.integers(0, len(array) + 2), "rows")
            array = np.resize(array, (rows, *array.shape[1:]))
            if array.ndim == 2 and self.draw(st.booleans(), "transpose"):
                array = np.ascontiguousarray(array.T)
        elif how == "values" and array.size:
            flat = array.reshape(-1).copy()
            at = self.draw(st.integers(0, flat.size - 1), "at")
            if flat.dtype.kind == "f":
                flat[at] = self.draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e38, -1.0, 0.0]), "float")
            elif flat.dtype.kind == "b":  # an earlier change made it bool: np.iinfo has no bounds for it
                flat[at] = not flat[at]
            else:
                info = np.iinfo(flat.dtype)
                near = st.integers(-2, len(array) + 2)  # just out of range: the likely off-by-one
                flat[at] = self.draw(near.filter(lambda n: info.min <= n <= info.max)
                                     | st.integers(int(info.min), int(info.max)), "int")
            array = flat.reshape(array.shape)
        elif how == "header-lies":
            data = path.read_bytes()
            shape = repr(tuple(array.shape)).replace(",)", ",)")
            lie = repr(tuple(n + self.draw(st.integers(-1, 10**6), "grow") for n in array.shape))
            path.write_bytes(data.replace(f"'shape': {shape}".encode(), f"'shape': {lie}".encode(), 1))
            return
        np.save(path, array, allow_pickle=True)

    def make_consistent(self) -> None:
        """Record the files' real sizes and hashes in the manifest, as someone crafting it would."""
        path = self.generation / "manifest.json"
        if self.replaced or not path.is_file() or path.is_symlink():
            return
        try:
            manifest = json.loads(path.read_bytes())
        except ValueError:
            return
        listed = manifest.get("files") if isinstance(manifest, dict) else None
        if not isinstance(listed, dict):
            return
        for name, entry in listed.items():
            file = self.generation / name if files.plain_name(name) else None
            if isinstance(entry, dict) and file is not None and file.is_file() and not file.is_symlink():
                entry["size"] = file.stat().st_size
                entry["sha256"] = files.sha256_file(file)
        path.write_text(json.dumps(manifest), "utf-8")


SENTINELS = ("private", "private/secret.json", "private/gen-copy")


@pytest.fixture
def hostile_ground(fake_encoder):
    """The base index (built by this user, so sealed), its sources (a page with headings and a flat one
    that gets derived topics), and a sentinel folder outside.

    In a folder whose path has the same length on every run (not pytest's numbered one): the records
    hold the sources' path, hypothesis draws offsets within the files, and so the examples are the
    same every time."""
    ground = Path(tempfile.mkdtemp(prefix="refsearch-hostile-"))
    (ground / "refs").mkdir()
    (ground / "refs" / "infra.md").write_text(PAGE, encoding="utf-8")
    write_jsonl(ground / "refs" / "flat.jsonl", flat_library(count_per_theme=20))  # derived topics' files too
    refsearch.build([ground / "refs"], ground / "base")
    outside = ground / "private"
    outside.mkdir()
    (outside / "secret.json").write_text('{"pages": [["Secret", "s"]], "topics": [], "kinds": []}', "utf-8")
    shutil.copytree(store.current_generation(ground / "base"), outside / "gen-copy")
    for path in SENTINELS:
        os.utime(ground / path, (1_000_000, 2_000_000))
    Audit.install()
    yield ground
    shutil.rmtree(ground)


def _allowed_reads(ground: Path, index: Path, trusted: bool) -> list[Path]:
    """What refsearch may read while opening an index: the index, its own package and Python's, the
    user's config and index key, and (for an index this user built) its sources."""
    import sys

    import refsearch as package

    roots = [index, Path(package.__file__).resolve().parent, Path(sys.prefix).resolve(),
             Path(sys.base_prefix).resolve(), Path(os.environ["REFSEARCH_CONFIG"]).resolve(),
             Path(os.environ["REFSEARCH_DATA"]).resolve(), Path(__file__).resolve().parent]
    return roots + ([ground / "refs"] if trusted else [])


# typer builds the click command on every CliRunner.invoke (~20 ms); build it once
CLICK_COMMAND = typer.main.get_command(app)
CLICK_RUNNER = click.testing.CliRunner(env={"COLUMNS": "200"})
CLI_COMMANDS = [["search", "gpu slicing", "--json"], ["search", "gpu"], ["search", "serving", "--format", "md"],
                ["topics"], ["status", "--json"], ["status"], ["related", "kserve"], ["show", "infra/mig"]]


def _api_calls(index_dir: Path) -> None:
    index = refsearch.open(index_dir)
    hits = index.search("gpu slicing", k=3)
    assert len(hits) <= 3 and all(isinstance(hit.ref, refsearch.Reference) for hit in hits)
    index.search("inference", k=2, mode="lexical", filters=refsearch.Filters(topic="serving", years=(2000, 2030)))
    index.search("gpu", k=2, mode="dense")
    index.topics()
    for ref in list(index)[:3]:
        index.related(ref.id, k=2)
        index.siblings(ref)
    refsearch.status(index_dir)


def check_hostile_example(ground: Path, number: int, data) -> str:
    """Build one example, run it, check it; return its outcome ("answered" or the error's class)."""
    import refsearch.config  # noqa: F401 (imported before recording: imports are not the index's doing)

    root = ground / f"example-{number}"
    root.mkdir()
    try:
        return _check_example(ground, root, data)
    finally:
        shutil.rmtree(root)  # also when hypothesis abandons an example half drawn


def _check_example(ground: Path, root: Path, data) -> str:
    example = Example(ground / "base", root, ground / "private", data)
    changes = {"content": example.change_content, "file": example.change_file, "manifest": example.change_manifest}
    for _ in range(data.draw(st.integers(1, 3), label="changes")):
        changes[data.draw(st.sampled_from(["content", "content", "file", "manifest"]), label="kind")]()
    if data.draw(st.sampled_from([True, True, True, False]), label="consistent"):
        example.make_consistent()
    trusted = data.draw(st.booleans(), label="built by this user")
    if trusted and data.draw(st.booleans(), label="stale"):
        (ground / "refs" / "infra.md").write_text(PAGE + "- [Ray](https://ray.io) - distributed Python\n", "utf-8")
    command = data.draw(st.sampled_from(CLI_COMMANDS), label="command")
    before = _snapshot(ground, skip=root)  # lists the sentinel folder: before its access time is set
    sentinels = [ground / path for path in SENTINELS]
    for path in sentinels:
        os.utime(path, (1_000_000, 2_000_000), follow_symlinks=False)
    patch = pytest.MonkeyPatch()
    if not trusted:
        patch.setenv("REFSEARCH_DATA", str(ground / "another-user"))
    allowed = _allowed_reads(ground, root, trusted)
    outcome = "answered"
    try:
        with Audit() as audit, time_limit(TIME_LIMIT), warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning would be a line of numpy's on the user's terminal
            try:
                _api_calls(example.index)
            except RefsearchError as error:
                assert "\n" not in str(error).strip(), str(error)
                outcome = type(error).__name__
            result = CLICK_RUNNER.invoke(CLICK_COMMAND, [*command, "--index", str(example.index)])
    finally:
        patch.undo()
        (ground / "refs" / "infra.md").write_text(PAGE, encoding="utf-8")
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    if result.exit_code == 0:
        assert all(line.startswith("refsearch: ") for line in lines), result.stderr
    else:
        assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("refsearch: error: "), result.stderr
    outside_reads = {p for p, follows in audit.reads if not _inside(_resolved(p, follows), allowed)}
    assert not outside_reads, f"read outside the index: {sorted(outside_reads)}"
    outside_writes = {p for p in audit.writes if not _inside(_resolved(p, follows=False), [root])}
    assert not outside_writes, f"wrote outside the index: {sorted(outside_writes)}"
    for path in sentinels:
        assert os.lstat(path).st_atime == 1_000_000, f"{path} was read"
    after = _snapshot(ground, skip=root)
    after.pop(str(ground / "refs" / "infra.md"), None), before.pop(str(ground / "refs" / "infra.md"), None)
    assert after == before, f"changed outside the index: {set(after.items()) ^ set(before.items())}"
    return outcome


def _run_hostile_examples(ground: Path, examples: int) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    counter = iter(range(10**9))

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data):
        outcome = check_hostile_example(ground, next(counter), data)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    run()
    return outcomes


@pytest.mark.parametrize("examples", [
    pytest.param(FAST_EXAMPLES, id="fast"),
    pytest.param(HOSTILE_EXAMPLES, id="ci", marks=pytest.mark.slow),
])
def test_hostile_index_directories_are_contained(hostile_ground, examples):
    outcomes = _run_hostile_examples(hostile_ground, examples)
    tried = sum(outcomes.values())
    print(f"\nhostile index directories: {tried} tried, {tried} contained "
          f"(answered {outcomes.get('answered', 0)}; refused {dict(sorted((k, v) for k, v in outcomes.items() if k != 'answered'))})")
    assert tried >= examples * 0.9  # hypothesis may stop early only when it has run out of new examples


@pytest.mark.slow
@pytest.mark.parametrize("location", ["../../outside.data", "absolute"])
def test_onnx_weights_named_outside_the_encoder_folder_are_refused(bundled_index, tmp_path, location):
    """A crafted model.onnx may say where its weights are ("external data"): onnxruntime must refuse
    a place outside the encoder folder (1.32 does; pyproject allows older versions, hence this test)."""
    import onnx

    from refsearch.encoders.folder import CONFIG_FILE, MODEL_FILE, OPTIMIZED_FILE, WEIGHTS_FILE

    copy = tmp_path / "idx"
    shutil.copytree(bundled_index.directory, copy, copy_function=os.link)  # files are replaced, never changed
    encoder = next(copy.glob("encoder-*"))
    outside = tmp_path / "outside.data"
    os.link(encoder / WEIGHTS_FILE, outside)
    os.utime(outside, (1_000_000, 2_000_000))
    config = json.loads((encoder / CONFIG_FILE).read_text("utf-8"))
    for name in (MODEL_FILE, OPTIMIZED_FILE):  # the int8 encoder loads the saved optimised graph
        if not (encoder / name).is_file():
            continue
        model = onnx.load(encoder / name, load_external_data=False)
        for tensor in model.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = str(outside) if location == "absolute" else location
        (encoder / name).unlink()
        onnx.save(model, encoder / name)
        config["file_sizes"][name] = (encoder / name).stat().st_size
    (encoder / CONFIG_FILE).unlink()
    (encoder / CONFIG_FILE).write_text(json.dumps(config), "utf-8")
    manifest_path = store.current_generation(copy) / "manifest.json"
    manifest = json.loads(manifest_path.read_text("utf-8"))
    manifest["model"]["encoder_files"] = {p.name: p.stat().st_size for p in encoder.iterdir()}
    manifest_path.unlink()
    manifest_path.write_text(json.dumps(manifest), "utf-8")
    with pytest.raises(IndexProblem, match=r"onnxruntime cannot load model(\.opt)?\.onnx"):
        refsearch.open(copy).search("gpu", mode="dense")
    assert_not_read(outside)
