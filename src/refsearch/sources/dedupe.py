"""The same work found in several files becomes one reference that says where else it is.

Two references are the same work when they come from different files and share a DOI, or share a
normalised title (case, accents, punctuation and spacing ignored) and a year. Within one file a
repeated entry is left alone: the user listed it twice on purpose (under two topics, say). A title
without a year is not enough: awesome lists side by side each have their own "TensorFlow" line with
its own annotation.

The first occurrence (files in sorted order, entries in file order) survives with the id it has
alone, so ids are stable across rebuilds of the same sources, and adding a later file that repeats
a work does not change the id of the reference it merges into. Fields the survivor lacks are taken
from the others; `also_in` lists the others' `file:line`.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata

from refsearch.records import Reference

_FILLABLE = ("url", "year", "kind", "authors", "note", "note_en", "abstract", "venue", "doi")


def merge_duplicates(references: list[Reference]) -> list[Reference]:
    owner: dict[str, int] = {}  # work key -> index of the surviving reference
    merged: list[Reference] = []
    for ref in references:
        keys = work_keys(ref)
        index = next((owner[key] for key in keys if key in owner and _other_file(merged[owner[key]], ref)), None)
        if index is None:
            for key in keys:
                owner.setdefault(key, len(merged))
            merged.append(ref)
        else:
            merged[index] = _absorb(merged[index], ref)
            for key in keys:
                owner.setdefault(key, index)
    return merged


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


def _other_file(kept: Reference, ref: Reference) -> bool:
    """Whether `ref` comes from a file `kept` was not read from (nor any of its merged duplicates)."""
    return _file(ref.source) not in {_file(source) for source in (kept.source, *kept.also_in)}


def _file(source: str) -> str:
    return source.rpartition(":")[0] or source
