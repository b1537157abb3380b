"""Bad input is named precisely: one line naming the file and line (or the argument), a non-zero
exit, no traceback, and the index built before still answers.

Builds and searches use the fake encoder (in-process through typer's CliRunner), so the thousands
of generated inputs below run in seconds; the query path with the real model is in test_cli.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import refsearch
from refsearch.cli import app
from refsearch.errors import RefsearchError
from refsearch.index import Index
from refsearch.params import MAX_K, MAX_QUERY_CHARS

import hostile_sources
from conftest import examples

runner = CliRunner(env={"COLUMNS": "200"})

GOOD = """# Good page
## Serving
- [KServe](https://kserve.io) - Kubernetes model serving
- [Triton](https://triton.io) - GPU inference server
## GPUs
- [MIG](https://nvidia.com/mig) - GPU 切片调度
"""
GOOD_TITLES = {"KServe", "Triton", "MIG"}
YAML_HEAD = "format: refsearch/references@1\npage: Bad page\ntopics:\n  - name: T\n    references:\n"
HYPOTHESIS = settings(deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
def indexed(tmp_path, fake_encoder):
    """A source folder holding GOOD, indexed; returns (sources, index)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.md").write_text(GOOD, encoding="utf-8")
    refsearch.build([src], tmp_path / "idx")
    return src, tmp_path / "idx"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_clean_failure(result, *fragments):
    """Exit 1 with one `refsearch: error: ...` line holding every fragment, and no traceback."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refsearch: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def assert_still_answers(index_dir: Path) -> None:
    """The index built before the failure is intact and answers, library and CLI alike."""
    assert {r.title for r in list(Index.open(index_dir))} == GOOD_TITLES
    result = invoke("search", "GPU slicing", "--json", "--all", "--no-update", "--index", index_dir)
    assert result.exit_code == 0, result.output
    assert {r["title"] for r in json.loads(result.stdout)["results"]} == GOOD_TITLES


# --- each bad source: (file name, bytes, where the message must point) -------------------------

BAD_SOURCES = {
    "yaml-syntax": ("bad.yaml", YAML_HEAD + "      - title: A\n       year: [2020\n", "bad.yaml:7: invalid YAML"),
    "yaml-tab-indent": ("bad.yaml", YAML_HEAD + "      - title: A\n\t  year: 2020\n", "bad.yaml:7: invalid YAML"),
    "yaml-missing-title": ("bad.yaml", YAML_HEAD + "      - year: 2020\n        note: no title\n",
                           "bad.yaml:6: a reference has no 'title'"),
    "yaml-unknown-key": ("bad.yaml", YAML_HEAD + "      - title: A\n        yaer: 2020\n",
                         "bad.yaml:7: unknown key 'yaer' in a reference"),
    "yaml-bad-year": ("bad.yaml", YAML_HEAD + "      - title: A\n        year: soon\n",
                      "bad.yaml:7: 'year' must be a whole number"),
    "yaml-wrong-format": ("bad.yaml", "format: refsearch/references@9\npage: P\n", "bad.yaml:1: unsupported format"),
    "yaml-alias-bomb": ("bad.yaml", YAML_HEAD + "      - &a {title: A}\n      - *a\n", "bad.yaml:6: this value is reused"),
    "jsonl-malformed": ("bad.jsonl", '{"title": "ok"}\n{"title": "broken"\n', "bad.jsonl:2: not valid JSON"),
    "jsonl-not-object": ("bad.jsonl", '{"title": "ok"}\n\n["a", "list"]\n', "bad.jsonl:3: expected a JSON object"),
    "jsonl-missing-title": ("bad.jsonl", '{"title": "ok"}\n{"note": "untitled"}\n', 'bad.jsonl:2: missing "title"'),
    "jsonl-blank-title": ("bad.jsonl", '{"title": "   ", "text": "an annotation"}\n', 'bad.jsonl:1: missing "title"'),
    "jsonl-duplicate-id": ("bad.jsonl", '{"id": "x", "title": "A"}\n{"id": "x", "title": "B"}\n',
                           "bad.jsonl:2: duplicate id 'x'"),
    "jsonl-lone-surrogate": ("bad.jsonl", '{"title": "\\ud800"}\n', "bad.jsonl:1: contains an invalid \\u escape"),
    "markdown-not-utf8": ("bad.md", b"# P\n- [A](https://a.io) - ok\n- [B](https://b.io) - caf\xe9\n",
                          "bad.md:3: not valid UTF-8 (byte 0xe9)"),
    "markdown-binary": ("bad.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "bad.md:3: binary file"),
    "yaml-not-utf8": ("bad.yaml", b"format: refsearch/references@1\npage: \xff\xfe\n", "bad.yaml:2: not valid UTF-8"),
    "duplicate-across-files": ("other.jsonl", '{"id": "good/kserve", "title": "KServe again"}\n',
                               "other.jsonl:1: duplicate id 'good/kserve' (also at"),
    # issue 24: limits hold while values are built, and every malformed value is one line
    "bibtex-string-bomb": ("bad.bib", hostile_sources.bibtex_string_bomb(60),
                           "bad.bib:18: @string{a17} expands the file's values past 1,006,132 characters"),
    "bibtex-crossref-copies": ("bad.bib", hostile_sources.bibtex_crossref_fan(20_000),
                               "bad.bib:17: @inproceedings{c15} expands the file's values past"),
    "csl-lone-surrogate": ("bad.json", hostile_sources.csl_lone_surrogate(), "bad.json:1: contains an invalid \\u escape"),
    "csl-long-number": ("bad.json", '[{"id": "a", "title": "T",\n  "issued": {"date-parts": [[' + "9" * 5000 + "]]}}]",
                        "bad.json:1: not valid JSON (a number of over 4,300 digits)"),
    "csl-yaml-bad-date": ("bad.yaml", "references:\n  - id: a\n    title: T\n    issued: 2020-13-45\n",
                          "bad.yaml:2: invalid CSL item (month must be in 1..12)"),
    "jsonl-long-year": ("bad.jsonl", hostile_sources.jsonl_long_year(),
                        "bad.jsonl:1: not valid JSON (a number of over 4,300 digits)"),
}


@pytest.mark.parametrize("case", BAD_SOURCES, ids=str)
def test_bad_source_is_named_and_old_index_kept(indexed, case):
    src, index_dir = indexed
    name, content, expected = BAD_SOURCES[case]
    data = content.encode() if isinstance(content, str) else content
    (src / name).write_bytes(data)
    result = invoke("build", src, "--index", index_dir)
    assert_clean_failure(result, f"{src / name}", expected)
    assert_still_answers(index_dir)


def test_entries_passed_over_are_counted_in_the_summary_line(indexed):
    """Without -v too: a library that lost entries to unbalanced braces says so."""
    src, index_dir = indexed
    (src / "lib.bib").write_text(hostile_sources.bibtex_unbalanced(), encoding="utf-8")
    result = invoke("build", src, "--index", index_dir)
    assert result.exit_code == 0, result.output
    assert "5 references" in result.stdout and "; passed over 1 entry (--verbose lists them)" in result.stdout
    verbose = invoke("build", src, "--index", index_dir, "--force", "-v")
    assert "passed over " + str(src / "lib.bib") + ":2: skipped an entry bibtexparser cannot read" in verbose.stderr


def test_a_search_with_a_broken_source_answers_with_one_warning(indexed):
    """The sources changed and one of them is broken: a plain search cannot update the index, so it
    says why (file and line) in one warning and answers from the index as built."""
    src, index_dir = indexed
    (src / "bad.jsonl").write_text('{"title": "ok"}\n{"title": "broken"\n', encoding="utf-8")
    result = invoke("search", "GPU slicing", "--json", "--all", "--index", index_dir)
    assert result.exit_code == 0, result.output
    assert {r["title"] for r in json.loads(result.stdout)["results"]} == GOOD_TITLES
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refsearch: warning: ") and f"{src / 'bad.jsonl'}:2" in lines[0]


def test_markdown_without_references_is_named(indexed, tmp_path):
    page = tmp_path / "prose.md"
    page.write_text("# Notes\n\nJust prose, [a link](https://x.io) in a paragraph.\n", encoding="utf-8")
    result = invoke("build", page, "--index", indexed[1])
    assert_clean_failure(result, "no references found in", str(page))
    assert_still_answers(indexed[1])


def test_other_files_in_a_source_folder_are_ignored(indexed):
    src, index_dir = indexed
    (src / "diagram.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (src / ".notes.md").write_bytes(b"\x00\xff hidden editor file")
    result = invoke("build", src, "--index", index_dir)
    assert result.exit_code == 0 and "up to date" in result.stdout, result.output


# --- unreadable paths ---------------------------------------------------------------------------


def test_missing_source_path_is_named(indexed, tmp_path):
    result = invoke("build", tmp_path / "no-such.md", "--index", indexed[1])
    assert_clean_failure(result, f"{tmp_path / 'no-such.md'}: no such file or directory")
    assert_still_answers(indexed[1])


def test_unsupported_file_named_explicitly(indexed, tmp_path):
    (tmp_path / "refs.docx").write_text("- [A](https://a.io)\n")
    result = invoke("build", tmp_path / "refs.docx", "--index", indexed[1])
    assert_clean_failure(result, f"{tmp_path / 'refs.docx'}: unsupported file type '.docx'")


def test_dangling_symlink_in_source_folder_is_named(indexed):
    src, index_dir = indexed
    (src / "gone.md").symlink_to(src / "nowhere.md")
    result = invoke("build", src, "--index", index_dir)
    assert_clean_failure(result, str(src / "gone.md"))
    assert {r.title for r in list(Index.open(index_dir))} == GOOD_TITLES


def test_dangling_symlink_does_not_stop_searches(indexed):
    src, index_dir = indexed
    (src / "gone.md").symlink_to(src / "nowhere.md")
    assert_still_answers(index_dir)
    result = invoke("search", "GPU slicing", "--index", index_dir)
    assert result.exit_code == 0 and result.stderr.count(str(src / "gone.md")) == 1, result.stderr  # said once


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_is_named(indexed):
    src, index_dir = indexed
    (src / "secret.md").write_text(GOOD)
    (src / "secret.md").chmod(0)
    result = invoke("build", src, "--index", index_dir)
    assert_clean_failure(result, str(src / "secret.md"), "ermission denied")
    assert_still_answers(index_dir)


def test_fifo_in_source_folder_does_not_hang(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.md").write_text(GOOD)
    os.mkfifo(src / "pipe.md")
    command = [sys.executable, "-c", "from refsearch.cli import main; main()", "build", str(src),
               "--index", str(tmp_path / "idx")]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=5, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail("build hung on a FIFO")
    assert result.returncode == 1 and "pipe.md" in result.stderr


def test_source_paths_are_never_followed_outside_what_was_named(indexed, tmp_path):
    """Ids, titles and URLs that look like paths are data: nothing is read or written through them."""
    src, index_dir = indexed
    outside = tmp_path / "outside"
    (src / "tricky.jsonl").write_text(json.dumps(
        {"id": f"../../{outside.name}/x", "title": "../../etc/passwd", "url": f"file://{outside}"}) + "\n")
    assert refsearch.build([src], index_dir).rebuilt
    assert not outside.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx", "src"]
    assert "../../etc/passwd" in {r.title for r in list(Index.open(index_dir))}


# --- bad arguments ------------------------------------------------------------------------------

BAD_ARGUMENTS = {
    "empty-query": (["search", ""], "QUERY is empty"),
    "whitespace-query": (["search", " \t\n "], "QUERY is empty"),
    "huge-query": (["search", "gpu " * 250_001], "QUERY is 1,000,004 characters; the limit is 1,000,000"),
    "k-zero": (["search", "gpu", "-k", "0"], "-k must be between 1 and"),
    "k-negative": (["search", "gpu", "-k", "-5"], "-k must be between 1 and"),
    "k-huge": (["search", "gpu", "-k", str(MAX_K + 1)], "-k must be between 1 and"),
    "no-query": (["search"], "give a QUERY"),
    "bad-year": (["search", "gpu", "--year", "2023-2020"], "--year '2023-2020'"),
    "related-k-zero": (["related", "KServe", "-k", "0"], "-k must be between 1 and"),
    "unknown-id": (["show", "no/such-id"], "no reference matches 'no/such-id'"),
    "missing-batch-file": (["search", "--batch", "/nonexistent/queries.txt"], "/nonexistent/queries.txt"),
}


@pytest.mark.parametrize("case", BAD_ARGUMENTS, ids=str)
def test_bad_argument_is_named(indexed, case):
    args, expected = BAD_ARGUMENTS[case]
    assert_clean_failure(invoke(*args, "--index", indexed[1]), expected)


def test_non_utf8_query_bytes_are_named(indexed):
    query = b"caf\xe9".decode("utf-8", "surrogateescape")
    assert_clean_failure(invoke("search", query, "--index", indexed[1]), "QUERY")


def test_missing_index_is_named(tmp_path):
    assert_clean_failure(invoke("search", "gpu", "--index", tmp_path / "none"),
                         f"{tmp_path / 'none'}: no index here; run `refsearch build")


# --- generated bad input ------------------------------------------------------------------------

_MD_PIECES = ["# ", "## ", "- ", "* ", "1. ", "[", "]", "(", ")", "](https://x.io)", " - ", "——", "(2020, paper)",
              "`", "```", "|", "---", "¶", "<!--", "-->", "$$", "切片", "GPU", "  ", "\t", "\n", "\r\n", "\\"]
_YAML_PIECES = ["format: refsearch/references@1\n", "page: P\n", "topics:\n", "  - name: T\n", "    references:\n",
                "      - title: ", "        year: ", "        tags: [", "]", "{", "}", "&a ", "*a", "!!python/object ",
                ": ", "- ", "\n", "  ", "\t", "'", '"', "#", "2020", "null", "~", "---\n", "...\n", "|\n", "切片"]
_JSON_PIECES = ['{"title": ', '"x"', '"id": ', '"year": ', "2020", "null", "true", "[", "]", "{", "}", ",", ":",
                '"\\ud800"', '"\\u0000"', "1e999", "\n", " ", '"', "\\"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(st.sampled_from(["id", "_id", "title", "note", "text", "year", "kind", "topic",
                                                "tags", "url", "author", "x"]), json_values, max_size=6)
source_files = st.one_of(
    st.tuples(st.just(".md"), st.lists(st.sampled_from(_MD_PIECES), max_size=40).map("".join)),
    st.tuples(st.just(".yaml"), st.lists(st.sampled_from(_YAML_PIECES), max_size=40).map("".join)),
    st.tuples(st.just(".jsonl"), st.lists(st.sampled_from(_JSON_PIECES), max_size=40).map("".join)),
    st.tuples(st.just(".jsonl"), st.lists(json_objects, max_size=4).map(
        lambda rows: "\n".join(json.dumps(r) for r in rows))),
    st.tuples(st.sampled_from([".md", ".yaml", ".jsonl"]), st.text(max_size=200)),
    st.tuples(st.sampled_from([".md", ".yaml", ".jsonl"]), st.binary(max_size=200)),
)


def _write(src: Path, suffix: str, content: str | bytes) -> Path:
    for old in src.glob("fuzz.*"):
        old.unlink()
    path = src / f"fuzz{suffix}"
    path.write_bytes(content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content)
    return path


@settings(HYPOTHESIS, max_examples=examples(1500))
@given(source_files)
def test_generated_sources_build_or_fail_with_refsearch_error(indexed, source):
    src, index_dir = indexed
    path = _write(src, *source)
    try:
        refsearch.build([src], index_dir)
    except RefsearchError as error:
        assert "\n" not in str(error)
        assert str(path) in str(error) or "duplicate id" in str(error), str(error)
    titles = {r.title for r in list(Index.open(index_dir))}
    assert GOOD_TITLES <= titles  # a failed build kept the old index; a good one kept GOOD


@settings(HYPOTHESIS, max_examples=examples(250))
@given(source_files)
def test_generated_sources_through_the_cli(indexed, source):
    src, index_dir = indexed
    path = _write(src, *source)
    result = invoke("build", src, "--index", index_dir)
    if result.exit_code != 0:
        assert_clean_failure(result)
        assert str(path) in result.stderr
    assert GOOD_TITLES <= {r.title for r in list(Index.open(index_dir))}


queries = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.sampled_from(" \t\n切片GPUgpu-_./*?[](){}\"'\\:^~!&|$%#@\u200b\u3000é"), max_size=40),
    st.text(min_size=1990, max_size=2100, alphabet=st.sampled_from("ab 切")),
)


@settings(HYPOTHESIS, max_examples=examples(1200))
@given(queries, st.integers(-3, MAX_K + 3) | st.integers(), st.sampled_from(["hybrid", "dense", "lexical"]))
def test_generated_queries_answer_or_fail_cleanly(indexed, query, k, mode):
    index_dir = indexed[1]
    result = invoke("search", "-k", k, "--mode", mode, "--json", "--index", index_dir, "--", query)
    if result.exit_code == 0:
        assert query.strip() and 1 <= k <= MAX_K and len(query) <= MAX_QUERY_CHARS
        hits = json.loads(result.stdout)["results"]
        assert len(hits) <= min(k, 3)
    else:
        assert_clean_failure(result)
        assert "QUERY" in result.stderr or "-k" in result.stderr


@settings(HYPOTHESIS, max_examples=examples(500))
@given(queries, st.integers(-3, MAX_K + 3))
def test_generated_queries_through_the_library(indexed, query, k):
    index = Index.open(indexed[1])
    try:
        hits = index.search(query, k=k)
    except RefsearchError as error:  # in the API's words: its keyword arguments
        assert str(error).startswith(("query is", "k must be")), error
    else:
        assert len(hits) <= min(k, 3)


# --- the tracebacks of issue 14, each now a one-line message ------------------------------------

CONFIG_VALUES = {
    "index-number": ("index: 42\n", "'index' must be text"),
    "index-list": ("index: [1, 2]\n", "'index' must be a path or a list of paths"),
    "index-empty": ("index: ''\n", "'index' is empty"),
    "sources-number": ("sources: 5\n", "'sources' must be a path or a list of paths"),
    "sources-numbers": ("sources: [1, 2]\n", "'sources' must be a path or a list of paths"),
    "model-number": ("model: 123\n", "'model' must be text"),
}


@pytest.mark.parametrize("case", CONFIG_VALUES, ids=str)
@pytest.mark.parametrize("command", [["search", "gpu"], ["build"], ["status"]], ids=lambda c: c[0])
def test_config_values_of_the_wrong_type_are_named(tmp_path, monkeypatch, case, command):
    text, expected = CONFIG_VALUES[case]
    config = tmp_path / "refsearch.yaml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("REFSEARCH_CONFIG", str(config))
    assert_clean_failure(invoke(*command), str(config), expected)


def test_an_empty_index_option_or_variable_is_not_the_current_folder(tmp_path, fake_encoder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "good.md").write_text(GOOD, encoding="utf-8")
    for command in (["search", "gpu"], ["build", "src"], ["status"]):
        assert_clean_failure(invoke(*command, "--index", ""), "--index is empty")
        assert_clean_failure(invoke(*command, "--index", "  "), "--index is empty")
    monkeypatch.setenv("REFSEARCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("REFSEARCH_INDEX", "")  # an empty variable is an unset one: the default index
    assert invoke("build", "src").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "src"]  # nothing built in the current folder


def test_a_query_given_with_batch_is_refused(indexed, tmp_path):
    (tmp_path / "q.txt").write_text("gpu\n", encoding="utf-8")
    assert_clean_failure(invoke("search", "gpu", "--batch", tmp_path / "q.txt", "--index", indexed[1]),
                         "give only one of QUERY, --file and --batch, not QUERY and --batch")


def _model_folder(tmp_path: Path, kind: str) -> Path:
    folder = tmp_path / f"model-{kind}"
    folder.mkdir()
    if kind == "not-a-model":
        (folder / "notes.txt").write_text("hello", encoding="utf-8")
        (folder / "weights.bin").write_bytes(b"\0" * 1000)
    elif kind == "custom-module":
        (folder / "config.json").write_text('{"model_type": "bert", "hidden_size": 8}', encoding="utf-8")
        (folder / "modules.json").write_text(json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Custom", "type": "my_private_package.CustomPooling"}]), encoding="utf-8")
    return folder


@pytest.mark.parametrize("kind, expected", [
    ("empty", "not a model directory"),
    ("not-a-model", "not a model directory"),
    ("custom-module", "module my_private_package.CustomPooling is not supported by the ONNX encoder"),
])
def test_a_model_folder_that_is_not_a_usable_model_is_named(indexed, tmp_path, kind, expected):
    src, index_dir = indexed
    folder = _model_folder(tmp_path, kind)
    result = invoke("build", src, "--index", tmp_path / "new-index", "--encoder", "onnx", "--model", folder)
    assert_clean_failure(result, str(folder), expected)
    assert_still_answers(index_dir)


def test_a_big_folder_as_model_is_refused_fast_without_hashing(indexed, tmp_path, monkeypatch):
    """`--model /usr` (no model files in it) and a folder holding a config.json among thousands of
    files are refused from their listing: nothing in them is hashed."""
    from refsearch import files
    from refsearch.encoders import models

    hashed = []
    monkeypatch.setattr(models, "sha256_file", lambda path: hashed.append(path) or files.sha256_file(path))
    big = tmp_path / "home-like"
    (big / "photos").mkdir(parents=True)
    (big / "config.json").write_text("{}", encoding="utf-8")
    for n in range(models.MAX_MODEL_FILES + 1):
        (big / "photos" / f"{n}.jpg").write_bytes(b"x")
    for folder, expected in (("/usr", "not a model directory"), (big, "this is not a model directory")):
        started = time.perf_counter()
        result = invoke("build", indexed[0], "--index", tmp_path / "new-index", "--encoder", "onnx", "--model", folder)
        assert_clean_failure(result, str(folder), expected)
        assert time.perf_counter() - started < 5
    assert hashed == []


@pytest.mark.slow
def test_torch_encoder_with_a_custom_module_is_named(indexed, tmp_path):
    folder = _model_folder(tmp_path, "custom-module")
    result = invoke("build", indexed[0], "--index", tmp_path / "new-index", "--encoder", "torch", "--model", folder)
    assert_clean_failure(result, str(folder), "sentence-transformers cannot load this model")


BATCH_FILES = {
    "binary": (bytes(range(256)) * 64, "binary data (a NUL byte)"),
    "utf16": ("gpu slicing\n".encode("utf-16"), "binary data (a NUL byte)"),
}


@pytest.mark.parametrize("case", BATCH_FILES, ids=str)
def test_a_batch_file_that_is_not_text_is_named(indexed, tmp_path, case):
    data, expected = BATCH_FILES[case]
    (tmp_path / "queries").write_bytes(data)
    result = invoke("search", "--batch", tmp_path / "queries", "--index", indexed[1])
    assert_clean_failure(result, f"{tmp_path / 'queries'}:1: {expected}")


def test_batch_from_dev_zero_ends_in_bounded_time_and_memory(indexed):
    """A NUL byte ends it at once: at most one bounded piece (4 MB) is read."""
    # the peak is this process's own (VmHWM): ru_maxrss would carry the pytest process's over from fork
    code = ("import re, sys; from refsearch.cli import main; sys.argv = ['refsearch', 'search', '--batch', "
            f"'/dev/zero', '--no-update', '--index', {str(indexed[1])!r}]\n"
            "try:\n    main()\nexcept SystemExit as exit:\n"
            "    print(exit.code, re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    registered = "from fakes import FakeBackend, FakeEncoder; from refsearch import encoders; " \
                 "encoders.register('fake', FakeBackend(FakeEncoder()))\n"
    try:
        out = subprocess.run([sys.executable, "-c", registered + code], capture_output=True, text=True, env=env, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("--batch /dev/zero did not end")
    exit_code, peak_kb = out.stdout.split()
    assert exit_code == "1" and "/dev/zero:1: binary data" in out.stderr and "Traceback" not in out.stderr
    assert int(peak_kb) < 200_000


def test_a_batch_line_that_never_ends_stops_the_batch(indexed, tmp_path):
    """Skipping an over-long line reads at most a bounded amount: a stream without newlines ends."""
    from refsearch import cli

    with open(tmp_path / "endless", "wb") as handle:
        handle.write(b"gpu\n")
        handle.write(b"y" * (cli.MAX_LINE_BYTES * (cli.MAX_SKIPPED_PIECES + 2)))
    result = invoke("search", "--batch", tmp_path / "endless", "--index", indexed[1])
    assert_clean_failure(result, f"{tmp_path / 'endless'}:2: a line of over")
    assert json.loads(result.stdout.splitlines()[0])["results"]  # the lines before were answered
