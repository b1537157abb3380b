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

The default model's int8 encoder is made ahead of time and ships inside refsearch (BUNDLED_ENCODER),
so a plain install embeds with it without torch, onnx or the model package: byte for byte what
quantising an export of the model package gives, fingerprint included.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

from refsearch.config import cache_root
from refsearch.encoders import ModelSpec
from refsearch.encoders.models import DEFAULT_MODEL_ID, DEFAULT_NAMES
from refsearch.encoders.folder import CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE, read_encoder_config
from refsearch.encoders.onnx import OnnxBackend, OnnxEncoder, save_optimized
from refsearch.encoders.sharing import DIGESTS, file_digests
from refsearch.errors import IndexProblem, RefsearchError, require_extra

INT8_SUFFIX = "-int8"
# The default model's int8 encoder, shipped as package data (made by scripts/bundle_data.py with
# export_onnx and quantize_encoder from the model package), so a plain install needs no torch and no
# export; the model's licence travels with it, into every index that copies it.
BUNDLED_ENCODER = Path(__file__).with_name("all-MiniLM-L6-v2-int8")
BUNDLED_LICENCE = ("LICENSE", "NOTICE")
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


def bundled_spec() -> ModelSpec:
    """The default model as the shipped int8 encoder knows it: its fingerprint is the one the model
    package's files give (the encoder's, less INT8_SUFFIX), so indexes built from that package
    before the encoder shipped keep their vectors."""
    config = _bundled_config()
    return ModelSpec(model_id=config["model_id"], path=BUNDLED_ENCODER,
                     fingerprint=config["fingerprint"].removesuffix(INT8_SUFFIX))


def bundled_encoder_dir() -> Path:
    """`<cache>/onnx/<fingerprint>/`: the shipped encoder plus onnxruntime's optimised graph (which
    only the onnxruntime that writes it may load, so it is written here, once, not shipped), the
    folder a build copies into the index."""
    config = _bundled_config()
    target = cache_root() / "onnx" / config["fingerprint"]
    from refsearch.encoders.export import write_encoder_dir

    return write_encoder_dir(target, config["fingerprint"], lambda out: _unpack_bundled(config, out))


def _bundled_config() -> dict:
    try:
        return read_encoder_config(BUNDLED_ENCODER)
    except IndexProblem:
        raise RefsearchError(f"{BUNDLED_ENCODER}: refsearch's own copy of all-MiniLM-L6-v2 is damaged or incomplete; "
                             "reinstall refsearch (pip install --force-reinstall refsearch).") from None


def _unpack_bundled(config: dict, out: Path) -> None:
    for name in [*config["file_sizes"], *BUNDLED_LICENCE]:
        shutil.copyfile(BUNDLED_ENCODER / name, out / name)
    finish_encoder_dir(out, config)


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
    require_extra("torch", "onnx", why=f"quantising {exported} to int8")  # onnxruntime's quantiser reads with onnx
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
    finish_encoder_dir(out, {**config, "fingerprint": fingerprint, "quantization": QUANTIZATION})
    _check_against_fp32(exported, out)


def finish_encoder_dir(out: Path, config: dict) -> None:
    """Save onnxruntime's optimised graph of `out`'s model beside it, then its encoder.json (`config`
    with every file's size and sha256 and the onnxruntime version that optimised); publishing the folder fsyncs them."""
    optimized_by = save_optimized(out)
    files = {path.name: path.stat().st_size for path in sorted(out.iterdir()) if path.name != CONFIG_FILE}
    finished = {**config, "file_sizes": files, DIGESTS: file_digests(out, files), "optimized_by": optimized_by}
    (out / CONFIG_FILE).write_text(json.dumps(finished, indent=2) + "\n", encoding="utf-8")


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
    second and a query session in half the CPU, for at most 0.004 nDCG@10 on SciFact. The default
    model's int8 encoder ships with refsearch (BUNDLED_ENCODER); other models are exported and
    quantised once, which needs the `torch` extra."""

    def resolve(self, model: str | None) -> ModelSpec:
        return bundled_spec() if model in DEFAULT_NAMES else super().resolve(model)

    def model_changed(self, recorded: dict) -> bool | None:
        if recorded.get("id") == DEFAULT_MODEL_ID:  # the shipped encoder, whose fingerprint says it all
            return recorded.get("fingerprint") != bundled_spec().fingerprint
        return super().model_changed(recorded)

    def encoder_source(self, spec: ModelSpec) -> Path:
        if spec == bundled_spec():
            return bundled_encoder_dir()
        return quantize_encoder(super().encoder_source(spec))
