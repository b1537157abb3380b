"""How well several libraries answer as one: the judged corpora queries over the shared lists split
into libraries, each ranking fused across them by each way of fusing, against one index of them all.

The eight lists of ../shared/corpora are split into LIBRARIES libraries (alternating, by name) and
indexed apart (in the cache, reused); data/eval/corpora.yaml's judgments are resolved in each
library, so a work kept in two lists is relevant in both. Each library returns its best 100
(hybrid); the fusions compared:

- rrf: reciprocal rank, k = 60, ties by strength (libraries.py's way until this measurement);
- score: each hit's fused score (scaled by its own query's background, so roughly comparable);
- dense: the cosine of query and reference (one model: comparable), lexical-only hits last;
- rrf+dense: reciprocal rank, each library's list weighted by how its best cosine (among its first
  10) compares with the best of all libraries;
- score+dense: each hit's score weighted so (what libraries.py does now: measured through
  `Libraries.search` itself, the row "libraries.py").

    python scripts/bench_libraries.py [--libraries 2]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPTH = 100


FUSIONS = ("rrf", "score", "dense", "rrf+dense", "score+dense")
RRF_K = 60  # as in Cormack et al.


def fused(answers: list[list], how: str) -> list[str]:
    """One ranking (ids) of each library's hits (`answers[n]`, best first) fused `how`."""
    best = max((hit.dense_score or 0.0 for hits in answers for hit in hits[:1]), default=0.0)
    scored = []
    for number, hits in enumerate(answers):
        top = max((hit.dense_score or 0.0 for hit in hits[:10]), default=0.0)
        weight = max(top, 1e-6) / max(best, 1e-6)
        for hit in hits:
            key = {"rrf": (1 / (RRF_K + hit.rank), hit.strength),
                   "score": (hit.score, 0.0),
                   "dense": (hit.dense_score if hit.dense_score is not None else -1.0, hit.score),
                   "rrf+dense": (weight / (RRF_K + hit.rank), hit.strength),
                   "score+dense": (weight * hit.score, hit.strength)}[how]
            scored.append((key, f"{number}:{hit.ref.id}"))
    return [ref for _, ref in sorted(scored, key=lambda item: item[0], reverse=True)[:DEPTH]]


def grades(relevant: list, indexes: list) -> dict[str, int]:
    """Each judged item's references in every library that has it (ids `n:id`, n the library)."""
    from refsearch import evaluate
    from refsearch.errors import RefsearchError

    found: dict[str, int] = {}
    for item in relevant:
        for number, index in enumerate(indexes):
            try:
                found.update({f"{number}:{ref}": max(int(item.get("grade", 1)), found.get(f"{number}:{ref}", 0))
                              for ref in evaluate._matching_ids(item, index)})
            except RefsearchError:  # judged in another library
                continue
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--libraries", type=int, default=2)
    parser.add_argument("--queries", type=Path, default=ROOT / "data" / "eval" / "corpora.yaml")
    parser.add_argument("--split", default=None, help="tune, report or all (a set with a split seed)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import refsearch
    from refsearch import evaluate
    from refsearch.config import cache_root
    from refsearch.evaluate import Judged
    from refsearch.libraries import Libraries

    eval_set = evaluate.load_eval_set(args.queries, args.split)
    lists = sorted((p for source in eval_set.sources for p in (source.glob("*.md") if source.is_dir() else [source])
                    if p.name != "SOURCES.md"), key=lambda p: p.name)
    indexes = []
    for number in range(args.libraries):
        directory = cache_root() / "bench" / f"libraries-{eval_set.name}-{args.libraries}-{number}"
        refsearch.build(lists[number::args.libraries], directory)
        indexes.append(refsearch.open(directory))
    judged = [Judged(q.qid, q.text, grades(q.relevant, indexes), q.kind) for q in eval_set.queries]
    answers = [[index.search(q.text, k=DEPTH) for index in indexes] for q in judged]
    whole = evaluate.open_index(eval_set)
    alone = evaluate.run(whole, evaluate.resolve(eval_set, whole), "hybrid").summary()
    print(f"{len(judged)} queries; {', '.join(f'{len(i):,}' for i in indexes)} references in "
          f"{len(indexes)} libraries ({', '.join(' + '.join(p.stem for p in lists[n::len(indexes)]) for n in range(len(indexes)))})")
    print("| fusion | nDCG@10 | MRR | hit@3 | Recall@10 |\n|---|---|---|---|---|")
    print(f"| one index of all (for reference) | {alone['ndcg@10']:.3f} | {alone['mrr']:.3f} | {alone['hit@3']:.3f} | "
          f"{alone['recall@10']:.3f} |")
    for how in FUSIONS:
        summary = evaluate.score(how, judged, [fused(found, how) for found in answers]).summary()
        print(f"| {how} | {summary['ndcg@10']:.3f} | {summary['mrr']:.3f} | {summary['hit@3']:.3f} | "
              f"{summary['recall@10']:.3f} |")
    both = Libraries(indexes)
    numbers = {name: str(number) for number, name in enumerate(both.names)}
    rankings = [[numbers[hit.ref.extra["library"]] + hit.ref.id[len(hit.ref.extra["library"]):]
                 for hit in both.search(q.text, k=DEPTH)] for q in judged]
    summary = evaluate.score("libraries", judged, rankings).summary()
    print(f"| libraries.py | {summary['ndcg@10']:.3f} | {summary['mrr']:.3f} | {summary['hit@3']:.3f} | "
          f"{summary['recall@10']:.3f} |")


if __name__ == "__main__":
    main()
