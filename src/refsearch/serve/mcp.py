"""`refsearch mcp`: the reading list as tools for an assistant, over the Model Context Protocol (stdio).

Built on the official SDK's `MCPServer` (FastMCP, renamed in mcp 2). The index is opened once at
start-up and re-opened when a build publishes a new generation (live.py; the server starts that build itself when
the sources change). Each tool's parameters are params.py's (the CLI's and the HTTP API's), and it
returns the JSON of the matching CLI command's `--json` as structured content, or with `format`
bibtex, ris or csl-json that file's text (export.py); a bad argument or an unknown id comes back as
a tool error with params.py's one-line message, naming the field. Logs go to stderr: stdout is the protocol.

Every line the client sends is checked as JSON-RPC 2.0 before the SDK reads it (`check_line`): the
SDK drops a line it cannot read without a word, so a client that sent garbage, a truncated line,
`[]`, a wrong `jsonrpc`, an object as id or a lone surrogate (`\\ud800`) in its arguments waited
forever. Such a line now gets its JSON-RPC error (parse error, invalid request, invalid params),
except a notification, which is dropped as the spec says.

No `from __future__ import annotations` here: the SDK reads the tools' signatures at run time to
write their JSON schemas.
"""

import inspect
import json
import sys
from typing import Annotated, Any, Callable, Optional

import anyio
import mcp_types
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.types import ToolAnnotations
from pydantic import Field

from .. import params
from ..errors import RefsearchError
from ..sources.common import encodable, reading_problem
from .live import LiveIndex, LiveLibraries, Say, live_index

INSTRUCTIONS = (
    "refsearch searches the user's own annotated reading list: papers, official docs, blog posts, books and "
    "courses, grouped under topic headings, annotated in Chinese, English or both. Use `search` to find what the "
    "list holds on a subject, `related` for what to read after a reference, `show` for one reference in full, "
    "`topics` to see what the list covers. Every result has an `id` (and a citation `key` where the library "
    "has one) that `related` and `show` take, as they take a DOI, a URL or the start of a title. "
    "Answers are kept short: lists come a window at a time; when an answer's `page` (or `context_page`) has a "
    "`next_offset`, call the tool again with `offset` set to it for the next window."
)


# What each tool is for, as an assistant reads it; the tools' parameters are params.py's.
TOOLS = {
    "search": """Search the user's reading list by meaning and by keywords (Chinese and English both work).
        Returns the best references first, each with id, title, url, year, kind, topic path, the
        annotation (`note`: for a Zotero item, its notes and PDF highlights) and its English gloss
        (`note_en`), a `snippet` of the abstract around the matched words when the reference has one,
        `fulltext`: the words of the paper's full text that matched when only the full text holds
        them, and a score. Results far below the best are left out (`weak_cut` counts them): few or
        no results mean the list holds little on the subject. Use it whenever the user asks what
        their list, library or notes say about a subject, or for reading on a subject. With `format`
        bibtex, ris or csl-json, the results come back as that file's text, for a reference manager.""",
    "related": """What to read after a given reference: its nearest neighbours in the reading list, each with
        the reasons it is related (same topic, shared names or terms, same author, similarity). With
        `format` bibtex, ris or csl-json, the suggestions come back as that file's text.""",
    "show": """One reference in full (title, url, year, kind, topic, annotation and gloss, author, tags,
        source file and line), with a window of the other references under the same topic, nearest
        to it first (`context_page` says how many there are in all). With `format` bibtex, ris or
        csl-json, the reference alone comes back as that file's text.""",
    "topics": """The reading list's topics (its headings, with English glosses; for a library without
        headings, topics derived from its references' meaning, marked `topic_source: derived`), in
        reading order, each with its reference count, a window at a time. Use it to see what the
        list covers before searching it; `search` with `topic` finds what one holds.""",
}


def create_server(live: LiveIndex | LiveLibraries) -> MCPServer:
    from .. import __version__

    server = MCPServer("refsearch", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING")
    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

    def answer(name: str, arguments: dict[str, Any]) -> Any:
        """The tool's answer: the CLI's --json fields, or an export's text; a bad argument is a tool
        error in params.py's words, naming the field as the call did."""
        try:
            values = params.check(params.COMMANDS[name], arguments, params.MCP)
            found = getattr(live.answers(), name)(**values)
        except RefsearchError as error:
            raise ToolError(" ".join(str(error).split())) from None
        if values.get("format", "json") != "json":
            return mcp_types.CallToolResult(content=[mcp_types.TextContent(type="text", text=found["text"])],
                                            structured_content=found)
        return found

    for name, description in TOOLS.items():
        server.tool(annotations=read_only)(_tool(name, description, answer))
    return server


def _tool(name: str, description: str, answer: Callable[[str, dict[str, Any]], Any]) -> Callable:
    """A tool function whose signature the SDK reads for the input schema: params.py's parameters,
    each with its help and bounds (checked by `answer`, so the message is params.py's)."""

    def tool(**arguments: Any) -> dict[str, Any]:
        return answer(name, arguments)

    tool.__name__, tool.__doc__ = name, description
    tool.__signature__ = inspect.Signature(
        [inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, annotation=_annotation(p),
                           default=inspect.Parameter.empty if p.required else p.default)
         for p in params.COMMANDS[name]], return_annotation=dict[str, Any])
    return tool


def _annotation(param: params.Param) -> Any:
    kind = param.kind if param.required or param.default is not None else Optional[param.kind]
    shown = {key: value for key, value in params.schema(param).items() if key in ("enum", "minimum", "maximum")}
    return Annotated[kind, Field(description=param.help, json_schema_extra=shown or None)]


MAX_LINE_BYTES = 16 << 20  # the longest query (1,000,000 characters) escaped as \\uXXXX, and the rest
Problem = tuple[Any, int, str]  # (the id to answer, JSON-RPC error code, message)


def check_line(raw: bytes) -> tuple[str | None, Problem | None]:
    """(the line for the SDK, None), (None, the error to answer), or (None, None): nothing to do (a
    blank line, or a notification that cannot be read, which JSON-RPC never answers)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, (None, mcp_types.PARSE_ERROR, "Parse error: the line is not UTF-8 text")
    if not text.strip():
        return None, None
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as error:
        return None, (None, mcp_types.PARSE_ERROR, f"Parse error: {reading_problem(error)}")
    if isinstance(message, list):
        why = "an empty batch" if not message else "batches are not supported; send one message a line"
        return None, (None, mcp_types.INVALID_REQUEST, f"Invalid Request: {why}")
    if not isinstance(message, dict):
        return None, (None, mcp_types.INVALID_REQUEST, "Invalid Request: a message is a JSON object")
    if "id" in message and not (isinstance(message["id"], (str, int)) and not isinstance(message["id"], bool)):
        return None, (None, mcp_types.INVALID_REQUEST, "Invalid Request: an id is a string or an integer")
    answer_to, notification = message.get("id"), "id" not in message
    if message.get("jsonrpc") != "2.0":
        return None, (answer_to, mcp_types.INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"')
    if not encodable(message):
        return None, None if notification else (
            answer_to, mcp_types.INVALID_PARAMS, "Invalid params: text that is not Unicode (a lone surrogate, \\ud800)")
    try:
        mcp_types.jsonrpc_message_adapter.validate_json(text, by_name=False)
    except ValueError as error:  # pydantic's ValidationError, one list of errors per kind of message
        kind = "JSONRPCNotification" if notification else "JSONRPCRequest" if "method" in message else "JSONRPCResponse"
        found = [e for e in getattr(error, "errors", list)() if e.get("loc", ("",))[0] == kind] or [{"msg": str(error)}]
        where = ".".join(str(part) for part in found[0].get("loc", ())[1:])
        problem = " ".join(f"{where}: {found[0]['msg']}".strip(": ").split())[:200]
        return None, None if notification else (answer_to, mcp_types.INVALID_REQUEST, f"Invalid Request: {problem}")
    return text, None


class CheckedLines:
    """The client's lines, read from stdin for the SDK's reader (`async for line in stdin`), checked
    by `check_line`; its errors are answered through the SDK's own writer, so they never tear one of
    its messages on stdout."""

    def __init__(self, stdin):
        self._stdin = stdin  # binary, read in a worker thread a bounded line at a time
        self._write = None
        self._connected = anyio.Event()

    def connect(self, write_stream) -> None:
        self._write = write_stream
        self._connected.set()

    def __aiter__(self):
        return self._lines()

    async def _lines(self):
        await self._connected.wait()
        while raw := await self._readline(MAX_LINE_BYTES + 1):
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while (rest := await self._readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass
                line, problem = None, (None, mcp_types.PARSE_ERROR, f"Parse error: a line of over {MAX_LINE_BYTES:,} bytes")
            else:
                line, problem = check_line(raw)
            if problem is not None:
                answer_to, code, message = problem
                error = mcp_types.JSONRPCError(jsonrpc="2.0", id=answer_to,
                                               error=mcp_types.ErrorData(code=code, message=message))
                await self._write.send(SessionMessage(error))
            elif line is not None:
                yield line

    async def _readline(self, limit: int) -> bytes:
        return await anyio.to_thread.run_sync(self._stdin.readline, limit)


async def serve_stdio(server: MCPServer) -> None:
    """`MCPServer.run_stdio_async`, with the client's lines checked first (CheckedLines). The SDK
    offers no public hook for its stdin, so this reaches its low-level server (mcp 2.x)."""
    lines = CheckedLines(sys.stdin.buffer)
    async with stdio_server(stdin=lines) as (read_stream, write_stream):
        lines.connect(write_stream)
        lowlevel = server._lowlevel_server
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


def run(indexes: list[str] | None, say: Say) -> None:
    """Serve `indexes` (one, or several answering as one; None: the default) over stdin/stdout
    until the client closes them."""
    from . import one_blas_thread

    one_blas_thread()
    server = create_server(live_index(indexes, say, follow=True))
    say("MCP server ready on stdio")
    anyio.run(serve_stdio, server)
