"""Exact vs approximate vector search on real MiniLM vectors: 184,549 papers, then 1,000,000.

Two steps, because embedding 184k papers takes an hour or more on 2 cores:

    nice -n 19 python scripts/bench_ann.py embed OUT.npy     # resumable; float16 rows in file order
    python scripts/bench_ann.py bench OUT.npy --work DIR [--rows N] [--million NOISE] [--only NAME ...]

`embed` embeds each record of ../shared/bench/scale/bib_combined.jsonl.gz (title plus the start of
the abstract, cut at MAX_TOKENS) with the int8 encoder, and the titles of HELD_OUT records as
queries. `bench` indexes every other record, so no query is the vector of an indexed document.
For each FAISS `index_factory` string (and plain numpy on a memory-mapped .npy) it prints recall@10
against exact search, warm p50/p99 latency, cold latency and peak RSS in fresh processes (median of
7), size on disk and build time. `--million` does the same on the real vectors plus jittered copies.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCALE = ROOT.parent / "shared" / "bench" / "scale" / "bib_combined.jsonl.gz"
# Documents are cut at 32 tokens (the title and the first words of the abstract): at 128 tokens
# the 184k records took over 4 hours on this shared 2-core machine, at 32 under one. What is
# measured here, the geometry of real MiniLM vectors, does not hinge on how much of the abstract
# each one saw.
MAX_TOKENS = 32
ABSTRACT_CHARS = 400  # past 32 tokens; spares the tokenizer 16k-character abstracts
HELD_OUT = 1000  # records whose titles are the queries and which are not indexed
SEED = 16
CHUNK = 1024
DIMENSION = 384  # all-MiniLM-L6-v2


def records(path: Path):
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def document_text(record: dict) -> str:
    abstract = " ".join((record.get("abstract") or "")[:ABSTRACT_CHARS].split())
    return f"{record['title'].strip()}. {abstract}".strip()


def held_out_rows(n_records: int) -> np.ndarray:
    return np.sort(np.random.default_rng(SEED).choice(n_records, HELD_OUT, replace=False))


def int8_encoder(threads: int):
    from refsearch.encoders.export import export_onnx
    from refsearch.encoders.models import resolve_model
    from refsearch.encoders.onnx import OnnxEncoder
    from refsearch.encoders.quantize import quantize_encoder

    return OnnxEncoder(quantize_encoder(export_onnx(resolve_model(None))), threads=threads, max_seq_length=MAX_TOKENS)


def embed(out: Path, data: Path, workers: int) -> None:
    """Embed the held-out titles (OUT-queries.npy), then every record into OUT (float16, file order).

    `workers` one-thread processes take alternate chunks: on a busy 2-core machine two of them get
    more done than one two-thread encoder, whose threads wait for each other whenever one is
    preempted. Each keeps its own progress file; running the command again resumes.
    """
    total = sum(1 for _ in records(data))
    queries = out.with_name(out.stem + "-queries.npy")
    if not queries.exists():
        held_out = set(held_out_rows(total).tolist())
        titles = [r["title"] for row, r in enumerate(records(data)) if row in held_out]
        np.save(queries, int8_encoder(threads=1).encode(titles))
    if not out.exists():
        np.lib.format.open_memmap(out, mode="w+", dtype=np.float16, shape=(total, DIMENSION)).flush()
    parts = [subprocess.Popen([sys.executable, __file__, "--data", str(data), "embed-part", str(out), str(k), str(workers)])
             for k in range(workers)]
    if any(part.wait() for part in parts):
        sys.exit("an embedding worker failed; run the command again to resume")


def embed_part(out: Path, data: Path, worker: int, workers: int) -> None:
    """Embed chunks worker, worker + workers, ... of OUT; OUT.worker-of-workers holds the next chunk."""
    progress = out.with_suffix(f".{worker}-of-{workers}")
    next_chunk = int(progress.read_text()) if progress.exists() else worker
    encoder = int8_encoder(threads=1)
    vectors = np.load(out, mmap_mode="r+")
    started, done, texts = time.perf_counter(), 0, []
    for row, record in enumerate(records(data)):
        if row // CHUNK != next_chunk:
            continue
        texts.append(document_text(record))
        if row % CHUNK == CHUNK - 1 or row == len(vectors) - 1:
            vectors[row + 1 - len(texts) : row + 1] = encoder.encode(texts)
            vectors.flush()
            next_chunk += workers
            progress.write_text(str(next_chunk))
            done, texts = done + len(texts), []
            print(f"worker {worker}: rows to {row + 1:,} of {len(vectors):,} "
                  f"({done / (time.perf_counter() - started):.0f} docs/s)", flush=True)


@dataclass(frozen=True)
class Method:
    """One way to answer a query: a FAISS factory string (None: numpy over the .npy) and its knobs."""

    factory: str | None
    params: tuple[tuple[str, int], ...] = ()  # FAISS ParameterSpace names: nprobe, efSearch
    rerank: int = 0  # candidates re-scored exactly from the memory-mapped float16 .npy
    mmap: bool = True  # open with the flag that maps this index type instead of reading it

    @property
    def name(self) -> str:
        parts = [self.factory or "numpy matmul, f32 .npy"]
        parts += [f"{key}={value}" for key, value in self.params]
        if self.rerank:
            parts.append(f"re-rank {self.rerank}")
        if self.factory and not self.mmap:
            parts.append("read whole")
        return " ".join(parts)


class Searcher:
    """Opens what a method needs once, then answers one query vector at a time, top 10 rows."""

    def __init__(self, method: Method, work: Path):
        import faiss

        self.method = method
        self.exact = np.load(work / "base-f32.npy", mmap_mode="r") if method.factory is None else None
        self.rerank = np.load(work / "base-f16.npy", mmap_mode="r") if method.rerank else None
        if method.factory:
            # IO_FLAG_MMAP_IFC maps flat codes, HNSW graphs and IVF lists where they lie in the
            # file. On IVF1024,SQ8 over the 184k vectors (nprobe 16, one thread): read whole, it
            # opens in 451 ms and 122 MB, a query takes 0.24 ms; with IO_FLAG_MMAP (OnDiskInvertedLists)
            # 2 ms and 51 MB, but 4.0 ms a query; with IO_FLAG_MMAP_IFC 42 ms, 50 MB, 0.24 ms.
            flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if method.mmap else 0
            self.index = faiss.read_index(str(index_file(work, method.factory)), flags)
            space = faiss.ParameterSpace()
            for key, value in method.params:
                space.set_index_parameter(self.index, key, value)

    def search(self, query: np.ndarray) -> np.ndarray:
        if self.exact is not None:
            return top(self.exact @ query[0], 10)
        _, rows = self.index.search(query, max(10, self.method.rerank))
        rows = rows[0][rows[0] >= 0]
        if self.rerank is None:
            return rows[:10]
        rows = np.sort(rows)  # ascending rows read the mapped file forwards
        return rows[top(self.rerank[rows].astype(np.float32) @ query[0], 10)]


def top(scores: np.ndarray, k: int) -> np.ndarray:
    best = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
    return best[np.argsort(-scores[best])]


def index_file(work: Path, factory: str) -> Path:
    return work / (factory.replace(",", "_") + ".faiss")


def build(work: Path, factory: str, train_size: int = 100_000) -> float:
    """Build and write one index over base-f16.npy (once); return the seconds it took."""
    import faiss

    path, timing = index_file(work, factory), index_file(work, factory).with_suffix(".seconds")
    if path.exists() and timing.exists():
        return float(timing.read_text())
    base = np.load(work / "base-f16.npy", mmap_mode="r")
    started = time.perf_counter()
    index = faiss.index_factory(base.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        sample = np.random.default_rng(SEED).choice(len(base), min(train_size, len(base)), replace=False)
        index.train(base[np.sort(sample)].astype(np.float32))
    for start in range(0, len(base), 65536):
        index.add(base[start : start + 65536].astype(np.float32))
    faiss.write_index(index, str(path))
    seconds = time.perf_counter() - started
    timing.write_text(f"{seconds:.1f}")
    return seconds


def prepare(vectors: Path, work: Path, million: float, rows: int | None) -> np.ndarray:
    """Write the indexed vectors (the first `rows` records but the held-out ones; with `million`,
    jittered copies up to 1,000,000 at that noise) as base-f16.npy and base-f32.npy, the queries
    and the exact top 10 (truth.npy); return the queries."""
    work.mkdir(parents=True, exist_ok=True)
    queries = np.load(vectors.with_name(vectors.stem + "-queries.npy")).astype(np.float32)
    if not (work / "base-f32.npy").exists():
        everything = np.load(vectors, mmap_mode="r")
        keep = np.zeros(len(everything), dtype=bool)
        keep[:rows] = True
        keep[held_out_rows(len(everything))] = False
        base = normalise(np.asarray(everything[keep], dtype=np.float32))
        (work / "real-rows.txt").write_text(str(len(base)))
        if million:
            base = np.concatenate([base, jittered(base, 1_000_000 - len(base), million)])
        save(work / "base-f16.npy", base.astype(np.float16))
        save(work / "base-f32.npy", base)
    np.save(work / "queries.npy", queries)
    if not (work / "truth.npy").exists():
        base = np.load(work / "base-f32.npy")
        truth = [top(scores, 10) for start in range(0, len(queries), 100)
                 for scores in queries[start : start + 100] @ base.T]
        save(work / "truth.npy", np.stack(truth))
    return queries


def describe_noise(work: Path, noise: float) -> str:
    """How close copies sit to their sources beside how close real neighbours sit, and how many of
    the exact top 10 are copies: the copies must compete with real vectors, not stand apart."""
    base = np.load(work / "base-f32.npy", mmap_mode="r")
    real = int((work / "real-rows.txt").read_text())
    sample = np.random.default_rng(SEED).choice(real, 500, replace=False)
    neighbour = [np.partition(np.asarray(base[:real] @ base[row]), -2)[-2] for row in sample]
    copies = np.asarray(base[real : real + 500])
    sources = np.asarray(base[:real]) @ copies.T
    share = (np.load(work / "truth.npy") >= real).mean()
    return (f"noise {noise}/dimension: a copy's cosine to its nearest real vector median "
            f"{np.median(sources.max(axis=0)):.3f}; a real vector's to its nearest real neighbour median "
            f"{np.median(neighbour):.3f}; jittered copies are {share:.0%} of the exact top 10")


def save(path: Path, array: np.ndarray) -> None:
    """np.save through a temporary name: a killed run leaves no partial file to be taken as done."""
    partial = path.with_name(path.name + ".partial.npy")
    np.save(partial, array)
    partial.rename(path)


def normalise(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def jittered(base: np.ndarray, count: int, noise: float) -> np.ndarray:
    """Copies of random real vectors plus Gaussian noise of `noise` per dimension, renormalised:
    a copy's cosine to its source is about 1 / sqrt(1 + noise^2 * d)."""
    rng = np.random.default_rng(SEED)
    out = np.empty((count, base.shape[1]), dtype=np.float32)
    for start in range(0, count, 65536):
        n = min(65536, count - start)
        sources = base[rng.integers(0, len(base), n)]
        out[start : start + n] = normalise(sources + rng.normal(0, noise, sources.shape).astype(np.float32))
    return out


EXACT_QUERIES = 100  # exact search is exact: its latency needs no 1,000 samples (slow at 1M)


def warm(method: Method, work: Path, queries: np.ndarray, truth: np.ndarray) -> dict:
    """Recall@10 against exact search and per-query latency, one query at a time, in this process."""
    if method.factory in (None, "Flat"):
        queries, truth = queries[:EXACT_QUERIES], truth[:EXACT_QUERIES]
    searcher = Searcher(method, work)
    searcher.search(queries[:1])
    latencies, found = [], 0
    for query, expected in zip(queries, truth):
        started = time.perf_counter()
        rows = searcher.search(query[None, :])
        latencies.append(time.perf_counter() - started)
        found += len(np.intersect1d(rows, expected))
    return {"recall": found / truth.size, "p50": np.percentile(latencies, 50) * 1000,
            "p99": np.percentile(latencies, 99) * 1000}


PEAK_RSS = "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')))"


def cold(command: list[str], runs: int) -> dict:
    """Median wall time and largest peak RSS of `runs` fresh processes, after one warm-up run.

    Each process reports its own peak (VmHWM): wait4's ru_maxrss would count this process's memory,
    because a child's peak starts from its parent's size at fork and survives exec.
    """
    walls, peaks = [], []
    for _ in range(runs + 1):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - started)
        peaks.append(int(done.stdout.split()[-1]) / 1024)
    return {"cold": float(np.median(walls[1:])), "rss": max(peaks[1:])}


def disk_mb(method: Method, work: Path) -> float:
    files = [work / "base-f32.npy"] if method.factory is None else [index_file(work, method.factory)]
    files += [work / "base-f16.npy"] if method.rerank else []
    return sum(f.stat().st_size for f in files) / 1e6


def answer_one_query(work: Path, method_json: str) -> None:
    """The cold process: open, search once (the query's vector is given: encoding is not timed here)."""
    spec = json.loads(method_json)
    method = Method(spec["factory"], tuple(map(tuple, spec["params"])), spec["rerank"], spec["mmap"])
    Searcher(method, work).search(np.load(work / "queries.npy", mmap_mode="r")[:1].astype(np.float32))
    exec(PEAK_RSS)


def methods_for(n: int) -> list[Method]:
    """The sweep: exact, HNSW (efSearch), IVF with SQ8 or PQ (nprobe), PQ also with re-ranking."""
    nlist = 1024 if n < 500_000 else 2048
    sq8, pq = f"IVF{nlist},SQ8", f"IVF{nlist},PQ48"
    methods = [Method(None), Method("Flat")] + ([Method("Flat", mmap=False)] if n < 500_000 else [])
    methods += [Method(sq8, (("nprobe", p),)) for p in (4, 8, 16, 32, 64, 128)]
    methods.append(Method(sq8, (("nprobe", 16),), mmap=False))
    methods += [Method(pq, (("nprobe", p),)) for p in (8, 16, 32)]
    methods += [Method(pq, (("nprobe", p),), rerank=r) for p in (8, 16, 32) for r in (50, 100)]
    methods.append(Method(pq, (("nprobe", 16),), rerank=100, mmap=False))
    if n < 500_000:  # HNSW32 over flat vectors: 1.7 GB at 1M, over the 1 GB budget; slowest to build
        methods += [Method("HNSW32", (("efSearch", ef),)) for ef in (16, 32, 64, 128)]
        methods.append(Method("HNSW32", (("efSearch", 64),), mmap=False))
    return methods


def bench(vectors: Path, work: Path, million: float, rows: int | None, runs: int, only: list[str]) -> None:
    import faiss

    queries = prepare(vectors, work, million, rows)
    truth = np.load(work / "truth.npy")
    n = len(np.load(work / "base-f16.npy", mmap_mode="r"))
    floor = cold([sys.executable, "-c", "import numpy, faiss\n" + PEAK_RSS], runs)
    print(f"# {n:,} vectors{f' (real + jittered copies, noise {million})' if million else ''}, {len(queries)} "
          f"held-out title queries, faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, "
          f"{time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f}")
    if million:
        print(f"# {describe_noise(work, million)}")
    print(f"# cold = fresh process: import numpy + faiss, open, one search (median of {runs}, OS file cache warm); "
          f"floor 'import numpy, faiss' {floor['cold']:.3f} s, {floor['rss']:.0f} MB\n")
    print(f"{'method':44} {'recall@10':>9} {'p50 ms':>7} {'p99 ms':>7} {'cold s':>7} {'peak MB':>8} "
          f"{'disk MB':>8} {'build s':>8}")
    for method in methods_for(n):
        if only and not any(word in method.name for word in only):
            continue
        seconds = build(work, method.factory) if method.factory else 0.0
        one_query = [sys.executable, __file__, "query", str(work), json.dumps(asdict(method))]
        row = {**warm(method, work, queries, truth), **cold(one_query, runs)}
        print(f"{method.name:44} {row['recall']:9.3f} {row['p50']:7.2f} {row['p99']:7.2f} {row['cold']:7.3f} "
              f"{row['rss']:8.0f} {disk_mb(method, work):8.0f} {seconds:8.1f}", flush=True)


def threshold(work: Path) -> None:
    """Exact search's warm latency over the first N indexed vectors: where it stops being cheap."""
    import faiss

    base = np.load(work / "base-f32.npy", mmap_mode="r")
    queries = np.load(work / "queries.npy")[:EXACT_QUERIES]
    print(f"exact search over the first N vectors, {faiss.omp_get_max_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}: warm p50 / p99 ms")
    print(f"{'N':>9} {'faiss knn':>15} {'numpy matmul':>15} {'f32 MB':>7}")
    for n in (10_000, 25_000, 50_000, 100_000, 200_000, 500_000, 1_000_000):
        if n > len(base):
            break
        part, row = base[:n], [f"{n:9,}"]
        for search in (lambda q: faiss.knn(q[None], part, 10, metric=faiss.METRIC_INNER_PRODUCT),
                       lambda q: top(part @ q, 10)):
            search(queries[0])
            latencies = []
            for query in queries:
                started = time.perf_counter()
                search(query)
                latencies.append((time.perf_counter() - started) * 1000)
            row.append(f"{np.percentile(latencies, 50):7.2f} / {np.percentile(latencies, 99):5.1f}")
        print(" ".join(row), f"{n * base.shape[1] * 4 / 1e6:7.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SCALE, help="the bib_combined.jsonl.gz to read")
    commands = parser.add_subparsers(dest="command", required=True)
    embed_command = commands.add_parser("embed", help="embed the 184k records into OUT.npy")
    embed_command.add_argument("out", type=Path)
    embed_command.add_argument("--workers", type=int, default=2, help="one-thread encoder processes")
    part_command = commands.add_parser("embed-part", help=argparse.SUPPRESS)
    part_command.add_argument("out", type=Path)
    part_command.add_argument("worker", type=int)
    part_command.add_argument("workers", type=int)
    bench_command = commands.add_parser("bench", help="measure the index types on embedded vectors")
    bench_command.add_argument("vectors", type=Path, help="what `embed` wrote")
    bench_command.add_argument("--work", type=Path, required=True, help="folder for indexes (outside the repo)")
    bench_command.add_argument("--million", type=float, default=0.0, metavar="NOISE",
                               help="pad to 1,000,000 vectors with jittered copies at this noise per dimension")
    bench_command.add_argument("--rows", type=int, help="index only the first ROWS records (default: all)")
    bench_command.add_argument("--runs", type=int, default=7, help="fresh processes per cold figure")
    bench_command.add_argument("--only", nargs="*", default=[], help="methods whose name contains one of these")
    threshold_command = commands.add_parser("threshold", help="exact search's latency against N")
    threshold_command.add_argument("--work", type=Path, required=True, help="a folder `bench` prepared")
    query_command = commands.add_parser("query", help=argparse.SUPPRESS)
    query_command.add_argument("work", type=Path)
    query_command.add_argument("method")
    args = parser.parse_args()
    if args.command == "embed":
        embed(args.out, args.data, args.workers)
    elif args.command == "embed-part":
        embed_part(args.out, args.data, args.worker, args.workers)
    elif args.command == "bench":
        bench(args.vectors, args.work, args.million, args.rows, args.runs, args.only)
    elif args.command == "threshold":
        threshold(args.work)
    else:
        answer_one_query(args.work, args.method)


if __name__ == "__main__":
    sys.exit(main())
