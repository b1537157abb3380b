"""Related reading: precision@5 of plain embedding similarity vs refsearch's ranking (reasons, diversity).

    python scripts/bench_related.py [data/eval/related.yaml]

For each judged reference, the judgments list the other references a reader should see next.
precision@5 = share of the 5 suggestions that are judged related (a reference with fewer than 5
judged items caps what any system can reach; the ceiling is printed too).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

import numpy as np

from refsearch.config import BUNDLED_SOURCES
from refsearch.evaluate import EvalSet, open_index

ROOT = Path(__file__).resolve().parents[1]
K = 5


def plain_similarity(index, ref) -> list[str]:
    row = index.row(ref.id)
    _, rows = index.vectors.search(index.vectors.vectors(np.array([row])), K + 1)
    return [index.reference(r).id for r in rows[0] if r >= 0 and r != row][:K]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("judgments", type=Path, nargs="?", default=ROOT / "data" / "eval" / "related.yaml")
    args = parser.parse_args()
    data = yaml.safe_load(args.judgments.read_text("utf-8"))
    index = open_index(EvalSet("bundled", [], [BUNDLED_SOURCES]), say=print)
    systems = {
        "plain similarity (cosine)": plain_similarity,
        "refsearch related (reasons)": lambda idx, ref: [s.ref.id for s in idx.related(ref, k=K)],
        "refsearch related --diverse": lambda idx, ref: [s.ref.id for s in idx.related(ref, k=K, diverse=True)],
    }
    totals = {name: 0.0 for name in systems}
    topics = {name: 0.0 for name in systems}
    ceiling = 0.0
    judgments = data["judgments"]
    for judgment in judgments:
        ref = index.get(judgment["ref"])
        relevant = set(judgment["related"])
        ceiling += min(len(relevant), K) / K
        for name, system in systems.items():
            suggested = system(index, ref)
            totals[name] += len(relevant & set(suggested)) / K
            topics[name] += len({index.get(s).topic for s in suggested})
    count = len(judgments)
    print(f"{count} judged references, k={K}; ceiling precision@5 = {ceiling / count:.3f}\n")
    print(f"{'system':32} {'precision@5':>12} {'topics in top 5':>16}")
    for name in systems:
        print(f"{name:32} {totals[name] / count:12.3f} {topics[name] / count:16.2f}")


if __name__ == "__main__":
    main()
