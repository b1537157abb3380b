"""What the whole-process benchmarks share: one timed process with its peak RSS, and refsearch
byte-compiled first, as users have it.

Peak RSS comes from GNU time (`/usr/bin/time -f %M`): wait4's ru_maxrss also counts the pages a child
shares with the benchmark script (which has imported refsearch) before it execs, so it reads high.
"""

from __future__ import annotations

import compileall
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
GNU_TIME = Path("/usr/bin/time")


def prepare() -> None:
    """Stop unless GNU time is there; byte-compile refsearch as `pip install` does (an editable
    install compiles on first import, unless PYTHONDONTWRITEBYTECODE is set: then every run would)."""
    if not GNU_TIME.is_file():
        sys.exit("needs GNU time for peak RSS: apt-get install time")
    compileall.compile_dir(ROOT / "src" / "refsearch", quiet=1)


class Timed(NamedTuple):
    wall: float  # seconds
    rss: float  # peak, MB
    stdout: str
    cpu: float  # user + system seconds: on a shared machine the steadier figure


def timed(command: list[str], stdin: str | None = None, env: dict | None = None, cwd: Path | None = None) -> Timed:
    """Wall seconds, peak RSS in MB, stdout and CPU seconds of one process (GNU time's own ~1 ms included)."""
    with tempfile.NamedTemporaryFile("r") as report:
        started = time.perf_counter()
        done = subprocess.run([str(GNU_TIME), "-f", "%M %U %S", "-o", report.name, *command], input=stdin,
                              text=True, capture_output=True, cwd=cwd,
                              env=env or {**os.environ, "HF_HUB_OFFLINE": "1"})
        wall = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"failed: {' '.join(command)}\n{done.stderr[-2000:]}")
        rss, user, system = report.read().split()[-3:]
        return Timed(wall, int(rss) / 1024, done.stdout, float(user) + float(system))
