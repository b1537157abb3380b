"""The public API and the one index state: open/build/status, freshness decided by stat before
hash, portable (relative) and detached indexes, the default index in the user's data directory,
and queries of any length."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import refsearch
from refsearch import state, store
from refsearch.cli import app
from refsearch.errors import RefsearchError

runner = CliRunner(env={"COLUMNS": "200"})

PAGE = """# Infra reading
## Serving
- [KServe](https://kserve.io) - Kubernetes model serving
- [Triton](https://triton.io) - GPU inference server with dynamic batching
## GPUs
- [MIG](https://nvidia.com/mig) - GPU 切片调度: one A100 split into isolated slices
"""


@pytest.fixture
def project(tmp_path, fake_encoder):
    """A folder with its sources and its index side by side."""
    (tmp_path / "proj" / "refs").mkdir(parents=True)
    (tmp_path / "proj" / "refs" / "infra.md").write_text(PAGE, encoding="utf-8")
    refsearch.build([tmp_path / "proj" / "refs"], tmp_path / "proj" / "index")
    return tmp_path / "proj"


def test_python_api_searches_relates_and_lists(project):
    index = refsearch.open(project / "index")
    hits = index.search("GPU slicing", k=2)
    assert isinstance(hits[0], refsearch.Hit) and hits[0].ref.title == "MIG" and hits[0].rank == 1
    assert [h.ref.title for h in index.search("inference", mode="lexical", filters=refsearch.Filters(topic="serving"))] == ["Triton"]
    assert {s.ref.title for s in index.related("mig", k=2)} == {"KServe", "Triton"}
    assert [t.path for t in index.topics()] == [("Serving",), ("GPUs",)]
    mig = index.resolve("MIG")
    assert index.get(mig.id) == mig and mig.id in index and len(index) == 3
    assert [r.title for r in index.siblings(index.resolve("kserve"))] == ["Triton"]
    with pytest.raises(RefsearchError, match="not in the index"):
        index.get("infra/nothing")


def test_status_through_the_api(project):
    assert refsearch.status(project / "index").state.condition == "fresh"
    (project / "refs" / "infra.md").write_text(PAGE + "- [Ray](https://ray.io) - distributed Python\n", encoding="utf-8")
    status = refsearch.status(project / "index")
    assert status.state.condition == "stale" and status.state.diff.changed == [str(project / "refs" / "infra.md")]
    assert status.stale == 1


def test_the_public_types_print_in_one_short_line(project):
    """A repr names the thing (id, title, topic, condition) in one line; the fields in full are an
    attribute or a `to_json()` away, and a status is not its whole manifest."""
    index = refsearch.open(project / "index")
    hit = index.search("GPU slicing", k=1)[0]
    shown = [index, hit, index.related(hit.ref, k=1)[0], index.topics()[0], refsearch.status(project / "index"),
             refsearch.build(None, project / "index"), refsearch.Filters(kind="paper")]
    assert all(len(repr(thing)) < 200 and "\n" not in repr(thing) for thing in shown), shown
    assert repr(hit) == f"Hit(rank=1, score={hit.score:.3f}, ref=Reference('infra/mig', 'MIG'))"
    assert repr(index.topics()[0]) == "Topic('Infra reading › Serving', 2 references)"
    assert repr(refsearch.status(project / "index")) == f"Status({str(project / 'index')!r}, fresh, gen-1, 3 references)"
    assert repr(refsearch.Filters(kind="paper")) == "Filters(kind='paper')"
    assert repr(refsearch.Reference("p/x", "t" * 100, "p")) == f"Reference('p/x', '{'t' * 59}…')"


def test_a_query_updates_a_stale_index_first(project):
    (project / "refs" / "infra.md").write_text(PAGE + "- [Ray](https://ray.io) - distributed Python\n", encoding="utf-8")
    said = []
    index = refsearch.open(project / "index", say=said.append)
    assert len(index) == 4 and any("updating it first" in line for line in said)
    assert refsearch.open(project / "index", say=said.append).search("distributed python", k=1)[0].ref.title == "Ray"


def test_an_index_from_an_older_lexical_format_updates_itself(project, monkeypatch):
    """After an upgrade that changes the lexical index's tokenizer or file format, a query rebuilds
    the lexical index (reusing every vector) instead of failing with "written by another version"."""
    from refsearch import builder, lexical

    assert state.LEXICAL_SETTINGS["format"] == lexical.FORMAT  # the format is part of what is compared
    newer = {**state.LEXICAL_SETTINGS, "format": lexical.FORMAT + "-next"}
    monkeypatch.setattr(state, "LEXICAL_SETTINGS", newer)
    monkeypatch.setattr(builder, "LEXICAL_SETTINGS", newer)
    status = refsearch.status(project / "index").state
    assert status.condition == "stale" and "lexical index is from another refsearch version" in status.detail
    said = []
    index = refsearch.open(project / "index", say=said.append)
    assert any("updating it first" in line for line in said) and index.search("GPU slicing", k=1)[0].ref.title == "MIG"
    assert refsearch.status(project / "index").state.condition == "fresh"


def test_freshness_is_decided_by_stat_before_hashing(project, monkeypatch):
    source = project / "refs" / "infra.md"
    hashed = []
    for module, name in ((state, "sha256_file"), (store, "sha256_index_file")):  # the sources, the index's own files
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda path, real=real: hashed.append(Path(path).name) or real(path))
    refsearch.open(project / "index").search("gpu")
    assert hashed == []  # nothing changed: no file is hashed, the index's own files neither
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    assert refsearch.status(project / "index").state.condition == "fresh"  # touched, same content
    assert "infra.md" in hashed


def test_a_query_on_a_fresh_index_imports_no_parser(project):
    code = ("import sys, refsearch; from refsearch import encoders; from fakes import FakeBackend, FakeEncoder; "
            "encoders.register('fake', FakeBackend(FakeEncoder())); "
            f"refsearch.open({str(project / 'index')!r}).search('gpu'); "
            "print(sorted(m for m in sys.modules if m.startswith(('refsearch.sources', 'refsearch.builder', 'yaml', 'markdown_it', 'bibtexparser', 'rich'))))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    env.pop("REFSEARCH_CONFIG")  # no config file, as for most users: reading one needs yaml
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_only_a_single_cli_query_opens_the_encoder_for_one_query(project, tmp_path):
    from refsearch import encoders

    backend = encoders.backend("fake")
    (tmp_path / "queries.txt").write_text("gpu\nserving\n", encoding="utf-8")
    for args in (["search", "gpu"], ["search", "--batch", str(tmp_path / "queries.txt")]):
        assert runner.invoke(app, [*args, "--index", str(project / "index")]).exit_code == 0
    refsearch.open(project / "index").search("gpu")
    assert backend.opened_for_one_query == [True, False, False]  # CLI query, CLI batch, Python API


def test_sources_beside_the_index_move_with_it(project, tmp_path):
    manifest = store.open_generation(project / "index").manifest
    assert manifest["sources"]["roots"] == ["../refs"]
    moved = shutil.move(str(project), str(tmp_path / "moved"))
    assert refsearch.status(Path(moved) / "index").state.condition == "fresh"


def test_a_copied_index_answers_quietly_and_is_detached(project, tmp_path, monkeypatch):
    """Another machine: the sources are not there, and the index was not built with this user's key."""
    shutil.copytree(project / "index", tmp_path / "copy")
    monkeypatch.setenv("REFSEARCH_DATA", str(tmp_path / "another-user"))
    result = runner.invoke(app, ["search", "GPU slicing", "--json", "--index", str(tmp_path / "copy")])
    assert result.exit_code == 0 and result.stderr == ""
    assert json.loads(result.stdout)["results"][0]["title"] == "MIG"
    status = runner.invoke(app, ["status", "--index", str(tmp_path / "copy")])
    assert status.exit_code == 0 and "detached" in status.stdout
    attached = runner.invoke(app, ["build", str(project / "refs"), "--index", str(tmp_path / "copy")])
    assert attached.exit_code == 0, attached.output
    assert refsearch.status(tmp_path / "copy").state.condition == "fresh"


def test_an_index_whose_sources_are_gone_is_detached_not_emptied(project):
    shutil.rmtree(project / "refs")
    said = []
    index = refsearch.open(project / "index", say=said.append)
    assert said == [] and len(index) == 3
    state = refsearch.status(project / "index").state
    assert state.condition == "detached" and "sources not found" in state.detail
    with pytest.raises(RefsearchError, match="no such file"):
        refsearch.build(None, project / "index")


def test_a_crafted_index_cannot_make_a_query_read_elsewhere(project, tmp_path):
    """An index that names another folder as its source, without this user's seal, is not updated from it."""
    elsewhere = tmp_path / "private"
    elsewhere.mkdir()
    (elsewhere / "secret.md").write_text("- [Secret](https://x.io) - private notes\n", encoding="utf-8")
    path = store.current_generation(project / "index") / "manifest.json"
    manifest = json.loads(path.read_text("utf-8"))
    manifest["sources"]["roots"] = [str(elsewhere)]
    path.write_text(json.dumps(manifest), "utf-8")
    index = refsearch.open(project / "index")
    assert len(index) == 3 and "Secret" not in {r.title for r in index}
    assert refsearch.status(project / "index").state.condition == "detached"


def test_the_default_index_lives_in_the_data_dir_and_config_sources_feed_it(tmp_path, fake_encoder, monkeypatch):
    monkeypatch.setenv("REFSEARCH_DATA", str(tmp_path / "data"))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "n.md").write_text(PAGE, encoding="utf-8")
    config = Path(os.environ["REFSEARCH_CONFIG"])
    config.write_text(f"encoder: fake\nsources: [{tmp_path / 'notes'}]\n", encoding="utf-8")
    elsewhere = tmp_path / "some-folder"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = runner.invoke(app, ["search", "GPU slicing", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"][0]["title"] == "MIG"
    assert (tmp_path / "data" / "index" / "CURRENT").is_file() and not list(elsewhere.iterdir())


def test_the_encoder_is_the_flag_then_the_config_then_the_index_s_own_then_the_default(tmp_path, monkeypatch):
    from refsearch.config import build_encoder, resolve_target
    from refsearch.encoders import DEFAULT_ENCODER

    (tmp_path / "refsearch.yaml").write_text("encoder: onnx\n", encoding="utf-8")
    monkeypatch.setenv("REFSEARCH_CONFIG", str(tmp_path / "refsearch.yaml"))
    assert resolve_target(tmp_path, encoder="torch").encoder == "torch"
    asked = resolve_target(tmp_path).encoder
    assert asked == "onnx" and build_encoder(asked, "onnx-int8") == "onnx"
    assert build_encoder(None, "torch") == "torch" and build_encoder(None, None) == DEFAULT_ENCODER


def test_empty_index_option_is_refused(fake_encoder):
    result = runner.invoke(app, ["search", "gpu", "--index", ""])
    assert result.exit_code == 1 and "--index is empty" in result.stderr


def test_a_source_folder_cannot_be_the_index_itself(tmp_path, fake_encoder):
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "a.md").write_text(PAGE, encoding="utf-8")
    with pytest.raises(RefsearchError, match="cannot be the index directory"):
        refsearch.build([tmp_path / "refs"], tmp_path / "refs")


def test_an_index_inside_its_source_folder_is_not_read_as_a_source(tmp_path, fake_encoder):
    (tmp_path / "a.md").write_text(PAGE, encoding="utf-8")
    first = refsearch.build([tmp_path], tmp_path / "index")
    again = refsearch.build([tmp_path], tmp_path / "index")
    assert first.total == again.total == 3 and not again.rebuilt
    assert refsearch.status(tmp_path / "index").state.condition == "fresh"


def test_unknown_encoder_and_vector_store_are_named(project, tmp_path):
    with pytest.raises(RefsearchError, match="encoder 'nope' is unknown"):
        refsearch.build([project / "refs"], tmp_path / "other", encoder="nope")
    path = store.current_generation(project / "index") / "manifest.json"
    path.write_text(path.read_text("utf-8").replace('"store": "flat"', '"store": "hnsw-9000"'), "utf-8")
    with pytest.raises(RefsearchError, match="vector store 'hnsw-9000' is unknown"):
        refsearch.open(project / "index").search("gpu")


# --- queries of any length ------------------------------------------------------------------------


def test_a_20000_character_query_answers(project):
    paragraph = ("We partition each A100 into isolated GPU slices so that small inference jobs share one "
                 "card without interfering; scheduling the slices is the hard part. ") * 140
    assert len(paragraph) > 20_000
    hits = refsearch.open(project / "index").search(paragraph, k=3)
    assert hits[0].ref.title == "MIG"


def test_query_from_a_file_and_from_stdin(project, tmp_path):
    (tmp_path / "abstract.txt").write_text("Partitioning a GPU into slices.\n" * 50, encoding="utf-8")
    for args, stdin in ((["--file", str(tmp_path / "abstract.txt")], None), (["--file", "-"], "slicing GPUs\n")):
        result = runner.invoke(app, ["search", *args, "--json", "--index", str(project / "index")], input=stdin)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["results"][0]["title"] == "MIG"
    both = runner.invoke(app, ["search", "gpu", "--file", str(tmp_path / "abstract.txt"), "--index", str(project / "index")])
    assert both.exit_code == 1 and "only one of QUERY, --file and --batch" in both.stderr


def test_a_bad_batch_line_is_reported_on_its_own_line(project, tmp_path):
    batch = tmp_path / "q.txt"
    batch.write_bytes(b"GPU slicing\n\xff\xfe broken\n" + b"x" * 1_000_001 + b"\ninference server\n")
    result = runner.invoke(app, ["search", "--batch", str(batch), "-k", "1", "--index", str(project / "index")])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line.get("line") for line in lines if "error" in line] == [2, 3]
    assert "not UTF-8" in lines[1]["error"] and "limit is 1,000,000" in lines[2]["error"]
    assert [line["results"][0]["title"] for line in lines if line["results"]] == ["MIG", "Triton"]
    assert "2 query line(s)" in result.stderr
    strict = runner.invoke(app, ["search", "--batch", str(batch), "--strict", "--index", str(project / "index")])
    assert strict.exit_code == 1 and len(strict.stdout.splitlines()) == 4


def test_batch_lines_are_read_in_bounded_pieces(project, tmp_path):
    batch = tmp_path / "huge-line.txt"
    with open(batch, "wb") as handle:
        handle.write(b"GPU slicing\n")
        handle.write(b"y" * 9_000_000)  # one line far over the limit, no newline at the end
    result = runner.invoke(app, ["search", "--batch", str(batch), "--index", str(project / "index")])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2 and "over 4,000,000 bytes" in lines[1]["error"]


# --- from a plain install, in any folder (real model) -----------------------------------------


@pytest.mark.slow
def test_first_search_in_an_empty_folder_builds_the_bundled_index(tmp_path):
    env = {**os.environ, "REFSEARCH_DATA": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    env.pop("REFSEARCH_CONFIG", None)
    (tmp_path / "empty").mkdir()
    command = [sys.executable, "-m", "refsearch", "search", "GPU slicing", "--json", "-k", "3"]
    out = subprocess.run(command, cwd=tmp_path / "empty", env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["results"][0]["id"] == "mlops-references/nvidia-multi-instance-gpu-mig"
    assert "building it" in out.stderr and not list((tmp_path / "empty").iterdir())
    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stderr == ""


def test_building_the_default_index_from_a_folder_keeps_it_for_every_later_search(tmp_path, fake_encoder, monkeypatch):
    """`refsearch build DIR` then `refsearch search` elsewhere answers from DIR, not the bundled list."""
    monkeypatch.setenv("REFSEARCH_DATA", str(tmp_path / "data"))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "db.md").write_text("# Notes\n- [DuckDB](https://duckdb.org) - in-process analytics\n", "utf-8")
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["build", str(tmp_path / "notes")]).exit_code == 0
    monkeypatch.chdir(tmp_path / "notes")
    result = runner.invoke(app, ["search", "analytics", "--json"])
    assert result.exit_code == 0 and result.stderr == ""
    assert [r["title"] for r in json.loads(result.stdout)["results"]] == ["DuckDB"]
    assert runner.invoke(app, ["build"]).stdout.count("up to date") == 1  # `build` alone updates it from DIR
