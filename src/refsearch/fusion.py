"""Combining the dense and the lexical ranking into one.

The default (`DEFAULT_FUSION`) was chosen by measurement, not taste: docs/benchmarks.md, "Fusion".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Ranking:
    """Documents best first, with their scores (cosine for dense, BM25 for lexical).

    `ceiling` is the score a full match would get (lexical: every query term present), when the
    ranking can say; fusion can then tell a strong best match from a weak one.
    """

    doc_ids: np.ndarray
    scores: np.ndarray
    ceiling: float | None = None

    def ranks(self) -> dict[int, int]:
        return {int(doc): rank for rank, doc in enumerate(self.doc_ids, start=1)}


@dataclass(frozen=True)
class Fusion:
    """`rrf`: sum of weight/(k + rank). `convex`: weight-blend of scores scaled per query.
    `adaptive`: convex, with a dense weight set per query (`adaptive_weight`).

    Convex scaling (`scale`): `minmax` maps each ranking's candidates onto [0, 1] (`_unit_scale`),
    so the best lexical match counts fully even when it shares only one common word with the query;
    `ceiling` divides a ranking's scores by its full-match score where it has one (lexical) and
    min-maxes the others (dense), so a lexical ranking counts as much as the query's words are
    actually matched.

    With the index's `DocumentFacts`, convex fusion also looks at each document (`_document_aware`):
    `readability` lets the lexical score stand in for the share of a reference's text the encoder
    cannot read (Chinese without an English gloss), where it is the higher of the two, so a low
    cosine does not vote against what the model could not read; `agreement` adds that much per
    doubling of the lists that hold the work (in 2 lists: +agreement, in 4: twice that).
    """

    method: str = "convex"
    dense_weight: float = 0.3
    rrf_k: int = 60
    scale: str = "ceiling"
    high: float = 0.6  # adaptive: the dense weight when the lexical side matched nothing
    power: float = 1.0  # adaptive: how fast the weight falls as the lexical match gets complete
    readability: float = 0.0  # convex: how far lexical evidence stands in for what the encoder cannot read
    agreement: float = 0.0  # convex: prior per doubling of the lists that hold a work


class DocumentFacts(Protocol):
    """Per-reference facts computed when the index was built (docfeatures.DocumentFeatures)."""

    def of_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(unreadable share, number of lists) of each row."""


# Chosen on SciFact train and the hard set's tune half (docs/benchmarks.md, "Adaptive fusion"):
# a name or exact phrase the lexical side matched completely gets dense weight 0.2; a query whose
# words the best lexical match mostly lacks (a paraphrase, a task description) up to 0.8.
# Issue 28 (docs/benchmarks.md, "Answers, round three"): a work in several lists gets a small prior.
# `readability` stays 0: chosen at 1 on the tuning data (hard tune MRR +0.010), it lowered the hard
# set's report half (-0.007) while raising the corpora (+0.007): kept as a switch, not as the default.
DEFAULT_FUSION = Fusion("adaptive", 0.2, high=0.8, power=2.0, agreement=0.02)
# Scores without a ceiling (dense) are scaled by the best and the SCALE_DEPTH-th candidate, so every
# ranker hands fusion at least this many (search.MIN_DEPTH).
SCALE_DEPTH = 100


def fuse(dense: Ranking, lexical: Ranking, fusion: Fusion = DEFAULT_FUSION,
         documents: DocumentFacts | None = None) -> list[tuple[int, float]]:
    """Documents best first with their fused scores; `documents`: the index's per-reference facts
    (None: fusion by the rankings alone, as for an index built before them)."""
    if fusion.method == "rrf":
        combined = _rrf(dense, lexical, fusion)
    elif fusion.method == "convex":
        combined = _convex(dense, lexical, fusion, documents)
    elif fusion.method == "adaptive":
        combined = _convex(dense, lexical, replace(fusion, dense_weight=adaptive_weight(lexical, fusion)), documents)
    else:
        raise ValueError(f"unknown fusion method {fusion.method!r}")
    return sorted(combined.items(), key=lambda item: (-item[1], item[0]))


def lexical_coverage(lexical: Ranking) -> float:
    """How much of the query the best lexical match holds: its score over the full-match score.

    The full-match score (`ceiling`) is the query terms' idf summed, so this is roughly the share
    of the query's idf mass the best match holds: a rare name counts more than "data" or "run".
    """
    if not len(lexical.scores) or not lexical.ceiling:
        return 0.0
    return min(1.0, float(lexical.scores[0]) / lexical.ceiling)


def adaptive_weight(lexical: Ranking, fusion: Fusion) -> float:
    """Dense weight from `dense_weight` (complete lexical match) up to `high` (no lexical match)."""
    return fusion.dense_weight + (fusion.high - fusion.dense_weight) * (1 - lexical_coverage(lexical)) ** fusion.power


def _rrf(dense: Ranking, lexical: Ranking, fusion: Fusion) -> dict[int, float]:
    scores: dict[int, float] = {}
    for ranking, weight in ((dense, fusion.dense_weight), (lexical, 1 - fusion.dense_weight)):
        for rank, doc in enumerate(ranking.doc_ids.tolist(), start=1):
            scores[doc] = scores.get(doc, 0.0) + weight / (fusion.rrf_k + rank)
    return scores


def _convex(dense: Ranking, lexical: Ranking, fusion: Fusion, documents: DocumentFacts | None) -> dict[int, float]:
    docs = _union(dense.doc_ids, lexical.doc_ids)
    dense_part, lexical_part = np.zeros(len(docs)), np.zeros(len(docs))
    dense_part[np.searchsorted(docs, dense.doc_ids)] = _scaled(dense, fusion.scale)
    lexical_part[np.searchsorted(docs, lexical.doc_ids)] = _scaled(lexical, fusion.scale)
    prior = 0.0
    if documents is not None and len(docs) and (fusion.readability or fusion.agreement):
        dense_part, prior = _document_aware(docs, dense_part, lexical_part, fusion, documents)
    scores = fusion.dense_weight * dense_part + (1 - fusion.dense_weight) * lexical_part + prior
    return dict(zip(docs.tolist(), scores.tolist()))


def _union(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The sorted distinct rows of both rankings. (np.union1d's np.unique imports numpy.ma on its
    first call: 8 ms of every cold query.)"""
    rows = np.sort(np.concatenate((first, second)).astype(np.int64))
    return rows[np.concatenate(([True], rows[1:] != rows[:-1]))] if len(rows) else rows


def _document_aware(docs: np.ndarray, dense_part: np.ndarray, lexical_part: np.ndarray, fusion: Fusion,
                    documents: DocumentFacts) -> tuple[np.ndarray, np.ndarray]:
    """The dense part with lexical evidence standing in for the unread share, and the agreement prior.

    Why only where lexical is higher: replacing the unread share's cosine by the lexical score
    either way lowered the Chinese entries the glossary's English lets the model find (hard set,
    tune half: en-zh MRR 0.64 -> 0.50); the one-sided form only stops a low cosine from counting
    against text the model could not read.
    """
    unreadable, lists = documents.of_rows(docs)
    stand_in = np.minimum(1.0, fusion.readability * unreadable) * np.maximum(0.0, lexical_part - dense_part)
    return dense_part + stand_in, fusion.agreement * np.log2(lists)


def _scaled(ranking: Ranking, scale: str) -> np.ndarray:
    if scale == "ceiling" and ranking.ceiling:
        return ranking.scores / ranking.ceiling
    if scale in ("ceiling", "minmax"):
        return _unit_scale(ranking.scores)
    raise ValueError(f"unknown fusion scale {scale!r}")


def _unit_scale(scores: np.ndarray) -> np.ndarray:
    """Onto [0, 1] between a query's best candidate and its `SCALE_DEPTH`-th (lower ones clip to 0).

    A fixed reference rank rather than the last candidate: how many candidates a ranker hands over
    grows with the results asked for, and scaling by the last one made the top ten of a 100-result
    search differ from a 10-result search of the same query.
    """
    if len(scores) == 0:
        return scores
    ordered = np.sort(scores)[::-1]
    high, low = float(ordered[0]), float(ordered[min(len(ordered), SCALE_DEPTH) - 1])
    if high - low < 1e-9:
        return np.ones_like(scores)
    return np.clip((scores - low) / (high - low), 0.0, None)
