"""What the servers answer, from one opened index: render.py's JSON shapes (the fields of the CLI's
`--json`), with inputs checked as the CLI checks them (params.py: the same limits and message templates).

Every answer fits an assistant's context: lists come a window at a time (`offset`, `limit`) and the
whole answer within paging.ANSWER_CHARS characters (paging.fit), saying where the next window starts.
The parameters, their defaults and bounds are params.py's; `format` other than json answers
{"format", "media_type", "text"}: the references as a file for a reference manager (export.py).

Answers are kept per generation in an LRU bounded in bytes (their JSON and their parameters): a page
searching as the user types asks for the same prefixes again (backspace, the back button), and an
assistant repeats its queries. Bounded by count, 2,048 answers of a 1,000,000-character query at
k=1000 (~7 MB each) would hold ~15 GB. `peek` finds a kept answer without computing anything, so the
HTTP server can reply to it from its event loop. A new generation gets a new `Answers`, so nothing
stale is ever served from it.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from typing import Any

from .. import render
from ..index import Index
from ..export import MEDIA_TYPES, export
from ..paging import ANSWER_CHARS, after, fit
from ..params import API, RELATED, SEARCH, SHOW, TOPICS, arguments
from ..search import Filters, shown_hits

# 16 MB of JSON: 1,600 to 5,000 answers of k=10 (3-10 kB each), held in ~2.8 times that as Python objects
KEPT_BYTES = 16 << 20
KEPT_LARGEST = KEPT_BYTES // 16  # a bigger answer (and its query) is computed again when asked again
FILTERS = ("topic", "kind", "page", "author", "venue", "collection", "tag")  # search's parameters that are Filters'


def exported(refs, fmt: str, offset: int = 0, budget: int = ANSWER_CHARS) -> dict[str, Any]:
    """References as a file for a reference manager (export.py): its text, and what HTTP sends it
    as; within `budget` characters as every answer is (the first references that fit, at least one,
    and `next_offset` for the rest: an assistant asking k=1000 with abstracts would get megabytes)."""
    refs = list(refs)
    text, shown = export(refs, fmt), len(refs)
    while shown > 1 and len(text) > budget:
        shown = max(1, min(shown - 1, shown * budget // len(text)))
        text = export(refs[:shown], fmt)
    answer = {"format": fmt, "media_type": MEDIA_TYPES[fmt], "text": text}
    if shown < len(refs):
        answer.update(shown=shown, next_offset=offset + shown, cut_to_fit=True)
    return answer


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
        self._answers: OrderedDict[tuple, tuple[dict, int]] = OrderedDict()  # key -> (answer, bytes)
        self.kept_bytes = 0

    @property
    def _indexes(self) -> list[Index]:
        """The indexes answering: one, or each of several libraries answering as one (libraries.py)."""
        return getattr(self.index, "indexes", [self.index])

    @property
    def generation(self) -> str:
        return "+".join(index.generation.directory.name for index in self._indexes)

    def peek(self, name: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """The kept answer of `name(**params)`, or None (nothing is computed)."""
        return self._recall((name, tuple(sorted(params.items()))))

    @_kept
    def search(self, **given) -> dict[str, Any]:
        """Results `offset` to `offset + k` (weak matches left out unless `include_weak`)."""
        v = arguments(SEARCH, given, API)
        filters = Filters(**{name: v[name] for name in FILTERS}, years=v["year"])
        hits, weak_cut, next_offset = shown_hits(self.index.search(v["query"], k=v["offset"] + v["k"], mode=v["mode"],
                                                                   filters=filters), v["offset"], v["k"], v["include_weak"])
        if v["format"] != "json":
            return exported((hit.ref for hit in hits), v["format"], v["offset"])
        return fit(render.results_json(v["query"], hits, weak_cut=weak_cut, offset=v["offset"], next_offset=next_offset),
                   "results")

    @_kept
    def related(self, **given) -> dict[str, Any]:
        v = arguments(RELATED, given, API)
        anchor = self.index.resolve(v["ref"])
        found, next_offset = after(self.index.related(anchor, k=v["offset"] + v["k"], diverse=v["diverse"]),
                                   v["offset"], v["k"])
        if v["format"] != "json":
            return exported((s.ref for s in found), v["format"], v["offset"])
        return fit(render.related_json(anchor, found, v["offset"], next_offset), "related")

    @_kept
    def show(self, **given) -> dict[str, Any]:
        v = arguments(SHOW, given, API)
        ref = self.index.resolve(v["id"])
        if v["format"] != "json":
            return exported([ref], v["format"])
        return fit(render.show_json(ref, self.index.siblings(ref, v["offset"], v["limit"])), "context", "context_page")

    @_kept
    def topics(self, **given) -> dict[str, Any]:
        v = arguments(TOPICS, given, API)
        return fit(render.topics_json(self.index.topics(), v["offset"], v["limit"]), "topics")

    @_kept
    def topic_map(self) -> dict[str, Any]:
        """Several libraries: each one's map in a panel of its own (Libraries.topic_map)."""
        points = self.index.topic_map()  # an index built before maps: IndexProblem, naming the fix
        method = ", ".join(sorted({index.manifest["map"]["method"] for index in self._indexes}))
        return render.map_json(self.index, points, method)

    @_kept
    def version(self) -> dict[str, Any]:
        """The generation answering, when it was written (UTC) and how many references it holds (for
        several libraries: their generations joined by "+", the latest time, the sum)."""
        indexes = self._indexes
        return {"index": ", ".join(str(index.directory) for index in indexes), "generation": self.generation,
                "created": max(index.manifest.get("created", "") for index in indexes),
                "references": sum(index.manifest["count"] for index in indexes)}

    def status(self) -> dict[str, Any]:
        """Never kept: it reports the sources and files as they are now (sizes checked, not checksums:
        hashing the whole index on every call would make the call cost grow with the library)."""
        import refsearch

        found = [render.status_json(refsearch.status(index.directory, checksums=False)) for index in self._indexes]
        return found[0] if len(found) == 1 else {"libraries": found}

    def _recall(self, key: tuple) -> dict[str, Any] | None:
        with self._lock:
            found = self._answers.get(key)
            if found is not None:
                self._answers.move_to_end(key)
            return found[0] if found is not None else None

    def _keep(self, key: tuple, answer: dict[str, Any]) -> None:
        """Keep `answer` at the cost of its JSON's and its parameters' length (a serialisation: ~0.1 ms
        at k=10, beside a search's milliseconds), dropping the least recently used beyond KEPT_BYTES."""
        size = len(json.dumps(answer, ensure_ascii=False)) + sum(len(str(value)) for _, value in key[1])
        if size > KEPT_LARGEST:
            return
        with self._lock:
            if key in self._answers:
                return
            self._answers[key] = (answer, size)
            self.kept_bytes += size
            while self.kept_bytes > KEPT_BYTES:
                self.kept_bytes -= self._answers.popitem(last=False)[1][1]
