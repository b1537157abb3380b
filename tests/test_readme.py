"""The README's example outputs are the program's (scripts/readme_examples.py writes them)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import readme_examples  # noqa: E402


def test_readme_examples_are_what_the_program_prints(bundled_index):
    found = readme_examples.examples(readme_examples.README.read_text("utf-8"))
    assert len(found) >= 3
    for command, written in found:
        assert readme_examples.output_of(command, bundled_index.directory) == written, (
            f"{command}: the README shows another output; run python scripts/readme_examples.py --write")
