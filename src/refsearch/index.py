"""A loaded, verified index generation: records, FAISS vectors, BM25 and the query encoder."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

from . import store
from .errors import IndexProblem
from .lexical import BM25Index
from .records import Reference


class Index:
    def __init__(self, generation: store.Generation):
        self.generation = generation
        self.manifest = generation.manifest
        self.records = _read_records(generation.path("records.jsonl"))
        self.by_id = {ref.id: row for row, ref in enumerate(self.records)}
        self.lexical = BM25Index.load(generation.directory)
        if self.lexical.n_docs != len(self.records):
            raise IndexProblem(f"{generation.directory}: lexical index and records disagree; {store.REBUILD}.")

    @classmethod
    def open(cls, directory: Path, model: str | None = None) -> "Index":
        """Open the current generation; refuse one built with another model than `model`."""
        generation = store.open_generation(directory)
        if generation is None:
            raise IndexProblem(f"{directory}: no index here; run `refsearch build SOURCES --index {directory}`.")
        if model is not None:
            from .encoders.models import resolve_model

            wanted = resolve_model(model)
            built = generation.manifest["model"]
            if wanted.fingerprint != built["fingerprint"]:
                raise IndexProblem(
                    f"{directory}: index was built with model {built['id']!r}, not {model!r}; "
                    f"run `refsearch build --force --model {model}`."
                )
        return cls(generation)

    @cached_property
    def vectors(self):
        import faiss

        index = faiss.read_index(str(self.generation.path("vectors.faiss")))
        if index.ntotal != len(self.records) or index.d != self.manifest["model"]["dimension"]:
            raise IndexProblem(f"{self.generation.directory}: vectors and records disagree; {store.REBUILD}.")
        return index

    @cached_property
    def encoder(self):
        model = self.manifest["model"]
        if model["encoder"] == "torch":
            from .encoders.models import resolve_model
            from .encoders.sbert import SentenceTransformerEncoder

            return SentenceTransformerEncoder(resolve_model(model["path"]))
        from .encoders.onnx import OnnxEncoder

        directory = self.generation.encoder_dir
        for name, size in model["encoder_files"].items():
            path = directory / name
            if not path.is_file() or path.stat().st_size != size:
                raise IndexProblem(f"{path}: query encoder file is missing or damaged; {store.REBUILD}.")
        return OnnxEncoder(directory)

    def row(self, ref_id: str) -> int:
        return self.by_id[ref_id]


def _read_records(path: Path) -> list[Reference]:
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            row.pop("content_hash", None)
            records.append(Reference.from_json(row))
    return records
