"""The ONNX encoder against sentence-transformers, with the real bundled model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import refsearch
from refsearch.encoders.export import export_onnx, read_pipeline
from refsearch.encoders.models import DEFAULT_MODEL_ID, model_fingerprint, resolve_model
from refsearch.encoders.folder import MODEL_FILE, WEIGHTS_FILE
from refsearch.encoders.onnx import OnnxEncoder
from refsearch.errors import IndexProblem, RefsearchError

SRC = Path(refsearch.__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "sentence_transformers")
pytestmark = pytest.mark.slow  # every test here runs the real model


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """A private REFSEARCH_CACHE so the tests never write to ~/.cache."""
    directory = tmp_path_factory.mktemp("refsearch-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REFSEARCH_CACHE", str(directory))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield directory


@pytest.fixture(scope="session")
def spec():
    return resolve_model(None)


@pytest.fixture(scope="session")
def exported(cache_dir, spec):
    return export_onnx(spec)


def varied_texts() -> list[str]:
    english = [
        "Hidden Technical Debt in Machine Learning Systems",
        "GPU slicing with MIG and time-sharing on Kubernetes",
        "A practical guide to feature stores for real-time inference",
        "Continuous delivery for machine learning: automating the end-to-end lifecycle",
        "Rules of Machine Learning: best practices for ML engineering",
        "Monitoring data drift and concept drift in production models",
        "How we scaled model serving to millions of requests per second",
        "Reproducible experiments with DVC and MLflow tracking",
        "Designing Machine Learning Systems (book, 2022)",
        "vector search with approximate nearest neighbours",
        "The annotation is short.",
        "Why do so many ML projects never reach production?",
    ]
    chinese = [
        "机器学习系统中的隐藏技术债",
        "模型推理服务的 GPU 切分方案",
        "特征平台的设计与实践",
        "大模型训练的分布式并行策略",
        "数据漂移监控与告警",
        "从零搭建 MLOps 平台的经验总结",
        "向量检索与近似最近邻搜索",
        "模型压缩:量化、剪枝与蒸馏",
        "在线学习与实时推荐系统",
        "经典论文,证明 ML 代码只占系统 5%。",
    ]
    mixed = [
        "用 Kubernetes 调度 GPU 任务",
        "vLLM 推理加速原理解析",
        "MLflow 实验追踪入门教程",
        "Ray Serve 部署大模型 (LLM) 的实践",
        "CD4ML: 机器学习的持续交付",
        "Feature Store 特征存储对比: Feast vs Tecton",
        "RAG 检索增强生成 with LangChain",
        "Triton Inference Server 性能调优",
        "TensorRT-LLM 与 FasterTransformer 的区别",
        "KServe 模型服务 on K8s",
    ]
    edge = [
        "",
        " ",
        "\t\n  ",
        "a",
        "中",
        "?",
        "!!!",
        "...---...",
        "🙂",
        "🚀🔥 GPU",
        "K8s vLLM CD4ML",
        "https://github.com/awesome-mlops/awesome-ml-ops?tab=readme#readme",
        "http://example.com/a/b/c.html",
        "def f(x): return x ** 2  # square",
        "C++/CUDA kernels; SIMD & AVX-512",
        "<b>bold</b> &amp; <i>italic</i>",
        "2023",
        "naïve café résumé",
        "Привет, мир",
        "مرحبا بالعالم",
        "機械学習システムの技術的負債",
        "머신러닝 시스템",
        "zero\u200bwidth",
        "bell\x07char",
        "ALL CAPS TITLE",
        "x" * 600,
        " ".join(["word"] * 2500),
        " ".join(english) * 40,
        "".join(chinese) * 60,
        "混合 mixed " * 800,
    ]
    combined = [f"{e} — {c}" for e, c in zip(english, chinese)]
    combined += [f"{m} ({e.lower()})" for m, e in zip(mixed, english)]
    combined += [f"{c}:{m}" for c, m in zip(chinese, mixed)]
    combined += [f"{e}. 2021 · paper · {c}" for e, c in zip(reversed(english), chinese)]
    texts = english + chinese + mixed + edge + combined
    assert len(texts) >= 100
    return texts


def test_onnx_matches_sentence_transformers(exported, spec):
    from refsearch.encoders.sbert import SentenceTransformerEncoder

    texts = varied_texts()
    onnx = OnnxEncoder(exported)
    reference = SentenceTransformerEncoder(spec)
    assert onnx.dimension == reference.dimension == 384
    assert onnx.fingerprint == reference.fingerprint == spec.fingerprint
    assert onnx.model_id == reference.model_id == DEFAULT_MODEL_ID

    ours = onnx.encode(texts, batch_size=8)  # small batches: many padded, length-sorted batches
    theirs = reference.encode(texts)
    assert ours.dtype == np.float32 and ours.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * theirs).sum(axis=1) / np.linalg.norm(theirs, axis=1)
    worst = int(cosines.argmin())
    print(f"\nmin cosine ONNX vs sentence-transformers over {len(texts)} texts: "
          f"{cosines[worst]:.7f} ({texts[worst][:40]!r})")
    assert cosines.min() >= 0.9999
    # Batch size and position in the batch must not change a row.
    np.testing.assert_allclose(onnx.encode(texts[::-1], batch_size=64)[::-1], ours, atol=1e-5)
    assert onnx.encode([]).shape == (0, 384)


def _start(code: str, cache_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC), "REFSEARCH_CACHE": str(cache_dir), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _result(process: subprocess.Popen) -> dict:
    """Wait for a process started by _start; it prints one JSON line last, returned here."""
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _run(code: str, cache_dir: Path) -> dict:
    return _result(_start(code, cache_dir))


def test_query_path_imports_no_torch(exported, cache_dir):
    result = _run(
        "import json, sys\n"
        "from refsearch.encoders.onnx import OnnxEncoder\n"
        f"vector = OnnxEncoder({str(exported)!r}).encode(['GPU slicing'])\n"
        f"print(json.dumps({{'shape': vector.shape, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))",
        cache_dir,
    )
    assert result == {"shape": [1, 384], "heavy": []}


def test_export_is_cached_without_torch(exported, cache_dir):
    before = (exported / MODEL_FILE).stat().st_mtime_ns
    result = _run(
        "import json, sys\n"
        "from refsearch.encoders.export import export_onnx\n"
        "from refsearch.encoders.models import resolve_model\n"
        "directory = export_onnx(resolve_model(None))\n"
        f"print(json.dumps({{'dir': str(directory), 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))",
        cache_dir,
    )
    assert result == {"dir": str(exported), "heavy": []}
    assert exported.parent == cache_dir / "onnx"
    assert (exported / MODEL_FILE).stat().st_mtime_ns == before
    assert _entries(cache_dir / "onnx") == [exported.name]  # no temp dirs left


def _entries(folder: Path) -> list[str]:
    """What a folder of exports holds, but the lock exports take turns with."""
    return sorted(p.name for p in folder.iterdir() if p.name != ".lock")


def test_concurrent_exports_agree(tmp_path):
    code = (
        "import json\n"
        "from refsearch.encoders.export import export_onnx\n"
        "from refsearch.encoders.models import resolve_model\n"
        "print(json.dumps({'dir': str(export_onnx(resolve_model(None)))}))"
    )
    first, second = _start(code, tmp_path), _start(code, tmp_path)
    results = [_result(first), _result(second)]
    directory = tmp_path / "onnx" / resolve_model(None).fingerprint
    assert results == [{"dir": str(directory)}] * 2
    assert _entries(tmp_path / "onnx") == [directory.name]
    assert OnnxEncoder(directory).encode(["GPU slicing"]).shape == (1, 384)


def test_damaged_cache_entry_is_exported_again(exported, spec, tmp_path):
    copy = tmp_path / "onnx" / exported.name
    shutil.copytree(exported, copy)
    with open(copy / WEIGHTS_FILE, "r+b") as handle:
        handle.truncate(1000)
    assert export_onnx(spec, tmp_path) == copy
    OnnxEncoder(copy).encode(["sound again"])
    assert _entries(tmp_path / "onnx") == [exported.name]


def _fake_model(tmp_path: Path, modules: list[dict]) -> Path:
    model = tmp_path / "fake-model"
    shutil.copytree(resolve_model(None).path, model, ignore=shutil.ignore_patterns("*.safetensors"))
    (model / "modules.json").write_text(json.dumps(modules))
    return model


def test_unsupported_module_is_refused(tmp_path, cache_dir):
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    ]
    spec = resolve_model(str(_fake_model(tmp_path, modules)))
    with pytest.raises(RefsearchError, match=r"sentence_transformers\.models\.Dense.*--encoder torch"):
        export_onnx(spec, tmp_path / "cache")
    assert not (tmp_path / "cache" / "onnx" / spec.fingerprint).exists()


def test_pipeline_follows_the_model_config(tmp_path):
    pipeline = read_pipeline(resolve_model(None).path)
    assert (pipeline.max_seq_length, pipeline.do_lower_case) == (256, False)
    assert (pipeline.pooling, pipeline.normalize) == ("mean", True)

    model = _fake_model(tmp_path, [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ])
    (model / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode": "cls"}))
    assert (read_pipeline(model).pooling, read_pipeline(model).normalize) == ("cls", False)
    (model / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode": ["cls", "mean"]}))
    with pytest.raises(RefsearchError, match="pooling"):
        read_pipeline(model)


def test_truncated_model_is_an_index_problem(exported, tmp_path):
    broken = tmp_path / "truncated"
    shutil.copytree(exported, broken)
    with open(broken / MODEL_FILE, "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(IndexProblem, match="build --force"):
        OnnxEncoder(broken)


def test_garbled_model_is_an_index_problem(exported, tmp_path):
    """Same size as recorded, so it is onnxruntime that fails; that must not leak out raw."""
    broken = tmp_path / "garbled"
    shutil.copytree(exported, broken)
    size = (broken / MODEL_FILE).stat().st_size
    (broken / MODEL_FILE).write_bytes(b"\xff" * size)
    with pytest.raises(IndexProblem, match="build --force"):
        OnnxEncoder(broken)


@pytest.mark.parametrize("damage", ["missing", "not-json", "other-format"])
def test_bad_encoder_json_is_an_index_problem(exported, tmp_path, damage):
    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    config = broken / "encoder.json"
    if damage == "missing":
        config.unlink()
    elif damage == "not-json":
        config.write_text("{ not json")
    else:
        config.write_text(json.dumps({**json.loads(config.read_text()), "format": "other@9"}))
    with pytest.raises(IndexProblem, match="build --force"):
        OnnxEncoder(broken)


def test_resolve_model_names(tmp_path):
    bundled = resolve_model(None)
    assert bundled.model_id == DEFAULT_MODEL_ID and (bundled.path / "modules.json").is_file()
    assert resolve_model("all-MiniLM-L6-v2") == bundled == resolve_model(DEFAULT_MODEL_ID)
    local = resolve_model(str(bundled.path))
    assert local.path == bundled.path and local.fingerprint == bundled.fingerprint
    with pytest.raises(RefsearchError, match="not available offline"):
        resolve_model("no-such-org/no-such-model-for-refsearch")


def test_fingerprint_follows_configs_and_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("REFSEARCH_CACHE", str(tmp_path / "cache"))
    model = tmp_path / "model"
    (model / "1_Pooling").mkdir(parents=True)
    (model / "config.json").write_text('{"hidden_size": 8}')
    (model / "1_Pooling" / "config.json").write_text('{"pooling_mode": "mean"}')
    (model / "model.safetensors").write_bytes(b"\0" * 64)
    big = bytearray(2 * 1024 * 1024)  # above the size whose digest is cached
    (model / "weights.bin").write_bytes(big)
    (model / ".git").mkdir()
    (model / ".git" / "HEAD").write_text("ref")
    first = model_fingerprint(model)
    (model / ".git" / "HEAD").write_text("other ref")
    assert model_fingerprint(model) == first  # hidden folders are not the model
    assert model_fingerprint(model) == first  # now from the digest cache
    stat = (model / "weights.bin").stat()
    short_entry = json.dumps({str((model / "weights.bin").resolve()): [stat.st_size, stat.st_mtime_ns]})
    for damaged in ("[1, 2]", short_entry, "not json"):
        (tmp_path / "cache" / "file-digests.json").write_text(damaged)
        assert model_fingerprint(model) == first  # a damaged digest cache is rebuilt, not trusted
    (model / "model.safetensors").write_bytes(b"\1" * 64)  # fine-tuned in place: same size
    second = model_fingerprint(model)
    big[-1] = 1
    written = (model / "weights.bin").stat().st_mtime_ns
    (model / "weights.bin").write_bytes(big)
    os.utime(model / "weights.bin", ns=(written + 10**9, written + 10**9))  # a later save
    third = model_fingerprint(model)
    (model / "1_Pooling" / "config.json").write_text('{"pooling_mode": "cls"}')
    assert len({first, second, third, model_fingerprint(model)}) == 4


def test_query_tokenizer_lowercases_and_truncates_like_sentence_transformers():
    from types import SimpleNamespace

    from tokenizers import Tokenizer, models, pre_tokenizers

    from refsearch.encoders.export import _query_tokenizer

    vocab = {"[PAD]": 0, "[UNK]": 1, "hello": 2, "world": 3, "HELLO": 4}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    hf_tokenizer = SimpleNamespace(backend_tokenizer=backend, pad_token_id=0, pad_token="[PAD]")

    lowered = _query_tokenizer(hf_tokenizer, do_lower_case=True, max_seq_length=3)
    assert lowered.encode("HELLO World hello world").ids == [2, 3, 2]
    kept = _query_tokenizer(hf_tokenizer, do_lower_case=False, max_seq_length=3)
    assert kept.encode("HELLO World").ids == [4, 1]
    assert [e.ids for e in kept.encode_batch(["hello", "hello world"])] == [[2, 0], [2, 3]]
