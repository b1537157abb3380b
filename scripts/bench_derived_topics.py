"""Derived topics on real flat libraries: what they cost a build, and what they look like.

    python scripts/bench_derived_topics.py [FILE ...]   (default: the flat BibTeX libraries in ../shared)

Each file is indexed from scratch in a temporary folder (int8 encoder, as a user's build), then
updated once with its derived topics dropped from the manifest (what an index built before them
pays: no embedding). Printed per library: references, the build's seconds and the share spent
deriving topics (k-means, silhouette, labels), the silhouette of each number of topics tried, and
the topics: how many, the largest one's share of the library, and the labels with their sizes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import refsearch
from refsearch import atomic, derived_topics, store

SHARED = Path(__file__).resolve().parents[2] / "shared" / "formats" / "bibtex" / "zotero_bbt_real_user_files"
DEFAULT = ["papers3_library_3725_issue1296.bib", "large_7k_undefined_macros_issue1436.bib",
           "biblatex_bulk_1241.bib", "mendeley_export_nonstandard_types.bib"]


def timed_build(source: Path, index: Path, spent: list[float]) -> float:
    spent.clear()
    started = time.perf_counter()
    refsearch.build([source], index)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", type=Path, nargs="*", default=[SHARED / name for name in DEFAULT])
    args = parser.parse_args()
    spent: list[float] = []
    scores: list[tuple[int, float]] = []
    derive, silhouette = derived_topics.derive, derived_topics.silhouette

    def timed_derive(*a, **k):
        started = time.perf_counter()
        try:
            return derive(*a, **k)
        finally:
            spent.append(time.perf_counter() - started)

    def recorded_silhouette(distances, labels, k):
        value = silhouette(distances, labels, k)
        scores.append((k, value))
        return value

    derived_topics.derive, derived_topics.silhouette = timed_derive, recorded_silhouette
    for source in args.files:
        with tempfile.TemporaryDirectory() as folder:
            index = Path(folder) / "idx"
            scores.clear()
            seconds = timed_build(source, index, spent)
            share = sum(spent) / seconds
            print(f"\n{source.name}: build {seconds:.1f} s, deriving topics {sum(spent):.2f} s ({share:.1%})")
            print("  silhouette: " + ", ".join(f"k={k} {value:.3f}" for k, value in scores))
            path = store.current_generation(index) / "manifest.json"
            manifest = json.loads(path.read_text("utf-8"))
            del manifest["topics"]
            manifest["records"] = {"format": 2}  # as the refsearch before derived topics wrote it
            atomic.publish_file(path, json.dumps(manifest).encode())
            seconds = timed_build(source, index, spent)
            print(f"  update that adds them (nothing embedded): {seconds:.1f} s, deriving {sum(spent):.2f} s "
                  f"({sum(spent) / seconds:.1%})")
            opened = refsearch.open(index, update=False)
            topics = [t for t in opened.topics() if t.derived]
            sizes = np.array([len(t.ref_ids) for t in topics])
            print(f"  {len(opened)} references, {len(topics)} derived topics, largest {sizes.max(initial=0) / len(opened):.0%}")
            for topic in sorted(topics, key=lambda t: -len(t.ref_ids)):
                print(f"  {len(topic.ref_ids):6d}  {topic.path[0]}")


if __name__ == "__main__":
    main()
