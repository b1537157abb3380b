"""An encoder folder: the ONNX graph, its weights, the tokenizer and encoder.json, which lists them.

Its writers (export.py, quantize.py) and its reader (onnx.py) share what it holds and how it is
checked, so that the reader imports no writer and no writer the reader.
"""

from __future__ import annotations

import json
from pathlib import Path

from refsearch.errors import IndexProblem

FORMAT = "refsearch/onnx-encoder@1"
CONFIG_FILE = "encoder.json"
MODEL_FILE = "model.onnx"
# Weights live next to the graph as ONNX external data: onnxruntime maps them instead of parsing
# them out of a 90 MB protobuf, which cuts session creation from ~140 ms to ~50 ms.
WEIGHTS_FILE = "model.onnx.data"
TOKENIZER_FILE = "tokenizer.json"
# The graph as onnxruntime optimises it, saved once (int8 encoders): loading it with optimisation off
# creates a query's session in ~40 ms of CPU instead of ~90 (docs/benchmarks.md). It holds
# onnxruntime's own fused operators, so it is used only by the onnxruntime version that wrote it.
OPTIMIZED_FILE = "model.opt.onnx"
POOLINGS = ("mean", "cls", "max", "mean_sqrt_len", "lasttoken")
_REQUIRED_KEYS = {
    "model_id": str,
    "fingerprint": str,
    "dimension": int,
    "max_seq_length": int,
    "pooling": str,
    "normalize": bool,
    "input_names": list,
    "file_sizes": dict,
}


def read_encoder_config(directory: Path) -> dict:
    """Load and check encoder.json and the files it lists (by size, so truncation is caught)."""
    from refsearch.files import plain_name, read_index_file

    try:
        config = json.loads(read_index_file(directory / CONFIG_FILE))
    except (IndexProblem, ValueError) as exc:
        raise damaged_encoder(directory, f"cannot read {CONFIG_FILE}: {exc}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise damaged_encoder(directory, f"{CONFIG_FILE} is not in the {FORMAT} format")
    for key, kind in _REQUIRED_KEYS.items():
        if not isinstance(config.get(key), kind):
            raise damaged_encoder(directory, f"{CONFIG_FILE} has no valid {key!r}")
    if config["pooling"] not in POOLINGS:
        raise damaged_encoder(directory, f"unknown pooling {config['pooling']!r}")
    for name, size in config["file_sizes"].items():
        if not plain_name(name):
            raise damaged_encoder(directory, f"{CONFIG_FILE} names {name!r}, not a file beside it")
        path = directory / name
        if not path.is_file():
            raise damaged_encoder(directory, f"{name} is missing")
        if path.stat().st_size != size:
            raise damaged_encoder(directory, f"{name} has {path.stat().st_size} bytes, expected {size}")
    return config


def damaged_encoder(directory: Path, why: str) -> IndexProblem:
    return IndexProblem(
        f"The ONNX encoder in {directory} is damaged or incomplete ({why}). "
        "Run `refsearch build --force` to rebuild it."
    )
