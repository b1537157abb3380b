"""Index a BEIR-format folder and report nDCG@10, MRR and Recall per retrieval mode.

    python scripts/bench_beir.py ../shared/bench/scifact [--split test] [--index DIR]

Published SciFact nDCG@10 for comparison: BM25 0.665 (BEIR paper), all-MiniLM-L6-v2 0.645,
txtai hybrid 0.713. Tune on the train split, report on test.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import refsearch
from refsearch import evaluate
from refsearch.params import MODES
from refsearch.search import Searcher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    parser.add_argument("--split", default="test")
    parser.add_argument("--index", type=Path, help="index directory (default: in the refsearch cache)")
    args = parser.parse_args()

    eval_set = evaluate.load_eval_set(args.folder, args.split)
    directory = args.index or evaluate.default_index_dir(eval_set)
    started = time.perf_counter()
    report = refsearch.build(eval_set.sources, directory)
    print(f"{report.summary()} (index: {directory}, {time.perf_counter() - started:.1f} s with checks)")
    index = refsearch.open(directory)
    searcher = Searcher(index)
    queries = evaluate.resolve(eval_set, index)
    print(f"{eval_set.name} / {args.split}: {len(queries)} queries, {len(index)} documents\n")
    print(f"{'mode':8} {'nDCG@10':>8} {'MRR':>6} {'R@5':>6} {'R@10':>6} {'R@100':>6} {'ms/query':>9}")
    for mode in MODES:
        started = time.perf_counter()
        summary = evaluate.run(searcher, queries, mode).summary()
        per_query = (time.perf_counter() - started) * 1000 / max(len(queries), 1)
        print(f"{mode:8} {summary['ndcg@10']:8.3f} {summary['mrr']:6.3f} {summary['recall@5']:6.3f} "
              f"{summary['recall@10']:6.3f} {summary['recall@100']:6.3f} {per_query:9.1f}")


if __name__ == "__main__":
    main()
