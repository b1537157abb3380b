"""A tiny deterministic embedder for fast tests of everything but retrieval quality."""

from __future__ import annotations

import hashlib

import numpy as np

from refsearch.lexical import tokenize

DIMENSION = 64


class FakeEncoder:
    model_id = "fake"
    fingerprint = "fake0001"
    dimension = DIMENSION

    def __init__(self):
        self.encoded: list[str] = []

    def encode(self, texts, batch_size: int = 32) -> np.ndarray:
        self.encoded.extend(texts)
        vectors = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in tokenize(text) or ["<empty>"]:
                vectors[row, int(hashlib.md5(token.encode()).hexdigest(), 16) % DIMENSION] += 1.0
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
