"""An opened index: the object the CLI, the servers and Python callers all work with.

Opening reads the manifest, the small catalog arrays and the lexical index (memory-mapped); the
vectors and the query encoder load on first use, and a query reads only the records it returns.
Whether the index is fresh, and updating it, is `refsearch.open`'s business (api.py), not this one's.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Iterator

from . import encoders, store, vectors
from .catalog import Catalog
from .errors import IndexProblem, UnknownReference
from .fusion import DEFAULT_FUSION, Fusion
from .lexical import BM25Index
from .params import API, RELATED, SHOW, check
from .records import Reference


class Index:
    def __init__(self, generation: store.Generation, model_path: Path | None = None,
                 fusion: Fusion = DEFAULT_FUSION, one_query: bool = False):
        """`model_path`: a model folder outside the index that the query encoder may load (only the
        torch encoder needs one; the caller decides whether the index may name it). `one_query`:
        the caller asks one query and exits (the CLI), so the encoder loads for that (encoders.Backend)."""
        self.generation = generation
        self.directory = generation.index_dir
        self.manifest = generation.manifest
        self.catalog = Catalog(generation)
        self.lexical = BM25Index.load(generation.directory)
        if self.lexical.n_docs != self.catalog.count:
            raise IndexProblem(f"{generation.directory}: lexical index and records disagree; {store.REBUILD}.")
        self._model_path = model_path
        self._fusion = fusion
        self._one_query = one_query

    @classmethod
    def open(cls, directory: Path, model_path: Path | None = None) -> "Index":
        """The current generation as it is (no freshness check: see `refsearch.open`)."""
        generation = store.open_generation(Path(directory))
        if generation is None:
            raise IndexProblem(f"{directory}: no index here; run `refsearch build SOURCES --index {directory}`.")
        return cls(generation, model_path)

    def __len__(self) -> int:
        return self.catalog.count

    def __iter__(self) -> Iterator[Reference]:
        """Every reference, in index order (reads the whole records file)."""
        return iter(self.catalog)

    def reference(self, row: int) -> Reference:
        return self.catalog.reference(row)

    def row(self, ref_id: str) -> int:
        try:
            return self.catalog.row_of[ref_id]
        except KeyError:
            raise UnknownReference(f"ID {ref_id!r} is not in the index; `refsearch search` prints ids with --json.") from None

    def get(self, ref_id: str) -> Reference:
        return self.reference(self.row(ref_id))

    def __contains__(self, ref_id: str) -> bool:
        return ref_id in self.catalog.row_of

    @cached_property
    def vectors(self) -> vectors.VectorStore:
        manifest = self.manifest
        for name in manifest["vectors"]["files"]:
            self.generation.path(name)  # a plain name inside the generation, or IndexProblem
        return vectors.open_store(self.generation.directory, manifest["vectors"], manifest["count"],
                                  manifest["model"]["dimension"])

    @cached_property
    def fulltext(self):
        """The passages of the references' full texts (refsearch.fulltext.FullText), or None when the
        index holds none; opened on the first lexical search."""
        if "fulltext" not in self.manifest:
            return None  # nothing imported or opened for an index without full text
        from .fulltext import FullText

        return FullText(self.generation, self.catalog.count)

    @cached_property
    def features(self):
        """Per-reference facts fusion weighs (docfeatures.DocumentFeatures), or None for an index
        built before them; memory-mapped, a query reads its candidates' rows."""
        from .docfeatures import DocumentFeatures

        return DocumentFeatures.load(self.generation)

    @cached_property
    def encoder(self) -> encoders.Encoder:
        model = self.manifest["model"]
        encoder = encoders.backend(model["encoder"]).for_query(self.directory, model, self._model_path,
                                                               one_query=self._one_query)
        if encoder.dimension != model["dimension"]:
            raise IndexProblem(f"{self.directory}: the query encoder and the vectors disagree; {store.REBUILD}.")
        return encoder

    # --- what callers ask of an index ----------------------------------------------------------

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
