"""Sources: find reference files and read them into `Reference` records.

The one entry point for every later stage. Whatever a file holds, these functions either return
references or raise `SourceError` naming the file and line; no other exception escapes, so the CLI
can always print a one-line message instead of a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from refsearch.errors import SourceError
from refsearch.records import Reference
from refsearch.sources.jsonl import parse_jsonl
from refsearch.sources.markdown import parse_markdown
from refsearch.sources.yaml_source import parse_yaml

__all__ = ["SUFFIXES", "discover_files", "read_file", "read_sources"]

Parser = Callable[[str, Path], list[Reference]]

PARSERS: dict[str, Parser] = {
    ".yaml": parse_yaml,
    ".yml": parse_yaml,
    ".md": parse_markdown,
    ".markdown": parse_markdown,
    ".jsonl": parse_jsonl,
}
SUFFIXES = tuple(PARSERS)
_SUFFIX_LIST = ", ".join(SUFFIXES)


def discover_files(paths: Sequence[Path]) -> list[Path]:
    """Source files named by `paths`, directories read recursively, sorted and without repeats.

    A directory walk quietly skips hidden entries (.git, editor files) and other suffixes; a file
    named explicitly must have a known suffix, since the user asked for it by name.
    """
    found: dict[Path, Path] = {}
    for given in paths:
        path = Path(given)
        for file in _walk(path) if path.is_dir() else [_checked_file(path)]:
            found.setdefault(_identity(file), file)
    return sorted(found.values())


def read_file(path: Path) -> list[Reference]:
    """The references in one file: strict UTF-8 (a BOM is fine), dispatched on the suffix."""
    path = Path(path)
    parser = PARSERS.get(path.suffix.lower())
    if parser is None:
        raise SourceError(path, None, f"unsupported file type {path.suffix or '(none)'!r}; use {_SUFFIX_LIST}")
    text = _decode(path, _read_bytes(path))
    try:
        return parser(text, path)
    except SourceError:
        raise
    except RecursionError:
        raise SourceError(path, None, "too deeply nested to read; flatten the structure") from None
    except Exception as exc:  # a parser bug must still reach the user as a located, one-line message
        raise SourceError(path, None, f"could not read this file ({type(exc).__name__}: {exc})") from exc


def read_sources(paths: Sequence[Path]) -> Iterator[Reference]:
    """Every reference under `paths`, files in sorted order, entries in file order.

    All files are read and checked before the first reference is yielded, so a caller never builds
    an index from half of the input.
    """
    references: list[Reference] = []
    seen: dict[str, Reference] = {}
    for path in discover_files(paths):
        for ref in read_file(path):
            if ref.id in seen:
                raise _duplicate_id(ref, seen[ref.id])
            seen[ref.id] = ref
            references.append(ref)
    yield from references


def _walk(root: Path) -> list[Path]:
    def fail(error: OSError) -> None:
        raise SourceError(error.filename or root, None, f"cannot read directory: {error.strerror or error}")

    files = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=fail):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            path = Path(dirpath) / name
            if not name.startswith(".") and path.suffix.lower() in PARSERS:
                # named, not skipped: a dangling link or a FIFO called *.md is an error the user should see
                files.append(_checked_file(path))
    return files


def _checked_file(path: Path) -> Path:
    if not path.exists():
        raise SourceError(path, None, "no such file or directory; check the path")
    if not path.is_file():
        raise SourceError(path, None, "not a regular file or directory")
    if path.suffix.lower() not in PARSERS:
        raise SourceError(path, None, f"unsupported file type {path.suffix or '(none)'!r}; use {_SUFFIX_LIST}")
    if not os.access(path, os.R_OK):
        raise SourceError(path, None, "permission denied; make the file readable")
    return path


def _identity(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceError(path, None, f"cannot read file: {exc.strerror or exc}") from None


def _decode(path: Path, data: bytes) -> str:
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise SourceError(path, line, "binary file (contains NUL bytes); expected UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SourceError(
            path, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); re-save the file as UTF-8"
        ) from None
    return text.removeprefix("\ufeff")


def _duplicate_id(ref: Reference, first: Reference) -> SourceError:
    path, _, line = ref.source.rpartition(":")
    return SourceError(
        path or ref.source,
        int(line) if line.isdigit() else None,
        f"duplicate id {ref.id!r} (also at {first.source}); give one of them an explicit id, "
        "a different title, or a different page key / file name",
    )
