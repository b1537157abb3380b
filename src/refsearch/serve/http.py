"""`refsearch serve`: the JSON API (Starlette on uvicorn) and the search page, on loopback by default.

Every endpoint is declared once in `ENDPOINTS` (path, its parameters from params.py, what it
answers); that one table parses and checks the request, answers through `Answers` (render.py's JSON,
the CLI's fields; or with `format=bibtex|ris|csl-json` that file, export.py) and writes the OpenAPI
document, so the docs cannot drift from the code. Errors are JSON `{"error": "one line"}`: 400 for
bad input (params.py's messages, naming the parameter as a URL does: `year=`), 404 for an unknown id or path, 408 for
a body too slow to arrive, 413 for a body over the limit, 415 for a body that is not `application/json`, 503 when the index itself is damaged or missing a part, 500 with no detail
otherwise (the traceback goes to the server's log, never into a response).

The page and its assets are served from `static/` with a strict Content-Security-Policy (scripts and
styles from this server only). Requests must name this server (their Host header): a loopback name
when it listens on loopback, or else this machine's names and addresses and those given with
--allow-host, so a web page elsewhere cannot read the index through DNS rebinding. limits.py bounds
what a client may hold (time to send a request, connections, log lines); a body must arrive within
BODY_SECONDS and be `application/json`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .. import params
from ..errors import IndexProblem, RefsearchError, UnknownReference
from .live import LiveIndex, LiveLibraries, Say, live_index

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = params.MAX_QUERY_BYTES + 65536  # the longest query in UTF-8's worst case, and the other fields
BODY_SECONDS = 60.0  # to receive a body (4 MB at 0.5 Mbit/s); limits.py bounds the headers
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
KEEP_ALIVE_SECONDS = 5  # an idle connection after an answer (uvicorn's default, said here)
# Searches run on this many threads: the query encoder and numpy use every core for one search
# already, and more threads only fight over them (measured: 32 threads answer 5x slower than 2).
SEARCH_THREADS = 2
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                 b"base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


@dataclass(frozen=True)
class Endpoint:
    path: str
    summary: str
    answer: str  # the `Answers` method that answers it (called with the parameters as keywords)
    params: tuple[params.Param, ...] = ()
    post: bool = False  # also takes the parameters as a JSON body (for queries too long for a URL)
    in_path: str | None = None  # a parameter that is the path's last part


ENDPOINTS = (
    Endpoint("/api/search", "Find the references that answer a query (as `refsearch search --json`).",
             "search", params.SEARCH, post=True),
    Endpoint("/api/related", "What to read after a reference, with the reasons (as `refsearch related --json`).",
             "related", params.RELATED),
    Endpoint("/api/show/{id}", "One reference, with a window of the others under its topic, nearest first "
                               "(as `refsearch show --json`).", "show", params.SHOW, in_path="id"),
    Endpoint("/api/topics", "A window of the topics: names and reference counts (as `refsearch topics --json`).",
             "topics", params.TOPICS),
    Endpoint("/api/status", "Whether the index matches its sources and model (as `refsearch status --json`).",
             "status"),
    Endpoint("/api/index", "The version the server answers from: its generation, when it was written and how many "
                           "references it holds (the page shows when the index last changed).", "version"),
    Endpoint("/api/map", "Every reference as a point on the topic map (2-D, both axes in [0, 1]), in columns.",
             "topic_map"),
)


def parse(endpoint: Endpoint, given: dict[str, Any]) -> dict[str, Any]:
    """The endpoint's keyword arguments from the request's values, checked (params.py, in this
    API's words: `k=`); unknown names are refused so a typo (`q=` for `query=`) is not silently ignored."""
    known = {param.name: param for param in endpoint.params}
    unknown = sorted(set(given) - set(known))
    if unknown:
        takes = ", ".join(known) or "no parameters"
        raise RefsearchError(f"unknown parameter {unknown[0]!r}; {endpoint.path} takes {takes}.")
    values = {}
    for param in endpoint.params:
        raw = given.get(param.name)
        if raw is None and param.required:
            raise RefsearchError(f"{param.name!r} is missing; {endpoint.path} takes {', '.join(known)}.")
        if raw is not None and (raw != "" or param.required):  # an empty optional field is left out
            values[param.name] = raw
    return params.check(endpoint.params, values, params.HTTP)


def create_app(live: LiveIndex | LiveLibraries, say: Say, allowed_hosts: Sequence[str] = LOOPBACK_NAMES):
    """The ASGI application over `live`, answering only requests addressed (Host) to `allowed_hosts`."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    workers = ThreadPoolExecutor(SEARCH_THREADS, thread_name_prefix="refsearch-search")

    def respond(endpoint: Endpoint, values: dict[str, Any], started: float) -> Response:
        waited = time.perf_counter() - started
        try:
            answer = getattr(live.answers(), endpoint.answer)(**values)
            return _answer(answer, values, started, waited)
        except UnknownReference as error:
            return _error(404, error)
        except IndexProblem as error:
            return _error(503, error)
        except RefsearchError as error:
            return _error(400, error)
        except Exception:  # a bug: logged in full here, never shown to the client
            say(f"error answering {endpoint.path} {values!r:.200}:\n{traceback.format_exc()}")
            return JSONResponse({"error": "internal error; the server's log has the details."}, 500)

    def route(endpoint: Endpoint) -> Route:
        async def handle(request) -> Response:
            started = time.perf_counter()
            given: dict[str, Any] = dict(request.query_params)
            if request.method == "POST":
                body = await _json_body(request)
                if isinstance(body, Response):
                    return body
                given.update(body)
            if endpoint.in_path:
                given[endpoint.in_path] = request.path_params[endpoint.in_path]
            try:
                values = parse(endpoint, given)
            except RefsearchError as error:
                return _error(400, error)
            try:
                kept = None if live.changed() else live.answers().peek(endpoint.answer, values)
            except IndexProblem as error:  # a file of the generation cut short or removed under the server
                return _error(503, error)
            if kept is not None:  # answered before: no need to leave the event loop
                return _answer(kept, values, started)
            return await asyncio.get_running_loop().run_in_executor(workers, respond, endpoint, values, started)

        path = endpoint.path.replace(f"{{{endpoint.in_path}}}", f"{{{endpoint.in_path}:path}}") if endpoint.in_path else endpoint.path
        return Route(path, handle, methods=["GET", "POST"] if endpoint.post else ["GET"])

    async def _json_body(request) -> dict | Response:
        """The parameters in a JSON body. Only `application/json`: a page elsewhere may send text/plain
        without asking (no CORS preflight), and a body is the way to send a million-character query."""
        data = bytearray()
        try:
            async with asyncio.timeout(BODY_SECONDS):
                async for chunk in request.stream():
                    data += chunk
                    if len(data) > MAX_BODY_BYTES:
                        return JSONResponse({"error": f"request body over {MAX_BODY_BYTES:,} bytes."}, 413)
        except TimeoutError:
            return _error(408, f"the request body took over {BODY_SECONDS:.0f} s to arrive.")
        media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if data and media != "application/json":
            return _error(415, "send the body as JSON, with the header Content-Type: application/json.")
        try:
            body = json.loads(data or b"{}")
        except (ValueError, RecursionError):
            return _error(400, "the body is not JSON; send an object such as {\"query\": \"…\"}.")
        return body if isinstance(body, dict) else _error(400, "the body must be a JSON object of parameters.")

    async def page(request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def api_docs(request) -> Response:
        return FileResponse(STATIC / "api.html")

    async def spec(request) -> Response:
        return JSONResponse(openapi())

    async def http_error(request, error: HTTPException) -> Response:
        return JSONResponse({"error": error.detail}, error.status_code, headers=getattr(error, "headers", None))

    routes = [Route("/", page), Route("/api/docs", api_docs), Route("/api/openapi.json", spec),
              *map(route, ENDPOINTS), Mount("/static", StaticFiles(directory=STATIC), name="static")]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: http_error})
    return _with_headers(app)


def _answer(answer: dict[str, Any], values: dict[str, Any], started: float, waited: float = 0.0):
    """The answer as JSON, or for `format=bibtex|ris|csl-json` as that file's text and media type,
    with the server's time in a `Server-Timing` header (browsers' devtools show it): `wait` for a
    search thread, `app` from the parsed request to the encoded answer, waits included."""
    from starlette.responses import JSONResponse, Response

    exported = values.get("format", "json") != "json"
    response = Response(answer["text"], media_type=answer["media_type"]) if exported else JSONResponse(answer)
    if exported and "next_offset" in answer:  # the file was cut to fit an answer's budget (answers.exported)
        response.headers["x-next-offset"] = str(answer["next_offset"])
    response.headers["server-timing"] = f"wait;dur={waited * 1000:.2f}, app;dur={(time.perf_counter() - started) * 1000:.2f}"
    return response


def _error(status: int, error: Exception | str):
    from starlette.responses import JSONResponse

    return JSONResponse({"error": " ".join(str(error).split())}, status)


def _with_headers(app):
    """Every response carries the security headers (a plain ASGI wrapper: no per-request task)."""

    async def wrapped(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of `ENDPOINTS`."""
    from .. import __version__
    from ..export import MEDIA_TYPES

    error = {"description": "One line saying what is wrong and what to do.",
             "content": {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}}}
    paths: dict[str, Any] = {}
    for endpoint in ENDPOINTS:
        parameters = [{"name": p.name, "in": "path" if p.name == endpoint.in_path else "query",
                       "required": p.required or p.name == endpoint.in_path, "description": p.help,
                       "schema": params.schema(p)} for p in endpoint.params]
        files = {MEDIA_TYPES[fmt].partition(";")[0]: {"schema": {"type": "string"}}
                 for fmt in params.EXPORTS if params.FORMAT in endpoint.params}
        operation = {"summary": endpoint.summary, "parameters": parameters,
                     "responses": {"200": {"description": "The answer, in the fields of the CLI's --json; with "
                                                          "format=bibtex, ris or csl-json, that file (cut to fit, the "
                                                          "X-Next-Offset header saying where the rest start).",
                                           "content": {"application/json": {"schema": {"type": "object"}}, **files}},
                                   "400": error, "404": error, "503": error}}
        paths[endpoint.path] = {"get": operation}
        if endpoint.post:
            body = {"type": "object", "required": [p.name for p in endpoint.params if p.required],
                    "properties": {p.name: {**params.schema(p), "description": p.help} for p in endpoint.params}}
            paths[endpoint.path]["post"] = {**operation, "parameters": [], "summary": endpoint.summary + " Long queries.",
                                            "requestBody": {"content": {"application/json": {"schema": body}}},
                                            "responses": {**operation["responses"], "413": error}}
    return {"openapi": "3.1.0", "info": {"title": "refsearch", "version": __version__,
                                         "description": "Search an annotated reading list, offline."}, "paths": paths}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, so a taken port is a one-line error before the index is even opened."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(64)  # limits.BACKLOG (not imported here: uvicorn would be)
    except OSError as error:
        raise RefsearchError(f"cannot listen on {host}:{port} ({error.strerror or error}); "
                             "choose another --port or --host.") from None
    return sock


def allowed_hosts(host: str, also: Sequence[str] = ()) -> list[str]:
    """The names a request may address (its Host header): loopback names and the address listened
    on, and beyond loopback this machine's names and addresses and `also` (--allow-host); a request
    to any other name is refused (DNS rebinding)."""
    names = [*LOOPBACK_NAMES, _host_name(host)]
    if not is_loopback(host):
        machine = [socket.gethostname(), socket.getfqdn()]
        with contextlib.suppress(OSError):
            machine += [_host_name(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)]
        names += [*machine, *also]
    return list(dict.fromkeys(name.lower() for name in names if name))


def _host_name(address: str) -> str:
    """An address as a Host header names it (IPv6 in brackets)."""
    address = address.strip("[]")
    return f"[{address}]" if ":" in address else address


def check_address(host: str, port: int) -> None:
    """--host and --port, refused with one line before anything is opened."""
    if not host.strip():
        raise RefsearchError("--host is empty; give an address to listen on, such as 127.0.0.1.")
    if not 0 <= port <= 65535:
        raise RefsearchError(f"--port must be between 0 and 65535 (0: any free port), not {port}.")


def server_config(app):
    """uvicorn's settings for `app`: its protocol with limits.py's bounds, quiet but for warnings."""
    import uvicorn

    from .limits import BACKLOG, GuardedProtocol, connection_limit

    GuardedProtocol.limit = connection_limit()
    return uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", server_header=False,
                          http=GuardedProtocol, timeout_keep_alive=KEEP_ALIVE_SECONDS, backlog=BACKLOG)


def run(indexes: Sequence[str] | None, host: str, port: int, say: Say, progress=None,
        also_allowed: Sequence[str] = ()) -> None:
    """Serve `indexes` (one, or several answering as one; None: the default) until interrupted;
    says the address once it answers."""
    import uvicorn

    from . import one_blas_thread
    from .limits import bound_logs

    check_address(host, port)
    sock = bind(host, port)
    hosts = allowed_hosts(host, also_allowed)
    if not is_loopback(host):
        say(f"warning: listening on {host}, not loopback: anyone who can reach this machine can read the index "
            "(there is no authentication). Use --host 127.0.0.1 to keep it to yourself. Answering requests "
            f"addressed to {', '.join(hosts)} (more with --allow-host).")
    one_blas_thread()
    bound_logs()
    live = live_index(indexes, say, progress, follow=True)
    server = uvicorn.Server(server_config(create_app(live, say, hosts)))
    address = sock.getsockname()
    shown = f"[{address[0]}]" if sock.family == socket.AF_INET6 else address[0]
    say(f"serving {', '.join(map(str, live.directories))} on http://{shown}:{address[1]}/ (API docs: /api/docs); Ctrl-C stops")
    server.run(sockets=[sock])
