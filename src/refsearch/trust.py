"""Which indexes this user built here: only those may name paths outside themselves.

An index directory can come from anyone (a shared folder, a download, a copy from another
machine), and its manifest names source folders and a model folder. Reading those on a plain
`search` would let a crafted index make refsearch read, hash or ingest files anywhere. So a build
seals what it records about the outside world (state.sealed_facts: the source roots, the model's
path and id, the encoder) with an HMAC
under a key kept in the user's data directory; only a seal that verifies lets a search look at
those paths. Any other index is answered from what it holds inside itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets

from .atomic import publish_file
from .config import data_dir

KEY_FILE = "index-key"


def seal(facts: dict) -> str:
    return hmac.new(_key(create=True), _canonical(facts), hashlib.sha256).hexdigest()


def verify(facts: dict, mac: object) -> bool:
    key = _key(create=False)
    return bool(key) and isinstance(mac, str) and hmac.compare_digest(
        hmac.new(key, _canonical(facts), hashlib.sha256).hexdigest(), mac)


def _canonical(facts: dict) -> bytes:
    return json.dumps(facts, sort_keys=True, ensure_ascii=False).encode()


def _key(create: bool) -> bytes | None:
    path = data_dir() / KEY_FILE
    with contextlib.suppress(OSError):
        with open(path, "rb") as handle:
            key = handle.read(64)
        if len(key) >= 32:
            return key
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    publish_file(path, secrets.token_bytes(32), replace=False)  # created 0600; another build's key, first, wins
    with open(path, "rb") as handle:
        return handle.read(64)
