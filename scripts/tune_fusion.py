"""Compare fusion rules and query translation on judged sets (the experiment behind DEFAULT_FUSION).

    python scripts/tune_fusion.py ../shared/bench/scifact data/eval/hard.yaml        # tuning data
    python scripts/tune_fusion.py ../shared/bench/scifact data/eval/hard.yaml \\
        data/eval/corpora.yaml data/eval/bundled.yaml --split report --beir-split test   # reporting

Choose on the tuning data only: SciFact *train* (`--beir-split train`, the default) and the `tune`
half of a queries file with a split_seed (`--split tune`, the default). Each query's dense and
lexical rankings are computed once per translation mode, as deep as `refsearch eval` asks for, and
every fusion variant is scored on the same rankings (so a row equals what `refsearch eval` prints
for that setting); a set whose queries carry kinds also gets MRR per kind. `--only --translation
off selective` gives the before/after table of docs/benchmarks.md: "convex ceiling w=0.3" with
translation off is the system before issue 15.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

from refsearch import evaluate
from refsearch.fusion import DEFAULT_FUSION, Fusion, Ranking, fuse
from refsearch.index import Index
from refsearch.search import MIN_DEPTH, Searcher
from refsearch.translate import MODES as TRANSLATIONS

FIXED = [Fusion("rrf", w, k) for k in (10, 60) for w in (0.3, 0.5)] + \
        [Fusion("convex", w, scale=scale) for scale in ("minmax", "ceiling") for w in (0.2, 0.3, 0.4, 0.5, 0.6)]
PREVIOUS_DEFAULT = Fusion("convex", 0.3, scale="ceiling")  # before issue 15
ADAPTIVE = [Fusion("adaptive", low, scale="ceiling", high=high, power=power)
            for low in (0.1, 0.2, 0.3) for high in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0) for power in (1.0, 2.0, 3.0)]


@dataclass
class Collected:
    name: str
    queries: list[evaluate.Judged]
    ids: list[str]
    pairs: list[tuple[Ranking, Ranking]]  # dense, lexical per query
    index: Index


def collect(path: Path, split: str, beir_split: str, translation: str) -> Collected:
    eval_set = evaluate.load_eval_set(path, beir_split if path.is_dir() else split)
    index = evaluate.open_index(eval_set, say=print)
    queries = evaluate.resolve(eval_set, index)
    searcher = Searcher(index, translation=translation)
    depth = min(max(MIN_DEPTH, 5 * evaluate.DEPTH), len(index))  # what Searcher.search uses for k=100
    pairs = []
    for query in queries:
        dense, lexical = searcher.rankings(query.text, depth)
        pairs.append((dense, lexical.ranking()))
    return Collected(f"{eval_set.name}/{eval_set.split}", queries, [r.id for r in index], pairs, index)


def label(fusion: Fusion) -> str:
    if fusion.method == "rrf":
        return f"rrf k={fusion.rrf_k} w={fusion.dense_weight}"
    if fusion.method == "adaptive":
        return f"adaptive {fusion.dense_weight}-{fusion.high} p={fusion.power:g}"
    return f"convex {fusion.scale} w={fusion.dense_weight}"


def score(data: Collected, name: str, rankings: list[list[int]]) -> evaluate.EvalReport:
    return evaluate.score(name, data.queries, [[data.ids[r] for r in rows[:100]] for rows in rankings])


def print_report(data: Collected, rows: list[tuple[str, list[list[int]]]]) -> None:
    reports = [(name, score(data, name, ranked)) for name, ranked in rows]
    kinds = [k for k in reports[0][1].by_kind() if k != evaluate.ALL_KINDS]
    print(f"\n{data.name}: {len(data.queries)} queries")
    width = max(28, *(len(name) for name, _ in reports))
    print(f"{'variant':{width}} {'nDCG@10':>8} {'MRR':>6} {'hit@3':>6}" + "".join(f" {k[:9]:>9}" for k in kinds))
    for name, report in reports:
        summary, by_kind = report.summary(), report.by_kind()
        print(f"{name:{width}} {summary['ndcg@10']:8.3f} {summary['mrr']:6.3f} {summary['hit@3']:6.3f}"
              + "".join(f" {by_kind[k]['mrr']:9.3f}" for k in kinds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", type=Path, nargs="+", help="queries YAML files or BEIR folders")
    parser.add_argument("--split", default="tune", help="part of a queries file: tune (default), report, all")
    parser.add_argument("--beir-split", default="train", help="BEIR qrels to use (default: train)")
    parser.add_argument("--translation", nargs="+", default=["selective"], choices=TRANSLATIONS)
    parser.add_argument("--adaptive", action="store_true", help="also print the adaptive-rule grid")
    parser.add_argument("--only", action="store_true", help="only the single modes, the default and the old default")
    args = parser.parse_args()
    for path in args.sets:
        for translation in args.translation:
            started = time.perf_counter()
            data = collect(path, args.split, args.beir_split, translation)
            variants = ([PREVIOUS_DEFAULT] if args.only else FIXED + (ADAPTIVE if args.adaptive else [])) + [DEFAULT_FUSION]
            rows = [("dense only", [d.doc_ids.tolist() for d, _ in data.pairs]),
                    ("lexical only", [l.doc_ids.tolist() for _, l in data.pairs])]
            rows += [(("DEFAULT " if v is DEFAULT_FUSION else "") + label(v),
                      [[doc for doc, _ in fuse(d, l, v, data.index.features)] for d, l in data.pairs]) for v in variants]
            data.name += f" [translation {translation}, {time.perf_counter() - started:.0f} s]"
            print_report(data, rows)


if __name__ == "__main__":
    main()
