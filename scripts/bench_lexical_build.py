"""Lexical (BM25) index build: time and peak Python memory on the shared corpora, repeated N times.

    python scripts/bench_lexical_build.py [--copies 8] [SOURCES...]

Peak memory is tracemalloc's (Python objects and numpy arrays), measured around the build alone;
tokenizing and the postings dominate it, so it grows with the corpus.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from pathlib import Path

from refsearch.lexical import BM25Index
from refsearch.sources import read_sources
from refsearch.text import lexical_fields

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", type=Path, nargs="*", default=[ROOT.parent / "shared" / "corpora"])
    parser.add_argument("--copies", type=int, default=8, help="index the references this many times over")
    args = parser.parse_args()
    fields = [lexical_fields(ref) for ref in read_sources(args.sources).references] * args.copies
    tracemalloc.start()
    started = time.perf_counter()
    index = BM25Index.build(fields)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{len(fields):,} documents, {len(index.doc_ids):,} postings, {len(index.terms):,} terms")
    print(f"build {seconds:.2f} s, peak {peak / 1e6:.1f} MB ({peak / len(index.doc_ids):.0f} bytes per posting)")


if __name__ == "__main__":
    main()
