"""Disk taken by several indexes of one model (issue 26, part 5: one encoder on disk), and that a
copied index still answers.

    python scripts/bench_disk.py [--indexes 3] [--elsewhere /dev/shm] [--against OTHER/src] [--runs 10]

In a temporary folder with its own cache and data folder (REFSEARCH_CACHE, REFSEARCH_DATA), builds
the bundled list into `--indexes` indexes, one fresh process each (wall and CPU seconds: the first
build also writes the cache's copy of the encoder), and prints `du -sk` of one index against all of
them (du counts a hard-linked file once per invocation), and with the cache. Then copies the first
index with `cp -r` beside it and into `--elsewhere` (another file system, where no link can be
made), removes the cache, and checks that both copies answer `refsearch search "GPU slicing"` as
the original does. Exits 1 if the indexes take 1.5x the disk of one or more, or a copy does not answer.

`--against OTHER/src` (another refsearch's source folder, e.g. `git archive main src | tar -x -C
/tmp/main`) does the same builds with it, taking turns, and times `--runs` cold searches of each
one's first index, taking turns after a warm-up: what sharing costs a build and a query.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import processes  # scripts/processes.py

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "src" / "refsearch" / "bundled"
QUERY = "GPU slicing"
GOAL = 1.5  # the bound: all the indexes against one


def du_megabytes(*paths: Path) -> float:
    """What `du` says the paths take together (each hard-linked file once), in MB."""
    done = subprocess.run(["du", "-skc", *map(str, paths)], check=True, capture_output=True, text=True)
    return int(done.stdout.splitlines()[-1].split()[0]) / 1024


def search(index_dir: Path, env: dict) -> processes.Timed:
    return processes.timed([sys.executable, "-m", "refsearch", "search", QUERY, "--index", str(index_dir),
                            "--json", "-k", "5"], env=env)


def median(values) -> str:
    return f"{statistics.median(values):.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--indexes", type=int, default=3)
    parser.add_argument("--elsewhere", type=Path, default=Path("/dev/shm"),
                        help="a folder on another file system for the second copy")
    parser.add_argument("--against", type=Path, help="another refsearch's src folder to take turns with")
    parser.add_argument("--runs", type=int, default=10, help="cold searches of each tree (with --against)")
    args = parser.parse_args()
    processes.prepare()
    trees = {"this": ROOT / "src", **({"against": args.against.resolve()} if args.against else {})}
    compileall.compile_dir(trees.get("against", ROOT / "src") / "refsearch", quiet=1)
    work = Path(tempfile.mkdtemp(prefix="refsearch-disk-"))
    elsewhere = Path(tempfile.mkdtemp(prefix="refsearch-disk-copy-", dir=args.elsewhere))
    try:
        envs = {name: {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(src),
                       "REFSEARCH_CACHE": str(work / name / "cache"), "REFSEARCH_DATA": str(work / name / "data")}
                for name, src in trees.items()}
        indexes = {name: [work / name / f"idx{n}" for n in range(1, args.indexes + 1)] for name in trees}
        for n in range(args.indexes):
            for name in trees:
                build = processes.timed([sys.executable, "-m", "refsearch", "build", str(BUNDLED),
                                         "--index", str(indexes[name][n])], env=envs[name])
                print(f"{name}: build idx{n + 1} {build.wall:.2f} s wall, {build.cpu:.2f} s CPU")
        for name in trees:
            one, all_of_them = du_megabytes(indexes[name][0]), du_megabytes(*indexes[name])
            print(f"{name}: du one index {one:.1f} MB; {args.indexes} indexes {all_of_them:.1f} MB "
                  f"({all_of_them / one:.2f}x one, goal < {GOAL}x); with the cache "
                  f"{du_megabytes(work / name / 'cache', *indexes[name]):.1f} MB")
        if args.against:
            cold = {name: [] for name in trees}
            for run in range(args.runs + 1):
                for name in trees:
                    timed = search(indexes[name][0], envs[name])
                    if run:
                        cold[name].append(timed)
            for name, runs in cold.items():
                print(f"{name}: cold search, median of {args.runs}: {median(t.wall for t in runs)} s wall, "
                      f"{median(t.cpu for t in runs)} s CPU, {max(t.rss for t in runs):.0f} MB peak")

        ratio = du_megabytes(*indexes["this"]) / du_megabytes(indexes["this"][0])
        env, original = envs["this"], indexes["this"][0]
        expected = search(original, env).stdout
        copies = [work / "copy", elsewhere / "copy"]
        for copy in copies:
            subprocess.run(["cp", "-r", str(original), str(copy)], check=True)
        shutil.rmtree(work / "this" / "cache")
        answered = [search(copy, env).stdout == expected for copy in copies]
        for copy, ok in zip(copies, answered):
            where = "the same file system" if copy.stat().st_dev == original.stat().st_dev else "another file system"
            print(f"cp -r to {where} ({copy}), cache removed: {'answers as the original' if ok else 'DOES NOT ANSWER'}")
        print(f"the original, cache removed: {'answers' if search(original, env).stdout == expected else 'DOES NOT ANSWER'}")
        return 0 if ratio < GOAL and all(answered) else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(elsewhere, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
