"""The refsearch CLI with a stand-in encoder registered as "stand-in": 384 dimensions like the
default model, each text's vector drawn from a generator seeded by its hash. Everything but
embedding is real, so the cost of building and updating a 184,000-paper index can be measured
in minutes instead of the 1.5 hours its embedding takes here (retrieval quality means nothing).

    python scripts/stand_in.py build SOURCES --index DIR --encoder stand-in
    python scripts/stand_in.py search "GPU slicing" --index DIR
"""

from __future__ import annotations

import hashlib

import numpy as np

from refsearch import cli, encoders

DIMENSION = 384


class StandInEncoder:
    model_id = "stand-in"
    fingerprint = "stand-in-384"
    dimension = DIMENSION

    def encode(self, texts, batch_size: int = 32, encoded=None) -> np.ndarray:
        texts = list(texts)
        vectors = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            vectors[row] = np.random.default_rng(seed).standard_normal(DIMENSION, dtype=np.float32)
        if encoded:
            encoded(len(texts))
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


if __name__ == "__main__":
    encoders.register("stand-in", encoders.InProcessBackend(StandInEncoder()))
    cli.main()
