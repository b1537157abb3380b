"""Sources: find reference files in folders as people have them and read them into `Reference` records.

`read_sources` is the one entry point for every later stage. Each candidate file (discover.py) is
dispatched by suffix and content: a YAML file without our format line, a JSON file that is not
CSL-JSON, a `.txt` that is not a RIS export, an HTML page that is not a bookmark export, and any
file in which its parser finds no entry (CONTRIBUTING.md prose) are skipped, with a reason, not
refused. A file it recognises but cannot read raises `SourceError` naming the file and line; no
other exception escapes, so the CLI can always print a one-line message instead of a traceback.
Parsers are imported when a file needs them, so importing this package stays cheap.
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from refsearch.errors import SourceError
from refsearch.records import Reference
from refsearch.sources.common import MAX_FILE_BYTES, MAX_LINE_CHARS, SourceWarning, check_reference
from refsearch.sources.dedupe import merge_duplicates
from refsearch.sources.discover import SUFFIXES, all_files

__all__ = ["SourceRead", "read_file", "read_sources", "skipped_summary"]

Parser = Callable[[str, Path], list[Reference]]

PARSERS = {  # format -> "module:function", imported on first use
    "markdown": "markdown:parse_markdown",
    "yaml": "yaml_source:parse_yaml",
    "jsonl": "jsonl:parse_jsonl",
    "csl-json": "csl:parse_csl_json",
    "csl-yaml": "csl:parse_csl_yaml",
    "bibtex": "bibtex:parse_bibtex",
    "ris": "ris:parse_ris",
    "bookmarks": "bookmarks:parse_bookmarks",
}
# formats whose suffix is shared with files that are not reference lists: an unreadable one is skipped
_SHARED_SUFFIX_FORMATS = {"yaml", "csl-json", "bookmarks"}
_SNIFF_CHARS = 64 * 1024
_OUR_YAML = re.compile(r"^format:\s*['\"]?refsearch/", re.MULTILINE)
_CSL_YAML = re.compile(r"^references:\s*$", re.MULTILINE)
_CSL_JSON = re.compile(r'"(?:title|type|issued|author|id)"\s*:')
_RIS = re.compile(r"^\s*(?:[0-9]+\.\s*)?TY  - ", re.MULTILINE)
_BOOKMARKS = re.compile(r"<!DOCTYPE\s+NETSCAPE-Bookmark-file|<DT>\s*<(?:A|H3)\b", re.IGNORECASE)


@dataclass
class SourceRead:
    """What `read_sources` found: the references, the files it passed over and why, and warnings
    about entries read past inside files it did read (`file:line: message`)."""

    references: list[Reference] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_sources(paths: Sequence[Path]) -> SourceRead:
    """Every reference under `paths`, files in sorted order, entries in file order, the same work
    found in several files merged into one (sources/dedupe.py).

    All files are read and checked before anything is returned, so a caller never builds an index
    from half of the input.
    """
    result = SourceRead()
    references: list[Reference] = []
    seen: dict[str, Reference] = {}
    for path in all_files(paths):
        fmt = _format(path)
        if fmt is None:
            result.skipped.append((path, _unknown_reason(path)))
            continue
        found, reason = _read(path, fmt, result.warnings)
        if reason:
            result.skipped.append((path, reason))
        for ref in found:
            if ref.id in seen:
                raise _duplicate_id(ref, seen[ref.id])
            seen[ref.id] = ref
            references.append(ref)
    result.references = merge_duplicates(references)
    return result


def read_file(path: Path) -> list[Reference]:
    """The references in one file, whatever it holds; a file that is not a reference list is an error
    here (the user named it), while `read_sources` skips it."""
    path = Path(path)
    fmt = _format(path)
    if fmt is None:
        raise SourceError(path, None, _unknown_reason(path))
    found, reason = _read(path, fmt, [])
    if reason and not found and not reason.startswith("no entries"):
        raise SourceError(path, None, reason)
    return found


def skipped_summary(read: SourceRead) -> str | None:
    """The one line a build prints about files it passed over, or None when there were none."""
    count = len(read.skipped)
    if not count:
        return None
    files = "file that is not a reference list" if count == 1 else "files that are not reference lists"
    return f"skipped {count} {files}; --verbose lists them"


def _format(path: Path) -> str | None:
    return SUFFIXES.get(path.suffix.lower())


def _unknown_reason(path: Path) -> str:
    return f"not a reference list format ({path.suffix or 'no suffix'}); refsearch reads {', '.join(SUFFIXES)}"


def _read(path: Path, fmt: str, notes: list[str]) -> tuple[list[Reference], str | None]:
    """(references, reason it was skipped or None)."""
    data = _read_bytes(path)
    try:
        text = _decode(path, data)
    except SourceError:
        # a binary or non-UTF-8 file under a suffix other files share is skipped unless it looks like ours
        if fmt in _SHARED_SUFFIX_FORMATS or path.suffix.lower() == ".txt":
            sniffed, reason = _sniff(path, fmt, data[:_SNIFF_CHARS].decode("utf-8", "replace"))
            if sniffed is None:
                return [], reason
        raise
    fmt, reason = _sniff(path, fmt, text)
    if fmt is None:
        return [], reason
    if fmt != "csl-json":  # a compact one-line CSL-JSON export is normal; the JSON reader is linear
        _check_lines(path, text)
    parser = _parser(fmt)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SourceWarning)
        try:
            found = parser(text, path)
        except SourceError:
            raise
        except RecursionError:
            raise SourceError(path, None, "too deeply nested to read; flatten the structure") from None
        except Exception as exc:  # a parser bug must still reach the user as a located, one-line message
            raise SourceError(path, None, f"could not read this file ({type(exc).__name__}: {exc})") from exc
    notes.extend(str(w.message) for w in caught if issubclass(w.category, SourceWarning))
    for ref in found:
        check_reference(ref)
    return found, None if found else "no entries found in it"


def _sniff(path: Path, fmt: str, text: str) -> tuple[str | None, str | None]:
    """The format the content shows, or (None, why this file is not a reference list)."""
    head = text[:_SNIFF_CHARS]
    if fmt == "yaml":
        if _OUR_YAML.search(head):
            return "yaml", None
        if _CSL_YAML.search(head):
            return "csl-yaml", None
        return None, "YAML without 'format: refsearch/references@1' (a configuration file?)"
    if fmt == "csl-json" and not (head.lstrip().startswith("[") and _CSL_JSON.search(head)):
        return None, "JSON that is not a CSL-JSON array of references"
    if fmt == "ris" and path.suffix.lower() == ".txt" and not _RIS.search(head):
        return None, "text that is not a RIS export"
    if fmt == "bookmarks" and not _BOOKMARKS.search(head):
        return None, "HTML page that is not a bookmark export"
    return fmt, None


def _parser(fmt: str) -> Parser:
    module, _, function = PARSERS[fmt].partition(":")
    return getattr(importlib.import_module(f"refsearch.sources.{module}"), function)


def _check_lines(path: Path, text: str) -> None:
    """Refuse a line longer than MAX_LINE_CHARS before any parser sees it (a 50 MB one-line file
    fails in a second instead of keeping a regex busy for minutes)."""
    start, number = 0, 1
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        if end - start > MAX_LINE_CHARS:
            raise SourceError(path, number, f"line is {end - start:,} characters long (limit {MAX_LINE_CHARS:,}); "
                                            "is this a reference list?")
        start, number = end + 1, number + 1


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SourceError(path, None, f"file is {size / 1024 / 1024:.0f} MB (limit {MAX_FILE_BYTES // 1024 // 1024} MB); "
                                          "split it into smaller files")
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
