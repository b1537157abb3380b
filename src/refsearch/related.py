"""What to read next, and why: neighbours of a reference with the reasons they are related.

The ranking starts from embedding similarity and adds small, fixed bonuses for evidence a reader
cares about: the same topic, shared distinctive terms (names, acronyms: rare in the index), the same
author/org, and the same kind or era. `diverse` re-ranks with maximal marginal relevance so the
suggestions span topics. The weights were set before measuring (docs/benchmarks.md, "Related").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from typing import TYPE_CHECKING

from .errors import AmbiguousReference, UnknownReference
from .params import API, RELATED, checked, named
from .tokenizer import query_terms
from .records import Reference, doi_of, normalised_url

if TYPE_CHECKING:
    from .opened import OpenedIndex

POOL = 50
TOPIC_BONUS = 0.10
TERM_BONUS = 0.05  # per shared distinctive term, at most MAX_TERMS counted
MAX_TERMS = 3
AUTHOR_BONUS = 0.08
KIND_ERA_BONUS = 0.02
DISTINCTIVE_DF = 0.05  # a term in at most this share of references (and at most 10) is distinctive
MMR_LAMBDA = 0.7


@dataclass
class Suggestion:
    ref: Reference
    score: float
    similarity: float
    reasons: list[str] = field(default_factory=list)
    shared_terms: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Suggestion(score={self.score:.3f}, ref={self.ref!r}, reasons={self.reasons!r})"


def resolve_reference(index: OpenedIndex, text: str) -> Reference:
    """The reference a user means by `text`: its id, citation key, DOI, URL or short id (the id
    without its page), else the one title equal to it, starting with it, or containing it (case,
    spaces and punctuation ignored), tried in that order; no match, or several at the first tier
    that has any, is an error listing the candidates."""
    if text in index:
        return index.get(text)
    name = checked(named(RELATED, "ref"), text, API).strip()
    for kind, key in (("key", name), ("doi", doi_of(name)), ("url", normalised_url(name))):
        if key and (row := index.catalog.named(kind, key)) is not None:
            return index.reference(row)
    short = [row for row, ref_id in enumerate(index.catalog.ids) if ref_id.endswith("/" + name)]
    if len(short) == 1:  # the short id a result list shows
        return index.reference(short[0])
    wanted = _compact(name)
    if not wanted:
        raise UnknownReference(f"no reference matches {text!r}; `refsearch search {text!r}` finds by meaning.")
    titles = [(ref, _compact(ref.title)) for ref in index]
    for tier in (lambda title: title == wanted, lambda title: title.startswith(wanted), lambda title: wanted in title):
        found = [ref for ref, title in titles if tier(title)]
        if len(found) == 1:
            return found[0]
        if found:
            listed = "; ".join(f"{r.cite_key or r.id} ({r.title})" for r in found[:10])
            more = f" and {len(found) - 10} more" if len(found) > 10 else ""
            raise AmbiguousReference(f"{text!r} is ambiguous, {len(found)} references match: {listed}{more}. "
                                     "Give one of these ids or keys.")
    raise UnknownReference(f"no reference matches {text!r} (id, citation key, DOI, URL or title); "
                           f"`refsearch search {text!r}` finds by meaning.")


def related(index: OpenedIndex, ref: Reference, k: int = 5, diverse: bool = False,
            other_topics: bool = False) -> list[Suggestion]:
    row = index.row(ref.id)
    anchor = index.vectors.vectors(np.array([row]))
    sims, rows = index.vectors.search(anchor, min(POOL + 1, len(index)))
    anchor_terms = _distinctive_terms(index, ref)
    pool = []
    for sim, other_row in zip(sims[0].tolist(), rows[0].tolist()):
        if other_row < 0 or other_row == row:
            continue
        other = index.reference(other_row)
        if other_topics and (other.page, other.topic) == (ref.page, ref.topic):
            continue
        pool.append(_explain(ref, other, sim, anchor_terms, _distinctive_terms(index, other)))
    pool.sort(key=lambda s: -s.score)
    if diverse:
        pool = _mmr(index, pool, k)
    return pool[:k]


def _explain(ref: Reference, other: Reference, sim: float, ref_terms: dict[str, str],
             other_terms: dict[str, str]) -> Suggestion:
    suggestion = Suggestion(other, sim, sim, [f"similar ({sim:.2f})"])
    if (other.page, other.topic) == (ref.page, ref.topic) and ref.topic:
        suggestion.score += TOPIC_BONUS
        suggestion.reasons.append(f"same topic: {' › '.join(ref.topic_en or ref.topic)}")
    shared = [ref_terms[t] for t in ref_terms if t in other_terms]
    if shared:
        suggestion.shared_terms = shared
        suggestion.score += TERM_BONUS * min(len(shared), MAX_TERMS)
        suggestion.reasons.append("shares " + ", ".join(shared[:MAX_TERMS]))
    if ref.author and other.author and ref.author.casefold() == other.author.casefold():
        suggestion.score += AUTHOR_BONUS
        suggestion.reasons.append(f"same author/org: {ref.author}")
    era = ref.year and other.year and abs(ref.year - other.year) <= 2
    if ref.kind and ref.kind == other.kind and era:
        suggestion.score += KIND_ERA_BONUS
        suggestion.reasons.append(f"also a {ref.kind} of {other.year}")
    if other.lists > 1:  # shown, not scored: the bundled judgments have no work in two lists to weigh it by
        suggestion.reasons.append(f"in {other.lists} lists")
    return suggestion


def _distinctive_terms(index: OpenedIndex, ref: Reference) -> dict[str, str]:
    """Rare tokens of the title and annotation -> the word as written (for display)."""
    limit = min(10, max(2, int(DISTINCTIVE_DF * len(index))))
    terms: dict[str, str] = {}
    for text in (ref.title, ref.note or "", ref.note_en or ""):
        for term in query_terms(text):
            if term.token in terms:
                continue
            if 1 < index.lexical.document_frequency(term.token) <= limit:
                terms[term.token] = term.surface
    return terms


def _mmr(index: OpenedIndex, pool: list[Suggestion], k: int) -> list[Suggestion]:
    """Greedy maximal marginal relevance on the embedding similarity between suggestions."""
    if not pool:
        return pool
    vectors = index.vectors.vectors(np.array([index.row(s.ref.id) for s in pool]))
    chosen: list[int] = []
    remaining = list(range(len(pool)))
    while remaining and len(chosen) < k:
        def value(i: int) -> float:
            redundancy = max((float(vectors[i] @ vectors[j]) for j in chosen), default=0.0)
            return MMR_LAMBDA * pool[i].score - (1 - MMR_LAMBDA) * redundancy
        best = max(remaining, key=value)
        chosen.append(best)
        remaining.remove(best)
    return [pool[i] for i in chosen]


def _compact(text: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).casefold())
