"""What a user meets first, with no index at all: `--version`, shell completion, the help."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

import refsearch
from refsearch.cli import app

runner = CliRunner(env={"COLUMNS": "200"})


def test_version_prints_the_package_version_without_loading_the_query_path():
    code = ("import sys; from refsearch.cli import main; sys.argv = ['refsearch', '--version']\n"
            "try:\n    main()\nexcept SystemExit as exit:\n    print('EXIT', exit.code)\n"
            "print('HEAVY', [m for m in ('numpy', 'faiss', 'onnxruntime', 'rich') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines() == [f"refsearch {refsearch.__version__}", "EXIT 0", "HEAVY []"], out.stderr


def test_the_help_offers_the_version_and_shell_completion():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "--version" in result.stdout and "--install-completion" in result.stdout


def test_completion_completes_commands_and_choices():
    complete = {"_REFSEARCH_COMPLETE": "complete_bash", "COMP_CWORD": "1", "COMP_WORDS": "refsearch se"}
    assert runner.invoke(app, [], env=complete, prog_name="refsearch").stdout.split() == ["search", "serve"]


def test_build_help_names_the_default_encoder_the_code_uses():
    from refsearch.encoders import DEFAULT_ENCODER

    text = " ".join(runner.invoke(app, ["build", "--help"]).stdout.split())
    assert f"{DEFAULT_ENCODER} (default:" in text and "onnx (default" not in text


def test_every_argument_says_what_it_takes():
    """click 8.5 wiped the help typer <0.26 gives an argument (pyproject pins click below it)."""
    from refsearch.params import SEARCH, named

    for command, argument, words in (("search", "[QUERY]", named(SEARCH, "query").help), ("show", "REF", "DOI"),
                                     ("related", "REF", "DOI"), ("build", "[SOURCES]...", "Markdown")):
        text = " ".join(runner.invoke(app, [command, "--help"]).stdout.split())
        assert f"Arguments: {argument} " in text and " ".join(words.split()[:4]) in text.split("Options:")[0], text


def test_format_table_prints_a_table_and_text_is_the_default(tmp_path, fake_encoder):
    from serving import make_project

    index = str(make_project(tmp_path))
    for command in (["search", "GPU slicing"], ["related", "infra/mig"], ["show", "infra/mig"]):
        table = runner.invoke(app, [*command, "--format", "table", "--index", index])
        assert table.exit_code == 0, table.output
        assert "│ MIG" in table.stdout or "MIG" in table.stdout.splitlines()[0], table.stdout
        assert "│" in table.stdout  # drawn as a table
        text = runner.invoke(app, [*command, "--format", "text", "--index", index]).stdout
        assert text == runner.invoke(app, [*command, "--index", index]).stdout and "│" not in text
    rows = runner.invoke(app, ["search", "GPU slicing", "--format", "table", "--index", index]).stdout
    assert [line.split("│")[1].strip() for line in rows.splitlines() if line.startswith("│ 1 ")] == ["1"]


def test_a_format_a_command_cannot_write_is_refused_before_the_index_is_opened(tmp_path):
    result = runner.invoke(app, ["topics", "--format", "ris", "--index", str(tmp_path / "no-index")])
    assert result.exit_code == 1
    assert "--format ris writes references: use it with search, related or show." in result.stderr
