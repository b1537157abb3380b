"""The torch fallback: sentence-transformers runs every module the model declares (Dense, ...)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from refsearch.encoders import ModelSpec
from refsearch.encoders.models import SentenceTransformersModels, resolve_model
from refsearch.errors import IndexProblem, RefsearchError, require_extra


class TorchBackend(SentenceTransformersModels):
    """sentence-transformers itself: runs any module a model declares, at seconds of import cost.
    Queries load the model from its own folder, outside the index, so only when the user allows."""

    def for_build(self, spec: ModelSpec, index_dir: Path) -> tuple["SentenceTransformerEncoder", dict]:
        return SentenceTransformerEncoder(spec), {}

    def for_query(self, index_dir: Path, recorded: dict, model_path: Path | None,
                  one_query: bool = False) -> "SentenceTransformerEncoder":
        if model_path is None:
            raise IndexProblem(
                f"{index_dir}: this index embeds queries with the sentence-transformers model at "
                f"{recorded.get('path')!r}, outside the index; pass --model PATH to allow loading it.")
        return SentenceTransformerEncoder(resolve_model(str(model_path)))


class SentenceTransformerEncoder:
    """Build-time only (importing sentence-transformers takes seconds)."""

    def __init__(self, spec: ModelSpec):
        os.environ["HF_HUB_OFFLINE"] = "1"
        require_extra("torch", "torch", "sentence_transformers", why="the torch encoder")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # its weight-loading bar would litter build output

        self.model_id = spec.model_id
        self.fingerprint = spec.fingerprint
        try:
            self._model = SentenceTransformer(str(spec.path), device="cpu", local_files_only=True)
            self.dimension = int(self._model.encode([""]).shape[1])
        except Exception as error:  # a broken or custom model fails in many library-specific ways
            raise RefsearchError(f"{spec.path}: sentence-transformers cannot load this model "
                                 f"({type(error).__name__}: {str(error)[:200]}).") from error

    def encode(self, texts: Sequence[str], batch_size: int = 16,
               encoded: Callable[[int], None] | None = None) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        # encode() sorts by length internally and returns rows in input order; the model's own
        # Normalize module (if any) decides normalisation. It reports no progress of its own, so
        # `encoded` hears of the texts once they are all done.
        embeddings = self._model.encode(
            texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        if encoded:
            encoded(len(texts))
        return np.asarray(embeddings, dtype=np.float32)
