"""Sources: find reference files in folders as people have them and read them into `Reference` records.

`read_sources` is the one entry point for every later stage. Each candidate file (refsearch.discover) is
dispatched by suffix and content: a YAML file without our format line, a JSON file that is not
CSL-JSON, a `.txt` that is not a RIS export, an HTML page that is not a bookmark export, and any
file in which its parser finds no entry (CONTRIBUTING.md prose) are skipped, with a reason, not
refused. A file it recognises but cannot read raises `SourceError` naming the file and line; no
other exception escapes, so the CLI can always print a one-line message instead of a traceback.
Parsers are imported when a file needs them, so importing this package stays cheap.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import os
import re
import stat
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

from refsearch.errors import SourceError
from refsearch.records import Reference, page_key, page_keys
from refsearch.sources.common import MAX_FILE_BYTES, MAX_LINE_CHARS, SourceWarning, check_reference
from refsearch.sources.dedupe import Conflict, DuplicatePlan, key_digests, plan_facts
from refsearch.sources.tidy import tidy
from refsearch.discover import SUFFIXES, all_files, format_of

__all__ = ["Moved", "SourcePlan", "SourceRead", "Whole", "conflicts_summary", "fulltext_of", "plan_sources", "read_file", "read_sources",
           "skipped_summary"]

Parser = Callable[..., list[Reference]]  # (text, path, page key), or (path, page key) for a database

PARSERS = {  # format -> "module:function", imported on first use
    "markdown": "markdown:parse_markdown",
    "yaml": "yaml_source:parse_yaml",
    "csl-json": "csl:parse_csl_json",
    "csl-yaml": "csl:parse_csl_yaml",
    "bibtex": "bibtex:parse_bibtex",
    "ris": "ris:parse_ris",
    "bookmarks": "bookmarks:parse_bookmarks",
    "zotero": "zotero:read_zotero",
}
_DATABASE_FORMATS = {"zotero"}  # parsers that read the file themselves: (path) -> references
# reference managers' and databases' exports: their notes may hold the exporter's boilerplate (tidy.py)
_EXPORT_FORMATS = {"bibtex", "ris", "csl-json", "csl-yaml", "zotero"}
# formats whose suffix is shared with files that are not reference lists: an unreadable one is skipped
_SHARED_SUFFIX_FORMATS = {"yaml", "csl-json", "bookmarks"}
_SNIFF_CHARS = 64 * 1024
_OUR_YAML = re.compile(r"^format:\s*['\"]?refsearch/", re.MULTILINE)
_CSL_YAML = re.compile(r"^references:\s*$", re.MULTILINE)
_CSL_JSON = re.compile(r'"(?:title|type|issued|author|id)"\s*:')
_RIS = re.compile(r"^\s*(?:[0-9]+\.\s*)?TY  - ", re.MULTILINE)
_BOOKMARKS = re.compile(r"<!DOCTYPE\s+NETSCAPE-Bookmark-file|<DT>\s*<(?:A|H3)\b", re.IGNORECASE)


@dataclass
class Recalled:
    """What the last build kept of a file that has not changed since (builder.py), so it is not read
    again: per entry its id, its plan facts (dedupe.plan_facts) and where that build put its record
    (opaque here: a `Recall` reads it back); the warnings its reading gave, or why it was skipped."""

    entries: list[tuple[str, list, int]]  # `where` >= 0: a row holding the entry as read; < 0: one merged then
    warnings: list[str] = field(default_factory=list)
    skipped: str | None = None
    markdown: object = None  # a Markdown page's sections (markdown.read_markdown's memo)


class Moved(NamedTuple):
    """An entry kept from the last reading of a file read again in part (a Markdown page whose other
    sections changed): where the last build put it, and its place now (lines above it changed)."""

    where: int
    source: str


class Whole(NamedTuple):
    """A file unchanged since the last build and alone in it (no entry of it shared a work key with
    another file's: dedupe.DuplicatePlan.crossed), taken whole: its rows are the last build's
    rows `first_row` .. `first_row + rows`, taken over as a block without planning its entries
    again, unless an entry planned anew shares an id or work key with it (`keys`)."""

    first_row: int
    rows: int
    entries: int  # `rows` plus those merged into another entry of the file
    keys: np.ndarray  # dedupe.key_digests of its entries: their ids and work keys
    raw_lines: list[bytes]  # its entries merged then (either side), as read: kept for the next build
    conflicts: list[Conflict]  # within the file, `at` its own entry numbers
    warnings: list[str]
    markdown: object = None


class Recall(Protocol):
    """The last build's reading of the sources (builder.py keeps it in each generation)."""

    def recall(self, path: Path, key: str) -> Recalled | None:
        """What was read from `path` under page key `key`, if the file is unchanged since."""
        ...

    def before(self, path: Path, key: str) -> Recalled | None:
        """What was read from `path` under page key `key`, changed since or not."""
        ...

    def whole(self, path: Path, key: str) -> Whole | None:
        """`path` as a block of the last build's rows, if it is unchanged and was alone in it."""
        ...

    def reference(self, where: int) -> Reference:
        """An entry's reference, read back and checked (the index is untrusted)."""
        ...

    def raw_line(self, where: int) -> bytes:
        """An entry's reference as a record line (catalog.record_line), before any merge."""
        ...


@dataclass
class _File:
    path: Path
    key: str  # its page key, unique among the files read together (records.page_keys)
    # None: JSON Lines, streamed again, or a file not read again; a None in it: an entry kept (Moved)
    references: list[Reference | None] | None
    reserved: set[str] = field(default_factory=set)  # JSON Lines: the ids the file gives
    entries: list[tuple[str, list, int]] = field(default_factory=list)  # (id, plan facts, where): see Recalled
    recalled: bool = False  # not read again: `entries` say where the last build put each one
    warnings: list[str] = field(default_factory=list)
    moved: dict[int, str] = field(default_factory=dict)  # entry kept from the last reading -> its place now
    markdown: object = None  # a Markdown page's sections, kept for the next reading (Recalled.markdown)
    whole: Whole | None = None  # taken whole: no entries


@dataclass
class SourcePlan:
    """The first reading of the sources: which files hold references, how many, which are the same
    work (and which share an identifier but not a title: `duplicates.conflicts`), what was skipped
    and why, and warnings about entries read past (`file:line: message`). `references()` reads them
    (again, for JSON Lines) as a stream."""

    files: list[_File] = field(default_factory=list)
    count: int = 0
    duplicates: DuplicatePlan = field(default_factory=DuplicatePlan)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    recall: Recall | None = None
    skipped_kept: list[tuple[Path, str, str]] = field(default_factory=list)  # (path, page key, why): files read and passed over
    raw_lines: dict[tuple[int, int], bytes] = field(default_factory=dict)  # merged entries as read, filled by `items`
    _whole_keys: list = field(default_factory=list)  # the digests of each file taken whole (dedupe.key_digests)

    def shares_keys_with_wholes(self, digests: np.ndarray) -> bool:
        """Whether any of `digests` is one of a file taken whole (each file's are sorted: bisected)."""
        for keys in self._whole_keys:
            if len(keys) and len(digests) and (keys[np.searchsorted(keys, digests).clip(max=len(keys) - 1)] == digests).any():
                return True
        return False

    def references(self) -> Iterator[Reference]:
        """Every reference, files in sorted order, entries in file order, duplicates merged."""
        for _, item in self.items():
            yield self.reference(item)

    def reference(self, item: Reference | int | Moved) -> Reference:
        """An item's reference (read back from the last build for one not read again)."""
        if isinstance(item, Reference):
            return item
        if isinstance(item, Moved):
            return dataclasses.replace(self.recall.reference(item.where), source=item.source)
        return self.recall.reference(item)

    def items(self) -> Iterator[tuple[tuple[int, int], Reference | int | Moved]]:
        """(position, reference) in the order of `references`; for an entry not read again and
        merged with nothing, where the last build put it (an int, see Recalled, or `Moved` when
        its place changed) instead of the reference. The entries merged (both sides) are kept as
        read in `raw_lines`."""
        return self.duplicates.merge(self._positioned())

    def _positioned(self) -> Iterator[tuple[tuple[int, int], Reference | int | Moved]]:
        from refsearch.catalog import record_line, with_place

        seen: dict[str, str] = {}
        merged = self.duplicates.into.keys() | self.duplicates.absorbs.keys()
        for number, file in enumerate(self.files):
            if file.whole is not None:
                for line, raw in enumerate(file.whole.raw_lines):
                    self.raw_lines[number, -1 - line] = raw
                yield (number, -1), file.whole
                continue
            if file.recalled:
                refs = itertools.repeat(None, len(file.entries))
            elif file.references is None:
                refs = (ref for _, ref in _stream_jsonl(file.path, file.reserved, key=file.key))
            else:
                refs = file.references
            for entry, ref in enumerate(refs):
                if ref is None:  # kept from the last reading
                    ref_id, facts, where = file.entries[entry]
                    position, moved = (number, entry), file.moved.get(entry)
                    item = where if moved is None else Moved(where, moved)
                    if position not in self.duplicates.into:
                        _check_id_at(ref_id, facts[3], seen)
                    if position in merged:
                        raw = self.recall.raw_line(where)
                        self.raw_lines[position] = raw if moved is None else with_place(raw, moved)
                    yield position, (self.reference(item) if position in merged or where < 0 else item)
                    continue  # (where < 0: merged then, so its row held the merge)
                if (number, entry) not in self.duplicates.into:
                    _check_id(ref, seen)
                if file.references is None:  # JSON Lines: made-up ids are final in this reading
                    if ref.id != file.entries[entry][0] and self.shares_keys_with_wholes(key_digests([ref.id], [])):
                        raise SourceError(file.path, None, f"duplicate id {ref.id!r}; give the entry an explicit id")
                    file.entries[entry] = (ref.id, *file.entries[entry][1:])
                if (number, entry) in merged:
                    self.raw_lines[number, entry] = record_line(ref)
                yield (number, entry), ref


@dataclass
class SourceRead:
    """All references at once (status, tests); a build streams a `SourcePlan` instead."""

    references: list[Reference] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def plan_sources(paths: Sequence[Path], recall: Recall | None = None, wholes: bool = True) -> SourcePlan:
    """Read every file under `paths` once: every entry is checked (a file it recognises but cannot
    read raises SourceError with file and line), duplicates are planned (dedupe.py), and only JSON
    Lines files, which can hold whole libraries, are not kept in memory. A file `recall` knows
    unchanged is not read: what the last build kept of it is planned instead (a library that
    changed in one file is read in that file only), and one that was alone in the last build is
    taken whole (`Whole`) unless an entry planned anew shares an id or work key with it (then
    everything is planned again, entry by entry)."""
    plan = SourcePlan(recall=recall)
    seen: dict[str, str] = {}
    files = all_files(paths)
    keys = page_keys(path for path in files if format_of(path))
    for path in files:
        fmt = format_of(path)
        if fmt is None:
            plan.skipped.append((path, _unknown_reason(path)))
            continue
        number, entries, reason = len(plan.files), 0, "no entries found in it"
        remembered = recall is not None and fmt not in _DATABASE_FORMATS
        whole = recall.whole(path, keys[path]) if remembered and wholes else None
        recalled = recall.recall(path, keys[path]) if remembered and whole is None else None
        if whole is not None:
            file = _File(path, keys[path], None, recalled=True, warnings=whole.warnings, markdown=whole.markdown,
                         whole=whole)
            plan.warnings.extend(whole.warnings)
            entries = whole.entries
            plan.duplicates.add_whole(number, whole.entries - whole.rows, whole.conflicts)
        elif recalled is not None:
            file = _File(path, keys[path], None, entries=recalled.entries, recalled=True, warnings=recalled.warnings,
                         markdown=recalled.markdown)
            plan.warnings.extend(recalled.warnings)
            entries, reason = len(recalled.entries), recalled.skipped or reason
            for entry, (ref_id, facts, _) in enumerate(recalled.entries):
                if not plan.duplicates.add_facts((number, entry), facts):
                    _check_id_at(ref_id, facts[3], seen)
        elif fmt == "jsonl":
            file = _File(path, keys[path], None)
            for entries, (given, ref) in enumerate(_stream_jsonl(path, skipped=file.warnings, key=file.key), start=1):
                if given is not None:
                    file.reserved.add(given)
                facts = plan_facts(ref)
                file.entries.append((ref.id, facts, -1))
                if not plan.duplicates.add_facts((number, entries - 1), facts) and given is not None:
                    _check_id(ref, seen)  # made-up ids are final only in the second reading: checked there
            plan.warnings.extend(file.warnings)
        else:
            before = len(plan.warnings)
            if fmt == "markdown":
                file = _markdown_file(path, keys[path], recall.before(path, keys[path]) if recall else None, plan.warnings)
            else:
                found, why = _read(path, fmt, plan.warnings, keys[path])
                file, reason = _File(path, keys[path], found), why or reason
                file.entries = [(ref.id, plan_facts(ref), -1) for ref in found]
            entries = len(file.entries)
            for entry, (ref_id, facts, _) in enumerate(file.entries):
                if not plan.duplicates.add_facts((number, entry), facts):
                    _check_id_at(ref_id, facts[3], seen)
            file.warnings = plan.warnings[before:]
        if not entries:
            plan.skipped.append((path, reason))
            if fmt not in _DATABASE_FORMATS:
                plan.skipped_kept.append((path, keys[path], reason))
            continue
        plan.count += entries
        plan.files.append(file)
    plan.count -= plan.duplicates.merged
    if any(file.whole for file in plan.files):
        plan._whole_keys = [file.whole.keys for file in plan.files if file.whole]
        others = [file for file in plan.files if not file.whole]
        if plan.shares_keys_with_wholes(key_digests((ref_id for file in others for ref_id, _, _ in file.entries),
                                                    (facts for file in others for _, facts, _ in file.entries))):
            return plan_sources(paths, recall, wholes=False)
        plan.duplicates.conflicts.sort(key=lambda conflict: conflict.at)
    return plan


def read_sources(paths: Sequence[Path]) -> SourceRead:
    """Every reference under `paths` at once (see `plan_sources`)."""
    plan = plan_sources(paths)
    return SourceRead(list(plan.references()), plan.skipped, plan.warnings)


def read_file(path: Path) -> list[Reference]:
    """The references in one file, whatever it holds; a file that is not a reference list is an error
    here (the user named it), while `read_sources` skips it."""
    path = Path(path)
    fmt = format_of(path)
    if fmt is None:
        raise SourceError(path, None, _unknown_reason(path))
    if fmt == "jsonl":
        reserved = {given for given, _ in _stream_jsonl(path) if given is not None}
        return [ref for _, ref in _stream_jsonl(path, reserved)]
    found, reason = _read(path, fmt, [], page_key(path))
    if reason and not found and not reason.startswith("no entries"):
        raise SourceError(path, None, reason)
    return found


def fulltext_of(files: Sequence[str], limit: int | None = None) -> str:
    """The full text in `files` (a reference's `fulltext`: a Zotero attachment's extracted text), its
    first `limit` characters (default text.FULLTEXT_CHARS). A file that is gone or unreadable now is
    passed over: a build reads them after the library, which may have changed since."""
    from refsearch.text import FULLTEXT_CHARS

    limit = FULLTEXT_CHARS if limit is None else limit
    parts, size = [], 0
    for name in files:
        try:
            if not stat.S_ISREG(os.stat(name).st_mode):  # a FIFO or device would block or never end
                continue
            with open(name, "rb") as handle:
                text = handle.read(4 * (limit - size)).decode("utf-8", "replace")
        except OSError:
            continue
        parts.append(text[:limit - size])
        size += len(parts[-1]) + 1
        if size >= limit:
            break
    return "\n".join(parts)


def skipped_summary(read: SourceRead | SourcePlan) -> str | None:
    """The one line a build prints about files it passed over, or None when there were none."""
    count = len(read.skipped)
    if not count:
        return None
    files = "file that is not a reference list" if count == 1 else "files that are not reference lists"
    return f"skipped {count} {files}; --verbose lists them"


def conflicts_summary(plan: SourcePlan) -> str | None:
    """The one line a build prints about entries that share an identifier but not a title."""
    count = len(plan.duplicates.conflicts)
    if not count:
        return None
    pairs = "pair of entries shares" if count == 1 else "pairs of entries share"
    return f"{count} {pairs} a DOI, URL or other id but not a title: kept apart; --verbose lists them"


def _unknown_reason(path: Path) -> str:
    return f"not a reference list format ({path.suffix or 'no suffix'}); refsearch reads {', '.join(SUFFIXES)}"


def _stream_jsonl(path: Path, reserved: set[str] | None = None, skipped: list[str] | None = None,
                  key: str | None = None) -> Iterator[tuple[str | None, Reference]]:
    from refsearch.sources.jsonl import stream_jsonl

    for given, ref in stream_jsonl(path, reserved, skipped, key):
        yield given, tidy(ref, exported=False)


def _markdown_file(path: Path, key: str, earlier: Recalled | None, notes: list[str]) -> _File:
    """A Markdown page read again, in the sections that changed since `earlier` (the last
    reading of it, if any; markdown.read_markdown): the entries of the others are kept as that
    reading put them, their places moved by the lines added or removed above them."""
    from refsearch.sources.markdown import Kept, read_markdown

    text = _decode(path, _read_bytes(path))
    _check_lines(path, text)
    earlier_ids = [ref_id for ref_id, _, _ in earlier.entries] if earlier else ()
    pages = []

    def parse(_parser) -> list[Reference]:
        pages.append(read_markdown(text, path, key, earlier.markdown if earlier else None, earlier_ids))
        return pages[0].references

    found = iter(_parsed(path, "markdown", notes, parse)[0])
    file = _File(path, key, [], markdown=pages[0].memo)
    for part in pages[0].parts:
        if not isinstance(part, Kept):
            for ref in itertools.islice(found, part):
                file.references.append(ref)
                file.entries.append((ref.id, plan_facts(ref), -1))
            continue
        for ref_id, facts, where in earlier.entries[part.first:part.first + part.count]:
            if part.shift:
                facts = [*facts[:3], _moved(facts[3], part.shift), *facts[4:]]
                file.moved[len(file.entries)] = facts[3]
            file.references.append(None)
            file.entries.append((ref_id, facts, where))
    return file


def _moved(source: str, lines: int) -> str:
    """`file:line` moved down by `lines`."""
    path, _, line = source.rpartition(":")
    return f"{path}:{int(line) + lines}" if line.isdigit() else source


def _read(path: Path, fmt: str, notes: list[str], key: str) -> tuple[list[Reference], str | None]:
    """(references, tidied, or the reason the file was skipped)."""
    if fmt in _DATABASE_FORMATS:
        return _parsed(path, fmt, notes, lambda parser: parser(path, key))
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
    return _parsed(path, fmt, notes, lambda parser: parser(text, path, key))


def _parsed(path: Path, fmt: str, notes: list[str], parse) -> tuple[list[Reference], str | None]:
    """`parse(parser)`'s references, checked; its warnings go to `notes`, its failures become one line."""
    parser = _parser(fmt)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SourceWarning)
        try:
            found = parse(parser)
            for ref in found:
                check_reference(ref)
            found = [tidy(ref, exported=fmt in _EXPORT_FORMATS) for ref in found]
        except SourceError:
            raise
        except RecursionError:
            raise SourceError(path, None, "too deeply nested to read; flatten the structure") from None
        except Exception as exc:  # a parser bug must still reach the user as a located, one-line message
            raise SourceError(path, None, f"could not read this file ({type(exc).__name__}: {exc})") from exc
    notes.extend(str(w.message) for w in caught if issubclass(w.category, SourceWarning))
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


def _check_id(ref: Reference, seen: dict[str, str]) -> None:
    """Remember where `ref`'s id was first seen; a second reference with it is an error naming both."""
    _check_id_at(ref.id, ref.source, seen)


def _check_id_at(ref_id: str, source: str, seen: dict[str, str]) -> None:
    first = seen.setdefault(ref_id, source)
    if first != source:
        path, _, line = source.rpartition(":")
        raise SourceError(
            path or source,
            int(line) if line.isdigit() else None,
            f"duplicate id {ref_id!r} (also at {first}); give one of them an explicit id, "
            "a different title, or a different page key / file name",
        )
