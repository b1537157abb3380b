"""A tiny deterministic embedder for fast tests of everything but retrieval quality, registered as
the encoder "fake" through the public registry (refsearch.encoders.register)."""

from __future__ import annotations

import hashlib

import numpy as np

from refsearch.encoders import InProcessBackend
from refsearch.tokenizer import tokenize

DIMENSION = 64


class FakeEncoder:
    model_id = "fake"
    fingerprint = "fake0001"
    dimension = DIMENSION

    def __init__(self):
        self.encoded: list[str] = []

    def encode(self, texts, batch_size: int = 32, encoded=None) -> np.ndarray:
        self.encoded.extend(texts)
        vectors = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in tokenize(text) or ["<empty>"]:
                vectors[row, int(hashlib.md5(token.encode()).hexdigest(), 16) % DIMENSION] += 1.0
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class FakeBackend(InProcessBackend):
    """Needs no model files; `fingerprint` can be changed to play "the model changed"; counts the
    query encoders opened."""

    def __init__(self, encoder: FakeEncoder):
        super().__init__(encoder)
        self.opened_for_one_query: list[bool] = []  # one entry per query encoder opened

    def for_query(self, index_dir, recorded, model_path, one_query=False):
        self.opened_for_one_query.append(one_query)
        return super().for_query(index_dir, recorded, model_path, one_query)
