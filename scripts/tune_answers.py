"""Issue 28's levers, each alone and together, on the tuning data and (with --report) the held-out data.

    python scripts/tune_answers.py ../shared/bench/scifact data/eval/hard.yaml                 # tuning
    python scripts/tune_answers.py ../shared/bench/scifact data/eval/hard.yaml \\
        --report data/eval/corpora.yaml data/eval/bundled.yaml                                  # + held out

The positional sets are the tuning data: SciFact *train* and the hard set's `tune` half; with
`--report` the same rows are printed for their held-out parts (SciFact test, the `report` half)
and for the check sets named after it. Each query's dense and lexical rankings are computed once
(as deep as `refsearch eval` asks for) and every variant is scored on them, so a row equals what
`refsearch eval` prints for that setting. Rows:

- dense only, lexical only;
- issue 15: the adaptive fusion before this issue (no per-document facts);
- + readability: lexical evidence stands in for the share of a reference the encoder cannot read,
  one-sided (`Fusion.readability` 1; not the default: it lost on the hard set's report half);
  two-sided a=…: the dense weight itself falls with that share (the prototype of the issue);
- + agreement: the prior for a work several lists include (`Fusion.agreement` 0.02, the default's);
- + readability + agreement: both; DEFAULT: what `refsearch search` does;
- topic re-rank g=… top=…: the top results re-ranked by the query's similarity to the centroid of
  each one's topic (the mean vector of the references under it), not kept;
- learned: a linear model over the candidates' features (the two fused parts, both ranks, the
  readability stand-in, agreement, topic similarity) trained pairwise on the tuning data; on the
  tuning data its row is 5-fold cross-validated (each query scored by a model that did not see
  it), elsewhere it is the model trained on all the tuning data. Not kept (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tune_fusion import Collected, collect, print_report

from refsearch.catalog import TOPIC
from refsearch.fusion import DEFAULT_FUSION, _scaled, adaptive_weight, fuse
from refsearch.translate import translate

BEFORE = replace(DEFAULT_FUSION, readability=0.0, agreement=0.0)
READABILITY = replace(BEFORE, readability=1.0)
AGREEMENT = replace(BEFORE, agreement=0.02)
BOTH = replace(BEFORE, readability=1.0, agreement=0.02)
TWO_SIDED = (0.5, 1.0)
TOPIC_RERANK = [(0.05, 10), (0.1, 10), (0.1, 30)]
POOL = 100  # candidates the learned model re-ranks (the top of the default fusion)
FOLDS = 5
FEATURES = ("w*dense", "(1-w)*lexical", "1/log2(1+dense rank)", "1/log2(1+lexical rank)", "w*stand-in",
            "log2 lists", "topic similarity")


@dataclass
class Candidates:
    """One query's candidates (the default's top POOL) with the learned model's features."""

    docs: np.ndarray
    features: np.ndarray  # (len(docs), len(FEATURES))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", type=Path, nargs="+", help="tuning sets: queries YAML files (tune half) or BEIR folders (train)")
    parser.add_argument("--report", type=Path, nargs="*", help="also print the held-out parts, and these check sets")
    args = parser.parse_args()
    tuning = [collect(path, "tune", "train", "selective") for path in args.sets]
    topics = [topic_similarities(data) for data in tuning]
    candidates = [[candidates_of(data, q, sims) for q, sims in enumerate(per_set)] for data, per_set in zip(tuning, topics)]
    cross_validated = cross_validate(tuning, candidates)
    model = train([c for per_set in candidates for c in per_set], relevance(tuning, candidates),
                  weights_per_set(candidates))
    print("learned weights (all tuning data):", ", ".join(f"{n} {w:.3f}" for n, w in zip(FEATURES, model)))
    for data, sims, rows in zip(tuning, topics, cross_validated):
        print_report(data, variants(data, sims, rows))
    if args.report is None:
        return
    held_out = [collect(path, "report", "test", "selective") for path in args.sets]
    held_out += [collect(path, "all", "test", "selective") for path in args.report]
    for data in held_out:
        sims = topic_similarities(data)
        learned = [ranked(candidates_of(data, q, similarity), model) for q, similarity in enumerate(sims)]
        print_report(data, variants(data, sims, learned))


def variants(data: Collected, topics: list[dict[int, float]], learned: list[list[int]]) -> list[tuple[str, list[list[int]]]]:
    features = data.index.features

    def fused(rule) -> list[list[int]]:
        return [[doc for doc, _ in fuse(d, l, rule, features)] for d, l in data.pairs]

    rows = [("dense only", [d.doc_ids.tolist() for d, _ in data.pairs]),
            ("lexical only", [l.doc_ids.tolist() for _, l in data.pairs]),
            ("issue 15 (no document facts)", fused(BEFORE)),
            ("+ readability (one-sided)", fused(READABILITY))]
    rows += [(f"two-sided readability a={a}", [two_sided(d, l, a, features) for d, l in data.pairs]) for a in TWO_SIDED]
    rows += [("+ agreement", fused(AGREEMENT)), ("+ readability + agreement", fused(BOTH)),
             ("DEFAULT", fused(DEFAULT_FUSION))]
    default = [fuse(d, l, DEFAULT_FUSION, features) for d, l in data.pairs]
    rows += [(f"DEFAULT + topic re-rank g={g} top={top}",
              [topic_rerank(scored, sims, g, top) for scored, sims in zip(default, topics)]) for g, top in TOPIC_RERANK]
    rows.append(("learned (CV on tuning data)" if "tune" in data.name or "train" in data.name else "learned", learned))
    return rows


# --- the levers that were not kept -----------------------------------------------------------------


def two_sided(dense, lexical, strength: float, features) -> list[int]:
    """The dense weight per document: w * (1 - strength * unreadable share), the lexical weight the rest."""
    weight = adaptive_weight(lexical, DEFAULT_FUSION)
    docs = np.union1d(dense.doc_ids, lexical.doc_ids).astype(np.int64)
    dense_part, lexical_part = np.zeros(len(docs)), np.zeros(len(docs))
    dense_part[np.searchsorted(docs, dense.doc_ids)] = _scaled(dense, "ceiling")
    lexical_part[np.searchsorted(docs, lexical.doc_ids)] = _scaled(lexical, "ceiling")
    unreadable, _ = features.of_rows(docs)
    per_document = weight * (1 - strength * unreadable)
    scores = per_document * dense_part + (1 - per_document) * lexical_part
    return docs[np.lexsort((docs, -scores))].tolist()


def topic_similarities(data: Collected) -> list[dict[int, float]]:
    """Per query, each candidate's cosine to its topic's centroid (the mean vector of the references
    filed under that topic, normalised)."""
    index = data.index
    topic_of = np.asarray(index.catalog.facet(TOPIC))
    vectors = index.vectors.vectors(np.arange(len(index)))
    centroids = np.zeros((topic_of.max() + 1, vectors.shape[1]))
    np.add.at(centroids, topic_of, vectors)
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-9)
    similarities = []
    for query, (dense, lexical) in zip(data.queries, data.pairs):
        vector = index.encoder.encode([translate(query.text, index.lexical).dense_query(query.text)])[0]
        docs = np.union1d(dense.doc_ids, lexical.doc_ids).astype(np.int64)
        similarities.append(dict(zip(docs.tolist(), (centroids[topic_of[docs]] @ vector).tolist())))
    return similarities


def topic_rerank(scored: list[tuple[int, float]], similarity: dict[int, float], gain: float, top: int) -> list[int]:
    """The first `top` results re-ranked by fused score + `gain` x topic similarity (min-max over them)."""
    head = scored[:top]
    values = np.array([similarity[doc] for doc, _ in head])
    scaled = (values - values.min()) / max(float(values.max() - values.min()), 1e-9) if len(head) else values
    order = np.argsort(-(np.array([score for _, score in head]) + gain * scaled), kind="stable")
    return [head[i][0] for i in order] + [doc for doc, _ in scored[top:]]


# --- the learned combination -----------------------------------------------------------------------


def candidates_of(data: Collected, q: int, topic_similarity: dict[int, float]) -> Candidates:
    dense, lexical = data.pairs[q]
    facts = data.index.features
    weight = adaptive_weight(lexical, DEFAULT_FUSION)
    fused = fuse(dense, lexical, DEFAULT_FUSION, facts)[:POOL]
    docs = np.array([doc for doc, _ in fused], dtype=np.int64)
    dense_scaled = dict(zip(dense.doc_ids.tolist(), _scaled(dense, "ceiling").tolist()))
    lexical_scaled = dict(zip(lexical.doc_ids.tolist(), _scaled(lexical, "ceiling").tolist()))
    d = np.array([dense_scaled.get(int(doc), 0.0) for doc in docs])
    l = np.array([lexical_scaled.get(int(doc), 0.0) for doc in docs])
    dense_ranks, lexical_ranks = dense.ranks(), lexical.ranks()
    unreadable, lists = facts.of_rows(docs) if len(docs) else (np.zeros(0), np.ones(0))
    topic = np.array([topic_similarity.get(int(doc), 0.0) for doc in docs])
    if len(topic):
        topic = (topic - topic.min()) / max(float(topic.max() - topic.min()), 1e-9)
    features = np.stack([weight * d, (1 - weight) * l,
                         1 / np.log2(1 + np.array([dense_ranks.get(int(doc), 10_000) for doc in docs])),
                         1 / np.log2(1 + np.array([lexical_ranks.get(int(doc), 10_000) for doc in docs])),
                         weight * unreadable * np.maximum(0, l - d), np.log2(lists), topic], axis=1)
    return Candidates(docs, features.reshape(len(docs), len(FEATURES)))


def ranked(candidates: Candidates, model: np.ndarray) -> list[int]:
    scores = candidates.features @ model
    return candidates.docs[np.lexsort((candidates.docs, -scores))].tolist()


def relevance(sets: list[Collected], candidates: list[list[Candidates]]) -> list[np.ndarray]:
    out = []
    for data, per_query in zip(sets, candidates):
        for query, cands in zip(data.queries, per_query):
            out.append(np.array([query.grades.get(data.ids[doc], 0) for doc in cands.docs], dtype=float))
    return out


def weights_per_set(candidates: list[list[Candidates]]) -> list[float]:
    """Each set counts as much as the other in training, whatever its number of queries."""
    return [1.0 / len(per_set) for per_set in candidates for _ in per_set]


def train(candidates: list[Candidates], grades: list[np.ndarray], weights: list[float], l2: float = 1e-3) -> np.ndarray:
    """Pairwise logistic loss (relevant above non-relevant within a query), each query's pairs
    weighing its share, from the default's own combination (1, 1, 0, ...), with L-BFGS."""
    from scipy.optimize import minimize  # a dev dependency: this script only, never the query path

    differences, pair_weights = [], []
    for cands, grade, weight in zip(candidates, grades, weights):
        good, bad = np.flatnonzero(grade > 0), np.flatnonzero(grade == 0)
        if not len(good) or not len(bad):
            continue
        pairs_good, pairs_bad = np.repeat(good, len(bad)), np.tile(bad, len(good))
        differences.append(cands.features[pairs_good] - cands.features[pairs_bad])
        pair_weights.append(np.full(len(pairs_good), weight / len(pairs_good)))
    x, w = np.concatenate(differences), np.concatenate(pair_weights)
    w /= w.sum()
    scale = 10.0  # fused scores differ by hundredths: scale them into the logistic's working range

    def loss(theta):
        margin = scale * (x @ theta)
        p = 1 / (1 + np.exp(np.clip(margin, -50, 50)))
        return (w * np.logaddexp(0, -margin)).sum() + l2 * theta @ theta, -scale * (w * p) @ x + 2 * l2 * theta

    start = np.zeros(len(FEATURES))
    start[:2] = 1.0
    return minimize(loss, start, jac=True, method="L-BFGS-B").x


def cross_validate(sets: list[Collected], candidates: list[list[Candidates]]) -> list[list[list[int]]]:
    """Each tuning query ranked by a model trained on the other folds (seeded, per set)."""
    rng = np.random.default_rng(28)
    folds = [rng.permutation(len(per_set)) % FOLDS for per_set in candidates]
    grades = relevance(sets, candidates)
    flat = [c for per_set in candidates for c in per_set]
    fold_of = np.concatenate(folds)
    weights = weights_per_set(candidates)
    rankings: list[list[int] | None] = [None] * len(flat)
    for fold in range(FOLDS):
        keep = np.flatnonzero(fold_of != fold)
        model = train([flat[i] for i in keep], [grades[i] for i in keep], [weights[i] for i in keep])
        for i in np.flatnonzero(fold_of == fold):
            rankings[i] = ranked(flat[i], model)
    out, start = [], 0
    for per_set in candidates:
        out.append(rankings[start:start + len(per_set)])
        start += len(per_set)
    return out


if __name__ == "__main__":
    main()
