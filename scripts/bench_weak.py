"""Weak matches: what cutting results far below the best costs and saves, on the judged query sets.

    python scripts/bench_weak.py [data/eval/bundled.yaml data/eval/corpora.yaml ...] [--split tune]

For each query (hybrid, 10 results) every hit has a strength: how far it stands above the query's
background (the 100th candidate's score) as a share of what the best hit does. A hit under the
threshold is a weak match, which the CLI, the JSON and the page leave out unless asked (`--all`).
Printed per threshold: the share of judged-relevant results in the top 10 that would be cut (what
it costs), the share of the other results cut (what it saves the reader), nDCG@10 of the lists as
shown (cut results count as missing) against the full lists, and how many queries lose a relevant
result.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from refsearch.evaluate import load_eval_set, open_index, resolve, score
from refsearch.search import WEAK_STRENGTH, Searcher

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", type=Path, nargs="*", default=[ROOT / "data" / "eval" / "bundled.yaml"])
    parser.add_argument("--split", default=None, help="tune, report or all (the sets' default: all)")
    args = parser.parse_args()
    print(f"current threshold (search.WEAK_STRENGTH): {WEAK_STRENGTH}")
    for path in args.sets:
        eval_set = load_eval_set(path, args.split)
        index = open_index(eval_set)
        judged = resolve(eval_set, index)
        searcher = Searcher(index)
        hits = [searcher.search(q.text, k=10) for q in judged]
        full = score("hybrid", judged, [[h.ref.id for h in found] for found in hits]).summary()["ndcg@10"]
        print(f"\n{eval_set.name} ({eval_set.split}): {len(judged)} queries, nDCG@10 of the full lists {full:.3f}")
        print("threshold | relevant cut | others cut | nDCG@10 as shown | queries losing a relevant result")
        for threshold in THRESHOLDS:
            relevant = others = relevant_cut = others_cut = losing = 0
            shown = []
            for query, found in zip(judged, hits):
                kept = [h.ref.id for h in found if h.strength >= threshold]
                shown.append(kept)
                for hit in found:
                    is_relevant = hit.ref.id in query.grades
                    cut = hit.strength < threshold
                    relevant += is_relevant
                    others += not is_relevant
                    relevant_cut += is_relevant and cut
                    others_cut += cut and not is_relevant
                losing += any(h.ref.id in query.grades and h.strength < threshold for h in found)
            ndcg = score("hybrid", judged, shown).summary()["ndcg@10"]
            print(f"{threshold:9.2f} | {relevant_cut:4d} of {relevant:4d} ({relevant_cut / max(relevant, 1):5.1%}) | "
                  f"{others_cut:4d} of {others:4d} ({others_cut / max(others, 1):5.1%}) | {ndcg:.3f} | {losing}")


if __name__ == "__main__":
    main()
