"""Dump what the Markdown parser makes of every shared Markdown file, and diff two dumps: the check
that a change to sources/markdown*.py keeps counts per file and changes records only on purpose.

    python scripts/compare_markdown_records.py dump OUT.jsonl [--shared ../shared]
    python scripts/compare_markdown_records.py diff BEFORE.jsonl AFTER.jsonl [--examples 5]

`dump` reads ../shared/{seed,corpora,formats} and tests/fixtures Markdown files with
`parse_markdown` only (no tidy, no identity), one JSON line a record. `diff` prints the count per
file where it changed, how many records differ and in which fields, and examples of each.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("id", "title", "url", "year", "kind", "authors", "note", "tags", "venue", "page", "topic", "links", "line")


def markdown_files(shared: Path) -> list[Path]:
    found = [path for folder in ("seed", "corpora", "formats") for path in (shared / folder).rglob("*")
             if path.suffix.lower() in (".md", ".markdown") and path.is_file()]
    found += [path for path in (ROOT / "tests" / "fixtures").rglob("*") if path.suffix.lower() in (".md", ".markdown")]
    return sorted(found)


def dump(shared: Path, out: Path) -> None:
    from refsearch.sources.markdown import parse_markdown

    with out.open("w", encoding="utf-8") as sink:
        for path in markdown_files(shared):
            text = path.read_text(encoding="utf-8", errors="replace")
            for ref in parse_markdown(text, path):
                row = {"file": str(path), "id": ref.id, "title": ref.title, "url": ref.url, "year": ref.year,
                       "kind": ref.kind, "authors": list(ref.authors), "note": ref.note, "tags": list(ref.tags),
                       "venue": ref.venue, "page": ref.page, "topic": list(ref.topic),
                       "links": ref.extra.get("links", []), "line": int(ref.source.rsplit(":", 1)[1])}
                sink.write(json.dumps(row, ensure_ascii=False) + "\n")


def load(path: Path) -> dict[str, list[dict]]:
    by_file: dict[str, list[dict]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        by_file[row["file"]].append(row)
    return by_file


def diff(before_path: Path, after_path: Path, examples: int) -> None:
    before, after = load(before_path), load(after_path)
    changed_fields: Counter[str] = Counter()
    samples: dict[str, list[str]] = defaultdict(list)
    differing = total = 0
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, []), after.get(name, [])
        if len(old) != len(new):
            print(f"COUNT {name}: {len(old)} -> {len(new)}")
        for a, b in zip(old, new):
            total += 1
            fields = [key for key in FIELDS if a.get(key) != b.get(key)]
            differing += bool(fields)
            for key in fields:
                changed_fields[key] += 1
                if len(samples[key]) < examples:
                    samples[key].append(f"  {Path(name).name}:{a['line']}  {a.get(key)!r}\n"
                                        f"  {'':{len(Path(name).name) + len(str(a['line']))}}-> {b.get(key)!r}")
    print(f"{differing} of {total} records differ; by field: {dict(changed_fields.most_common())}")
    for key, lines in samples.items():
        if not lines:
            continue
        print(f"\n{key}:")
        print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    dumping = commands.add_parser("dump")
    dumping.add_argument("out", type=Path)
    dumping.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    diffing = commands.add_parser("diff")
    diffing.add_argument("before", type=Path)
    diffing.add_argument("after", type=Path)
    diffing.add_argument("--examples", type=int, default=5)
    args = parser.parse_args()
    if args.command == "dump":
        dump(args.shared, args.out)
    else:
        diff(args.before, args.after, args.examples)


if __name__ == "__main__":
    main()
