from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
BUNDLED = ROOT / "data" / "refs"


@pytest.fixture
def fake_encoder(monkeypatch):
    """Builds and queries use FakeEncoder instead of the real model."""
    from fakes import FakeEncoder

    from refsearch import build
    from refsearch.index import Index

    encoder = FakeEncoder()

    def fake(index_dir, spec, backend):
        return encoder, {"id": "fake", "path": "", "fingerprint": encoder.fingerprint,
                         "encoder": backend, "dimension": encoder.dimension}

    monkeypatch.setattr(build, "_encoder", fake)
    monkeypatch.setattr(Index, "encoder", property(lambda self: encoder))
    monkeypatch.setattr("refsearch.encoders.models.resolve_model", _fake_spec, raising=False)
    return encoder


def _fake_spec(name):
    from types import SimpleNamespace

    return SimpleNamespace(model_id=name or "fake", path=Path("."), fingerprint="fake0001")


@pytest.fixture(scope="session")
def bundled_index(tmp_path_factory):
    """The bundled data indexed with the real model (ONNX encoder), once per test session."""
    from refsearch.build import build_index
    from refsearch.index import Index

    directory = tmp_path_factory.mktemp("bundled-index")
    build_index([BUNDLED], directory)
    return Index.open(directory)
