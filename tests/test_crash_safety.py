"""The index is never left broken: killed builds, concurrent builds, failing builds, damaged files,
and `refsearch status` reporting staleness and damage.

The kill and concurrency tests run real `refsearch build` processes (so the real model, through
the ONNX export cached in the default REFSEARCH_CACHE) on a small two-version source.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import refsearch
from refsearch import files, store
from refsearch.cli import app
from refsearch.errors import IndexProblem
from refsearch.index import Index
from refsearch.lexical import BM25Builder
from refsearch.render import status_json
from refsearch.status_report import index_status

runner = CliRunner(env={"COLUMNS": "200"})
BUILD = [sys.executable, "-c", "from refsearch.cli import main; main()", "build"]
KILLS = 32

SHARED = [
    ("Kubernetes model serving with KServe", "KServe deploys models as Kubernetes custom resources"),
    ("Triton inference server", "NVIDIA server batching GPU inference requests"),
    ("NVIDIA Multi-Instance GPU", "GPU 切片: one A100 split into isolated slices"),
    ("Feast feature store", "serving consistent features online and offline"),
    ("Hidden technical debt in machine learning systems", "the classic paper on ML tech debt"),
    ("Ray distributed training", "scaling Python training jobs across a cluster"),
]
ONLY_A = [
    ("Zebrafish genome atlas", "annotated vertebrate genes of the zebrafish"),
    ("Medieval castle architecture", "stone keeps, moats and curtain walls"),
]
ONLY_B = [
    ("Volcano eruption forecasting", "seismic signals that precede magma eruptions"),
    ("Sourdough bread baking", "wild yeast starters and long fermentation"),
    ("Coral reef bleaching survey", "ocean warming and the loss of reef algae"),
]
# The same entry annotated differently in A and B: records and vectors must agree on which.
CHANGED = ("Experiment tracking with MLflow", "logging runs, metrics and model artifacts",
           "a registry of model versions with stage transitions")
VERSIONS = {
    "A": [*SHARED, *ONLY_A, CHANGED[:2]],
    "B": [*SHARED, *ONLY_B, (CHANGED[0], CHANGED[2])],
}
DISTINCTIVE = {"A": ("zebrafish genes", "Zebrafish genome atlas"),
               "B": ("predicting volcanic eruptions", "Volcano eruption forecasting")}


def write_version(src: Path, version: str) -> None:
    lines = ["# Reading list", "## Mixed"] + [f"- [{t}](https://example.org/{i}) - {n}"
                                              for i, (t, n) in enumerate(VERSIONS[version])]
    src.mkdir(parents=True, exist_ok=True)
    (src / "list.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def answered_version(index_dir: Path) -> str:
    """Which version the index answers from; fails unless records, vectors and lexical all agree."""
    index = Index.open(index_dir)
    records = list(index)
    entries = {(r.title, r.note) for r in records}
    matches = [v for v, refs in VERSIONS.items() if entries == set(refs)]
    assert len(matches) == 1, f"index holds neither version A nor B: {sorted(entries)}"
    version = matches[0]
    # Each row's vector and lexical postings belong to that row's record.
    _, nearest = index.vectors.search(index.encoder.encode([r.title for r in records]), 1)
    assert nearest[:, 0].tolist() == list(range(len(records)))
    for ref in records:
        assert index.search(ref.note, k=1, mode="lexical")[0].ref.title == ref.title
    query, title = DISTINCTIVE[version]
    assert index.search(query, k=1)[0].ref.title == title
    return version


def leftovers(index_dir: Path, journal_kept: bool = False) -> list[str]:
    """Hidden entries other than the lock: what dead or failed builds left behind. `journal_kept`:
    but the journal of vectors a failed build embedded, which the next build resumes from."""
    return sorted(p.name for p in index_dir.iterdir() if p.name.startswith(".") and p.name != ".lock"
                  and not (journal_kept and p.name.startswith(".journal-")))


def subprocess_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("REFSEARCH_INDEX", "REFSEARCH_CONFIG")}
    return {**env, "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="session")
def real_index_a(tmp_path_factory):
    """Version A built with the real model, to be copied by each test that needs it."""
    root = tmp_path_factory.mktemp("real-a")
    write_version(root / "src", "A")
    refsearch.build([root / "src"], root / "idx")
    assert answered_version(root / "idx") == "A"
    return root


def copy_real_index(real_index_a: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy; the manifest's source root is rewritten to the copy's sources."""
    shutil.copytree(real_index_a / "src", tmp_path / "src")
    shutil.copytree(real_index_a / "idx", tmp_path / "idx")
    manifest_path = store.current_generation(tmp_path / "idx") / "manifest.json"
    text = manifest_path.read_text("utf-8").replace(str(real_index_a / "src"), str(tmp_path / "src"))
    manifest_path.write_text(text, "utf-8")  # the manifest itself is not checksummed
    return tmp_path / "src", tmp_path / "idx"


def run_build(src: Path, index_dir: Path, cwd: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([*BUILD, str(src), "--index", str(index_dir)], cwd=cwd, env=subprocess_env(),
                            stdout=subprocess.DEVNULL, **kwargs)


# --- crash safety --------------------------------------------------------------------------------


@pytest.mark.slow
def test_killed_builds_leave_old_or_new_index_never_a_mix(real_index_a, tmp_path):
    src, index_dir = copy_real_index(real_index_a, tmp_path)
    # How long a whole build takes in a fresh process, so kills spread over all of it.
    durations = []
    for version in ("B", "A"):
        write_version(src, version)
        started = time.perf_counter()
        assert run_build(src, index_dir, tmp_path, stderr=subprocess.DEVNULL).wait(timeout=60) == 0
        durations.append(time.perf_counter() - started)
        assert answered_version(index_dir) == version
    duration = max(durations)
    rng = random.Random(20240611)
    outcomes = {"old": 0, "old, mid-write": 0, "new": 0}
    before = answered_version(index_dir)
    for kill in range(KILLS):
        target = "B" if before == "A" else "A"
        write_version(src, target)
        process = run_build(src, index_dir, tmp_path, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, 1.3 * duration))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        after = answered_version(index_dir)
        assert after in (before, target)
        mid_write = any(index_dir.glob(".tmp-gen-*"))
        outcomes["new" if after == target != before else "old, mid-write" if mid_write else "old"] += 1
        if kill % 6 == 5:  # the next normal build repairs whatever the dead one left behind
            refsearch.build([src], index_dir)
            after = answered_version(index_dir)
            assert after == target
            assert leftovers(index_dir) == []
            assert len(list(index_dir.glob("gen-*"))) <= 2
        before = after
    print(f"\n{KILLS} kills over {duration:.2f} s builds: {outcomes}")
    write_version(src, "B" if answered_version(index_dir) == "A" else "A")
    assert refsearch.build([src], index_dir).rebuilt
    assert leftovers(index_dir) == []


@pytest.mark.slow
def test_concurrent_builds_wait_for_each_other(real_index_a, tmp_path):
    src, index_dir = copy_real_index(real_index_a, tmp_path)
    write_version(tmp_path / "src-b", "B")
    logs = [tmp_path / "first.err", tmp_path / "second.err"]
    with files.build_lock(index_dir):  # both builds start while a third holds the lock
        processes = []
        for source, log in zip((src, tmp_path / "src-b"), logs):
            with open(log, "w") as handle:
                processes.append(run_build(source, index_dir, tmp_path, stderr=handle))
        deadline = time.monotonic() + 30
        while not all("waiting for another build" in log.read_text() for log in logs):
            assert time.monotonic() < deadline, [log.read_text() for log in logs]
            assert all(p.poll() is None for p in processes), "a build did not wait for the lock"
            time.sleep(0.05)
        assert answered_version(index_dir) == "A"  # nothing changed while they waited
    assert [p.wait(timeout=60) for p in processes] == [0, 0], [log.read_text() for log in logs]
    assert answered_version(index_dir) in ("A", "B")
    assert leftovers(index_dir) == [] and len(list(index_dir.glob("gen-*"))) <= 2


def _fail_in_encoder(monkeypatch, fake_encoder):
    monkeypatch.setattr(fake_encoder, "encode", _raise(RuntimeError("encoder crashed")))


def _interrupt_in_lexical(monkeypatch, fake_encoder):
    monkeypatch.setattr(BM25Builder, "finish", _raise(KeyboardInterrupt()))


def _disk_full_on_current(monkeypatch, fake_encoder):
    real = store.publish_file

    def publish_file(path, data):
        if path.name == "CURRENT":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(store, "publish_file", publish_file)


def _raise(error):
    def fail(*args, **kwargs):
        raise error
    return fail


@pytest.mark.parametrize("failure", [_fail_in_encoder, _interrupt_in_lexical, _disk_full_on_current])
def test_failing_build_keeps_old_generation(tmp_path, fake_encoder, failure):
    write_version(tmp_path / "src", "A")
    refsearch.build([tmp_path / "src"], tmp_path / "idx")
    current = (tmp_path / "idx" / "CURRENT").read_text()
    write_version(tmp_path / "src", "B")
    with pytest.MonkeyPatch.context() as patch:
        failure(patch, fake_encoder)
        with pytest.raises((RuntimeError, KeyboardInterrupt, OSError)):
            refsearch.build([tmp_path / "src"], tmp_path / "idx")
    assert (tmp_path / "idx" / "CURRENT").read_text() == current
    assert {r.title for r in list(Index.open(tmp_path / "idx"))} == {t for t, _ in VERSIONS["A"]}
    assert not list((tmp_path / "idx").glob(".tmp-*"))
    report = refsearch.build([tmp_path / "src"], tmp_path / "idx")
    assert report.rebuilt and report.total == len(VERSIONS["B"])
    assert {r.title for r in list(Index.open(tmp_path / "idx"))} == {t for t, _ in VERSIONS["B"]}
    assert leftovers(tmp_path / "idx") == []
    assert len(list((tmp_path / "idx").glob("gen-*"))) == 2


def test_next_build_removes_what_dead_builds_left(tmp_path, fake_encoder):
    write_version(tmp_path / "src", "A")
    refsearch.build([tmp_path / "src"], tmp_path / "idx")
    (tmp_path / "idx" / ".tmp-gen-dead").mkdir()
    (tmp_path / "idx" / ".tmp-CURRENT.dead").write_text("gen-9")
    write_version(tmp_path / "src", "B")
    refsearch.build([tmp_path / "src"], tmp_path / "idx")
    assert leftovers(tmp_path / "idx") == []


# --- what killed ONNX exports leave in the cache ---------------------------------------------------


@pytest.fixture
def stand_in_export(tmp_path, monkeypatch):
    """export_onnx with its slow part (torch tracing) replaced by writing a small sound encoder
    folder; returns (spec, cache folder, list of exports run)."""
    from refsearch.encoders import ModelSpec, export
    from refsearch.encoders.folder import CONFIG_FILE, FORMAT

    runs = []

    def fake_export(spec, pipeline, out):
        runs.append(out.name)
        (out / "model.onnx").write_bytes(b"onnx")
        config = {"format": FORMAT, "model_id": spec.model_id, "fingerprint": spec.fingerprint, "dimension": 4,
                  "max_seq_length": 8, "pooling": "mean", "normalize": True, "input_names": ["input_ids"],
                  "file_sizes": {"model.onnx": 4}}
        (out / CONFIG_FILE).write_text(json.dumps(config), "utf-8")

    monkeypatch.setattr(export, "_export", fake_export)
    (tmp_path / "model").mkdir()  # an empty folder reads as a plain Hugging Face model
    return ModelSpec("m", tmp_path / "model", "f1e2d3c4b5a69788"), tmp_path / "cache", runs


def _staging(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "onnx").iterdir() if p.name.startswith(".") and p.name != ".lock")


def test_the_next_export_removes_what_killed_exports_left(stand_in_export):
    from refsearch.encoders.export import export_onnx

    spec, cache, runs = stand_in_export
    for dead in (f".{spec.fingerprint}-k1ll3d", ".0123456789abcdef-k1ll3d", f".{spec.fingerprint}-stale-0a1b"):
        (cache / "onnx" / dead).mkdir(parents=True)
        (cache / "onnx" / dead / "model.onnx.data").write_bytes(b"\0" * 4096)
    assert export_onnx(spec, cache) == cache / "onnx" / spec.fingerprint and len(runs) == 1
    assert _staging(cache) == []


def test_an_export_leaves_a_live_exporters_staging_alone(stand_in_export):
    """Exports hold a lock on the cache's onnx folder for as long as their staging folder lives: a
    second export waits (a live exporter's folder is never taken for a dead one's), then uses the
    export the first one published instead of exporting again."""
    import threading

    from refsearch.encoders import export

    spec, cache, runs = stand_in_export
    onnx = cache / "onnx"
    onnx.mkdir(parents=True)
    live = onnx / f".{spec.fingerprint}-l1ve"
    done = []
    with files.build_lock(onnx):  # the live exporter, staging
        live.mkdir()
        waiting = threading.Thread(target=lambda: done.append(export.export_onnx(spec, cache)))
        waiting.start()
        waiting.join(timeout=1.0)
        assert waiting.is_alive() and live.is_dir()
        export._export(spec, None, live)  # the live exporter finishes and publishes
        os.rename(live, onnx / spec.fingerprint)
    waiting.join(timeout=10)
    assert done == [onnx / spec.fingerprint] and runs == [live.name]  # exported once, by the live one
    assert _staging(cache) == []


# --- a full disk at each write of a build ---------------------------------------------------------

# Every file a build writes, in the order it writes them (CURRENT last: the switch to the new one).
WRITES = ["vectors.npy", "facets.npy", "records.jsonl", "records.offsets.npy", "records.ids.json", "facets.json",
          "lexical.json", "lexical.idf.npy", "lexical.term_ptr.npy", "lexical.doc_ids.npy", "lexical.frequencies.npy",
          "manifest.json", "CURRENT"]


class _FullDisk:
    """A file being written on a full disk: every write fails as the kernel reports it, with
    ENOSPC and no file name (which is why a message must add the name itself)."""

    def __init__(self, handle):
        self._handle = handle

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()


@contextlib.contextmanager
def disk_full_when_writing(name: str):
    """Writes to files called `name` (or to the temp file that atomically replaces one) fail.
    builtins.open and io.open are patched: refsearch, pathlib, numpy and os.fdopen all open through them."""
    real_open = io.open

    def open_on_full_disk(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        path = os.readlink(f"/proc/self/fd/{file}") if isinstance(file, int) else os.fspath(file)
        base = os.path.basename(path)
        if any(flag in mode for flag in "wax+") and (base == name or base.startswith(f".tmp-{name}.")):
            return _FullDisk(handle)
        return handle

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(builtins, "open", open_on_full_disk)
        patch.setattr(io, "open", open_on_full_disk)
        yield


def open_files_under(folder: Path) -> list[str]:
    """The files under `folder` this process holds open."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(f"{folder}/"):
                held.append(target)
    return held


@pytest.mark.parametrize("name", WRITES)
def test_a_full_disk_names_the_file_and_keeps_the_old_generation(tmp_path, fake_encoder, name):
    write_version(tmp_path / "src", "A")
    refsearch.build([tmp_path / "src"], tmp_path / "idx")
    current = (tmp_path / "idx" / "CURRENT").read_text()
    write_version(tmp_path / "src", "B")
    with disk_full_when_writing(name):
        with pytest.raises(OSError) as raised:
            refsearch.build([tmp_path / "src"], tmp_path / "idx")
        result = runner.invoke(app, ["build", str(tmp_path / "src"), "--index", str(tmp_path / "idx")])
    assert raised.value.errno == errno.ENOSPC and os.path.basename(raised.value.filename) == name, raised.value
    # the unfinished generation's files are closed, though the error (and its frames) is still held
    assert [path for path in open_files_under(tmp_path / "idx") if "/.tmp-gen-" in path] == []
    assert_one_line_error(result, f"/{name}: No space left on device")
    assert (tmp_path / "idx" / "CURRENT").read_text() == current
    assert {r.title for r in Index.open(tmp_path / "idx")} == {t for t, _ in VERSIONS["A"]}
    # only the journal of what was embedded stays, for the next build to resume from
    assert leftovers(tmp_path / "idx", journal_kept=True) == []
    assert refsearch.build([tmp_path / "src"], tmp_path / "idx").rebuilt
    assert leftovers(tmp_path / "idx") == []


def test_a_query_whose_update_finds_the_disk_full_answers_with_one_warning(tmp_path, fake_encoder):
    _, index_dir = _stale_fake_index(tmp_path)
    with disk_full_when_writing("vectors.npy"):
        result = runner.invoke(app, ["search", "zebrafish genes", "--json", "--index", str(index_dir)])
    assert result.exit_code == 0 and {r["title"] for r in json.loads(result.stdout)["results"]} <= {t for t, _ in VERSIONS["A"]}
    started, warning = result.stderr.strip().splitlines()  # the update had begun, then the disk was full
    assert started.endswith("updating it first…") and warning.startswith("refsearch: warning: ")
    assert "/vectors.npy: No space left on device" in warning
    assert leftovers(index_dir, journal_kept=True) == []


@pytest.fixture
def small_disk(tmp_path):
    """A 384 kB tmpfs (where this process may mount one: root on Linux), unmounted afterwards: room for
    a small index and a 170 kB list, not for the 0.75 MB of vectors of that list."""
    disk = tmp_path / "small-disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=384k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}); the patched-open test covers it")
    yield disk
    subprocess.run(["umount", "--lazy", str(disk)], check=False, capture_output=True)


def test_a_really_full_disk_names_the_file_and_keeps_the_old_generation(small_disk, fake_encoder):
    src, index_dir = small_disk / "src", small_disk / "idx"
    write_version(src, "A")
    refsearch.build([src], index_dir)
    current = (index_dir / "CURRENT").read_text()
    big = "\n".join(f"- [Entry {n}](https://example.org/{n}) - note {n}" for n in range(3000))
    (src / "more.md").write_text(f"# More\n## Many\n{big}\n", encoding="utf-8")  # 0.75 MB of vectors
    result = runner.invoke(app, ["build", str(src), "--index", str(index_dir)])
    # the journal of embedded vectors or the new generation, whichever filled the disk, is named
    assert_one_line_error(result, f"{index_dir}/.", ": No space left on device")
    assert (index_dir / "CURRENT").read_text() == current
    assert {r.title for r in Index.open(index_dir)} == {t for t, _ in VERSIONS["A"]}
    assert leftovers(index_dir, journal_kept=True) == []
    (src / "more.md").unlink()
    assert not refsearch.build([src], index_dir).rebuilt  # room again: the old generation is current
    assert leftovers(index_dir) == []  # and the journal of the build given up is gone


def test_a_full_disk_while_copying_the_query_encoder_names_where_it_was_going(small_disk, tmp_path):
    """The encoder (90 MB) is copied from the cache into an index on another file system (no link
    can be made there): shutil names the source, but the full disk is the destination's; the
    message names both."""
    from refsearch.encoders.sharing import install_encoder
    from refsearch.errors import os_error_message
    from test_encoder_sharing import write_stand_in

    exported = tmp_path / "export"
    exported.mkdir()
    write_stand_in(exported, {"model.onnx.data": b"\0" * 512 * 1024})
    (small_disk / "idx").mkdir()
    with pytest.raises(OSError) as raised:
        install_encoder(small_disk / "idx", lambda: exported)
    message = os_error_message(raised.value)
    assert f"{exported / 'model.onnx.data'} -> {small_disk / 'idx'}/.tmp-encoder-" in message, message
    assert message.endswith("/model.onnx.data: No space left on device"), message
    assert list((small_disk / "idx").iterdir()) == []


# --- damaged or mismatched index -----------------------------------------------------------------


def _truncate(index_dir: Path) -> str:
    path = store.current_generation(index_dir) / "vectors.npy"
    path.write_bytes(path.read_bytes()[:100])
    return "vectors.npy: index file is truncated or damaged"


def _flip_byte(index_dir: Path) -> str:
    path = store.current_generation(index_dir) / "records.jsonl"
    data = bytearray(path.read_bytes())
    # one bit of a field name (where the middle byte lands depends on the paths the records hold):
    # a query's record check sees it, status's checksum too
    data[data.rindex(b'"title"') + 1] ^= 0x01
    path.write_bytes(bytes(data))
    return "records.jsonl: damaged"


def _garble_manifest(index_dir: Path) -> str:
    path = store.current_generation(index_dir) / "manifest.json"
    path.write_bytes(path.read_bytes()[:-20])
    return "manifest.json: unreadable manifest"


def _other_schema(index_dir: Path) -> str:
    path = store.current_generation(index_dir) / "manifest.json"
    manifest = json.loads(path.read_text("utf-8"))
    manifest["schema_version"] = store.SCHEMA_VERSION + 1
    path.write_text(json.dumps(manifest), "utf-8")
    return f"index schema version {store.SCHEMA_VERSION + 1} but this refsearch reads version {store.SCHEMA_VERSION}"


def _dangling_current(index_dir: Path) -> str:
    (index_dir / "CURRENT").write_text("gen-99")
    return "CURRENT: points to a missing generation 'gen-99'"


def _escaping_current(index_dir: Path) -> str:
    (index_dir / "CURRENT").write_text("../../etc")
    return "CURRENT: points to a missing generation '../../etc'"


def _deleted_lexical(index_dir: Path) -> str:
    (store.current_generation(index_dir) / "lexical.frequencies.npy").unlink()
    return "lexical.frequencies.npy: index file is missing"


DAMAGE = [_truncate, _flip_byte, _garble_manifest, _other_schema, _dangling_current, _escaping_current,
          _deleted_lexical]


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refsearch: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__.strip("_"))
def test_damaged_index_says_rebuild_then_rebuild_repairs(tmp_path, fake_encoder, damage):
    write_version(tmp_path / "src", "A")
    refsearch.build([tmp_path / "src"], tmp_path / "idx")
    expected = damage(tmp_path / "idx")
    result = runner.invoke(app, ["search", "gpu", "--index", str(tmp_path / "idx")])
    assert_one_line_error(result, expected, "run `refsearch build --force`")
    with pytest.raises(IndexProblem, match="build --force"):
        refsearch.status(tmp_path / "idx")
    result = runner.invoke(app, ["build", str(tmp_path / "src"), "--index", str(tmp_path / "idx"), "--force"])
    assert result.exit_code == 0, result.output
    assert {r.title for r in list(Index.open(tmp_path / "idx"))} == {t for t, _ in VERSIONS["A"]}


@pytest.mark.parametrize("key", ["files", "model"])
def test_manifest_missing_a_key_says_rebuild(tmp_path, fake_encoder, key):
    write_version(tmp_path / "src", "A")
    refsearch.build([tmp_path / "src"], tmp_path / "idx")
    path = store.current_generation(tmp_path / "idx") / "manifest.json"
    path.write_text(path.read_text("utf-8").replace(f'"{key}"', f'"{key[:-1]}x"'), "utf-8")
    result = runner.invoke(app, ["search", "gpu", "--index", str(tmp_path / "idx")])
    assert_one_line_error(result, "refsearch build --force")


@pytest.mark.slow
def test_truncated_query_encoder_says_rebuild(real_index_a, tmp_path):
    _, index_dir = copy_real_index(real_index_a, tmp_path)
    weights = next(index_dir.glob("encoder-*")) / "model.onnx.data"
    with open(weights, "r+b") as handle:
        handle.truncate(weights.stat().st_size // 2)
    result = runner.invoke(app, ["search", "gpu", "--index", str(index_dir)])
    assert_one_line_error(result, "model.onnx.data", "refsearch build --force")


@pytest.mark.slow
def test_index_built_with_another_model_is_refused(real_index_a, tmp_path):
    _, index_dir = copy_real_index(real_index_a, tmp_path)
    other = tmp_path / "other-model"
    other.mkdir()
    (other / "config.json").write_text('{"hidden_size": 8}')
    result = runner.invoke(app, ["search", "gpu", "--index", str(index_dir), "--model", str(other)])
    assert_one_line_error(result, "index was built with model 'sentence-transformers/all-MiniLM-L6-v2'",
                          f"refsearch build --force --model {other}")


# --- status --------------------------------------------------------------------------------------


def test_status_reports_fresh_index(tmp_path, fake_encoder):
    write_version(tmp_path / "src", "A")
    refsearch.build([tmp_path / "src"], tmp_path / "idx")
    status = index_status(tmp_path / "idx")
    data = status_json(status)
    assert status.state.condition == "fresh" and data["up_to_date"] is True and data["condition"] == "fresh"
    assert data["references"] == {"indexed": len(VERSIONS["A"]), "stale": 0, "orphaned": 0}
    assert data["model"] == {"id": "fake", "fingerprint": "fake0001", "encoder": "fake",
                             "dimension": 64, "changed": False}
    assert data["schema_version"] == store.SCHEMA_VERSION
    generation = store.current_generation(tmp_path / "idx")
    sizes = data["bytes"]
    assert sizes["vectors"] == (generation / "vectors.npy").stat().st_size
    assert sizes["records"] == sum(p.stat().st_size for p in generation.glob("records.*"))
    assert sizes["lexical"] == sum(p.stat().st_size for p in generation.glob("lexical.*"))
    assert sizes["total"] == sum(v for k, v in sizes.items() if k != "total")
    assert data["problems"] == []


def test_status_counts_stale_and_orphaned(tmp_path, fake_encoder):
    write_version(tmp_path / "src", "A")
    (tmp_path / "src" / "gone.jsonl").write_text('{"title": "Soon removed"}\n')
    refsearch.build([tmp_path / "src"], tmp_path / "idx")
    write_version(tmp_path / "src", "B")  # 3 new + 1 changed; 2 only-A + 1 from gone.jsonl orphaned
    (tmp_path / "src" / "gone.jsonl").unlink()
    (tmp_path / "src" / "more.jsonl").write_text('{"title": "Brand new"}\n')
    data = status_json(index_status(tmp_path / "idx"))
    source = str((tmp_path / "src").resolve())
    assert data["up_to_date"] is False
    assert data["sources"]["changed"] == [f"{source}/list.md"]
    assert data["sources"]["added"] == [f"{source}/more.jsonl"]
    assert data["sources"]["removed"] == [f"{source}/gone.jsonl"]
    assert data["references"] == {"indexed": len(VERSIONS["A"]) + 1, "stale": 5, "orphaned": 3}
    report = refsearch.build([tmp_path / "src"], tmp_path / "idx")  # status predicted the build
    assert report.added + report.changed == 5 and report.removed == 3
    assert index_status(tmp_path / "idx").state.condition == "fresh"


def test_status_with_changed_model_counts_everything_stale(tmp_path, fake_encoder):
    from refsearch import encoders

    write_version(tmp_path / "src", "A")
    refsearch.build([tmp_path / "src"], tmp_path / "idx")
    encoders.backend("fake").fingerprint = "other"
    status = index_status(tmp_path / "idx")
    assert status.state.model_changed and status.state.condition == "stale"
    assert (status.stale, status.orphaned) == (len(VERSIONS["A"]), 0)


def test_status_with_unreadable_sources_still_reports(tmp_path, fake_encoder):
    write_version(tmp_path / "src", "A")
    refsearch.build([tmp_path / "src"], tmp_path / "idx")
    (tmp_path / "src" / "bad.jsonl").write_text('{"title": "x"\n')
    status = index_status(tmp_path / "idx")
    assert status.state.condition == "stale" and status.stale is None
    assert len(status.problems) == 1 and "bad.jsonl:1: not valid JSON" in status.problems[0]


@pytest.mark.parametrize("damage", [_flip_byte, _other_schema, _dangling_current], ids=lambda f: f.__name__)
def test_status_of_damaged_index_raises_index_problem(tmp_path, fake_encoder, damage):
    write_version(tmp_path / "src", "A")
    refsearch.build([tmp_path / "src"], tmp_path / "idx")
    damage(tmp_path / "idx")
    with pytest.raises(IndexProblem, match="refsearch build --force"):
        index_status(tmp_path / "idx")


def _status_command_registered() -> bool:
    return any((c.name or c.callback.__name__) == "status" for c in app.registered_commands)


@pytest.mark.skipif(not _status_command_registered(), reason="`status` is not yet a command in cli.py")
def test_status_cli(tmp_path, fake_encoder):
    write_version(tmp_path / "src", "A")
    index = str(tmp_path / "idx")
    refsearch.build([tmp_path / "src"], tmp_path / "idx")
    result = runner.invoke(app, ["status", "--index", index, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["up_to_date"] is True
    write_version(tmp_path / "src", "B")
    result = runner.invoke(app, ["status", "--index", index])
    assert result.exit_code == 0, result.output
    assert "stale: 1 source file(s) changed" in result.stdout and "4 stale (new or changed), 2 orphaned" in result.stdout
    assert "vectors" in result.stdout and "encoder" in result.stdout
    _flip_byte(tmp_path / "idx")
    assert_one_line_error(runner.invoke(app, ["status", "--index", index]), "checksum mismatch",
                          "refsearch build --force")


# --- a query never waits long and never needs to write ------------------------------------------

STALE_QUERY_CODE = """
import sys, time
from fakes import FakeBackend, FakeEncoder
from refsearch import encoders
slow = FakeEncoder()
real_encode = slow.encode
slow.encode = lambda texts, batch_size=32, encoded=None: (print("embedding", flush=True), time.sleep(60), real_encode(texts))[-1]
encoders.register("fake", FakeBackend(slow))
from refsearch.cli import main
main()
"""


def _stale_fake_index(tmp_path: Path) -> tuple[Path, Path]:
    write_version(tmp_path / "src", "A")
    refsearch.build([tmp_path / "src"], tmp_path / "idx")
    write_version(tmp_path / "src", "B")
    return tmp_path / "src", tmp_path / "idx"


def assert_answers_from_a_with_one_warning(result, *fragments) -> None:
    assert result.exit_code == 0, result.output
    titles = {r["title"] for r in json.loads(result.stdout)["results"]}
    assert titles and titles <= {t for t, _ in VERSIONS["A"]}
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refsearch: warning: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_a_query_on_a_stale_index_does_not_wait_for_a_stopped_build(tmp_path, fake_encoder):
    """Another build holds the lock and is stopped (SIGSTOP, or a laptop lid closed mid-build): the
    query waits api.QUERY_LOCK_WAIT seconds, then answers from the current generation."""
    from refsearch import api

    src, index_dir = _stale_fake_index(tmp_path)
    env = {**subprocess_env(), "REFSEARCH_CONFIG": os.environ["REFSEARCH_CONFIG"],
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    build = subprocess.Popen([sys.executable, "-c", STALE_QUERY_CODE, "build", str(src), "--index", str(index_dir)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert build.stdout.readline().strip() == "embedding"  # it holds the lock now
        build.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        result = runner.invoke(app, ["search", "zebrafish genes", "--json", "--index", str(index_dir)])
        waited = time.monotonic() - started
    finally:
        build.send_signal(signal.SIGKILL)
        build.wait(timeout=30)
    assert_answers_from_a_with_one_warning(result, "another build is running")
    assert api.QUERY_LOCK_WAIT <= waited < api.QUERY_LOCK_WAIT + 5
    assert {r.title for r in Index.open(index_dir)} == {t for t, _ in VERSIONS["A"]}


@pytest.fixture
def read_only_view(tmp_path):
    """`view(folder)` gives a read-only view of `folder`: a read-only bind mount where this process
    may mount (root on Linux), else the same folder with every write under it failing with EROFS
    (os.open patched). `view.how` says which."""
    mounts = []

    def view(folder: Path) -> Path:
        target = tmp_path / f"ro-{folder.name}"
        target.mkdir()
        try:
            subprocess.run(["mount", "--bind", str(folder), str(target)], check=True, capture_output=True)
            mounts.append(target)
            subprocess.run(["mount", "-o", "remount,ro,bind", str(target)], check=True, capture_output=True)
            view.how = "bind mount"
            return target
        except (OSError, subprocess.CalledProcessError):
            target.rmdir() if not mounts else None
            return _erofs_under(folder)

    def _erofs_under(folder: Path) -> Path:
        real_open = os.open
        writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT

        def open_read_only(path, flags, *args, **kwargs):
            if flags & writes and str(os.path.abspath(path)).startswith(str(folder)):
                raise OSError(errno.EROFS, "Read-only file system", str(path))
            return real_open(path, flags, *args, **kwargs)

        patch.setattr(os, "open", open_read_only)
        view.how = "EROFS patched"
        return folder

    patch = pytest.MonkeyPatch()
    view.how = None
    yield view
    patch.undo()
    for target in reversed(mounts):
        subprocess.run(["umount", "--lazy", str(target)], check=False, capture_output=True)  # mapped files keep it busy


def test_a_stale_index_on_a_read_only_medium_answers_with_one_warning(tmp_path, fake_encoder, read_only_view):
    _stale_fake_index(tmp_path / "disk")
    index_dir = read_only_view(tmp_path / "disk") / "idx"
    print(f"read-only medium: {read_only_view.how}")
    assert refsearch.status(index_dir).state.condition == "stale"
    result = runner.invoke(app, ["search", "zebrafish genes", "--json", "--index", str(index_dir)])
    assert_answers_from_a_with_one_warning(result, "cannot write here")


def test_a_copied_index_on_a_read_only_medium_answers_quietly(tmp_path, fake_encoder, read_only_view, monkeypatch):
    """Another user's index (not sealed with this user's key) on a read-only disk: detached, so not
    updated and not warned about."""
    _stale_fake_index(tmp_path / "disk")
    index_dir = read_only_view(tmp_path / "disk") / "idx"
    monkeypatch.setenv("REFSEARCH_DATA", str(tmp_path / "another-user"))
    result = runner.invoke(app, ["search", "zebrafish genes", "--json", "--index", str(index_dir)])
    assert result.exit_code == 0 and result.stderr == "", result.output
    assert json.loads(result.stdout)["results"][0]["title"] == "Zebrafish genome atlas"


# --- issue 29: Ctrl-C says what it left -----------------------------------------------------------


@pytest.mark.parametrize("where, changed", [(BM25Builder, False), (store, True)], ids=["before publishing", "after"])
def test_ctrl_c_says_whether_the_index_changed(tmp_path, fake_encoder, monkeypatch, where, changed):
    """Before CURRENT is swapped the index is as it was; after it (removing what old generations
    left), the new one is complete: the one line says which, and the exit is 130 as for SIGINT."""
    write_version(tmp_path / "src", "A")
    refsearch.build([tmp_path / "src"], tmp_path / "idx")
    current = (tmp_path / "idx" / "CURRENT").read_text()
    write_version(tmp_path / "src", "B")
    monkeypatch.setattr(where, "finish" if where is BM25Builder else "collect_garbage", _raise(KeyboardInterrupt()))
    result = CliRunner().invoke(app, ["build", str(tmp_path / "src"), "--index", str(tmp_path / "idx")])
    assert result.exit_code == 130
    said = "interrupted after the update was published; the index is complete" if changed \
        else "interrupted; the index is unchanged"
    assert result.stderr == f"refsearch: {said}\n"
    assert ((tmp_path / "idx" / "CURRENT").read_text() != current) == changed


def test_ctrl_c_during_a_query_says_interrupted(tmp_path, fake_encoder, monkeypatch):
    write_version(tmp_path / "src", "A")
    refsearch.build([tmp_path / "src"], tmp_path / "idx")
    monkeypatch.setattr(Index, "search", _raise(KeyboardInterrupt()))
    result = CliRunner().invoke(app, ["search", "anything", "--index", str(tmp_path / "idx")])
    assert (result.exit_code, result.stderr) == (130, "refsearch: interrupted\n")


def test_files_hashed_together_are_each_file_s_digest_in_order(tmp_path):
    import hashlib

    from refsearch.files import sha256_each

    paths = []
    for number, size in enumerate((10, 3_000_000, 0, 70_000)):
        paths.append(tmp_path / f"f{number}")
        paths[-1].write_bytes(bytes([number]) * size)
    assert sha256_each(paths) == [hashlib.sha256(path.read_bytes()).hexdigest() for path in paths]
