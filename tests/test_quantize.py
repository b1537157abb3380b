"""The int8 encoder: written once beside the fp32 export, loaded by OnnxEncoder, close to fp32."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_encoders import varied_texts

from refsearch.encoders.export import export_onnx
from refsearch.encoders.models import resolve_model
from refsearch.encoders.folder import CONFIG_FILE, WEIGHTS_FILE
from refsearch.encoders.onnx import OnnxEncoder
from refsearch.encoders.quantize import INT8_SUFFIX, quantize_encoder
from refsearch.errors import RefsearchError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_onnx(resolve_model(None), cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def quantized(exported):
    return quantize_encoder(exported)


def test_int8_sibling_loads_and_agrees_with_fp32(exported, quantized):
    assert quantized == exported.with_name(exported.name + INT8_SUFFIX)
    fp32, int8 = OnnxEncoder(exported), OnnxEncoder(quantized)
    assert int8.fingerprint == fp32.fingerprint + INT8_SUFFIX  # vectors of the two are never mixed
    assert int8.dimension == fp32.dimension == 384
    assert (quantized / WEIGHTS_FILE).stat().st_size < (exported / WEIGHTS_FILE).stat().st_size / 3

    texts = varied_texts()
    expected, actual = fp32.encode(texts), int8.encode(texts, batch_size=8)
    np.testing.assert_allclose(np.linalg.norm(actual, axis=1), 1.0, atol=1e-5)
    cosine = (expected * actual).sum(axis=1)
    # Measured on these 102 texts: min 0.968 (punctuation-only texts), mean 0.989.
    assert cosine.min() >= 0.96 and cosine.mean() >= 0.985


def test_unpacked_weights_give_the_same_vectors(quantized):
    """A one-query process skips repacking the weights: the same vectors, to rounding."""
    texts = varied_texts()[:20]
    packed = OnnxEncoder(quantized, threads=1).encode(texts)
    unpacked = OnnxEncoder(quantized, threads=1, prepack=False).encode(texts)
    np.testing.assert_allclose(unpacked, packed, atol=1e-5)


def test_written_once_and_rewritten_when_damaged(exported, quantized):
    config = json.loads((quantized / CONFIG_FILE).read_text())
    assert config["quantization"] and config["fingerprint"].endswith(INT8_SUFFIX)
    before = (quantized / CONFIG_FILE).stat().st_mtime_ns
    assert quantize_encoder(exported) == quantized
    assert (quantized / CONFIG_FILE).stat().st_mtime_ns == before

    with open(quantized / WEIGHTS_FILE, "r+b") as weights:
        weights.truncate(1000)
    assert quantize_encoder(exported) == quantized
    assert (quantized / WEIGHTS_FILE).stat().st_size == config["file_sizes"][WEIGHTS_FILE]
    OnnxEncoder(quantized).encode(["loads again"])
    assert not [p for p in exported.parent.iterdir() if p.name.startswith(".") and p.name != ".lock"]  # no staging left


def test_quantising_twice_is_refused(quantized):
    with pytest.raises(RefsearchError, match="already quantised"):
        quantize_encoder(quantized)


def test_max_seq_length_cuts_long_texts_only(exported):
    full, cut = OnnxEncoder(exported), OnnxEncoder(exported, max_seq_length=128)
    assert cut.max_seq_length == 128
    assert OnnxEncoder(exported, max_seq_length=10_000).max_seq_length == full.max_seq_length == 256
    short, long = "GPU slicing on Kubernetes", "GPU slicing on Kubernetes. " * 30 + "Tomato soup recipes. " * 60
    assert (full.encode([short]) * cut.encode([short])).sum() > 0.99999
    assert (full.encode([long]) * cut.encode([long])).sum() < 0.99


def test_int8_encoder_builds_an_index_that_answers(tmp_path):
    """`--encoder onnx-int8` through the registry: the index carries the int8 encoder and its saved
    optimised graph, queries load that graph, and the answers are right."""
    import onnxruntime

    import refsearch
    from conftest import BUNDLED
    from refsearch.encoders.folder import OPTIMIZED_FILE

    refsearch.build([BUNDLED], tmp_path / "idx", encoder="onnx-int8")
    index = refsearch.open(tmp_path / "idx")
    model = index.manifest["model"]
    assert model["encoder"] == "onnx-int8" and model["vectors_fingerprint"] == model["fingerprint"] + INT8_SUFFIX
    encoder_dir = tmp_path / "idx" / model["encoder_dir"]
    assert json.loads((encoder_dir / CONFIG_FILE).read_text())["optimized_by"] == onnxruntime.__version__
    assert (encoder_dir / OPTIMIZED_FILE).is_file()
    assert index.search("GPU slicing", k=1)[0].ref.id == "mlops-references/nvidia-multi-instance-gpu-mig"
    assert refsearch.status(tmp_path / "idx").state.condition == "fresh"
