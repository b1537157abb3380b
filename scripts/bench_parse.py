"""Parse throughput per source format, on the largest shared file of each (entries per second), and
what a build's reading costs for whole sources.

    python scripts/bench_parse.py [--shared ../shared] [--repeat 3]

Each file is read through `refsearch.sources.read_file` (decoding, sniffing, limits, the parser and
tidy.py; no embedding), best of --repeat runs. The first run of a format also pays its parser's
import. Then whole sources are read as a build reads them (`plan_sources` and the second reading
its references stream from: identity and merging included): ../shared/formats as one folder and
SciFact's corpus (a JSON Lines file of 5,183 abstracts).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

from refsearch.sources import read_file
from refsearch.discover import SUFFIXES

ROOT = Path(__file__).resolve().parents[1]


def largest_per_format(shared: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    candidates = [*(shared / "formats").rglob("*"), *(shared / "corpora").glob("*.md")]
    for path in candidates:
        fmt = SUFFIXES.get(path.suffix.lower())
        if not path.is_file() or fmt is None or path.name in ("PROVENANCE.txt", "README.md", "SOURCES.md"):
            continue
        fmt = "csl-yaml" if fmt == "yaml" else fmt
        if fmt not in found or path.stat().st_size > found[fmt].stat().st_size:
            found[fmt] = path
    return dict(sorted(found.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'format':10} {'file':48} {'MB':>6} {'entries':>8} {'seconds':>8} {'entries/s':>10}")
    for fmt, path in largest_per_format(args.shared).items():
        timings = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                count = len(read_file(path))
            timings.append(time.perf_counter() - started)
        best = min(timings)
        print(f"{fmt:10} {path.name[:48]:48} {path.stat().st_size / 1e6:6.2f} {count:8d} {best:8.3f} {count / best:10.0f}")
    print(f"\n{'source':34} {'entries':>8} {'references':>10} {'merged':>7} {'kept apart':>10} {'seconds':>8} {'entries/s':>10}")
    for name, source in (("formats/ (one folder)", args.shared / "formats"),
                         ("scifact corpus.jsonl", args.shared / "bench" / "scifact" / "corpus.jsonl")):
        if source.exists():
            print(read_whole(name, source, args.repeat))


def read_whole(name: str, source: Path, repeat: int) -> str:
    """One row: a build's two readings of `source` (plan, then the references streamed), best of `repeat`."""
    from refsearch.sources import plan_sources

    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plan = plan_sources([source])
            count = sum(1 for _ in plan.references())
        timings.append(time.perf_counter() - started)
    entries, best = count + len(plan.duplicates.into), min(timings)
    return (f"{name:34} {entries:8d} {count:10d} {len(plan.duplicates.into):7d} {len(plan.duplicates.conflicts):10d} "
            f"{best:8.2f} {entries / best:10.0f}")


if __name__ == "__main__":
    main()
