"""An int8 sibling of an exported ONNX encoder, written once per model fingerprint.

Dynamic quantisation: the weights of every MatMul and the embedding tables are stored as int8 (one
scale per output channel), activations are quantised per batch at run time: no calibration data.
On SciFact it costs at most 0.004 nDCG@10 and embeds about 2x as many abstracts per CPU-second
(docs/benchmarks.md, "Scale (issue 16): encoder variants"). One scale per weight tensor instead
of per channel lost too much: mean query cosine to fp32 0.958, not 0.993.

Activations get one scale per batch, so a document's vector shifts slightly with the texts it is
batched with (lowest cosine 0.992 between two batchings of 500 SciFact abstracts); a query, encoded
alone, always gets the same vector.

The result is a `refsearch/onnx-encoder@1` directory beside the fp32 one (`<fingerprint>-int8/`)
that `OnnxEncoder` loads unchanged. Its fingerprint is the model's plus `-int8`, so vectors of
the two are never taken for each other. onnxruntime's quantisation tools (and the onnx package
they use) are imported only here, at build time.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

from refsearch.encoders.onnx import (CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE, OnnxBackend, OnnxEncoder,
                                     read_encoder_config, save_optimized)
from refsearch.errors import RefsearchError
from refsearch.store import fsync_path

INT8_SUFFIX = "-int8"
QUANTIZATION = "dynamic int8, per-channel weights"
# Cosine between fp32 and int8 sentence vectors on the probe texts below which the quantised
# encoder is not trusted. Measured: min 0.984 over SciFact's 1,109 queries, 0.95+ on abstracts.
MIN_PROBE_COSINE = 0.95
_PROBE_TEXTS = (
    "Hidden Technical Debt in Machine Learning Systems",
    "GPU slicing with MIG and time-sharing on Kubernetes",
    "Microstructural development of human newborn cerebral white matter assessed in vivo by "
    "diffusion tensor magnetic resonance imaging.",
    "模型推理服务的弹性伸缩",
    "x",
)


def quantize_encoder(exported: Path) -> Path:
    """Return `<exported>-int8/` beside `exported`, quantising into it first unless a sound copy exists."""
    exported = Path(exported)
    config = read_encoder_config(exported)
    if "quantization" in config:
        raise RefsearchError(f"{exported} is already quantised ({config['quantization']}); pass the fp32 export.")
    fingerprint = config["fingerprint"] + INT8_SUFFIX
    target = exported.with_name(exported.name + INT8_SUFFIX)
    from refsearch.encoders.export import write_encoder_dir  # not on the query path (its import: 2 ms)

    return write_encoder_dir(target, fingerprint, lambda out: _quantize(exported, config, fingerprint, out))


def _quantize(exported: Path, config: dict, fingerprint: str, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # its advice to pre-process the model is for static quantisation
    try:
        quantize_dynamic(
            exported / MODEL_FILE,
            out / MODEL_FILE,
            per_channel=True,
            weight_type=QuantType.QInt8,
            use_external_data_format=True,  # weights beside the graph, mapped at load like the fp32 export's
        )
    finally:
        logging.disable(logging.NOTSET)
    shutil.copyfile(exported / TOKENIZER_FILE, out / TOKENIZER_FILE)
    optimized_by = save_optimized(out)
    files = {path.name: path.stat().st_size for path in sorted(out.iterdir())}
    quantized = {**config, "fingerprint": fingerprint, "quantization": QUANTIZATION, "file_sizes": files,
                 "optimized_by": optimized_by}
    (out / CONFIG_FILE).write_text(json.dumps(quantized, indent=2) + "\n", encoding="utf-8")
    for name in [*files, CONFIG_FILE]:
        fsync_path(out / name)
    _check_against_fp32(exported, out)


def _check_against_fp32(exported: Path, quantized: Path) -> None:
    expected = OnnxEncoder(exported).encode(_PROBE_TEXTS)
    actual = OnnxEncoder(quantized).encode(_PROBE_TEXTS)
    cosine = (expected * actual).sum(1) / (np.linalg.norm(expected, axis=1) * np.linalg.norm(actual, axis=1))
    if cosine.min() < MIN_PROBE_COSINE:
        raise RefsearchError(
            f"The int8 encoder quantised from {exported} strays too far from it (min cosine "
            f"{cosine.min():.4f} < {MIN_PROBE_COSINE}). Build with the fp32 encoder instead."
        )


class Int8Backend(OnnxBackend):
    """`--encoder onnx-int8`: the ONNX encoder with int8 weights, about twice as many documents a
    second and a query session in half the CPU, for at most 0.004 nDCG@10 on SciFact."""

    def encoder_source(self, spec) -> Path:
        return quantize_encoder(super().encoder_source(spec))
