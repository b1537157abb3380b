"""Soak: `refsearch serve` under 32 clients for 10 minutes while its index is rebuilt every 30 s.

Builds the bundled list (plus a one-reference page, `soak.yaml`) into a temporary index with the
real model, starts `refsearch serve` on it as a user would (a subprocess), and then, until the time
is up:
- `--clients` keep-alive connections send requests back to back: searches for the judged queries of
  data/eval (asked again and again: answered from the kept answers), searches never asked before
  (each one ranked: encoder, vectors, BM25), and every 10th request `/api/topics` or `/api/map`;
- every `--rebuild-every` seconds the page `soak.yaml` is rewritten (its one title names the round)
  and `refsearch build` publishes a new generation, which the server picks up between requests;
- the server's resident memory is read from /proc every 2 s.
A request fails if it is not a 200 with the answer's JSON (searches: the `results` list). At the end
it prints the requests, failures (by kind), latency, rebuilds and generations picked up, and memory:
the median of each minute, and the median of the minute after `--warm-up` (the kept answers and the
allocator's arenas reach their working size in the first minutes) against the median of the last
minute ("flat": within 10%). Exit code 1 on any failure, warning or memory growth over 10%.

    python scripts/soak_serve.py [--minutes 10] [--clients 32] [--rebuild-every 30] [--warm-up 120]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serve import WORDS, judged_queries, percentile, refsearch_command, start_http  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "src" / "refsearch" / "bundled" / "mlops-references.yaml"
PAGE = """format: refsearch/references@1
page: Soak
topics:
  - name: Soak
    references:
      - {{title: "Soak round {round}", note: "rebuilt while serving, round {round}", year: 2024}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rebuild-every", type=float, default=30.0)
    parser.add_argument("--warm-up", type=float, default=120.0, help="seconds before memory is compared")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="refsearch-soak-"))
    try:
        sources, index = work / "refs", work / "index"
        sources.mkdir()
        shutil.copy(BUNDLED, sources)
        (sources / "soak.yaml").write_text(PAGE.format(round=0), "utf-8")
        build(sources, index)
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; {args.clients} clients, "
              f"{args.minutes:g} minutes, a rebuild every {args.rebuild_every:g} s")
        server, url, _ = start_http(index)
        try:
            report = soak(server, url, sources, index, args)
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if report else 1)


def build(sources: Path | None, index: Path) -> float:
    started = time.perf_counter()
    command = [*refsearch_command(), "build", *([str(sources)] if sources else []), "--index", str(index)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        raise SystemExit(f"build failed: {done.stderr[-2000:]}")
    return time.perf_counter() - started


def soak(server: subprocess.Popen, url: str, sources: Path, index: Path, args) -> bool:
    seconds = args.minutes * 60
    started = time.monotonic()
    stop = threading.Event()
    log: list[str] = []
    memory: list[tuple[float, int]] = []
    rebuilds: list[float] = []
    threading.Thread(target=lambda: log.extend(server.stderr), daemon=True).start()

    def sample() -> None:
        while not stop.wait(2.0):
            status = Path(f"/proc/{server.pid}/status").read_text()
            memory.append((time.monotonic() - started, int(status.split("VmRSS:")[1].split()[0]) // 1024))

    def rebuild() -> None:
        round_number = 0
        while not stop.wait(args.rebuild_every):
            round_number += 1
            (sources / "soak.yaml").write_text(PAGE.format(round=round_number), "utf-8")
            rebuilds.append(build(None, index))

    helpers = [threading.Thread(target=sample, daemon=True), threading.Thread(target=rebuild, daemon=True)]
    for helper in helpers:
        helper.start()
    judged = judged_queries()
    outcome = asyncio.run(load(url, judged, args.clients, started + seconds))
    stop.set()
    for helper in helpers:
        helper.join(timeout=600)
    elapsed = time.monotonic() - started
    return report(outcome, elapsed, memory, rebuilds, log, args)


async def load(url: str, judged: list[str], clients: int, until: float):
    """(latencies in ms, failures by kind) of every request the clients sent until `until`."""
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    failures: collections.Counter[str] = collections.Counter()
    counter = iter(range(10**9))

    def next_request() -> tuple[str, bool]:
        number = next(counter)
        if number % 10 == 9:
            return ("/api/topics", False) if number % 20 == 9 else ("/api/map", False)
        if number % 2:
            query = judged[number % len(judged)]
        else:
            query = f"{judged[number % len(judged)]} {WORDS[number // len(judged) % len(WORDS)]} {number}"
        return f"/api/search?{urlencode({'query': query, 'k': 10})}", True

    async def client() -> None:
        reader = writer = None
        while time.monotonic() < until:
            path, search = next_request()
            sent = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, int(port))
                status, body = await asyncio.wait_for(_request(reader, writer, host, path), 60)
                answer = json.loads(body)
                if status != 200:
                    failures[f"HTTP {status}: {answer.get('error', '')[:80]}"] += 1
                elif search and not isinstance(answer.get("results"), list):
                    failures["a search answer without results"] += 1
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
                failures[f"{type(error).__name__}: {str(error)[:80]}"] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
            latencies.append((time.perf_counter() - sent) * 1000)
        if writer is not None:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, failures


async def _request(reader, writer, host: str, path: str) -> tuple[int, bytes]:
    """One GET on a kept-alive connection: status and body (Content-Length framed)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in head[1:] if line)}
    return int(head[0].split()[1]), await reader.readexactly(int(headers["content-length"]))


def report(outcome, elapsed: float, memory: list[tuple[float, int]], rebuilds: list[float], log: list[str],
           args) -> bool:
    latencies, failures = outcome
    picked_up = sum("now answering from" in line for line in log)
    warnings = [line.strip() for line in log if "warning" in line or "error" in line.lower()]
    first = [rss for at, rss in memory if args.warm_up <= at < args.warm_up + 60]
    last = [rss for at, rss in memory if at >= elapsed - 60]
    minutes = [statistics.median([rss for at, rss in memory if minute * 60 <= at < minute * 60 + 60] or [0])
               for minute in range(int(elapsed // 60) + 1)]
    start_mb, end_mb = statistics.median(first or [memory[0][1]]), statistics.median(last or [memory[-1][1]])
    growth = (end_mb - start_mb) / start_mb
    print(f"requests: {len(latencies):,} in {elapsed:.0f} s ({len(latencies) / elapsed:.0f}/s); "
          f"failures: {sum(failures.values())}")
    for kind, count in failures.most_common(10):
        print(f"  {count:6,}  {kind}")
    print(f"latency ms: p50 {percentile(latencies, 50):.1f}, p99 {percentile(latencies, 99):.1f}, "
          f"max {max(latencies):.0f}")
    print(f"rebuilds: {len(rebuilds)} (each {statistics.mean(rebuilds) if rebuilds else 0:.1f} s on average); "
          f"new generations picked up by the server: {picked_up}; warnings in its log: {len(warnings)}")
    for line in warnings[:5]:
        print(f"  {line[:200]}")
    print(f"server memory (RSS, median of each minute): {', '.join(f'{mb:.0f}' for mb in minutes if mb)} MB")
    print(f"  {start_mb:.0f} MB in the minute after {args.warm_up:.0f} s, {end_mb:.0f} MB in the last minute "
          f"({growth:+.1%}); max {max(rss for _, rss in memory)} MB; load average {os.getloadavg()[0]:.1f} at the end")
    return not failures and abs(growth) <= 0.10 and not warnings


if __name__ == "__main__":
    main()
