"""`refsearch mcp` as an assistant runs it: a subprocess on stdio, spoken to with the MCP SDK's own
client. Tools are listed with descriptions and schemas; each answers with the CLI's --json fields."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from typer.testing import CliRunner

from refsearch.cli import app
from serving import FAKE_CLI, make_project, subprocess_env

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
                                                               "author", "venue", "collection", "tag", "offset", "include_weak"}
    assert tools["search"].input_schema["required"] == ["query"]
    assert set(tools["related"].input_schema["properties"]) == {"ref", "k", "diverse", "offset"}

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
