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
