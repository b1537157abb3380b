"""Serving speed: the HTTP API under load, the MCP search round trip, and both servers' start-up.

1. Starts `refsearch serve --index DIR --port 0` as a user would (a subprocess) and times its start-up:
   from the spawn to the first answered search.
2. Sends 2,000 searches from 32 concurrent clients (asyncio, keep-alive connections), twice:
   "answered before" cycles the judged queries of data/eval after asking each once (people repeat
   queries, and a page searching as they type asks for the same prefixes again: the server keeps its
   answers per generation), "never asked" sends 2,000 queries it has not seen (each one is ranked:
   encoder, vectors, BM25, fusion). Prints throughput, p50, p99 and errors; then 200 new queries
   from one client, the latency of a search alone.
3. Starts `refsearch mcp --index DIR` through the MCP SDK's stdio client: start-up (spawn to tools
   listed), then the round trip of 50 distinct `search` calls.
Everything stays on 127.0.0.1, counts and timeouts are fixed, and the servers are stopped at the end.
The page's figure (debounce to cards on screen) is printed by tests/test_serve_browser.py.

    python scripts/bench_serve.py [--index DIR] [--requests 2000] [--clients 32]
    # default index: all of ../shared/corpora (built in the cache), else the bundled list
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[1]
# Appended to the judged queries to make distinct ones (each query + word is new to the server).
WORDS = ("guide", "production", "python", "tutorial", "survey", "benchmark", "design", "scaling", "open source",
         "library", "paper", "best practices", "monitoring", "deployment", "architecture", "performance",
         "introduction", "framework", "tools", "examples", "comparison", "security", "testing", "course", "book",
         "video", "internals", "at scale", "for beginners", "in practice", "pitfalls", "case study", "research")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, help="index to serve (default: corpora, else bundled)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--mcp-calls", type=int, default=50)
    args = parser.parse_args()

    index = args.index or bench_index()
    judged = judged_queries()
    distinct = [f"{judged[i % len(judged)]} {WORDS[i // len(judged) % len(WORDS)]}" for i in range(args.requests)]
    alone = [f"{query} alone" for query in distinct[:200]]
    repeated = [judged[i % len(judged)] for i in range(args.requests)]
    print(f"index: {index}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start")

    server, url, started = start_http(index)
    try:
        print(f"HTTP server start-up (spawn to first answered search): {started * 1000:.0f} ms (goal <= 1000)")
        print(f"{'HTTP load':22} {'requests':>8} {'clients':>7} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'errors':>6} {'in server: p50':>15} {'p99':>6}")
        asyncio.run(load(url, judged, 2))  # "answered before": each judged query asked once first
        runs = (("answered before", repeated, args.clients), ("never asked", distinct, args.clients),
                ("never asked, 1 client", alone, 1))
        for name, queries, clients in runs:
            took, latencies, in_server, errors = asyncio.run(load(url, queries, clients))
            print(f"{name:22} {len(queries):8} {clients:7} {len(queries) / took:7.0f} {percentile(latencies, 50):7.1f} "
                  f"{percentile(latencies, 99):7.1f} {errors:6} {percentile(in_server, 50):15.1f} "
                  f"{percentile(in_server, 99):6.1f}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    print("(goals: p50 <= 10 ms, p99 <= 50 ms at 32 concurrent clients, zero errors)")

    startup, round_trips = asyncio.run(mcp_session(index, [f"{query} mcp" for query in distinct[:args.mcp_calls]]))
    print(f"MCP start-up (spawn to tools listed): {startup * 1000:.0f} ms (goal <= 1000)")
    print(f"MCP search round trip after start-up: median {statistics.median(round_trips):.1f} ms, "
          f"p99 {percentile(round_trips, 99):.1f} ms over {len(round_trips)} distinct queries (goal <= 50)")


def bench_index() -> Path:
    from bench_query import indexes

    found = indexes(None)
    return found.get("corpora", found["bundled"])


def judged_queries() -> list[str]:
    import yaml

    texts = []
    for name in ("corpora.yaml", "bundled.yaml"):
        texts += [q["query"] for q in yaml.safe_load((ROOT / "data" / "eval" / name).read_text("utf-8"))["queries"]]
    return texts


def refsearch_command() -> list[str]:
    return [sys.executable, "-m", "refsearch"]


def start_http(index: Path) -> tuple[subprocess.Popen, str, float]:
    """The server, its URL, and the seconds from spawn to its first answered search."""
    import httpx

    started = time.perf_counter()
    server = subprocess.Popen([*refsearch_command(), "serve", "--index", str(index), "--port", "0"],
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    line = server.stderr.readline()
    if "serving" not in line:
        server.kill()
        sys.exit(f"the server did not start: {line}{server.stderr.read()}")
    url = line.split(" on ", 1)[1].split()[0].rstrip("/")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/search", params={"query": "start", "k": 1}, timeout=5).status_code == 200:
                return server, url, time.perf_counter() - started
        except httpx.TransportError:
            time.sleep(0.005)
    server.kill()
    sys.exit("the server did not answer within 30 s")


async def load(url: str, queries: list[str], clients: int) -> tuple[float, list[float], list[float], int]:
    """Seconds for all, each request's latency and the server's own time for it (ms, its Server-Timing
    header: from the request parsed to the answer encoded), and the count of errors.

    Each client is one keep-alive connection speaking plain HTTP/1.1 over asyncio streams: the
    clients share the server's two cores, and httpx spent about as much CPU per request as the server."""
    host, port = url.removeprefix("http://").split(":")
    pending = iter(queries)
    latencies: list[float] = []
    in_server: list[float] = []
    errors = 0

    async def client_loop() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for query in pending:
                sent = time.perf_counter()
                try:
                    status, headers, body = await asyncio.wait_for(_get(reader, writer, host, query), 30)
                    ok = status == 200 and body.startswith(b'{"query"') and b'"results":[{' in body
                    in_server.append(float(headers["server-timing"].rsplit("dur=", 1)[1]))
                except (OSError, asyncio.TimeoutError, ValueError, KeyError):
                    ok = False
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
                latencies.append((time.perf_counter() - sent) * 1000)
                errors += not ok
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return time.perf_counter() - started, latencies, in_server, errors


async def _get(reader, writer, host: str, query: str) -> tuple[int, dict[str, str], bytes]:
    """One `GET /api/search` on a kept-alive connection: status, headers, body (Content-Length framed)."""
    from urllib.parse import urlencode

    writer.write(f"GET /api/search?{urlencode({'query': query, 'k': 10})} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in head[1:] if line)}
    return int(head[0].split()[1]), headers, await reader.readexactly(int(headers["content-length"]))


async def mcp_session(index: Path, queries: list[str]) -> tuple[float, list[float]]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    command = refsearch_command()
    passed = {k: v for k, v in os.environ.items() if k.startswith("REFSEARCH") or k == "PYTHONPATH"}
    server = StdioServerParameters(command=command[0], args=[*command[1:], "mcp", "--index", str(index)],
                                   env={"HF_HUB_OFFLINE": "1", **passed})
    started = time.perf_counter()
    async with Client(server, read_timeout_seconds=60) as client:
        await client.list_tools()
        startup = time.perf_counter() - started
        round_trips = []
        for query in queries:
            sent = time.perf_counter()
            result = await client.call_tool("search", {"query": query, "k": 10})
            round_trips.append((time.perf_counter() - sent) * 1000)
            if result.is_error:
                sys.exit(f"MCP search failed: {result.content}")
    return startup, round_trips


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


if __name__ == "__main__":
    main()
