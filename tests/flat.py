"""A flat library for tests of derived topics: JSON Lines entries without a topic, their titles drawn
from a few themes' words, so the fake encoder's vectors fall into clusters a test can check."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

import refsearch

THEMES = {
    "gpu": "gpu cuda kernel tensor cores memory bandwidth warp".split(),
    "birds": "bird migration nesting feathers songbird flock wings".split(),
    "bread": "sourdough yeast flour oven baking crust dough".split(),
}


def flat_library(count_per_theme: int = 30, seed: int = 1, themes=THEMES) -> list[dict]:
    rng = random.Random(seed)
    entries = []
    for theme, words in themes.items():
        for number in range(count_per_theme):
            entries.append({"id": f"lib/{theme}-{number}", "title": " ".join(rng.sample(words, 3)) + f" study {number}"})
    rng.shuffle(entries)
    return entries


def write_jsonl(path: Path, entries) -> None:
    path.write_text("".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries), "utf-8")


@pytest.fixture(scope="module")
def built_flat_library(tmp_path_factory) -> Path:
    """`refs/lib.jsonl` (flat_library()) indexed into `idx` beside it, once per test module, with the
    fake encoder (registered here: the fake_encoder fixture is per test)."""
    from fakes import FakeBackend, FakeEncoder

    from refsearch import encoders

    root = tmp_path_factory.mktemp("flat-library")
    (root / "refs").mkdir()
    write_jsonl(root / "refs" / "lib.jsonl", flat_library())
    (root / "refsearch.yaml").write_text("encoder: fake\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        encoders.register("fake", FakeBackend(FakeEncoder()))
        patch.setenv("REFSEARCH_CONFIG", str(root / "refsearch.yaml"))
        refsearch.build([root / "refs"], root / "idx")
    return root


@pytest.fixture
def flat_index(built_flat_library, tmp_path, fake_encoder) -> Path:
    """A copy of the built flat library (its sources beside it, recorded relative to it): the folder
    holding `refs` and `idx`, for one test to change as it likes."""
    for name in ("refs", "idx"):
        shutil.copytree(built_flat_library / name, tmp_path / name, symlinks=True)
    return tmp_path
