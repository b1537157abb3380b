"""Embedding on a local Ray against the local encoder, on the same SciFact abstracts.

    python scripts/bench_ray.py [--shared ../shared] [-n 1000] [--variant int8|fp32] [--max-length 128]

Prints documents/s of the local OnnxEncoder (2 threads, one process) and of
`refsearch.distributed.embed_chunks_on_ray` on a local Ray (one 1-thread actor per core), with
Ray's start-up time apart, and the lowest cosine between the two paths' vectors.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from bench_embed import documents
from bench_encoders import encoder_dirs

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("-n", type=int, default=1000, help="SciFact abstracts to embed")
    parser.add_argument("--variant", choices=("int8", "fp32"), default="int8")
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    import ray

    from refsearch.distributed import embed_chunks_on_ray
    from refsearch.encoders.onnx import OnnxEncoder

    texts = documents(args.shared / "bench" / "scifact" / "corpus.jsonl", args.n)
    directory = encoder_dirs()[args.variant]
    local = OnnxEncoder(directory, threads=2, max_seq_length=args.max_length)
    local.encode(texts[:16])
    started = time.perf_counter()
    expected = local.encode(texts)
    local_rate = len(texts) / (time.perf_counter() - started)

    started = time.perf_counter()
    ray.init(logging_level="ERROR", log_to_driver=False)
    ray_start = time.perf_counter() - started
    chunks = [texts[i : i + 2048] for i in range(0, len(texts), 2048)]
    started = time.perf_counter()
    vectors = [v for v in embed_chunks_on_ray(chunks, directory, max_seq_length=args.max_length)]
    ray_seconds = time.perf_counter() - started
    cpus = int(ray.cluster_resources()["CPU"])
    ray.shutdown()

    import numpy as np

    cosine = (np.concatenate(vectors) * expected).sum(axis=1)
    print(f"{len(texts)} SciFact abstracts, {args.variant}/{args.max_length}, load average {os.getloadavg()[0]:.1f}")
    print(f"local OnnxEncoder, 2 threads:           {local_rate:7.1f} docs/s")
    print(f"local Ray, {cpus} actors x 1 thread:        {len(texts) / ray_seconds:7.1f} docs/s "
          f"(ray.init {ray_start:.1f} s apart; actors' start-up included)")
    print(f"lowest cosine, Ray vs local:            {cosine.min():.6f}")


if __name__ == "__main__":
    main()
