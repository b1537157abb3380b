"""An opened index: the object the CLI, the servers and Python callers all work with.

Its parts (catalog, BM25, vectors, encoder) are opened by `opened.OpenedIndex`; this adds what
callers ask of them, each answered by its own module (search.py, related.py, topics.py,
topicmap.py), imported when first asked.
"""

from __future__ import annotations

from functools import cached_property

from .opened import OpenedIndex
from .params import API, RELATED, SHOW, check
from .records import Reference


class Index(OpenedIndex):
    """An opened index and the questions it answers (the public `refsearch.Index`)."""

    def __repr__(self) -> str:
        return f"Index({str(self.directory)!r}, {self.generation.directory.name}, {len(self)} references)"

    def search(self, query: str, k: int = 10, mode: str = "hybrid", filters=None) -> list:
        """The `k` best references for `query` (any length, Chinese or English) as `Hit`s, best
        first. `mode`: "hybrid" (default), "dense" or "lexical"; `filters`: a `Filters`."""
        return self._searcher.search(query, k=k, mode=mode, filters=filters)

    def related(self, ref: Reference | str, k: int = 5, diverse: bool = False, other_topics: bool = False) -> list:
        """What to read after `ref` (a Reference or any name `resolve` takes), as `Suggestion`s with reasons."""
        from .related import related

        check(RELATED, {"k": k}, API)
        anchor = ref if isinstance(ref, Reference) else self.resolve(ref)
        return related(self, anchor, k=k, diverse=diverse, other_topics=other_topics)

    def resolve(self, text: str) -> Reference:
        """The reference `text` names: an id, a citation key, a DOI, a URL, or a title or its start
        ("vllm", "flash attention"); ambiguity is an error listing the candidates (related.py)."""
        from .related import resolve_reference

        return resolve_reference(self, text)

    def topics(self) -> list:
        """The topics, in reading order, each with its references' ids (derived ones, for pages
        without headings, marked `derived`)."""
        from .topics import topics

        return topics(self)

    def topic_map(self):
        """Each reference's point on the topic map, (len, 2) float32 in [0, 1], row order (topicmap.py);
        an index built before maps raises IndexProblem naming the fix."""
        from . import topicmap

        return topicmap.load(self.generation)

    def siblings(self, ref: Reference, offset: int = 0, limit: int | None = None):
        """The other references under `ref`'s topic, nearest to it first: a `Siblings` window of at
        most `limit` from `offset` on, with the total."""
        from .topics import siblings

        check(SHOW, {"offset": offset, "limit": limit}, API)
        return siblings(self, ref, offset, limit)

    @cached_property
    def _searcher(self):
        from .search import Searcher

        return Searcher(self, self._fusion)
