"""`refsearch mcp` as an assistant runs it: a subprocess on stdio, spoken to with the MCP SDK's own
client. Tools are listed with descriptions and schemas; each answers with the CLI's --json fields."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from typer.testing import CliRunner

import refsearch
from refsearch.cli import app
from serving import FAKE_CLI, FIVE, READING, exported_refs, make_project, subprocess_env

pytest.importorskip("mcp", reason="needs the mcp extra: pip install 'refsearch[mcp]'")

runner = CliRunner()


def cli_json(*args) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def session(command: list[str], talk):
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    server = StdioServerParameters(command=sys.executable, args=command, env=subprocess_env())
    async with Client(server, read_timeout_seconds=120) as client:
        return await talk(client)


def test_tools_answer_with_the_cli_fields(tmp_path, fake_encoder):
    index = str(make_project(tmp_path))

    async def talk(client):
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        calls = {
            "search": await client.call_tool("search", {"query": "GPU slicing", "k": 2}),
            "filtered": await client.call_tool("search", {"query": "server", "kind": "official-doc", "year": "2018"}),
            "related": await client.call_tool("related", {"ref": "infra/mig", "k": 2}),
            "show": await client.call_tool("show", {"id": "infra/mig"}),
            "topics": await client.call_tool("topics", {}),
            "unknown": await client.call_tool("show", {"id": "infra/nothing"}),
            "bad year": await client.call_tool("search", {"query": "gpu", "year": "last year"}),
        }
        return tools, calls

    tools, calls = asyncio.run(session(["-c", FAKE_CLI, "mcp", "--index", index], talk))
    assert set(tools) == {"search", "related", "show", "topics"}
    for tool in tools.values():
        assert len(tool.description) > 80 and tool.annotations.read_only_hint
    assert set(tools["search"].input_schema["properties"]) == {"query", "k", "mode", "topic", "kind", "year", "page",
                                                               "author", "venue", "collection", "tag", "offset", "include_weak",
                                                               "format"}
    assert tools["search"].input_schema["required"] == ["query"]
    assert set(tools["related"].input_schema["properties"]) == {"ref", "k", "diverse", "offset", "format"}

    assert calls["search"].structured_content == cli_json("search", "GPU slicing", "-k", "2", "--index", index)
    assert calls["search"].structured_content["results"][0]["id"] == "infra/mig"
    assert [r["title"] for r in calls["filtered"].structured_content["results"]] == ["Triton"]
    assert calls["related"].structured_content == cli_json("related", "infra/mig", "-k", "2", "--index", index)
    assert calls["show"].structured_content == cli_json("show", "infra/mig", "--index", index)
    assert calls["topics"].structured_content == cli_json("topics", "--index", index)
    assert json.loads(calls["show"].content[0].text) == calls["show"].structured_content  # text for older clients
    for name in ("unknown", "bad year"):
        assert calls[name].is_error and len(calls[name].content[0].text.splitlines()) == 1
    assert "no reference matches 'infra/nothing'" in calls["unknown"].content[0].text
    assert "give a year (2021) or a range" in calls["bad year"].content[0].text


def test_results_come_back_out_for_a_reference_manager(tmp_path, fake_encoder):
    """Issue 26 part 4 over MCP: `format` bibtex, ris or csl-json answers that file's text, which its
    own reader parses: five results, each with title, url and annotation; a bad argument names the field."""
    index = str(make_project(tmp_path, FIVE))

    async def talk(client):
        found = {}
        for fmt in ("bibtex", "ris", "csl-json"):
            found[fmt] = [await client.call_tool("search", {"query": "GPU", "k": 5, "include_weak": True, "format": fmt}),
                          await client.call_tool("related", {"ref": "infra/mig", "k": 5, "format": fmt}),
                          await client.call_tool("show", {"id": "infra/mig", "format": fmt})]
        found["json"] = await client.call_tool("search", {"query": "GPU", "k": 5, "include_weak": True})
        found["bad"] = [await client.call_tool("search", {"query": "GPU", "k": 0}),
                        await client.call_tool("search", {"query": "GPU", "year": "2023-2020"}),
                        await client.call_tool("show", {"id": "infra/mig", "format": "endnote"})]
        return found

    found = asyncio.run(session(["-c", FAKE_CLI, "mcp", "--index", index], talk))
    titles = [r["title"] for r in found["json"].structured_content["results"]]
    for fmt in ("bibtex", "ris", "csl-json"):
        searched, related, shown = (exported_refs(fmt, call.content[0].text) for call in found[fmt])
        assert [title for title, _, _ in searched] == titles and len(searched) == 5, fmt
        assert all(url.startswith("https://") and note for _, url, note in searched + related), fmt
        assert len(related) == 5 and [title for title, _, _ in shown] == ["MIG"], fmt
    messages = [call.content[0].text for call in found["bad"]]
    assert all(call.is_error for call in found["bad"])
    assert messages[0].endswith(": k must be between 1 and 1000, not 0.")  # the SDK says which tool first
    assert 'year "2023-2020": the range is empty' in messages[1]
    assert "format must be one of json, bibtex, ris, csl-json, not 'endnote'" in messages[2]


def test_several_indexes_answer_as_one(tmp_path, fake_encoder):
    """`refsearch mcp --index A --index B`: one ranking across them, each result naming its library,
    whose ids `show` takes back."""
    work, reading = make_project(tmp_path / "work"), make_project(tmp_path / "reading", READING)

    async def talk(client):
        found = (await client.call_tool("search", {"query": "GPU", "k": 5, "include_weak": True})).structured_content
        salus = next(r for r in found["results"] if r["title"] == "Salus")
        return found, (await client.call_tool("show", {"id": salus["id"]})).structured_content

    found, shown = asyncio.run(session(["-c", FAKE_CLI, "mcp", "--index", str(work), "--index", str(reading)], talk))
    assert {r["library"] for r in found["results"]} == {"work/index", "reading/index"}
    assert shown["title"] == "Salus" and shown["library"] == "reading/index"


def test_a_missing_index_is_one_line_on_stderr(tmp_path, fake_encoder):
    result = runner.invoke(app, ["mcp", "--index", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no index here" in result.stderr and result.stdout == ""


@pytest.mark.slow
def test_real_model_answers_an_assistant(bundled_index):
    """With the real model (its answers matter): the MCP search finds MIG for 'GPU slicing'."""
    async def talk(client):
        return await client.call_tool("search", {"query": "GPU slicing", "k": 3})

    found = asyncio.run(session(["-m", "refsearch", "mcp", "--index", str(bundled_index.directory)], talk))
    assert found.structured_content["results"][0]["id"] == "mlops-references/nvidia-multi-instance-gpu-mig"


# --- issue 24: every line gets its JSON-RPC answer, or is a notification dropped as the spec says -----

INITIALIZE = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
RAW_LINES = [  # (line, the id answered, JSON-RPC error code or None for a result)
    (b"garbage", None, -32700),
    (b'{"jsonrpc": "2.0", "id": 5, "method": "tools/li', None, -32700),  # truncated
    (b"\x00\xff\xfe\x89PNG binary", None, -32700),
    (b"[]", None, -32600),
    (b'[{"jsonrpc": "2.0", "id": 3, "method": "tools/list"}]', None, -32600),
    (b"42", None, -32600),
    (b'{"jsonrpc": "1.0", "id": 6, "method": "tools/list"}', 6, -32600),
    (b'{"id": 6, "method": "tools/list"}', 6, -32600),
    (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "tools/list"}', None, -32600),
    (b'{"jsonrpc": "2.0", "id": true, "method": "tools/list"}', None, -32600),
    (b'{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "search", '
     b'"arguments": {"query": "gpu \\ud800"}}}', 7, -32602),
    (b'{"jsonrpc": "2.0", "id": "eight", "method": "tools/call", "params": 5}', "eight", -32600),
    (b'{"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "search", '
     b'"arguments": {"query": "GPU slicing", "k": 1}}}', 9, None),
]


@pytest.mark.parametrize("line, answer_to, code", RAW_LINES, ids=lambda v: repr(v)[:30] if isinstance(v, bytes) else None)
def test_every_line_is_checked_as_json_rpc(line, answer_to, code):
    from refsearch.serve.mcp import check_line

    passed, problem = check_line(line + b"\n")
    if code is None:
        assert passed is not None and problem is None
    else:
        assert passed is None and problem[:2] == (answer_to, code) and "\n" not in problem[2]


def test_a_notification_that_cannot_be_read_is_dropped():
    from refsearch.serve.mcp import check_line

    assert check_line(b'{"jsonrpc": "2.0", "method": "notifications/x", "params": {"a": "\\ud800"}}') == (None, None)
    assert check_line(b'{"jsonrpc": "2.0", "method": "notifications/x", "params": 5}') == (None, None)
    assert check_line(b"   \n") == (None, None)


def test_the_server_answers_every_malformed_line_and_survives_a_truncated_index(tmp_path, fake_encoder):
    """Through `refsearch mcp` itself: each line of RAW_LINES is answered in order, then a file of
    the index truncated in place is a tool error (the server read it into memory: no SIGBUS), and
    after `build --force` the tool answers again."""
    import select
    import subprocess

    index = make_project(tmp_path)
    server = subprocess.Popen([sys.executable, "-c", FAKE_CLI, "mcp", "--index", str(index)], env=subprocess_env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def ask(line: bytes) -> dict:
        server.stdin.write(line + b"\n")
        server.stdin.flush()
        ready, _, _ = select.select([server.stdout], [], [], 60)
        assert ready, f"no answer to {line[:60]!r}"
        return json.loads(server.stdout.readline())

    try:
        assert ask(json.dumps(INITIALIZE).encode())["result"]["serverInfo"] == {"name": "refsearch",
                                                                                "version": refsearch.__version__}
        server.stdin.write(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')
        for line, answer_to, code in RAW_LINES:
            answer = ask(line)
            assert answer["id"] == answer_to, (line, answer)
            assert answer["error"]["code"] == code if code else "result" in answer, (line, answer)
        generation = refsearch.open(index).generation.directory
        with open(generation / "vectors.npy", "r+b") as handle:
            handle.truncate(100)
        search = b'{"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"name": "search", ' \
                 b'"arguments": {"query": "GPU slicing"}}}'
        damaged = ask(search)["result"]
        assert damaged["isError"] and "vectors.npy: index file is truncated or damaged" in damaged["content"][0]["text"]
        refsearch.build(None, index, force=True)
        assert ask(search.replace(b'"id": 10', b'"id": 11'))["result"]["structuredContent"]["results"][0]["title"] == "MIG"
    finally:
        server.stdin.close()
        assert server.wait(timeout=30) == 0
