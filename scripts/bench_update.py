"""What a one-entry change costs the next search: adding, editing and removing one entry of a
Markdown list, against a cold search on the unchanged index, measured in the same run.

The sources (default: the hard eval set's, ../shared/corpora and the seed page: 6,4xx references)
are copied into a temporary folder and indexed once. Then, run after run, in fresh processes
(scripts/processes.py: wall time, CPU, peak RSS): a cold `refsearch search` on the unchanged
index; an entry added to FILE, then the same search (which updates the index first); the entry's
annotation edited, the search; the entry removed, the search. The goal (issue 26): each of those
searches costs at most 3 times the cold one. Each FILE is measured in turn (default: the largest
list, awesome-go.md, 404 kB and 3,034 entries, which is read again, and a mid-size one).

    python scripts/bench_update.py [--runs 5] [--file awesome-go.md --file production-ml.md]
                                   [--keep DIR] [--sources PATH ...] [--stand-in]

`--stand-in` runs refsearch with scripts/stand_in.py's encoder: everything but embedding is real,
so the update of the 184,000-paper library (`--sources ../shared/bench/scale/bib_combined.jsonl.gz
../shared/corpora/production-ml.md --file production-ml.md`) is measured without the 1.5 hours
its first build embeds for.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import processes  # scripts/processes.py

ROOT = Path(__file__).resolve().parents[1]
QUERY = "GPU slicing"
ITEM = re.compile(r"^\s*[-*] \[[^\]]+\]\(https?://")


def sources_of_hard_set() -> list[Path]:
    from refsearch.evaluate import load_eval_set

    return load_eval_set(ROOT / "data" / "eval" / "hard.yaml").sources


STAND_IN = False  # --stand-in


def refsearch(*args: str) -> list[str]:
    if STAND_IN:
        return [sys.executable, str(ROOT / "scripts" / "stand_in.py"), *args]
    return [sys.executable, "-m", "refsearch.cli", *args]


def entry_line(lines: list[str]) -> int:
    """The line after which to add the entry: a list item about halfway down the file."""
    items = [number for number, line in enumerate(lines) if ITEM.match(line)]
    if not items:
        sys.exit("no Markdown list item with a link in the file to edit")
    return items[len(items) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--file", action="append", help="a file (by name) of the sources to edit; repeatable")
    parser.add_argument("--sources", nargs="*", type=Path, help="default: the hard eval set's sources")
    parser.add_argument("--keep", type=Path, help="work in this folder (kept: a second run skips the first build)")
    parser.add_argument("--stand-in", action="store_true", help="embed with scripts/stand_in.py's encoder")
    args = parser.parse_args()
    global STAND_IN
    STAND_IN = args.stand_in
    processes.prepare()
    sources = args.sources or sources_of_hard_set()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-update-"))
    copied, index = work / "sources", work / "index"
    if not copied.is_dir():
        copied.mkdir(parents=True)
        for source in sources:
            (shutil.copytree if source.is_dir() else shutil.copyfile)(source, copied / source.name)
    built = processes.timed(refsearch("build", str(copied), "--index", str(index),
                                      *(["--encoder", "stand-in"] if STAND_IN else [])))
    print(f"index: {built.stdout.strip()} ({built.wall:.1f} s)")
    files = args.file or ["awesome-go.md", "production-ml.md"]
    search = refsearch("search", QUERY, "--index", str(index))
    results: dict[str, dict[str, list]] = {}
    for name in files:
        path = copied / name
        original = path.read_text("utf-8")
        lines = original.splitlines(keepends=True)
        at = entry_line(lines) + 1
        indent = re.match(r"\s*", lines[at - 1])[0]
        added = f"{indent}- [zq-bench-queue](https://example.org/zq-bench-queue) - A queue for tardigrade telemetry.\n"
        edited = added.replace("tardigrade telemetry", "narwhal sonar logs")
        samples = results[name] = {"cold": [], "add": [], "edit": [], "remove": []}
        try:
            for run in range(args.runs + 1):  # the first round warms the file cache and is not counted
                steps = [("cold", original), ("add", "".join(lines[:at] + [added] + lines[at:])),
                         ("edit", "".join(lines[:at] + [edited] + lines[at:])), ("remove", original)]
                for step, text in steps:
                    if step != "cold":
                        path.write_text(text, "utf-8")
                    taken = processes.timed(search)
                    if run:
                        samples[step].append(taken)
        finally:
            path.write_text(original, "utf-8")
    print(f"\n`refsearch search \"{QUERY}\" --index DIR`{' (stand-in encoder)' if STAND_IN else ''} after each change, median of {args.runs} "
          "fresh processes (wall s / CPU s / peak RSS MB), and the ratio to the cold search of the same run:")
    print("| file | step | wall | CPU | RSS | wall / cold |\n|---|---|---|---|---|---|")
    for name, samples in results.items():
        cold = statistics.median(t.wall for t in samples["cold"])
        for step, taken in samples.items():
            wall = statistics.median(t.wall for t in taken)
            print(f"| {name} | {step} | {wall:.3f} | {statistics.median(t.cpu for t in taken):.3f} | "
                  f"{max(t.rss for t in taken):.0f} | {wall / cold:.2f}x |")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
