"""Text encoders: the ONNX one for queries and builds, sentence-transformers as the fallback.

This package imports nothing heavy; each implementation imports its runtime lazily, so the
query path (`refsearch.encoders.onnx`) never pulls in torch.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np


class Encoder(Protocol):
    """Turns texts into float32 rows, L2-normalised when the model's own config normalises."""

    model_id: str
    fingerprint: str
    dimension: int

    def encode(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        """Return an (n, dimension) float32 array, one row per text, in input order.

        16 per batch was the fastest size measured for both implementations (docs/benchmarks.md).
        """
        ...
