"""What the servers answer, from one opened index: render.py's JSON shapes (the fields of the CLI's
`--json`), with inputs checked as the CLI checks them (the same limits, the same one-line messages).

Answers are kept per generation in a bounded cache: a page searching as the user types asks for the
same prefixes again (backspace, back button), and an assistant repeats its queries. A new generation
gets a new `Answers`, so nothing stale is ever served from it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .. import render
from ..index import Index
from ..search import Filters, validate_k

CACHED_ANSWERS = 2048  # search/related answers per generation (about 10 kB each at k=10)


class Answers:
    def __init__(self, index: Index):
        self.index = index
        self.search = lru_cache(maxsize=CACHED_ANSWERS)(self._search)
        self.related = lru_cache(maxsize=CACHED_ANSWERS)(self._related)
        self.topic_map = lru_cache(maxsize=1)(self._topic_map)
        self.topics = lru_cache(maxsize=1)(self._topics)

    @property
    def generation(self) -> str:
        return self.index.generation.directory.name

    def _search(self, query: str, k: int = 10, mode: str = "hybrid", topic: str | None = None,
                kind: str | None = None, year: str | None = None, page: str | None = None) -> dict[str, Any]:
        filters = Filters(topic=topic, kind=kind, years=Filters.parse_years(year) if year else None, page=page)
        return render.results_json(query, self.index.search(query, k=validate_k(k), mode=mode, filters=filters))

    def _related(self, ref: str, k: int = 5, diverse: bool = False) -> dict[str, Any]:
        validate_k(k)
        anchor = self.index.resolve(ref)
        return render.related_json(anchor, self.index.related(anchor, k=k, diverse=diverse))

    def show(self, ref_id: str) -> dict[str, Any]:
        ref = self.index.get(ref_id)
        return render.show_json(ref, self.index.siblings(ref))

    def _topics(self) -> dict[str, Any]:
        return render.topics_json(self.index.topics())

    def _topic_map(self) -> dict[str, Any]:
        return render.map_json(self.index, self.index.topic_map(), self.index.manifest["map"]["method"])

    def status(self) -> dict[str, Any]:
        import refsearch

        return render.status_json(refsearch.status(self.index.directory))
