"""Combining the dense and the lexical ranking into one.

The default (`DEFAULT_FUSION`) was chosen by measurement, not taste: docs/benchmarks.md, "Fusion".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Ranking:
    """Documents best first, with their scores (cosine for dense, BM25 for lexical)."""

    doc_ids: np.ndarray
    scores: np.ndarray

    def ranks(self) -> dict[int, int]:
        return {int(doc): rank for rank, doc in enumerate(self.doc_ids, start=1)}


@dataclass(frozen=True)
class Fusion:
    """`rrf`: sum of weight/(k + rank). `convex`: weight-blend of scores scaled to [0, 1] per query."""

    method: str = "convex"
    dense_weight: float = 0.4
    rrf_k: int = 60


DEFAULT_FUSION = Fusion()


def fuse(dense: Ranking, lexical: Ranking, fusion: Fusion = DEFAULT_FUSION) -> list[tuple[int, float]]:
    if fusion.method == "rrf":
        combined = _rrf(dense, lexical, fusion)
    elif fusion.method == "convex":
        combined = _convex(dense, lexical, fusion)
    else:
        raise ValueError(f"unknown fusion method {fusion.method!r}")
    return sorted(combined.items(), key=lambda item: (-item[1], item[0]))


def _rrf(dense: Ranking, lexical: Ranking, fusion: Fusion) -> dict[int, float]:
    scores: dict[int, float] = {}
    for ranking, weight in ((dense, fusion.dense_weight), (lexical, 1 - fusion.dense_weight)):
        for rank, doc in enumerate(ranking.doc_ids.tolist(), start=1):
            scores[doc] = scores.get(doc, 0.0) + weight / (fusion.rrf_k + rank)
    return scores


def _convex(dense: Ranking, lexical: Ranking, fusion: Fusion) -> dict[int, float]:
    scores: dict[int, float] = {}
    for ranking, weight in ((dense, fusion.dense_weight), (lexical, 1 - fusion.dense_weight)):
        for doc, value in zip(ranking.doc_ids.tolist(), _unit_scale(ranking.scores).tolist()):
            scores[doc] = scores.get(doc, 0.0) + weight * value
    return scores


def _unit_scale(scores: np.ndarray) -> np.ndarray:
    """Min-max over the candidates, so a query's best match scores 1 in each ranking."""
    if len(scores) == 0:
        return scores
    low, high = float(scores.min()), float(scores.max())
    if high - low < 1e-9:
        return np.ones_like(scores)
    return (scores - low) / (high - low)
