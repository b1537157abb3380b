"""Errors a user can act on; the CLI prints them as one line, the servers as a 4xx message."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path


def os_error_message(error: OSError) -> str:
    """An OSError as one line naming its file(s): a copy names both ends (shutil puts the source
    in `filename`, though a full disk is the destination's)."""
    reason = error.strerror or str(error)
    files = " -> ".join(str(name) for name in (error.filename, error.filename2) if name is not None)
    return f"{files}: {reason}" if files else reason


class RefsearchError(Exception):
    """A problem the user can act on. The message says what happened and what to do."""


class SourceError(RefsearchError):
    """Bad input in a source file, located by file and line."""

    def __init__(self, path: str | Path, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


class UnknownReference(RefsearchError):
    """No reference has this id (or matches this title); the servers answer it with 404."""


class InvalidParameter(RefsearchError):
    """A query parameter out of its bounds or of the wrong type (params.py); the message names it
    as the caller wrote it (`-k`, `k=`, `k`)."""


class AmbiguousReference(RefsearchError):
    """A name (a title's start, say) that several references answer to; the message lists them."""


class NoMatch(RefsearchError):
    """A filter that no reference passes (`--kind papers`); the message names what the index has."""


class IndexProblem(RefsearchError):
    """The index is missing, damaged or does not match what was asked; the message names the fix."""


class IndexBusy(RefsearchError):
    """Another build holds the index and did not finish within the time a query may wait."""


class IndexReadOnly(RefsearchError):
    """The index cannot be written here (read-only medium, or not ours to write)."""


class BuildInterrupted(KeyboardInterrupt):
    """Ctrl-C during a build, saying whether the index changed: a build publishes its generation by
    one atomic swap of CURRENT, so before that swap the index is as it was (what was embedded waits
    in the journal for the next build), and after it the new generation is complete. A
    KeyboardInterrupt still, so callers that stop on Ctrl-C keep stopping."""

    def __init__(self, index: Path, changed: bool):
        self.index, self.changed = index, changed
        super().__init__("interrupted after the update was published; the index is complete" if changed
                         else "interrupted; the index is unchanged")


def require_extra(extra: str, *modules: str, why: str = "this command") -> None:
    """Refuse with the install command when an optional extra is missing (instead of an ImportError
    from deep inside a command); `why` names what needs it."""
    missing = [name for name in modules if find_spec(name) is None]
    if missing:
        raise RefsearchError(f"{why} needs {', '.join(missing)}: pip install 'refsearch[{extra}]'.")
