"""Several indexes searched as one (`refsearch.open([a, b])`, `--index A --index B`): a work
library, a reading list and bookmarks kept apart, answered together.

Each library answers from its own index, as it would alone; the answers are then fused by rank
(reciprocal rank fusion, RRF_K = 60 as in Cormack et al.), so no library's scores need to be on
another's scale: a library's best hit and another's best hit meet at the same fused score, and
the one with the larger `strength` (how far above its own query's background it stands, search.py)
goes first. Every reference is named by its library: its id becomes `LIBRARY:id` and
`extra["library"]` says it (the JSON's `library`), so `show` and `related` take such an id back,
or any name the libraries resolve when only one of them knows it.
"""

from __future__ import annotations

import dataclasses
import os
from itertools import chain
from pathlib import Path
from typing import Iterator, Sequence

from .errors import NoMatch, RefsearchError, UnknownReference
from .records import Reference

RRF_K = 60
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
        """The `k` best across the libraries, fused by rank (see the module's docstring)."""
        answered, refused = [], []
        for number, index in enumerate(self.indexes):
            try:
                answered += [(number, hit) for hit in index.search(query, k=k, mode=mode, filters=filters)]
            except NoMatch as problem:  # a filter nothing in this library passes: the others may have some
                refused.append(problem)
        if refused and len(refused) == len(self.indexes):
            raise refused[0]
        ordered = sorted(answered, key=lambda found: (-1 / (RRF_K + found[1].rank), -found[1].strength, found[0]))
        return [dataclasses.replace(hit, rank=rank, ref=self._named(number, hit.ref))
                for rank, (number, hit) in enumerate(ordered[:k], start=1)]

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


def _suggestion(hit, library: str):
    from .related import Suggestion

    return Suggestion(hit.ref, hit.score, hit.dense_score or 0.0, [f"in {library}"], list(hit.matched))
