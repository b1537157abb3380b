"""An index generation opened for reading: the parts the query algorithms (search.py, related.py,
topics.py) work on. `index.Index` adds the questions callers ask, and so imports those algorithms;
they import only this, so the two never import each other.

Opening reads the manifest, the small catalog arrays and the lexical index (memory-mapped); the
vectors and the query encoder load on first use, and a query reads only the records it returns.
Whether the index is fresh, and updating it, is `refsearch.open`'s business (api.py), not this one's.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Iterator

from . import encoders, store, vectors
from .files import REBUILD
from .catalog import Catalog
from .errors import IndexProblem, UnknownReference
from .fusion import DEFAULT_FUSION, Fusion
from .lexical import BM25Index
from .records import Reference


class OpenedIndex:
    """One generation's parts, opened: what search.py, related.py and topics.py read."""

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
            raise IndexProblem(f"{generation.directory}: lexical index and records disagree; {REBUILD}.")
        self._model_path = model_path
        self._fusion = fusion
        self._one_query = one_query

    @classmethod
    def open(cls, directory: Path, model_path: Path | None = None):
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
        manifest = self.manifest  # its vector files' names were checked with it (store.read_manifest)
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
            raise IndexProblem(f"{self.directory}: the query encoder and the vectors disagree; {REBUILD}.")
        return encoder
