"""The same work found in several files becomes one reference that says where else it is.

Two references are the same work when they come from different files and share a DOI, or share a
normalised title (case, accents, punctuation and spacing ignored) and a year. Within one file a
repeated entry is left alone: the user listed it twice on purpose (under two topics, say). A title
without a year is not enough: awesome lists side by side each have their own "TensorFlow" line with
its own annotation.

The first occurrence (files in sorted order, entries in file order) survives with the id it has
alone, so ids are stable across rebuilds of the same sources, and adding a later file that repeats
a work does not change the id of the reference it merges into. Fields the survivor lacks are taken
from the others; `also_in` lists the others' `file:line`. Merges are planned from the work keys in a
first reading and applied in a second one (`DuplicatePlan`), so a library of any size streams.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Iterator

from refsearch.records import Reference

_FILLABLE = ("url", "year", "kind", "authors", "note", "note_en", "abstract", "venue", "doi")


Position = tuple[int, int]  # (file number, entry number in the file)


class DuplicatePlan:
    """Found while the sources are first read (`add`, in reading order); applied while they are read
    again for the build (`merge`), so no reader holds every reference at once."""

    def __init__(self) -> None:
        self._owner: dict[str, Position] = {}  # work key -> the surviving reference's position
        self._more_files: dict[Position, set[int]] = {}  # survivor -> files of what it absorbed
        self.into: dict[Position, Position] = {}  # a duplicate -> the reference it merges into
        self.absorbs: dict[Position, int] = {}  # a survivor -> how many duplicates merge into it

    def add(self, position: Position, ref: Reference) -> None:
        keys = work_keys(ref)
        survivor = next((self._owner[key] for key in keys if key in self._owner
                         and position[0] not in self._files(self._owner[key])), None)
        if survivor is None:
            for key in keys:
                self._owner.setdefault(key, position)
            return
        self.into[position] = survivor
        self.absorbs[survivor] = self.absorbs.get(survivor, 0) + 1
        self._more_files.setdefault(survivor, set()).add(position[0])
        for key in keys:
            self._owner.setdefault(key, survivor)

    def _files(self, survivor: Position) -> set[int]:
        return {survivor[0], *self._more_files.get(survivor, ())}

    def merge(self, positioned: Iterable[tuple[Position, Reference]]) -> Iterator[Reference]:
        """The references with duplicates folded in; a survivor is held back until its last duplicate
        has been read (so it comes out there, not at its own place)."""
        held: dict[Position, Reference] = {}
        waiting = dict(self.absorbs)
        for position, ref in positioned:
            survivor = self.into.get(position)
            if survivor is not None:
                held[survivor] = _absorb(held[survivor], ref)
                waiting[survivor] -= 1
                if not waiting[survivor]:
                    yield held.pop(survivor)
            elif position in waiting:
                held[position] = ref
            else:
                yield ref


def work_keys(ref: Reference) -> list[str]:
    keys = [f"doi:{ref.doi}"] if ref.doi else []
    if ref.year is not None:
        title = normalised_title(ref.title)
        if title:
            keys.append(f"title:{title}:{ref.year}")
    return keys


def normalised_title(title: str) -> str:
    decomposed = unicodedata.normalize("NFKD", title.casefold())
    letters = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(re.sub(r"[^\w]+", " ", letters).split())


def _absorb(kept: Reference, other: Reference) -> Reference:
    filled = {name: getattr(other, name) for name in _FILLABLE if not getattr(kept, name) and getattr(other, name)}
    return dataclasses.replace(
        kept, **filled,
        tags=tuple(dict.fromkeys((*kept.tags, *other.tags))),
        also_in=(*kept.also_in, other.source, *other.also_in),
    )
