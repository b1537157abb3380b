"""Text encoders, and the registry that maps an encoder name to the backend that makes it.

A backend knows how to find a model and fingerprint it (build time), how to make the encoder a
build embeds with and what the manifest must remember about it, and how to re-open an encoder for
queries from an index. Build and load both go through `backend(name)`, so a new encoder (an int8
export, a test's fake) is one `register` call. This package imports nothing heavy; each backend
imports its runtime lazily, so the query path (`onnx`) never pulls in torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from refsearch.errors import RefsearchError

if TYPE_CHECKING:
    import numpy as np

# int8 by default: SciFact nDCG@10 within 0.004 of fp32 (the allowance was 0.01), builds embed about
# twice as many documents a second, a cold query creates its session in half the time, and the
# index's copy of the encoder is 45 MB, not 90 (docs/benchmarks.md, "Scale (issue 16)"). An index
# keeps the encoder it was built with; `--encoder onnx` builds with fp32.
DEFAULT_ENCODER = "onnx-int8"


class Encoder(Protocol):
    """Turns texts into float32 rows, L2-normalised when the model's own config normalises."""

    model_id: str
    fingerprint: str
    dimension: int

    def encode(self, texts: Sequence[str], batch_size: int = 16,
               encoded: Callable[[int], None] | None = None) -> np.ndarray:
        """Return an (n, dimension) float32 array, one row per text, in input order.

        16 per batch was the fastest size measured for both implementations (docs/benchmarks.md).
        `encoded` is told how many texts are done, as batches finish: a build's progress bar
        moves with the work, not once per chunk of 2,048.
        """
        ...


@dataclass(frozen=True)
class ModelSpec:
    """A model found on local disk. `files` maps each file (relative) to [size, mtime_ns], so a
    later check can tell "unchanged" from a stat, without hashing gigabytes."""

    model_id: str
    path: Path | None
    fingerprint: str
    files: dict[str, list[int]] = field(default_factory=dict, compare=False)


class Backend(Protocol):
    def resolve(self, model: str | None) -> ModelSpec:
        """The model a build would embed with (None: the default model). Never downloads."""
        ...

    def model_changed(self, recorded: dict) -> bool | None:
        """Whether the model recorded in a manifest fingerprints differently now (None: cannot tell)."""
        ...

    def for_build(self, spec: ModelSpec, index_dir: Path) -> tuple[Encoder, dict]:
        """The encoder to embed with, and the manifest's extra `model` fields for re-opening it."""
        ...

    def for_query(self, index_dir: Path, recorded: dict, model_path: Path | None, one_query: bool = False) -> Encoder:
        """Re-open the query encoder from an index. `model_path` is set only when the user allows
        a model outside the index to be loaded; a backend that needs one must refuse otherwise.
        `one_query`: the process will encode one query and exit, so a backend may load faster at
        the cost of a slower encode."""
        ...


class InProcessBackend:
    """The backend of an encoder that is an object in this process and needs no model files (a
    plug-in's, a test's stand-in): it embeds and answers queries itself, and its `fingerprint`
    (which may be changed) says whether the model changed since an index was built."""

    def __init__(self, encoder: Encoder):
        self.encoder = encoder
        self.fingerprint = encoder.fingerprint

    def resolve(self, model: str | None) -> ModelSpec:
        return ModelSpec(model or self.encoder.model_id, None, self.fingerprint)

    def model_changed(self, recorded: dict) -> bool:
        return recorded["fingerprint"] != self.fingerprint

    def for_build(self, spec: ModelSpec, index_dir: Path) -> tuple[Encoder, dict]:
        return self.encoder, {}

    def for_query(self, index_dir: Path, recorded: dict, model_path: Path | None, one_query: bool = False) -> Encoder:
        return self.encoder


_BACKENDS: dict[str, Backend | str] = {
    "onnx": "refsearch.encoders.onnx:OnnxBackend",
    "onnx-int8": "refsearch.encoders.quantize:Int8Backend",
    "torch": "refsearch.encoders.sbert:TorchBackend",
}
_SUMMARIES = {  # what `build --help` says of each
    "onnx-int8": "int8 ONNX, no torch needed",
    "onnx": "fp32 ONNX, needs the torch extra",
    "torch": "sentence-transformers, needs the torch extra",
}


def choices_text() -> str:
    """The built-in encoders, the default first, in words for `build --help`."""
    named = [f"{name} ({'default: ' if name == DEFAULT_ENCODER else ''}{_SUMMARIES[name]})"
             for name in sorted(_SUMMARIES, key=lambda name: name != DEFAULT_ENCODER)]
    return f"{', '.join(named[:-1])} or {named[-1]}"


def register(name: str, backend: Backend) -> None:
    """Make `name` usable as `--encoder NAME` (and loadable from indexes built with it)."""
    _BACKENDS[name] = backend


def names() -> list[str]:
    return list(_BACKENDS)


def backend(name: str) -> Backend:
    entry = _BACKENDS.get(name)
    if entry is None:
        raise RefsearchError(f"encoder {name!r} is unknown; use one of {', '.join(_BACKENDS)}.")
    if isinstance(entry, str):
        module, _, attribute = entry.partition(":")
        entry = _BACKENDS[name] = getattr(importlib.import_module(module), attribute)()
    return entry
