"""Which files under the given paths could be reference lists, as people keep them in folders.

Standard library only (pathspec is imported only where a .gitignore exists): the index-freshness
check calls `watched_files` before every query, so this module must not pull in a parser.

A directory walk skips hidden entries (.git, .github, editor files), paths its .gitignore files
ignore, and any directory that is itself a refsearch index (it holds `CURRENT` or `gen-*`), so an
index kept inside its own source folder is never read back as a source. A Zotero data directory
(it holds `zotero.sqlite`) is one source, its database: the walk does not go into it (its styles,
translators and attachment snapshots are not reference lists), and `watched_files` adds the files
whose changes change the library (`zotero_companions`). Whether a candidate really is a reference
list is decided later, by content (`refsearch.sources.read_sources`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from refsearch.errors import SourceError
from refsearch.store import GENERATION_NAME

# suffix -> the format a file with it may hold; what the content says decides (sources.read_file)
SUFFIXES = {
    ".md": "markdown", ".markdown": "markdown",
    ".yaml": "yaml", ".yml": "yaml",
    ".jsonl": "jsonl",
    ".json": "csl-json",
    ".bib": "bibtex", ".bibtex": "bibtex",
    ".ris": "ris", ".txt": "ris",  # Web of Science and many RIS exports are saved as .txt
    ".html": "bookmarks", ".htm": "bookmarks",
    ".jsonl.gz": "jsonl",  # a large library or a dataset, read compressed as it is
}
ZOTERO_DATABASE = "zotero.sqlite"  # a Zotero data directory's library (sources/zotero.py)
# Beside the database, what a change to the library touches: its write-ahead log and rollback
# journal (a running Zotero's latest edits live there) and Better BibTeX's citation keys. Not the
# attachments' full-text caches (storage/<key>/.zotero-ft-cache): Zotero writes its full-text
# tables whenever it writes a cache, so the database changes with them, and a stat per attachment
# on every query would cost 20-40 ms per 1,000 attachments (docs/benchmarks.md, "Zotero"). A build
# compares the caches themselves (fulltext.py).
_ZOTERO_BESIDE = (ZOTERO_DATABASE + "-wal", ZOTERO_DATABASE + "-journal", "better-bibtex.sqlite",
                  "better-bibtex.sqlite-wal")


def format_of(path: Path) -> str | None:
    """The format a file's suffix (or compound suffix, `.jsonl.gz`) says it may hold, or None."""
    name = path.name.lower()
    if name == ZOTERO_DATABASE:
        return "zotero"
    return SUFFIXES.get(".jsonl.gz" if name.endswith(".jsonl.gz") else path.suffix.lower())


def candidate_files(paths: Sequence[Path]) -> list[Path]:
    """Files under `paths` whose suffix some parser could take, sorted, without repeats.

    A file named explicitly must exist, be a regular readable file and have such a suffix: the user
    asked for it by name, so silence would hide a typo.
    """
    return [path for path in all_files(paths) if format_of(path)]


def watched_files(paths: Sequence[Path]) -> list[Path]:
    """The candidate files and, for a Zotero database, the files beside it whose changes change the
    library: what the manifest records and the freshness check compares."""
    watched = []
    for path in candidate_files(paths):
        watched.append(path)
        if path.name.lower() == ZOTERO_DATABASE:
            watched.extend(zotero_companions(path))
    return watched


def zotero_companions(database: Path) -> list[Path]:
    """The files beside a Zotero database that exist now (see _ZOTERO_BESIDE)."""
    return [database.parent / name for name in _ZOTERO_BESIDE if (database.parent / name).is_file()]


def all_files(paths: Sequence[Path]) -> list[Path]:
    """Every file a directory walk sees (whatever its suffix) plus the files named, sorted, unique.

    `read_sources` uses this to report what it skipped; `candidate_files` narrows it.
    """
    found: dict[Path, Path] = {}
    for given in paths:
        path = Path(given)
        for file in _walk(path) if path.is_dir() else [_named_file(path)]:
            found.setdefault(_identity(file), file)
    return sorted(found.values())


def is_index_directory(path: Path) -> bool:
    """A refsearch index: its CURRENT pointer, or a generation folder `gen-<number>` (a notes folder
    with a `gen-ai` subfolder is not one)."""
    try:
        return (path / "CURRENT").is_file() or any(GENERATION_NAME.fullmatch(child.name) and child.is_dir()
                                                    for child in path.iterdir())
    except OSError:
        return False


def _walk(root: Path) -> Iterator[Path]:
    if is_index_directory(root):
        raise SourceError(root, None, "is a refsearch index, not a folder of reference lists")

    def fail(error: OSError) -> None:
        raise SourceError(error.filename or root, None, f"cannot read directory: {error.strerror or error}")

    ignores: dict[str, _Ignore] = {}
    for dirpath, dirnames, filenames in os.walk(root, onerror=fail):
        here = Path(dirpath)
        if ZOTERO_DATABASE in filenames:  # a Zotero data directory: its database is the source
            dirnames[:] = []
            yield _checked_file(here / ZOTERO_DATABASE)
            continue
        rules = [rule for directory, rule in ignores.items() if _within(dirpath, directory)]
        if ".gitignore" in filenames:
            ignores[dirpath] = rule = _Ignore(here)
            rules.append(rule)
        dirnames[:] = sorted(
            name for name in dirnames
            if not name.startswith(".") and not _ignored(here / name, rules, directory=True)
            and not is_index_directory(here / name)
        )
        for name in sorted(filenames):
            path = here / name
            if not name.startswith(".") and not _ignored(path, rules, directory=False):
                # named, not skipped: a dangling link or a FIFO called *.md is an error the user should see
                yield _checked_file(path) if format_of(path) else path


def _named_file(path: Path) -> Path:
    checked = _checked_file(path)
    if not format_of(checked):
        known = ", ".join(SUFFIXES)
        raise SourceError(path, None, f"unsupported file type {path.suffix or '(none)'!r}; use {known}")
    return checked


def _checked_file(path: Path) -> Path:
    if not path.exists():
        raise SourceError(path, None, "no such file or directory; check the path")
    if not path.is_file():
        raise SourceError(path, None, "not a regular file or directory")
    if not os.access(path, os.R_OK):
        raise SourceError(path, None, "permission denied; make the file readable")
    return path


class _Ignore:
    """One directory's .gitignore, matched against paths relative to that directory."""

    def __init__(self, directory: Path):
        import pathspec

        self.directory = directory
        try:
            lines = (directory / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines = []
        self.spec = pathspec.GitIgnoreSpec.from_lines(lines)

    def matches(self, path: Path, directory: bool) -> bool:
        relative = path.relative_to(self.directory).as_posix()
        return self.spec.match_file(relative + "/" if directory else relative)


def _ignored(path: Path, rules: list[_Ignore], directory: bool) -> bool:
    return any(rule.matches(path, directory) for rule in rules)


def _within(dirpath: str, directory: str) -> bool:
    return dirpath == directory or dirpath.startswith(directory.rstrip(os.sep) + os.sep)


def _identity(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()
