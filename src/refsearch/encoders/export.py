"""Export a sentence-transformers model once per fingerprint into an ONNX encoder directory.

Only the transformer runs in ONNX (it outputs the last hidden state); pooling and normalisation
are done in numpy by `OnnxEncoder`, following the model's own sentence-transformers config.
torch and transformers are imported only inside `export_onnx`, and only on a cache miss.
"""

from __future__ import annotations

import inspect
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from refsearch.encoders.models import ModelSpec
from refsearch.encoders.folder import (
    CONFIG_FILE,
    FORMAT,
    MODEL_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    read_encoder_config,
)
from refsearch.config import cache_root
from refsearch.atomic import publish_folder, staging
from refsearch.files import build_lock, remove
from refsearch.encoders.sharing import DIGESTS, file_digests
from refsearch.errors import IndexProblem, RefsearchError, require_extra

SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")
_FEEDABLE_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_LEGACY_POOLING_KEYS = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
_POOLING_NAMES = {"mean_sqrt_len_tokens": "mean_sqrt_len"}
# Cosine between ONNX and torch on a probe batch below which the export is not trusted.
_MIN_PROBE_COSINE = 0.9999


@dataclass(frozen=True)
class Pipeline:
    """What the model's sentence-transformers config asks for, restricted to what we can run."""

    transformer_dir: Path
    max_seq_length: int | None
    do_lower_case: bool
    pooling: str
    normalize: bool


def export_onnx(spec: ModelSpec, cache_dir: Path | None = None) -> Path:
    """Return `<cache>/onnx/<fingerprint>/`, exporting into it first unless a sound copy exists."""
    target = Path(cache_dir or cache_root()) / "onnx" / spec.fingerprint
    return write_encoder_dir(target, spec.fingerprint, lambda out: _export(spec, read_pipeline(spec.path), out))


def write_encoder_dir(target: Path, fingerprint: str, write: Callable[[Path], None]) -> Path:
    """Return `target` (a folder of the cache's onnx folder); unless it already holds a sound encoder
    of `fingerprint`, `write` one into a staging folder beside it first and publish that (atomic.py:
    a concurrent writer's sound copy wins), so readers never see half of it.

    Writers into one cache take turns, each holding a lock on the onnx folder for as long as its
    staging folder (`.<name>-*`, up to 90 MB) lives. So the hidden folders found under the lock are
    what killed writers left, and are removed; and a writer that waited uses what it waited for
    when that was the same encoder.
    """
    if _is_sound(target, fingerprint):
        return target
    root = target.parent
    root.mkdir(parents=True, exist_ok=True)
    with build_lock(root, activity="ONNX export"):
        if _is_sound(target, fingerprint):
            return target
        for leftover in root.glob(".*"):
            if leftover.name != ".lock":
                remove(leftover)
        with staging(root, f".{target.name}-") as folder:
            write(folder)
            publish_folder(folder, target, complete=lambda found: _is_sound(found, fingerprint))
    return target


def read_pipeline(model_dir: Path) -> Pipeline:
    """Read modules.json and the module configs; refuse anything the ONNX path cannot reproduce."""
    modules_file = model_dir / "modules.json"
    if not modules_file.is_file():
        # A plain Hugging Face model: sentence-transformers wraps it with mean pooling.
        return Pipeline(model_dir, None, False, "mean", False)
    modules = _read_json(modules_file)
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    unsupported = [m.get("type") for m, kind in zip(modules, kinds) if kind not in SUPPORTED_MODULES]
    if unsupported:
        raise RefsearchError(
            f"{modules_file}: module {', '.join(map(str, unsupported))} is not supported by the "
            f"ONNX encoder (it runs only {', '.join(SUPPORTED_MODULES)}). "
            "Build with `--encoder torch` to embed with sentence-transformers instead."
        )
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise RefsearchError(
            f"{modules_file}: modules {kinds} are not Transformer, Pooling[, Normalize] in that "
            "order, which is all the ONNX encoder runs. Build with `--encoder torch` instead."
        )
    transformer_dir = model_dir / modules[0].get("path", "")
    st_config_file = transformer_dir / "sentence_bert_config.json"
    st_config = _read_json(st_config_file) if st_config_file.is_file() else {}
    return Pipeline(
        transformer_dir=transformer_dir,
        max_seq_length=st_config.get("max_seq_length"),
        do_lower_case=bool(st_config.get("do_lower_case", False)),
        pooling=_pooling_mode(model_dir / modules[1].get("path", "") / "config.json"),
        normalize=len(kinds) == 3,
    )


def _pooling_mode(config_file: Path) -> str:
    config = _read_json(config_file)
    if "pooling_mode" in config:
        modes = config["pooling_mode"]
        modes = [modes] if isinstance(modes, str) else list(modes)
    else:
        modes = [name for key, name in _LEGACY_POOLING_KEYS.items() if config.get(key)]
    modes = [_POOLING_NAMES.get(mode, mode) for mode in modes]
    if len(modes) != 1 or modes[0] not in ("mean", "cls", "max", "mean_sqrt_len", "lasttoken"):
        raise RefsearchError(
            f"{config_file}: pooling {modes} is not supported by the ONNX encoder (one of mean, "
            "cls, max, mean_sqrt_len, lasttoken). Build with `--encoder torch` instead."
        )
    return modes[0]


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RefsearchError(f"{path}: cannot read the model's config: {exc}") from None


def _export(spec: ModelSpec, pipeline: Pipeline, out: Path) -> None:
    require_extra("torch", "torch", "transformers", "onnx", why=f"exporting {spec.model_id} to ONNX")
    import onnx
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # its weight-loading bar would litter build output
    tokenizer = AutoTokenizer.from_pretrained(pipeline.transformer_dir)
    if not tokenizer.is_fast:
        raise RefsearchError(
            f"{spec.model_id}: the model has no fast (tokenizer.json) tokenizer, which the ONNX "
            "encoder needs. Build with `--encoder torch` instead."
        )
    # Eager attention traces to plain ops with no data-dependent branches.
    model = AutoModel.from_pretrained(pipeline.transformer_dir, attn_implementation="eager").eval()
    max_seq_length = pipeline.max_seq_length or min(
        tokenizer.model_max_length, model.config.max_position_embeddings
    )
    accepted = inspect.signature(model.forward).parameters
    input_names = [n for n in _FEEDABLE_INPUTS if n in accepted and n in tokenizer.model_input_names]

    class LastHiddenState(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(**dict(zip(input_names, inputs))).last_hidden_state

    # The trace batch is padded so the attention mask is traced as data, not as all-ones.
    trace = tokenizer(["refsearch exports this model once", "short"], padding=True, return_tensors="pt")
    axes = {name: {0: "batch", 1: "sequence"} for name in [*input_names, "last_hidden_state"]}
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            LastHiddenState().eval(),  # export restores this mode recursively: keep dropout off
            tuple(trace[name] for name in input_names),
            buffer,
            dynamo=False,  # the dynamo exporter needs onnxscript, which is not a dependency
            input_names=input_names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            do_constant_folding=True,
        )
    onnx.save_model(
        onnx.load_from_string(buffer.getvalue()),
        str(out / MODEL_FILE),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=WEIGHTS_FILE,
        size_threshold=1024,
    )

    backend = _query_tokenizer(tokenizer, pipeline.do_lower_case, max_seq_length)
    backend.save(str(out / TOKENIZER_FILE), pretty=False)
    dimension = _check_against_torch(model, tokenizer, out / MODEL_FILE, input_names, max_seq_length)

    files = {name: (out / name).stat().st_size for name in (MODEL_FILE, WEIGHTS_FILE, TOKENIZER_FILE)}
    config = {
        "format": FORMAT,
        "model_id": spec.model_id,
        "fingerprint": spec.fingerprint,
        "dimension": dimension,
        "max_seq_length": max_seq_length,
        "pooling": pipeline.pooling,
        "normalize": pipeline.normalize,
        "input_names": input_names,
        "file_sizes": files,
        DIGESTS: file_digests(out, files),
    }
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _query_tokenizer(tokenizer, do_lower_case: bool, max_seq_length: int):
    """The fast tokenizer as sentence-transformers configures it, saved as one tokenizer.json."""
    from tokenizers import Tokenizer, normalizers

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    if do_lower_case and not _lowercases(json.loads(backend.to_str()).get("normalizer")):
        # sentence-transformers prepends Lowercase when do_lower_case is set and none is present.
        steps = [normalizers.Lowercase()]
        if backend.normalizer is not None:
            steps.append(backend.normalizer)
        backend.normalizer = normalizers.Sequence(steps)
    backend.enable_truncation(max_length=max_seq_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    backend.enable_padding(pad_id=pad_id, pad_token=tokenizer.pad_token or "[PAD]")
    return backend


def _lowercases(normalizer: dict | None) -> bool:
    if not normalizer:
        return False
    if normalizer.get("type") == "Sequence":
        return any(_lowercases(step) for step in normalizer.get("normalizers", []))
    return normalizer.get("type") == "Lowercase" or bool(normalizer.get("lowercase"))


def _check_against_torch(model, tokenizer, onnx_file: Path, input_names, max_seq_length) -> int:
    """Run a probe batch of another shape than the trace through both; return the hidden size."""
    import numpy as np
    import onnxruntime
    import torch

    probe = tokenizer(
        ["A probe sentence that is longer than the others in this batch.", "", "GPU 切分 K8s"],
        padding=True,
        truncation=True,
        max_length=max_seq_length,
        return_tensors="pt",
    )
    with torch.no_grad():
        expected = model(**{n: probe[n] for n in input_names}).last_hidden_state.numpy()
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    (actual,) = session.run(None, {n: probe[n].numpy() for n in input_names})
    mask = probe["attention_mask"].numpy().astype(bool)
    a, b = actual[mask], expected[mask]
    cosine = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    if actual.shape != expected.shape or cosine.min() < _MIN_PROBE_COSINE:
        raise RefsearchError(
            f"The ONNX export of {onnx_file.parent} does not reproduce the torch model "
            f"(min token cosine {cosine.min():.5f}). Build with `--encoder torch` instead."
        )
    return int(expected.shape[-1])


def _is_sound(directory: Path, fingerprint: str) -> bool:
    try:
        return read_encoder_config(directory)["fingerprint"] == fingerprint
    except IndexProblem:
        return False
