"""Read source files into `Reference` records, dispatching on the file type.

The one entry point for every later stage. Whatever a file holds, these functions either return
references or raise `SourceError` naming the file and line; no other exception escapes, so the CLI
can always print a one-line message instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from refsearch.errors import SourceError
from refsearch.records import Reference
from refsearch.sources.discover import candidate_files
from refsearch.sources.jsonl import parse_jsonl
from refsearch.sources.markdown import parse_markdown
from refsearch.sources.yaml_source import parse_yaml

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
    for path in candidate_files(paths):
        for ref in read_file(path):
            if ref.id in seen:
                raise _duplicate_id(ref, seen[ref.id])
            seen[ref.id] = ref
            references.append(ref)
    yield from references


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
