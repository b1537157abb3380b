"""The torch fallback: sentence-transformers runs every module the model declares (Dense, ...)."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from refsearch.encoders.models import ModelSpec


class SentenceTransformerEncoder:
    """Build-time only (importing sentence-transformers takes seconds)."""

    def __init__(self, spec: ModelSpec):
        os.environ["HF_HUB_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # its weight-loading bar would litter build output

        self.model_id = spec.model_id
        self.fingerprint = spec.fingerprint
        self._model = SentenceTransformer(str(spec.path), device="cpu", local_files_only=True)
        self.dimension = int(self._model.encode([""]).shape[1])

    def encode(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        # encode() sorts by length internally and returns rows in input order; the model's own
        # Normalize module (if any) decides normalisation.
        embeddings = self._model.encode(
            texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(embeddings, dtype=np.float32)
