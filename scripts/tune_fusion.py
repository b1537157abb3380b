"""Compare fusion methods and weights on judged query sets (the experiment behind DEFAULT_FUSION).

    python scripts/tune_fusion.py data/eval/corpora.yaml ../shared/bench/scifact --split train

Dense and lexical rankings are computed once per query (depth 100), then every fusion variant is
scored on the same rankings. Tune on SciFact *train*; the bundled and corpora sets only check that
a choice does not hurt them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from refsearch import evaluate
from refsearch.fusion import Fusion, fuse
from refsearch.search import MIN_DEPTH, Searcher

VARIANTS = [Fusion("rrf", w, k) for k in (10, 60) for w in (0.3, 0.5, 0.7)] + \
           [Fusion("convex", w, scale=scale) for scale in ("minmax", "ceiling")
            for w in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)]


def rankings_for(path: Path, split: str):
    eval_set = evaluate.load_eval_set(path, split)
    index = evaluate.open_index(eval_set, say=print)
    queries = evaluate.resolve(eval_set, index)
    searcher = Searcher(index)
    depth = min(MIN_DEPTH, len(index))
    pairs = []
    for query in queries:
        dense, lexical = searcher.rankings(query.text, depth)
        pairs.append((dense, lexical.ranking()))
    return eval_set.name, index, queries, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", type=Path, nargs="+", help="queries YAML files or BEIR folders")
    parser.add_argument("--split", default="train", help="BEIR split to use (default: train)")
    args = parser.parse_args()
    for path in args.sets:
        name, index, queries, pairs = rankings_for(path, args.split)
        ids = [ref.id for ref in index]
        print(f"\n{name}: {len(queries)} queries")
        print(f"{'fusion':28} {'nDCG@10':>8} {'MRR':>6} {'hit@3':>6} {'R@10':>6}")
        rows = [("dense only", [d.doc_ids.tolist() for d, _ in pairs]),
                ("lexical only", [l.doc_ids.tolist() for _, l in pairs])]
        rows += [(f"{v.method} w_dense={v.dense_weight}" + (f" k={v.rrf_k}" if v.method == "rrf" else f" {v.scale}"),
                  [[doc for doc, _ in fuse(d, l, v)] for d, l in pairs]) for v in VARIANTS]
        for label, ranked_rows in rows:
            summary = evaluate.score(label, queries, [[ids[r] for r in rows_[:100]] for rows_ in ranked_rows]).summary()
            print(f"{label:28} {summary['ndcg@10']:8.3f} {summary['mrr']:6.3f} {summary['hit@3']:6.3f} "
                  f"{summary['recall@10']:6.3f}")


if __name__ == "__main__":
    main()
