"""What query translation costs: converting CC-CEDICT once, and per cold query opening the tables.

    python scripts/bench_translate.py [--runs 10] [--index DIR]

Each timing after the first line is a fresh process (median of --runs), so it includes what a cold
`refsearch search` pays: importing the translation modules, mapping the tables and translating one
Chinese and one English query against the index's vocabulary (DIR, default the bundled index).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COLD = r"""
import sys, time
started = time.perf_counter()
from refsearch.lexical import BM25Index
lexical = BM25Index.load(__import__("pathlib").Path(sys.argv[1]))
loaded = time.perf_counter()
from refsearch import translate
from refsearch.cedict import load_tables
load_tables()
mapped = time.perf_counter()
translate.translate("在终端里显示进度条", lexical)
translate.translate("tracking down a GPU memory leak", lexical)
done = time.perf_counter()
print(f"{(mapped - loaded) * 1000:.2f} {(done - mapped) * 1000:.2f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--index", type=Path, default=ROOT / "index")
    args = parser.parse_args()
    generation = args.index / (args.index / "CURRENT").read_text().strip()

    from refsearch import cedict

    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        cedict.ensure_tables(Path(scratch))
        print(f"convert CC-CEDICT once: {time.perf_counter() - started:.1f} s")
    cedict.ensure_tables()  # the tables a query maps
    samples = []
    for _ in range(args.runs + 1):
        out = subprocess.run([sys.executable, "-c", COLD, str(generation)], capture_output=True, text=True, check=True)
        samples.append([float(x) for x in out.stdout.split()])
    opened, translated = zip(*samples[1:])  # the first run warms the OS file cache
    print(f"cold process: import translation + map tables {statistics.median(opened):.2f} ms (max {max(opened):.2f}), "
          f"translate two queries {statistics.median(translated):.2f} ms (max {max(translated):.2f})")


if __name__ == "__main__":
    main()
