"""Encoder variants (fp32/int8 x max length 256/128): speed, SciFact quality, query-side cost.

    python scripts/bench_encoders.py [--shared ../shared] [--parts variants sessions sweep]
        [--variants fp32/256 int8/192 ...] [--threads 2] [--batch-size 16] [--speed-only N]
        [--repeat 7] [--sweep int8/256] [--sweep-docs 500]

variants: documents/s (wall, and per CPU-second, which contention moves far less) embedding all
5,183 SciFact abstracts (the text the build embeds) and 1,000 awesome-go entries; SciFact
nDCG@10, dense and hybrid, on the train split (for choosing) and the test split (for reporting),
with the index's vectors and query encoder swapped for the variant's; a variant is allowed only
where both stay within 0.01 of the index as built today (fp32/256) on train; the cosine of fp32
and int8 query vectors. sessions: the ONNX session's creation in a fresh process, as exported and
when loaded from a model onnxruntime saved already optimised. sweep: threads x batch size x order.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_embed import documents, milliseconds, throughput, unsorted

ROOT = Path(__file__).resolve().parents[1]
ALLOWED_LOSS = 0.01
VARIANTS = ("fp32/256", "fp32/128", "int8/256", "int8/128")

SESSION = r"""
import json, sys, time
import onnxruntime
options = onnxruntime.SessionOptions()
options.graph_optimization_level = getattr(onnxruntime.GraphOptimizationLevel, sys.argv[2])
started, cpu_started = time.perf_counter(), time.process_time()
onnxruntime.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
print(json.dumps([time.perf_counter() - started, time.process_time() - cpu_started]))
"""


def encoder_dirs() -> dict[str, Path]:
    from refsearch.encoders.export import export_onnx
    from refsearch.encoders.models import resolve_model
    from refsearch.encoders.quantize import quantize_encoder

    fp32 = export_onnx(resolve_model(None))
    return {"fp32": fp32, "int8": quantize_encoder(fp32)}


def scifact_quality(folder: Path, encoder=None, vectors: np.ndarray | None = None) -> dict[str, float]:
    """nDCG@10 per (split, mode), with the index's vectors and query encoder replaced if given
    (the index itself is built as refsearch builds today: fp32, 256 tokens)."""
    import faiss

    from refsearch import evaluate
    from refsearch.index import Index
    from refsearch.search import Searcher

    scores = {}
    for split in ("train", "test"):
        eval_set = evaluate.load_eval_set(folder, split)
        index = Index.open(evaluate.default_index_dir(eval_set))
        if encoder is not None:
            index.vectors = faiss.IndexFlatIP(vectors.shape[1])
            index.vectors.add(vectors)
            index.encoder = encoder
        queries = evaluate.resolve(eval_set, index)
        for mode in ("dense", "hybrid"):
            scores[f"{split} {mode}"] = evaluate.run(Searcher(index), queries, mode).summary()["ndcg@10"]
    return scores


def scifact_texts(folder: Path) -> list[str]:
    """The dense texts the build embeds for SciFact, in index row order (building the index once)."""
    from refsearch import evaluate
    from refsearch.build import build_index
    from refsearch.index import Index
    from refsearch.text import dense_text

    eval_set = evaluate.load_eval_set(folder, "test")
    directory = evaluate.default_index_dir(eval_set)
    build_index(eval_set.sources, directory)
    return [dense_text(ref) for ref in Index.open(directory).records]


def session_seconds(model: Path, level: str, repeat: int) -> list[list[float]]:
    """[wall, CPU] seconds of creating the session, per fresh process."""
    runs = [json.loads(subprocess.run([sys.executable, "-c", SESSION, str(model), level], capture_output=True,
                                      text=True, check=True).stdout) for _ in range(repeat + 1)]
    return runs[1:]  # the first run warms the OS file cache


def save_optimized(model: Path, out: Path) -> Path:
    """Let onnxruntime save the graph as it optimises it (EXTENDED), weights as external data."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(out)
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", out.name + ".data")
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    return out


def variants(args, dirs, scifact: Path, texts: list[str], short: list[str]) -> None:
    from refsearch.encoders.onnx import OnnxEncoder

    # docs per CPU-second barely moves when other processes share the cores; docs/s (wall) does.
    print(f"{'variant':10} {'SciFact s':>9} {'docs/s':>7} {'docs/cpu':>8} {'go docs/s':>9} {'train dense':>11} "
          f"{'train hybrid':>12} {'test dense':>10} {'test hybrid':>11}  allowed")
    baseline = None if args.speed_only else scifact_quality(scifact)
    queries = [json.loads(line)["text"] for line in open(scifact / "queries.jsonl", encoding="utf-8")]
    query_vectors = {}
    for kind, length in (variant.split("/") for variant in args.variants):
        encoder = OnnxEncoder(dirs[kind], threads=args.threads, max_seq_length=int(length))
        encoder.encode(texts[:16])
        started, cpu_started = time.perf_counter(), time.process_time()
        vectors = encoder.encode(texts, batch_size=args.batch_size)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        go_rate = throughput(lambda t: encoder.encode(t, batch_size=args.batch_size), short)
        print(f"{kind}/{length:<5} {seconds:9.1f} {len(texts) / seconds:7.1f} {len(texts) / cpu_seconds:8.1f} "
              f"{go_rate:9.1f}", end="", flush=True)
        if args.speed_only:
            print()
            continue
        scores = scifact_quality(scifact, encoder, vectors)
        allowed = all(baseline[key] - scores[key] <= ALLOWED_LOSS for key in ("train dense", "train hybrid"))
        query_vectors[kind] = encoder.encode(queries)
        print(f" {scores['train dense']:11.3f} {scores['train hybrid']:12.3f} {scores['test dense']:10.3f} "
              f"{scores['test hybrid']:11.3f}  {'yes' if allowed else 'no'}", flush=True)
    if {"fp32", "int8"} <= query_vectors.keys():
        cosine = (query_vectors["fp32"] * query_vectors["int8"]).sum(1)
        print(f"\nquery vectors, fp32 vs int8 over {len(queries)} SciFact queries: cosine min {cosine.min():.4f}, "
              f"p1 {np.percentile(cosine, 1):.4f}, median {np.median(cosine):.4f}, mean {cosine.mean():.4f}")


def sessions(args, dirs) -> None:
    from refsearch.encoders.folder import MODEL_FILE

    print(f"\nsession creation in a fresh process (median of {args.repeat}; onnxruntime already imported): wall, CPU")
    with tempfile.TemporaryDirectory() as scratch:
        for kind, directory in dirs.items():
            optimized = save_optimized(directory / MODEL_FILE, Path(scratch) / f"{kind}-optimized.onnx")
            for label, model, level in (("as exported, EXTENDED", directory / MODEL_FILE, "ORT_ENABLE_EXTENDED"),
                                        ("saved optimised, DISABLE_ALL", optimized, "ORT_DISABLE_ALL"),
                                        ("saved optimised, EXTENDED", optimized, "ORT_ENABLE_EXTENDED")):
                runs = session_seconds(model, level, args.repeat)
                print(f"  {kind} {label:30s} {milliseconds([wall for wall, _ in runs])}   "
                      f"CPU {milliseconds([cpu for _, cpu in runs])}", flush=True)


def sweep(args, dirs, texts: list[str]) -> None:
    from refsearch.encoders.onnx import OnnxEncoder

    kind, length = args.sweep.split("/")
    sample = texts[: args.sweep_docs]
    print(f"\nsweep, {kind}/{length}, first {len(sample)} SciFact abstracts: docs/s")
    print(f"{'threads':>7} {'batch':>5} {'by length':>9} {'input order':>11}")
    for threads in (1, 2):
        encoder = OnnxEncoder(dirs[kind], threads=threads, max_seq_length=int(length))
        encoder.encode(sample[:16])
        for batch in (8, 16, 32, 64):
            by_length = throughput(lambda t: encoder.encode(t, batch_size=batch), sample)
            print(f"{threads:7d} {batch:5d} {by_length:9.1f} {throughput(unsorted(encoder, batch), sample):11.1f}",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="the shared material folder")
    parser.add_argument("--parts", nargs="+", choices=("variants", "sessions", "sweep"),
                        default=["variants", "sessions", "sweep"])
    parser.add_argument("--variants", nargs="+", default=VARIANTS, help="encoder/max tokens, e.g. int8/192")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads of the variants' runs")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--speed-only", type=int, metavar="N",
                        help="time the variants on the first N SciFact abstracts, without scoring them")
    parser.add_argument("--repeat", type=int, default=7, help="fresh processes per session timing")
    parser.add_argument("--sweep", default="int8/256", help="the variant swept over threads and batch sizes")
    parser.add_argument("--sweep-docs", type=int, default=500, help="SciFact abstracts in the sweep")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"

    scifact = args.shared / "bench" / "scifact"
    dirs = encoder_dirs()
    texts = scifact_texts(scifact)[: args.speed_only]
    short = documents(args.shared / "corpora" / "awesome-go.md", 1000)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}; load average {os.getloadavg()[0]:.1f} at start")
    print(f"# SciFact {len(texts)} docs (mean {statistics.mean(map(len, texts)):.0f} chars), awesome-go {len(short)} "
          f"entries (mean {statistics.mean(map(len, short)):.0f} chars); threads {args.threads}, batch {args.batch_size}, "
          "sorted by length\n")
    if "variants" in args.parts:
        variants(args, dirs, scifact, texts, short)
    if "sessions" in args.parts:
        sessions(args, dirs)
    if "sweep" in args.parts:
        sweep(args, dirs, texts)


if __name__ == "__main__":
    main()
