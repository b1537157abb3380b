"""One error type for everything a user can fix; the CLI prints it without a traceback."""

from __future__ import annotations

from pathlib import Path


class RefsearchError(Exception):
    """A problem the user can act on. The message says what happened and what to do."""


class SourceError(RefsearchError):
    """Bad input in a source file, located by file and line."""

    def __init__(self, path: str | Path, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


class IndexProblem(RefsearchError):
    """The index is missing, damaged or does not match what was asked; the message names the fix."""
