"""The README's example outputs and docs/cli.md's help texts are the program's
(scripts/readme_examples.py writes them)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import readme_examples  # noqa: E402


@pytest.mark.parametrize("document", readme_examples.DOCUMENTS, ids=lambda path: path.name)
def test_examples_are_what_the_program_prints(bundled_index, document):
    found = readme_examples.examples(document.read_text("utf-8"))
    assert len(found) >= 3
    for command, written in found:
        assert readme_examples.output_of(command, bundled_index.directory) == written, (
            f"{command}: {document.name} shows another output; run python scripts/readme_examples.py --write")
