"""Control characters in the data (a title, note, topic, page, author, URL, tag) or in a query
never reach the terminal: every command that prints, in table and Markdown form, prints the text
without them; JSON keeps the data and escapes them, so it still round-trips.

The characters: ESC sequences (CSI clear screen, OSC set window title), BEL, backspace, carriage
return, DEL, the 8-bit CSI (0x9b) and the bidirectional overrides that reorder what is shown.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import refsearch
from refsearch.cli import app

runner = CliRunner(env={"COLUMNS": "200"})

ESCAPES = "\x1b[2J\x1b]0;owned\x07\x9b31m\u202e\u2066\x08\r\x7f"
# What must never be printed raw: C0 controls but newline and tab, DEL, C1 controls, bidi controls.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
TITLE = f"Evil{ESCAPES}title"


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    """One cache for this module's tests (a new cache converts the CC-CEDICT tables again, ~4 s)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def hostile_data(tmp_path, fake_encoder, monkeypatch, module_cache):
    """An index whose every text field, page name and folder name holds ESCAPES, and an eval set
    whose query does too. Returns (index dir, eval file, the evil reference's id)."""
    monkeypatch.setenv("REFSEARCH_CACHE", str(module_cache))
    refs = tmp_path / f"refs{ESCAPES}"
    refs.mkdir()
    rows = [{"title": TITLE, "note": f"GPU note{ESCAPES}", "topic": [f"Topic{ESCAPES}", "GPUs"], "year": 2021,
             "kind": f"paper{ESCAPES}", "author": f"Ann{ESCAPES}", "url": f"https://x.io/{ESCAPES}",
             "tags": [f"tag{ESCAPES}"], f"field{ESCAPES}": "an extra field"},
            {"title": "Plain GPU scheduler", "note": "GPU slices", "topic": [f"Topic{ESCAPES}", "GPUs"]},
            {"title": "GPU paper", "abstract": f"An abstract{ESCAPES} about GPUs", "topic": ["Other"]},  # no note
            *({"title": f"Bread {n}", "note": "baking bread", "topic": ["Other"]} for n in range(4)),
            {"title": "Quantum annealing", "note": "qubits", "topic": ["Other"]}]
    (refs / f"page{ESCAPES}.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n", "utf-8")
    index_dir = tmp_path / f"idx{ESCAPES}"
    refsearch.build([refs], index_dir)
    index = refsearch.open(index_dir)
    evil, unrelated = index.resolve("Evil").id, index.resolve("Quantum annealing").id
    queries = tmp_path / f"eval{ESCAPES}.yaml"  # a miss: the table lists the query and the top title
    queries.write_text(json.dumps({"format": "refsearch/queries@1", "sources": [refs.name], "queries": [
        {"query": f"baking bread{ESCAPES}", "relevant": [unrelated]}]}), "utf-8")
    return index_dir, queries, evil


def printing_commands(index_dir: Path, queries: Path, evil: str) -> dict[str, list[str]]:
    query = f"GPU{ESCAPES} evil"
    return {
        "search": ["search", query, "--context", "--related", "--explain"],
        "search-md": ["search", query, "--format", "md", "--related"],
        "search-table": ["search", query, "--format", "table", "--context", "--related", "--explain"],
        "related-table": ["related", evil, "--format", "table"],
        "show-table": ["show", evil, "--format", "table"],
        "show-md": ["show", evil, "--format", "md"],
        "related": ["related", evil],
        "related-md": ["related", evil, "--format", "md"],
        "topics": ["topics"],
        "topics-md": ["topics", "--format", "md"],
        "show": ["show", evil],
        "status": ["status"],
        "eval": ["eval", str(queries)],
        "error": ["show", f"no{ESCAPES}such"],
    }


@pytest.mark.parametrize("command", ["search", "search-md", "related", "related-md", "topics", "topics-md",
                                     "show", "status", "eval", "error", "search-table", "related-table", "show-table",
                                     "show-md"])
def test_control_characters_never_reach_the_terminal(hostile_data, command):
    index_dir, queries, evil = hostile_data
    args = printing_commands(index_dir, queries, evil)[command]
    result = runner.invoke(app, [*args, "--index", str(index_dir)])
    assert result.exit_code == (1 if command == "error" else 0), result.output
    for stream in (result.stdout, result.stderr):
        found = UNSAFE.search(stream)
        assert found is None, f"{found.group()!r} printed raw: {stream[max(found.start() - 40, 0):found.end() + 40]!r}"
    if command != "error":
        assert "[2J" in result.stdout  # the text is shown, only the control characters go
    if command == "eval":
        assert "baking bread[2J" in result.stdout  # the missed query is listed


@pytest.mark.parametrize("args", [["search", f"GPU{ESCAPES} evil", "--json", "--related", "--context"],
                                  ["related", "EVIL", "--json"], ["topics", "--json"], ["show", "EVIL", "--json"],
                                  ["status", "--json"], ["eval", "QUERIES", "--json"]],
                         ids=["search", "related", "topics", "show", "status", "eval"])
def test_json_keeps_control_characters_escaped(hostile_data, args):
    index_dir, queries, evil = hostile_data
    args = [{"EVIL": evil, "QUERIES": str(queries)}.get(arg, arg) for arg in args]
    result = runner.invoke(app, [*args, "--index", str(index_dir)])
    assert result.exit_code == 0, result.output
    assert UNSAFE.search(result.stdout) is None, result.stdout
    assert any(ESCAPES in text for text in strings(json.loads(result.stdout)))  # the data is kept as it was


def strings(data) -> list[str]:
    if isinstance(data, str):
        return [data]
    values = data.values() if isinstance(data, dict) else data if isinstance(data, list) else []
    return [text for value in values for text in strings(value)]


def test_batch_lines_keep_control_characters_escaped(hostile_data, tmp_path):
    index_dir = hostile_data[0]
    (tmp_path / "queries.txt").write_text(f"GPU{ESCAPES}\nbread\u202e\n", "utf-8")
    result = runner.invoke(app, ["search", "--batch", str(tmp_path / "queries.txt"), "--index", str(index_dir)])
    assert result.exit_code == 0, result.output
    assert UNSAFE.search(result.stdout) is None, result.stdout
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    # the data round-trips through the escapes (a title's whitespace, "\r" among it, is collapsed when read)
    assert lines[0]["query"] == f"GPU{ESCAPES}" and lines[0]["results"][0]["title"] == " ".join(TITLE.split())
