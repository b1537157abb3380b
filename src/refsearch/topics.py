"""Topic context: the topics of an index and the references that share one (from the catalog's
facet arrays, so listing a topic reads only its own references)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .catalog import TOPIC
from .records import Reference

if TYPE_CHECKING:
    from .index import Index


@dataclass(frozen=True)
class Topic:
    page: str
    path: tuple[str, ...]
    path_en: tuple[str, ...]
    ref_ids: tuple[str, ...]

    @property
    def breadcrumb(self) -> str:
        return " › ".join((self.page, *self.path))

    def to_json(self) -> dict:
        return {"page": self.page, "topic": " › ".join(self.path), "topic_path": list(self.path),
                "topic_en": " › ".join(self.path_en) or None, "count": len(self.ref_ids),
                "ids": list(self.ref_ids)}


def topics(index: Index) -> list[Topic]:
    """Topics in reading order (first appearance), each with its references (a reference filed under
    several topics, a Zotero item in several collections, is listed under each)."""
    catalog = index.catalog
    rows, numbers = catalog.topic_pairs()
    found = []
    for number in _first_seen(numbers):
        entry = catalog.topics[number]
        found.append(Topic(catalog.pages[entry.page][0], entry.path, entry.path_en,
                           tuple(catalog.ids[row] for row in rows[numbers == number])))
    return found


def siblings(index: Index, ref: Reference) -> list[Reference]:
    column = index.catalog.facet(TOPIC)
    rows = np.flatnonzero(column == column[index.row(ref.id)])
    return [other for other in index.catalog.references(rows) if other.id != ref.id]


def _first_seen(column: np.ndarray) -> list[int]:
    values, first = np.unique(column, return_index=True)
    return [int(values[i]) for i in np.argsort(first)]
