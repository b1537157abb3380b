"""A library of 10,000, 50,000 and 184,549 real papers, and a million vectors: build and query cost.

For each size (a seeded sample of ../shared/bench/scale/bib_combined.jsonl.gz, or all of it):
build wall time and documents/s against the pure encoder's documents/s measured in the same run
(the same encoder and texts, no build around it), peak RSS of the build, index size on disk; a
cold `refsearch search` (wall and peak RSS, median of 7) beside the import floor; warm query
p50/p99 in one process; recall@10 of the index's vector store against exact search. Then the
same query figures for 1,000,000 vectors: the index's real vectors plus jittered copies (each a
real vector plus Gaussian noise of `--noise` per dimension, renormalised; the script prints how
often copies land in the exact top 10, so recall is not trivially high).

    python scripts/bench_scale.py [--sizes 10000 50000 all] [--million] [--encoder onnx-int8]
    python scripts/bench_scale.py --sizes all --reuse DIR     # query figures for an index built before

Peak RSS of a child process is read with /usr/bin/time (GNU time): wait4's figure would start
from this script's own size.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import processes  # scripts/processes.py

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "bench" / "scale" / "bib_combined.jsonl.gz"
FLOOR = "import numpy, faiss"
QUERIES = 200
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def timed(command: list[str], stdin: str | None = None) -> processes.Timed:
    return processes.timed(command, stdin, ENV)


def sample(size: str, work: Path) -> Path:
    """The whole file, or a seeded sample of `size` records as .jsonl.gz."""
    if size == "all":
        return DATA
    path = work / f"sample-{size}.jsonl.gz"
    if not path.exists():
        with gzip.open(DATA, "rt", encoding="utf-8") as handle:
            lines = handle.readlines()
        keep = np.sort(np.random.default_rng(16).choice(len(lines), int(size), replace=False))
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.writelines(lines[i] for i in keep)
    return path


def encoder_throughput(source: Path, encoder: str, count: int = 2000) -> float:
    """Documents/s of the encoder alone on `count` of the library's own texts, as a build embeds them."""
    import refsearch.encoders as encoders
    from refsearch.sources import plan_sources
    from refsearch.text import dense_text

    texts = []
    for ref in plan_sources([source]).references():
        texts.append(dense_text(ref))
        if len(texts) == count:
            break
    with tempfile.TemporaryDirectory() as scratch:
        backend = encoders.backend(encoder)
        impl, _ = backend.for_build(backend.resolve(None), Path(scratch))
        impl.encode(texts[:32])  # warm
        started = time.perf_counter()
        for start in range(0, len(texts), 2048):
            impl.encode(texts[start:start + 2048])
        return len(texts) / (time.perf_counter() - started)


def query_texts(source: Path) -> list[str]:
    """Titles of seeded random papers of the library, as the queries."""
    with gzip.open(DATA, "rt", encoding="utf-8") as handle:
        titles = [json.loads(line)["title"] for line in handle]
    chosen = np.random.default_rng(7).choice(len(titles), QUERIES * 2, replace=False)
    return [titles[i] for i in chosen if titles[i].strip()][:QUERIES]


def warm_and_recall(index_dir: Path, queries: list[str]) -> dict:
    """In one process: warm search p50/p99 (ms), and recall@10 of the vector store against exact
    search over the same (decoded) vectors."""
    import refsearch

    index = refsearch.open(index_dir, update=False)
    index.search(queries[0], k=10)
    latencies = []
    for query in queries:
        started = time.perf_counter()
        index.search(query, k=10)
        latencies.append((time.perf_counter() - started) * 1000)
    vectors = index.encoder.encode(queries)
    return {"p50": float(np.percentile(latencies, 50)), "p99": float(np.percentile(latencies, 99)),
            "recall": recall_at_10(index.vectors, vectors), "store": index.manifest["vectors"]["store"]}


def recall_at_10(store, queries: np.ndarray, exact_rows: np.ndarray | None = None) -> float:
    _, found = store.search(queries, 10)
    exact = exact_rows if exact_rows is not None else _exact_top10(store.vectors, store.count, queries)
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found.tolist(), exact.tolist())]))


def _exact_top10(rows_of, count: int, queries: np.ndarray, block: int = 100_000) -> np.ndarray:
    """Exact top 10 by inner product, reading the rows in blocks (`rows_of(row numbers)`)."""
    best_scores = np.full((len(queries), 10), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(queries), 10), dtype=np.int64)
    for start in range(0, count, block):
        rows = np.arange(start, min(count, start + block))
        scores = queries @ rows_of(rows).T
        scores = np.concatenate([best_scores, scores], axis=1)
        numbers = np.concatenate([best_rows, np.tile(rows, (len(queries), 1))], axis=1)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
        best_scores, best_rows = np.take_along_axis(scores, top, 1), np.take_along_axis(numbers, top, 1)
    return best_rows


def cold(index_dir: Path, query: str, runs: int = 7) -> tuple[float, float]:
    command = [str(Path(sys.executable).parent / "refsearch"), "search", query, "--json", "--no-update",
               "--index", str(index_dir)]
    timed(command)  # warm the file cache, as for a user who searched before
    samples = [timed(command)[:2] for _ in range(runs)]
    return statistics.median(w for w, _ in samples), max(r for _, r in samples)


def size_on_disk(directory: Path) -> float:
    """MB of what the index answers from: its current generation and the query encoder (a build
    keeps the generation before too, until the next one)."""
    current = (directory / "CURRENT").read_text().strip()
    parts = [directory / current, *directory.glob("encoder-*")]
    return sum(p.stat().st_size for part in parts for p in part.rglob("*") if p.is_file()) / 1e6


def million(index_dir: Path, queries: list[str], work: Path, noise: float) -> None:
    """Query figures at 1,000,000 vectors: the index's vectors plus jittered copies, in the same store."""
    import refsearch
    from refsearch import vectors as stores

    index = refsearch.open(index_dir, update=False)
    real = index.vectors.vectors(np.arange(len(index)))
    rng = np.random.default_rng(1)
    target = work / "million"
    target.mkdir(exist_ok=True)
    files = []
    writer = stores.writer("ivf-sq8", lambda name: files.append(name) or target / name, real.shape[1])
    count = 0
    while count < 1_000_000:
        block = real[: min(len(real), 1_000_000 - count)]
        if count:  # the first pass is the real vectors themselves
            block = block + rng.normal(0, noise, block.shape).astype(np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
        writer.add(block)
        count += len(block)
    started = time.perf_counter()
    entry = writer.finish()
    build_s = time.perf_counter() - started
    (target / "entry.json").write_text(json.dumps(entry))
    store = stores.open_store(target, entry, count, real.shape[1])
    query_vectors = index.encoder.encode(queries)
    everything = np.memmap(work / "million.f32", dtype=np.float32, mode="w+", shape=(count, real.shape[1]))
    written = 0
    rng = np.random.default_rng(1)  # the same copies again, for exact search
    while written < count:
        block = real[: min(len(real), count - written)]
        if written:
            block = block + rng.normal(0, noise, block.shape).astype(np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
        everything[written:written + len(block)] = block
        written += len(block)
    exact = _exact_top10(lambda rows: np.asarray(everything[rows]), count, query_vectors)
    copies = float(np.mean(exact >= len(real)))
    latencies = []
    for vector in query_vectors:
        started = time.perf_counter()
        store.search(vector[None, :], 10)
        latencies.append((time.perf_counter() - started) * 1000)
    script = ("import sys, json, time, numpy as np; t = time.perf_counter(); from refsearch import vectors; "
              "e = json.load(open(sys.argv[1] + '/entry.json')); "
              "s = vectors.open_store(__import__('pathlib').Path(sys.argv[1]), e, 1_000_000, int(sys.argv[2])); "
              "s.search(np.ones((1, int(sys.argv[2])), np.float32) / np.sqrt(int(sys.argv[2])), 10)")
    colds = [timed([sys.executable, "-c", script, str(target), str(real.shape[1])])[:2] for _ in range(8)][1:]
    print(f"\n1,000,000 vectors ({len(real):,} real + jittered copies, noise {noise} per dimension; "
          f"copies are {copies:.0%} of the exact top 10)")
    print(f"  store {entry['store']} {entry['factory']} nprobe {entry['nprobe']}: recall@10 "
          f"{recall_at_10(store, query_vectors, exact):.3f}, warm p50 {np.percentile(latencies, 50):.2f} ms "
          f"p99 {np.percentile(latencies, 99):.2f} ms, cold (open + 1 search, fresh process) "
          f"{statistics.median(w for w, _ in colds):.3f} s {max(r for _, r in colds):.0f} MB, "
          f"on disk {sum(p.stat().st_size for p in target.iterdir() if p.name != 'entry.json') / 1e6:.0f} MB, "
          f"trained and filled in {build_s:.0f} s")
    (work / "million.f32").unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["10000", "50000", "all"])
    parser.add_argument("--encoder", default="onnx-int8")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "refsearch-bench-scale")
    parser.add_argument("--reuse", type=Path, help="an index already built from the whole file: query figures only")
    parser.add_argument("--million", action="store_true", help="also the 1,000,000-vector query figures")
    parser.add_argument("--noise", type=float, default=0.03)
    args = parser.parse_args()
    if not DATA.is_file():
        sys.exit(f"needs {DATA}")
    args.work.mkdir(parents=True, exist_ok=True)
    processes.prepare()
    refsearch = str(Path(sys.executable).parent / "refsearch")
    queries = query_texts(DATA)
    floor = statistics.median(timed([sys.executable, "-c", FLOOR])[0] for _ in range(7))
    print(f"floor `python -c '{FLOOR}'`: {floor:.3f} s")
    last_index = None
    for size in args.sizes:
        source = sample(size, args.work)
        index_dir = args.reuse if args.reuse and size == "all" else args.work / f"index-{size}"
        line = f"{size:>6}:"
        if not (args.reuse and size == "all"):
            throughput = encoder_throughput(source, args.encoder)
            wall, rss = timed([refsearch, "build", str(source), "--index", str(index_dir), "--encoder",
                               args.encoder, "--force"])[:2]
            count = refsearch_count(index_dir)
            line += (f" build {wall:.0f} s, {count / wall:.1f} docs/s = {count / wall / throughput:.0%} of the "
                     f"encoder alone ({throughput:.1f} docs/s), peak {rss:.0f} MB;")
        cold_s, cold_rss = cold(index_dir, queries[0])
        figures = warm_and_recall(index_dir, queries)
        print(f"{line} {size_on_disk(index_dir):.0f} MB on disk; {figures['store']}: cold query {cold_s:.3f} s "
              f"{cold_rss:.0f} MB, warm p50 {figures['p50']:.1f} ms p99 {figures['p99']:.1f} ms, "
              f"recall@10 vs exact {figures['recall']:.3f}", flush=True)
        last_index = index_dir
    if args.million and last_index:
        million(last_index, queries, args.work, args.noise)


def refsearch_count(index_dir: Path) -> int:
    current = (index_dir / "CURRENT").read_text().strip()
    return json.loads((index_dir / current / "manifest.json").read_text())["count"]


if __name__ == "__main__":
    main()
