"""The README's example outputs and docs/cli.md's help texts, made by the program itself, so they
cannot drift.

An example is a fenced block right after a `<!-- output -->` line; its first line is the command
(`$ refsearch …`), the rest is what that command prints on the bundled list, 100 columns wide, no
colour (a `--help` or `--version` is printed as it is, with no index). `--write` runs each command
and rewrites the blocks; without it the script only checks, and tests/test_readme.py runs the same
check in the suite.

    python scripts/readme_examples.py [--write]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCUMENTS = (README, ROOT / "docs" / "cli.md")  # the files whose examples are the program's
EXAMPLE = re.compile(r"(<!-- output -->\n```\n\$ (?P<command>[^\n]+)\n)(?P<output>.*?)(```)", re.DOTALL)
WIDTH = 100


def examples(text: str) -> list[tuple[str, str]]:
    """(command, output as written) for each example in `text`."""
    return [(match["command"], match["output"]) for match in EXAMPLE.finditer(text)]


def output_of(command: str, index: Path) -> str:
    """What `command` (a `refsearch …` line) prints on the bundled list indexed in `index`."""
    from typer.testing import CliRunner

    from refsearch.cli import app

    words = shlex.split(command)
    assert words[0] == "refsearch", command
    indexed = [] if {"--help", "--version"} & set(words) else ["--index", str(index)]
    result = CliRunner().invoke(app, [*words[1:], *indexed], prog_name="refsearch",
                                env={"COLUMNS": str(WIDTH), "NO_COLOR": "1", "TERM": "dumb"})
    if result.exit_code != 0:
        raise RuntimeError(f"{command}: exit {result.exit_code}: {result.output}")
    return result.stdout


def rewritten(text: str, index: Path) -> str:
    return EXAMPLE.sub(lambda match: match[1] + output_of(match["command"], index) + match[4], text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite the examples' outputs")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import refsearch
    from refsearch.config import BUNDLED_SOURCES

    with tempfile.TemporaryDirectory() as folder:
        refsearch.build([BUNDLED_SOURCES], Path(folder) / "index")
        for document in DOCUMENTS:
            text = document.read_text("utf-8")
            new = rewritten(text, Path(folder) / "index")
            name = document.relative_to(ROOT)
            if args.write:
                document.write_text(new, "utf-8")
                print(f"{name}: {len(examples(new))} examples written")
            elif new != text:
                sys.exit(f"{name}: examples differ from the program's output; run python scripts/readme_examples.py --write")
            else:
                print(f"{name}: {len(examples(text))} examples match")

if __name__ == "__main__":
    main()
