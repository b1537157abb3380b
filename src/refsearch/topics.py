"""Topic context: the topics of an index and the references that share one (from the catalog's
facet arrays, so listing a topic reads only its own references). A page without headings has topics
derived by the build (derived_topics.py); they are listed and used as any other, marked `derived`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

from .catalog import TOPIC
from .records import Reference, short_text

if TYPE_CHECKING:
    from .opened import OpenedIndex

# The map colours a page by the first heading level at which its largest group holds at most this
# share of the page's references: a list whose every entry sits under one heading ("资源列表")
# is coloured by the headings under it.
SPLIT_SHARE = 0.8


@dataclass(frozen=True)
class Topic:
    page: str
    path: tuple[str, ...]
    path_en: tuple[str, ...]
    ref_ids: tuple[str, ...]
    derived: bool = False

    def __repr__(self) -> str:
        derived = ", derived" if self.derived else ""
        return f"Topic({short_text(self.breadcrumb, 80)!r}, {len(self.ref_ids)} references{derived})"

    @property
    def breadcrumb(self) -> str:
        return " › ".join((self.page, *self.path))

    def to_json(self) -> dict:
        """Names and count (the ids are not listed: a topic may hold thousands)."""
        return {"page": self.page, "topic": " › ".join(self.path), "topic_path": list(self.path),
                "topic_en": " › ".join(self.path_en) or None, "topic_source": "derived" if self.derived else "source",
                "count": len(self.ref_ids)}


@dataclass(frozen=True)
class Siblings:
    """A window of the other references under one reference's topic, nearest to it first."""

    refs: list[Reference]
    total: int
    offset: int = 0

    def __iter__(self) -> Iterator[Reference]:
        return iter(self.refs)

    def __len__(self) -> int:
        return len(self.refs)


def topics(index: OpenedIndex) -> list[Topic]:
    """Topics in reading order (first appearance; a page's derived topics largest first), each with
    its references (a reference filed under several topics, a Zotero item in several collections,
    is listed under each)."""
    catalog = index.catalog
    rows, numbers = catalog.topic_pairs()
    found = []
    for number in _reading_order(numbers, catalog):
        entry = catalog.topics[number]
        found.append(Topic(catalog.pages[entry.page][0], entry.path, entry.path_en,
                           tuple(catalog.ids[row] for row in rows[numbers == number]), entry.derived))
    return found


def siblings(index: OpenedIndex, ref: Reference, offset: int = 0, limit: int | None = None) -> Siblings:
    """The references under `ref`'s topic, nearest to it in meaning first, from `offset` on (at most
    `limit`): only those are read."""
    column = index.catalog.facet(TOPIC)
    row = index.row(ref.id)
    rows = np.flatnonzero(column == column[row])
    rows = rows[rows != row]
    if len(rows) > 1:
        closeness = index.vectors.vectors(rows) @ index.vectors.vectors(np.array([row]))[0]
        rows = rows[np.argsort(-closeness, kind="stable")]
    end = len(rows) if limit is None else offset + limit
    return Siblings(index.catalog.references(rows[offset:end]), len(rows), offset)


def colour_groups(keys: Sequence[tuple[str, tuple[str, ...]]], counts: Sequence[int]) -> list[tuple[str, ...]]:
    """For each topic (page, path) with its reference count, the group the map colours it by: the
    page and its path down to the level that splits the page (SPLIT_SHARE)."""
    by_page: dict[str, list[int]] = {}
    for number, (page, _) in enumerate(keys):
        by_page.setdefault(page, []).append(number)
    groups: list[tuple[str, ...]] = [()] * len(keys)
    for page, numbers in by_page.items():
        depth, total = 1, sum(counts[n] for n in numbers)
        while True:
            sizes: dict[tuple[str, ...], int] = {}
            for n in numbers:
                prefix = keys[n][1][:depth]
                sizes[prefix] = sizes.get(prefix, 0) + counts[n]
            largest = max(sizes, key=sizes.__getitem__)
            deeper = any(len(keys[n][1]) > depth and keys[n][1][:depth] == largest for n in numbers)
            if sizes[largest] <= SPLIT_SHARE * total or not deeper:
                break
            depth += 1
        for n in numbers:
            groups[n] = (page, *keys[n][1][:depth])
    return groups


def _reading_order(column: np.ndarray, catalog) -> list[int]:
    """Topic numbers by first appearance; a page's derived topics (which have no order of their own)
    by size, largest first, where their page first appears."""
    values, first, counts = np.unique(column, return_index=True, return_counts=True)
    page_first: dict[int, int] = {}
    for value, row in zip(values.tolist(), first.tolist()):
        page = catalog.topics[value].page
        page_first[page] = min(page_first.get(page, row), row)
    order = []
    for value, row, count in zip(values.tolist(), first.tolist(), counts.tolist()):
        entry = catalog.topics[value]
        order.append(((page_first[entry.page], -count, value) if entry.derived else (row, 0, value), value))
    return [value for _, value in sorted(order)]
