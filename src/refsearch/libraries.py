"""Several indexes searched as one (`refsearch.open([a, b])`, `--index A --index B`): a work
library, a reading list and bookmarks kept apart, answered together.

Each library answers from its own index, as it would alone. A hit's score is its library's fused
score (scaled by that library's own background for the query, search.py), so scores are roughly on
one scale; what is not is how much a library has to say: every library has a best hit, even one
that holds nothing on the question. So each library's scores are weighed by how close its best
cosine (query to reference, among its first ten) comes to the best of all the libraries, which one
model makes comparable (libraries of other models: scores alone). Measured against fusing by rank
(RRF), on the shared lists split into two or three libraries (scripts/bench_libraries.py,
docs/benchmarks.md): nDCG@10 0.607 against 0.532 on the corpora set, 0.548 against 0.486 on the hard
set's held-out half, where one index of all the lists scores 0.545.
Every reference is named by its library: its id becomes `LIBRARY:id` and `extra["library"]` says
it (the JSON's `library`), so `show` and `related` take such an id back, or any name the libraries
resolve when only one of them knows it.
"""

from __future__ import annotations

import dataclasses
import os
from itertools import chain
from pathlib import Path
from typing import Iterator, Sequence

from .errors import NoMatch, RefsearchError, UnknownReference
from .records import Reference

WEIGHED_DEPTH = 10  # a library's best cosine is taken among its first hits (the ones a reader sees)
MAP_GAP = 0.1  # the share of each library's panel on the map left empty between panels


def library_names(directories: Sequence[Path]) -> list[str]:
    """Each index's name: its folder's name, with its parent's where two share one."""
    names = [Path(d).name for d in directories]
    return [f"{Path(d).parent.name}/{name}" if names.count(name) > 1 else name for d, name in zip(directories, names)]


class Libraries:
    def __init__(self, indexes: Sequence):
        if len({os.path.realpath(index.directory) for index in indexes}) != len(indexes):
            raise RefsearchError("the same index is named twice; give each --index once.")
        self.indexes = list(indexes)
        self.names = library_names([index.directory for index in indexes])
        self.directory = self.indexes[0].directory

    def __repr__(self) -> str:
        return f"Libraries({self.indexes!r})"

    def __len__(self) -> int:
        return sum(len(index) for index in self.indexes)

    def __iter__(self) -> Iterator[Reference]:
        return chain.from_iterable((self._named(n, ref) for ref in index) for n, index in enumerate(self.indexes))

    def _named(self, number: int, ref: Reference) -> Reference:
        name = self.names[number]
        return dataclasses.replace(ref, id=f"{name}:{ref.id}", extra={**ref.extra, "library": name})

    def _split(self, ref: Reference | str) -> tuple[int, Reference]:
        """The library of a reference this object named, and the reference as that library has it."""
        text = ref.id if isinstance(ref, Reference) else ref
        name, colon, rest = text.partition(":")
        if colon and name in self.names:
            number = self.names.index(name)
            return number, self.indexes[number].resolve(rest)
        found = []
        for number, index in enumerate(self.indexes):
            try:
                found.append((number, index.resolve(text)))
            except (UnknownReference, NoMatch):
                continue
        if not found:
            raise UnknownReference(f"{text!r} is in none of the libraries ({', '.join(self.names)}); "
                                   "`refsearch search` prints ids with --json.")
        if len(found) > 1:
            named = ", ".join(f"{self.names[n]}:{r.id}" for n, r in found)
            raise RefsearchError(f"{text!r} names a reference in several libraries ({named}); give one of these ids.")
        return found[0]

    def search(self, query: str, k: int = 10, mode: str = "hybrid", filters=None) -> list:
        """The `k` best across the libraries, each library's scores weighed (see the module's docstring)."""
        answered, refused = [], []
        for number, index in enumerate(self.indexes):
            try:
                answered += [(number, hit) for hit in index.search(query, k=k, mode=mode, filters=filters)]
            except NoMatch as problem:  # a filter nothing in this library passes: the others may have some
                refused.append(problem)
        if refused and len(refused) == len(self.indexes):
            raise refused[0]
        weights = self._weights(answered)
        ordered = sorted(answered, key=lambda found: (-_weighed(found[1].score, weights[found[0]]),
                                                      -found[1].strength, found[0]))
        return [dataclasses.replace(hit, rank=rank, ref=self._named(number, hit.ref))
                for rank, (number, hit) in enumerate(ordered[:k], start=1)]

    def _weights(self, answered: list) -> list[float]:
        """Per library: its best cosine among its first hits over the best of all (1 for every
        library when they do not share a model or no hit has a cosine, as in a lexical search)."""
        best = [0.0] * len(self.indexes)
        for number, hit in answered:
            if hit.rank <= WEIGHED_DEPTH and hit.dense_score is not None:
                best[number] = max(best[number], hit.dense_score)
        models = {index.manifest["model"]["vectors_fingerprint"] for index in self.indexes}
        top = max(best)
        return [max(value, 0.0) / top if top > 0 and len(models) == 1 else 1.0 for value in best]

    def resolve(self, text: str) -> Reference:
        number, ref = self._split(text)
        return self._named(number, ref)

    def get(self, ref_id: str) -> Reference:
        return self.resolve(ref_id)

    def related(self, ref: Reference | str, k: int = 5, diverse: bool = False, other_topics: bool = False) -> list:
        """Its own library's related reading, and the other libraries' nearest references to its
        words (reason: "in LIBRARY"), fused by rank."""
        from .text import dense_text

        number, anchor = self._split(ref)
        found = [(number, place, s) for place, s in
                 enumerate(self.indexes[number].related(anchor, k=k, diverse=diverse, other_topics=other_topics))]
        for other, index in enumerate(self.indexes):
            if other != number:
                found += [(other, place, _suggestion(hit, self.names[other]))
                          for place, hit in enumerate(index.search(dense_text(anchor), k=k))]
        ordered = sorted(found, key=lambda item: (item[1], item[0] != number, item[0]))  # by rank, its own first
        return [dataclasses.replace(s, ref=self._named(n, s.ref)) for n, _, s in ordered[:k]]

    def siblings(self, ref: Reference, offset: int = 0, limit: int | None = None):
        number, own = self._split(ref)
        found = self.indexes[number].siblings(own, offset, limit)
        return dataclasses.replace(found, refs=[self._named(number, r) for r in found.refs])

    def topic_map(self):
        """Each library's map in a panel of its own, the panels side by side in [0, 1]² in library
        order (rows as `iter` gives them): each map is laid out alone, so distances mean something
        within a panel only, and the panels must not overlap to say so."""
        import math

        import numpy as np

        maps = [index.topic_map() for index in self.indexes]
        columns = math.ceil(math.sqrt(len(maps)))
        cell = np.array([1 / columns, 1 / math.ceil(len(maps) / columns)], dtype=np.float32)  # the plane, filled
        return np.concatenate([np.array(divmod(number, columns)[::-1], dtype=np.float32) * cell
                               + points * (cell * (1 - MAP_GAP)) for number, points in enumerate(maps)])

    def topics(self) -> list:
        return [dataclasses.replace(topic, page=f"{self.names[n]}: {topic.page}",
                                    ref_ids=tuple(f"{self.names[n]}:{i}" for i in topic.ref_ids))
                for n, index in enumerate(self.indexes) for topic in index.topics()]


def _weighed(score: float, weight: float) -> float:
    """A score weighed down by its library's weight (a negative score stays where it is: last)."""
    return score * weight if score > 0 else score


def _suggestion(hit, library: str):
    from .related import Suggestion

    return Suggestion(hit.ref, hit.score, hit.dense_score or 0.0, [f"in {library}"], list(hit.matched))
