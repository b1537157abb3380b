from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
BUNDLED = ROOT / "src" / "refsearch" / "bundled"


@pytest.fixture(autouse=True, scope="session")
def private_user_dirs(tmp_path_factory):
    """The suite never touches the user's own default index, config or index key."""
    home = tmp_path_factory.mktemp("user")
    patch = pytest.MonkeyPatch()
    patch.setenv("REFSEARCH_DATA", str(home / "data"))
    patch.setenv("REFSEARCH_CONFIG_DIR", str(home / "config"))
    for variable in ("REFSEARCH_INDEX", "REFSEARCH_CONFIG"):
        patch.delenv(variable, raising=False)
    yield home
    patch.undo()


@pytest.fixture
def fake_encoder(monkeypatch, tmp_path_factory):
    """Builds through the public API embed with FakeEncoder: registered as encoder "fake" and
    chosen by a config file, the way a user picks an encoder."""
    from fakes import FakeBackend, FakeEncoder

    from refsearch import encoders

    encoder = FakeEncoder()
    encoders.register("fake", FakeBackend(encoder))
    config = tmp_path_factory.mktemp("config") / "refsearch.yaml"
    config.write_text("encoder: fake\n", encoding="utf-8")
    monkeypatch.setenv("REFSEARCH_CONFIG", str(config))
    return encoder


@pytest.fixture(scope="session")
def bundled_index(tmp_path_factory):
    """The bundled data indexed with the real model (ONNX encoder), once per test session."""
    import refsearch

    directory = tmp_path_factory.mktemp("bundled-index")
    refsearch.build([BUNDLED], directory)
    return refsearch.open(directory)


REAL_MODEL_FIXTURES = {"bundled_index", "real_index_a"}


FAST_LANE = False


def pytest_configure(config):
    global FAST_LANE
    FAST_LANE = config.option.markexpr == "not slow"
    # The full suite (CI) draws the same examples every run, so a red CI is a change's doing; the
    # fast lane, run many times a day, draws new ones and so keeps finding new cases.
    from hypothesis import settings

    settings.register_profile("same-examples", derandomize=True)
    settings.register_profile("new-examples", derandomize=False)
    settings.load_profile("new-examples" if FAST_LANE else "same-examples")


def examples(full: int) -> int:
    """Hypothesis examples for a generated test: all of them in the full suite (CI), a tenth in the
    fast lane, which must stay under a minute (test modules are imported after pytest_configure)."""
    return max(25, full // 10) if FAST_LANE else full


def pytest_collection_modifyitems(config, items):
    """Every test that embeds with the real model is `slow`: `make test-fast` (-m "not slow") skips them."""
    for item in items:
        if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_sessionfinish(session, exitstatus):
    """The fast lane must not load the real model: fail it if the ONNX runtime was imported."""
    if session.config.option.markexpr == "not slow" and "onnxruntime" in sys.modules and exitstatus == 0:
        session.exitstatus = 1
        print("\nfast lane: a test not marked slow loaded the real model (onnxruntime was imported)")
