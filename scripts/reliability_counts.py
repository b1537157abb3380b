"""Run the reliability tests and print the summary table of docs/reliability.md from what they ran.

    HF_HUB_OFFLINE=1 nice -n 19 python scripts/reliability_counts.py   # several minutes: real model, 2,000 indexes

Counts come from the run, not from settings: named cases from pytest's junit report, generated
inputs from hypothesis's statistics ("N passing, M failing"), the kill test and the hostile-index
test from the outcome lines they print. A case is clean (survived, contained) when its test passed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = {
    "bad inputs": ["tests/test_bad_input.py", "tests/test_terminal_output.py"],
    "failure points": ["tests/test_crash_safety.py"],
    "hostile index directories": ["tests/test_hostile_index.py"],
}
KILL_TEST = "test_killed_builds_leave_old_or_new_index_never_a_mix"
HOSTILE_TEST = "test_hostile_index_directories_are_contained"


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "--hypothesis-show-statistics",
                   f"--junitxml={report}", *[path for paths in FAMILIES.values() for path in paths]]
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        cases = _cases(report)
    output = run.stdout
    generated = _hypothesis_examples(output)
    rows = []
    for family, paths in FAMILIES.items():
        named = [(name, passed) for file, name, passed in cases if file in paths
                 and f"{file}::{name}" not in generated and not name.startswith((KILL_TEST, HOSTILE_TEST))]
        rows.append((f"{family}: named cases", len(named), sum(passed for _, passed in named), ", ".join(paths)))
        examples = [(tried, clean) for node, (tried, clean) in generated.items() if node.split("::")[0] in paths]
        if examples:
            rows.append((f"{family}: generated", sum(t for t, _ in examples), sum(c for _, c in examples),
                         "hypothesis statistics"))
    kills = re.search(r"^(\d+) kills over [\d.]+ s builds: (.*)$", output, re.M)
    if kills:
        passed = any(name.startswith(KILL_TEST) and ok for _, name, ok in cases)
        rows.append(("kill points (SIGKILL during a build)", int(kills[1]), int(kills[1]) if passed else 0,
                     f"{KILL_TEST}: {kills[2]}"))
    hostile = re.findall(r"^hostile index directories: (\d+) tried, (\d+) contained \((.*)\)$", output, re.M)
    if hostile:  # the fast lane's smaller run is not more coverage: the largest run is counted
        tried, contained, detail = max(hostile, key=lambda run: int(run[0]))
        rows.append(("hostile index directories: generated", int(tried), int(contained), detail))
    print("| family | tried | clean / survived / contained | where the number comes from |")
    print("|---|---:|---:|---|")
    for family, tried, clean, source in rows:
        print(f"| {family} | {tried:,} | {clean:,} | {source} |")
    print(f"\npytest: {output.strip().splitlines()[-1] if output.strip() else run.stderr[-300:]}")
    for file, name, passed in cases:
        if not passed:
            print(f"failed: {file}::{name}")
    warnings = output.partition("warnings summary")[2].partition("-- Docs:")[0].strip(" =\n")
    if warnings:
        print(f"\npytest's warnings:\n{warnings}")
    sys.exit(run.returncode)


def _cases(report: Path) -> list[tuple[str, str, bool]]:
    """(file, test name, passed) for every test pytest ran (skipped ones are left out)."""
    found = []
    for case in ElementTree.parse(report).iter("testcase"):
        if case.find("skipped") is not None:
            continue
        file = case.get("classname", "").replace(".", "/") + ".py"
        passed = case.find("failure") is None and case.find("error") is None
        found.append((file, case.get("name", ""), passed))
    return found


def _hypothesis_examples(output: str) -> dict[str, tuple[int, int]]:
    """node id -> (examples tried, examples passing) from hypothesis's statistics."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    node = None
    for line in output.splitlines():
        if re.match(r"^tests/\S+::\S+:$", line):
            node = line[:-1]
        elif node and (match := re.search(r"(\d+) passing, (\d+) failing", line)):
            counts[node][0] += int(match[1]) + int(match[2])
            counts[node][1] += int(match[1])
    return {node: (tried, clean) for node, (tried, clean) in counts.items()}


if __name__ == "__main__":
    main()
