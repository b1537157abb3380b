"""Hostile source files (issue 24's second pass): limits hold while macros expand and inline markup
is read, not after; each file builds or is refused with one line, in bounded time and memory, and
the index built before still answers; and every parser's time and memory grow with its input, not
faster (tests/hostile_sources.py makes the files)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

import hostile_sources
from refsearch.sources import read_file
from serving import FAKE_CLI, subprocess_env

GOOD = "# Good\n\n- [KServe](https://kserve.io) - Kubernetes model serving\n"
SECONDS = 60
PEAK_BYTES = 1.5 * 1024**3


# The child writes its own peak (VmHWM) as it exits: wait4's ru_maxrss also counts the image it was
# forked from, so late in a full run (the pytest process at ~1.5 GB) every child "peaked" there.
PEAK_HOOK = ("import atexit, os\n"
             "def _peak():\n"
             "    with open('/proc/self/status') as status, open(os.environ['REFSEARCH_TEST_PEAK'], 'w') as out:\n"
             "        out.write(next(line.split()[1] for line in status if line.startswith('VmHWM')))\n"
             "atexit.register(_peak)\n")


def run_cli(*args: str | Path) -> tuple[subprocess.CompletedProcess, float, int]:
    """The CLI (fake encoder) in a child: its result, wall time and peak resident memory in bytes
    (as the child saw it; killed before it could say, wait4's figure, which can only be higher)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.TemporaryDirectory() as folder:
        peak_file = Path(folder) / "peak"
        started = time.monotonic()
        child = subprocess.Popen([sys.executable, "-c", PEAK_HOOK + FAKE_CLI, *map(str, args)],
                                 env={**subprocess_env(), "REFSEARCH_TEST_PEAK": str(peak_file)},
                                 stdout=out, stderr=err, text=True)
        stopper = threading.Timer(SECONDS * 3, child.kill)
        stopper.start()
        _, status, usage = os.wait4(child.pid, 0)
        stopper.cancel()
        elapsed = time.monotonic() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        result = subprocess.CompletedProcess(child.args, child.returncode, out.read(), err.read())
        peak_kb = int(peak_file.read_text()) if peak_file.exists() else usage.ru_maxrss
    return result, elapsed, peak_kb * 1024


@pytest.mark.slow
@pytest.mark.parametrize("case", hostile_sources.FILES, ids=str)
def test_a_hostile_file_builds_or_is_refused_in_one_line_within_bounds(tmp_path, fake_encoder, case):
    name, text = hostile_sources.FILES[case]
    src, index = tmp_path / "src", tmp_path / "idx"
    src.mkdir()
    (src / "good.md").write_text(GOOD, encoding="utf-8")
    built, _, _ = run_cli("build", src, "--index", index)
    assert built.returncode == 0, built.stderr
    (src / name).write_text(text, encoding="utf-8")

    result, elapsed, peak = run_cli("build", src, "--index", index)
    print(f"{case}: exit {result.returncode}, {elapsed:.1f} s, peak {peak / 1024**2:.0f} MB")
    assert elapsed < SECONDS and peak < PEAK_BYTES
    assert "Traceback" not in result.stderr
    if result.returncode:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"refsearch: error: {src / name}"), result.stderr
    answered, _, _ = run_cli("search", "kubernetes serving", "--json", "--no-update", "--index", index)
    assert answered.returncode == 0 and "KServe" in answered.stdout, answered.stderr


def _parse(path: Path) -> tuple[float, int, str]:
    """Seconds and peak bytes allocated (tracemalloc) to read `path`, and what came of it."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        outcome = f"{len(read_file(path))} references"
    except Exception as error:  # noqa: BLE001 - what the parser raised is the outcome reported
        outcome = f"{type(error).__name__}: {str(error)[:100]}"
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return elapsed, peak, outcome


@pytest.mark.slow
@pytest.mark.parametrize("case", hostile_sources.GROWING, ids=str)
def test_parsing_time_and_memory_grow_linearly(tmp_path, case):
    """Read each adversarial shape at two sizes about 8 times apart: a linear parser takes about 8
    times as long and allocates 8 times as much at its peak, a quadratic one 64. Asserted loosely
    (the machine is shared): under 3 times what linear growth predicts (time: plus 0.5 s of noise;
    memory: plus 4 MB)."""
    suffix, make = hostile_sources.GROWING[case]
    paths = []
    for size in (12_500, 100_000):
        paths.append(tmp_path / f"{case}-{size}{suffix}")
        paths[-1].write_text(make(size), encoding="utf-8")
    _parse(paths[0])  # the first reading imports the parser
    (small_time, small_peak, _), (large_time, large_peak, outcome) = map(_parse, paths)
    small, large = (path.stat().st_size for path in paths)
    print(f"{case}: {small:,} B {small_time:.2f} s {small_peak / 1e6:.1f} MB, {large:,} B {large_time:.2f} s "
          f"{large_peak / 1e6:.1f} MB; {outcome}")
    assert large_time < 3 * (large / small) * small_time + 0.5, (small_time, large_time)
    assert large_peak < 3 * (large / small) * small_peak + 4 * 1024**2, (small_peak, large_peak)
