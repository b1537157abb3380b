"""Document-embedding throughput and query-encoder start-up: sentence-transformers vs ONNX.

Builds embed documents in batches; the ONNX encoder sorts them by token length first (least
padding). This measures docs/s for both implementations over batch sizes, ONNX with and without
that sorting and with 1 or 2 intra-op threads, plus ONNX session creation and single-query latency,
both in-process and in a fresh interpreter (the cold-query path).

    python scripts/bench_embed.py [--corpus awesome-go|scifact] [-n 1000] [--batch-sizes 16 32 64]
                                  [--threads 1 2] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPORA = {
    "awesome-go": SHARED / "corpora" / "awesome-go.md",
    "scifact": SHARED / "bench" / "scifact" / "corpus.jsonl",
}
QUERY = "GPU slicing"
ENTRY = re.compile(r"^\s*[-*] \[(?P<title>[^\]]+)\]\([^)]*\)\s*[-–:]\s*(?P<note>.+)$")

COLD_QUERY = r"""
import json, sys, time
started = time.perf_counter()
from refsearch.encoders.onnx import OnnxEncoder
imported = time.perf_counter()
encoder = OnnxEncoder(sys.argv[1])
loaded = time.perf_counter()
encoder.encode([sys.argv[2]])
done = time.perf_counter()
print(json.dumps({"import": imported - started, "load": loaded - imported, "query": done - loaded}))
"""


def documents(path: Path, n: int) -> list[str]:
    """Title + annotation texts, the shape of what refsearch indexes: a BEIR corpus.jsonl or the
    entries of an awesome list."""
    texts = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if path.suffix == ".jsonl":
                doc = json.loads(line)
                texts.append(f"{doc['title']} {doc['text']}")
            elif match := ENTRY.match(line):
                texts.append(f"{match['title']} {match['note']}")
            if len(texts) == n:
                break
    return texts


def throughput(encode, texts: list[str]) -> float:
    started = time.perf_counter()
    encode(texts)
    return len(texts) / (time.perf_counter() - started)


def unsorted(encoder, batch_size: int):
    """Batches in input order: each encode() call gets exactly one batch, so nothing is reordered."""
    def encode(texts):
        for start in range(0, len(texts), batch_size):
            encoder.encode(texts[start : start + batch_size], batch_size=batch_size)
    return encode


def milliseconds(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:7.1f} ms (min {min(samples) * 1000:.1f}, max {max(samples) * 1000:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="awesome-go")
    parser.add_argument("-n", type=int, default=1000, help="documents to embed")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="ONNX intra-op threads")
    parser.add_argument("--repeat", type=int, default=5, help="runs of the start-up and latency timings")
    parser.add_argument("--skip-torch", action="store_true", help="ONNX only")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"

    from refsearch.encoders.export import export_onnx
    from refsearch.encoders.models import resolve_model
    from refsearch.encoders.onnx import OnnxEncoder

    texts = documents(CORPORA[args.corpus], args.n)
    spec = resolve_model(None)
    directory = export_onnx(spec)
    chars = statistics.mean(len(t) for t in texts)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"# corpus {args.corpus}: {len(texts)} docs, mean {chars:.0f} chars; model {spec.model_id}")
    print(f"# encoder dir {directory}\n")

    print("ONNX query encoder start-up")
    cold = [json.loads(subprocess.run([sys.executable, "-c", COLD_QUERY, str(directory), QUERY],
                                      capture_output=True, text=True, check=True).stdout)
            for _ in range(args.repeat + 1)][1:]  # the first run warms the OS file cache
    print(f"  fresh process: import onnx encoder {milliseconds([c['import'] for c in cold])}")
    print(f"  fresh process: OnnxEncoder()      {milliseconds([c['load'] for c in cold])}")
    print(f"  fresh process: first query encode {milliseconds([c['query'] for c in cold])}")
    loads = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        encoder = OnnxEncoder(directory)
        loads.append(time.perf_counter() - started)
    print(f"  in process:    OnnxEncoder()      {milliseconds(loads)}")
    encoder.encode([QUERY])
    latencies = []
    for _ in range(max(20, args.repeat)):
        started = time.perf_counter()
        encoder.encode([QUERY])
        latencies.append(time.perf_counter() - started)
    print(f"  in process:    warm query encode  {milliseconds(latencies)}")
    import onnxruntime

    for level in ("ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED", "ORT_ENABLE_ALL"):
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = getattr(onnxruntime.GraphOptimizationLevel, level)
        sessions = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            onnxruntime.InferenceSession(str(directory / "model.onnx"), options, providers=["CPUExecutionProvider"])
            sessions.append(time.perf_counter() - started)
        print(f"  in process:    session {level:20s} {milliseconds(sessions)}")
    print()

    rows = []
    for threads in args.threads:
        encoder = OnnxEncoder(directory, threads=threads)
        encoder.encode(texts[:8])
        for batch_size in args.batch_sizes:
            rows.append((f"onnx threads={threads}", batch_size, "by length",
                         throughput(lambda t: encoder.encode(t, batch_size=batch_size), texts)))
            rows.append((f"onnx threads={threads}", batch_size, "input order",
                         throughput(unsorted(encoder, batch_size), texts)))
    if not args.skip_torch:
        import torch

        from refsearch.encoders.sbert import SentenceTransformerEncoder

        started = time.perf_counter()
        reference = SentenceTransformerEncoder(spec)
        print(f"sentence-transformers import + load: {time.perf_counter() - started:.2f} s\n")
        reference.encode(texts[:8])
        for batch_size in args.batch_sizes:
            rows.append((f"sentence-transformers threads={torch.get_num_threads()}", batch_size,
                         "by length", throughput(lambda t: reference.encode(t, batch_size=batch_size), texts)))

    print(f"{'implementation':36s} {'batch':>5s}  {'order':11s} {'docs/s':>8s}")
    for name, batch_size, order, rate in rows:
        print(f"{name:36s} {batch_size:5d}  {order:11s} {rate:8.1f}")


if __name__ == "__main__":
    main()
