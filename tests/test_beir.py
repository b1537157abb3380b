"""BEIR-format evaluation on a small fixture, through `refsearch eval` and scripts/bench_beir.py."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from refsearch.cli import app

pytestmark = pytest.mark.slow  # builds with the real model

FIXTURE = Path(__file__).parent / "fixtures" / "beir-mini"
ROOT = Path(__file__).resolve().parents[1]


def test_eval_reads_beir_folder_and_scores_all_modes(tmp_path):
    result = CliRunner().invoke(app, ["eval", str(FIXTURE), "--compare", "--json", "--index", str(tmp_path / "idx")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["count"] == 6 and set(data["modes"]) == {"hybrid", "dense", "lexical"}
    hybrid = data["modes"]["hybrid"]["metrics"]
    assert set(hybrid) >= {"ndcg@10", "mrr", "recall@5", "recall@10", "recall@100"}
    assert hybrid["ndcg@10"] >= 0.9  # six easy, distinct claims: the right abstract is first


def test_bench_beir_script_prints_each_mode(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_beir.py"), str(FIXTURE),
                          "--index", str(tmp_path / "idx")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines() if line.split()[:1] in (["hybrid"], ["dense"], ["lexical"])}
    assert set(rows) == {"hybrid", "dense", "lexical"}
    assert all(0.0 <= float(row[1]) <= 1.0 for row in rows.values())
