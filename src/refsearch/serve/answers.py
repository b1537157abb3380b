"""What the servers answer, from one opened index: render.py's JSON shapes (the fields of the CLI's
`--json`), with inputs checked as the CLI checks them (the same limits, the same one-line messages).

Every answer fits an assistant's context: lists come a window at a time (`offset`, `limit`) and the
whole answer within paging.ANSWER_CHARS characters (paging.fit), saying where the next window starts.

Answers are kept per generation in a bounded LRU: a page searching as the user types asks for the
same prefixes again (backspace, the back button), and an assistant repeats its queries. `peek` finds a
kept answer without computing anything, so the HTTP server can reply to it from its event loop. A new
generation gets a new `Answers`, so nothing stale is ever served from it.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from typing import Any

from .. import render
from ..index import Index
from ..paging import SIBLINGS_SHOWN, TOPICS_SHOWN, after, fit, validate_ranked, validate_window
from ..search import Filters, shown_hits

KEPT_ANSWERS = 2048  # about 10 kB each at k=10


def _kept(method):
    """Keep the method's answers (by its name and keyword arguments) in the instance's LRU."""

    @functools.wraps(method)
    def answer(self: "Answers", **params) -> dict[str, Any]:
        key = (method.__name__, tuple(sorted(params.items())))
        found = self._recall(key)
        if found is None:
            found = method(self, **params)
            self._keep(key, found)
        return found

    return answer


class Answers:
    def __init__(self, index: Index):
        self.index = index
        self._lock = threading.Lock()
        self._answers: OrderedDict[tuple, dict] = OrderedDict()

    @property
    def generation(self) -> str:
        return self.index.generation.directory.name

    def peek(self, name: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """The kept answer of `name(**params)`, or None (nothing is computed)."""
        return self._recall((name, tuple(sorted(params.items()))))

    @_kept
    def search(self, query: str, k: int = 10, mode: str = "hybrid", topic: str | None = None,
               kind: str | None = None, year: str | None = None, page: str | None = None,
               author: str | None = None, venue: str | None = None, collection: str | None = None,
               tag: str | None = None, offset: int = 0, include_weak: bool = False) -> dict[str, Any]:
        """Results `offset` to `offset + k` (weak matches left out unless `include_weak`)."""
        filters = Filters(topic=topic, kind=kind, years=Filters.parse_years(year) if year else None, page=page,
                          author=author, venue=venue, collection=collection, tag=tag)
        validate_ranked(offset, k, flag="")
        hits, weak_cut, next_offset = shown_hits(self.index.search(query, k=offset + k, mode=mode, filters=filters),
                                                 offset, k, include_weak)
        return fit(render.results_json(query, hits, weak_cut=weak_cut, offset=offset, next_offset=next_offset),
                   "results")

    @_kept
    def related(self, ref: str, k: int = 5, diverse: bool = False, offset: int = 0) -> dict[str, Any]:
        validate_ranked(offset, k, flag="")
        anchor = self.index.resolve(ref)
        found, next_offset = after(self.index.related(anchor, k=offset + k, diverse=diverse), offset, k)
        return fit(render.related_json(anchor, found, offset, next_offset), "related")

    @_kept
    def show(self, id: str, offset: int = 0, limit: int = SIBLINGS_SHOWN) -> dict[str, Any]:
        offset, limit = validate_window(offset, limit, flag="")
        ref = self.index.resolve(id)
        return fit(render.show_json(ref, self.index.siblings(ref, offset, limit)), "context", "context_page")

    @_kept
    def topics(self, offset: int = 0, limit: int = TOPICS_SHOWN) -> dict[str, Any]:
        offset, limit = validate_window(offset, limit, flag="")
        return fit(render.topics_json(self.index.topics(), offset, limit), "topics")

    @_kept
    def topic_map(self) -> dict[str, Any]:
        return render.map_json(self.index, self.index.topic_map(), self.index.manifest["map"]["method"])

    def status(self) -> dict[str, Any]:
        """Never kept: it reports the sources and files as they are now (sizes checked, not checksums:
        hashing the whole index on every call would make the call cost grow with the library)."""
        import refsearch

        return render.status_json(refsearch.status(self.index.directory, checksums=False))

    def _recall(self, key: tuple) -> dict[str, Any] | None:
        with self._lock:
            found = self._answers.get(key)
            if found is not None:
                self._answers.move_to_end(key)
            return found

    def _keep(self, key: tuple, answer: dict[str, Any]) -> None:
        with self._lock:
            self._answers[key] = answer
            if len(self._answers) > KEPT_ANSWERS:
                self._answers.popitem(last=False)
