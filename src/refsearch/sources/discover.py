"""Which files under the source paths may hold references: stdlib only, no file contents read.

The index-freshness check runs this on every query, so it must stay cheap: it walks and stats,
it never imports a parser. Hidden entries are skipped, and so is any folder that is itself a
refsearch index (an index kept inside its own source folder must never be read as a source).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from refsearch.errors import SourceError

SUFFIXES = (".yaml", ".yml", ".md", ".markdown", ".jsonl")


def is_index_dir(path: Path) -> bool:
    """A refsearch index: a CURRENT pointer beside its generations."""
    return (path / "CURRENT").is_file() and any(path.glob("gen-[0-9]*"))


def candidate_files(paths: Sequence[Path]) -> list[Path]:
    """Files named by `paths` (directories walked), sorted, each file once.

    A file named explicitly must exist and be a regular file with a known suffix, since the user
    asked for it by name.
    """
    found: dict[Path, Path] = {}
    for given in paths:
        path = Path(given)
        for file in _walk(path) if path.is_dir() else [_checked_file(path)]:
            found.setdefault(_identity(file), file)
    return sorted(found.values())


def _walk(root: Path) -> list[Path]:
    def fail(error: OSError) -> None:
        raise SourceError(error.filename or root, None, f"cannot read directory: {error.strerror or error}")

    if is_index_dir(root):
        return []
    files = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=fail):
        folder = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not is_index_dir(folder / d))
        for name in filenames:
            path = folder / name
            if not name.startswith(".") and path.suffix.lower() in SUFFIXES:
                # named, not skipped: a dangling link or a FIFO called *.md is an error the user should see
                files.append(_checked_file(path))
    return files


def _checked_file(path: Path) -> Path:
    if not path.exists():
        raise SourceError(path, None, "no such file or directory; check the path")
    if not path.is_file():
        raise SourceError(path, None, "not a regular file or directory")
    if path.suffix.lower() not in SUFFIXES:
        raise SourceError(path, None, f"unsupported file type {path.suffix or '(none)'!r}; use {', '.join(SUFFIXES)}")
    if not os.access(path, os.R_OK):
        raise SourceError(path, None, "permission denied; make the file readable")
    return path


def _identity(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()
