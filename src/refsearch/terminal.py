"""Plain text for the terminal: cell widths (a Chinese character takes two columns), wrapping with a
hanging indent, and ANSI styles only when the output is a terminal that wants them.

Why not rich here: result lists are what every query prints, and importing rich and laying out a
rich table cost a cold query 30-40 ms of its ~260 ms (docs/benchmarks.md, "Speed: queries");
writing indented lines costs under 1 ms. Overview tables (topics, status, eval) still use rich.
The caller cleans the text of control characters (render.clean) before it reaches this module.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import unicodedata
from typing import Iterable, TextIO

STYLES = {"bold": "1", "dim": "2", "italic": "3", "cyan": "36", "yellow": "33", "green": "32"}
_WORDS = re.compile(r"\S+")


def cell_width(text: str) -> int:
    """Columns `text` takes: wide and full-width characters (CJK) two, combining marks none."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(char) else 2 if unicodedata.east_asian_width(char) in "WF" else 1
               for char in text)


def _pieces(word: str) -> list[str]:
    """Where a word may break: between wide characters (Chinese has no spaces), and nowhere inside a
    run of narrow ones."""
    if word.isascii():
        return [word]
    pieces: list[str] = []
    narrow = False
    for char in word:
        wide = unicodedata.east_asian_width(char) in "WF"
        if narrow and not wide:
            pieces[-1] += char
        else:
            pieces.append(char)
        narrow = not wide
    return pieces


def wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` columns, breaking at spaces and between wide characters; a
    word longer than a line (a long URL) gets a line of its own rather than being cut."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, used = "", 0
        for word in _WORDS.findall(paragraph):
            for index, piece in enumerate(_pieces(word)):
                size = cell_width(piece)
                gap = 1 if line and index == 0 else 0
                if line and used + gap + size > width:
                    lines.append(line)
                    line, used, gap = "", 0, 0
                line += " " * gap + piece
                used += gap + size
        lines.append(line)
    return lines


class Writer:
    """Lines to `stream`, wrapped to its width, styled only where colour is wanted: a terminal,
    NO_COLOR unset and TERM not "dumb" (https://no-color.org)."""

    def __init__(self, stream: TextIO | None = None, width: int | None = None, color: bool | None = None):
        self.stream = stream or sys.stdout
        self.width = width or shutil.get_terminal_size((100, 24)).columns
        if color is None:
            color = (hasattr(self.stream, "isatty") and self.stream.isatty() and "NO_COLOR" not in os.environ
                     and os.environ.get("TERM") != "dumb")
        self.color = color

    def style(self, text: str, *styles: str) -> str:
        if not self.color or not styles or not text:
            return text
        return f"\x1b[{';'.join(STYLES[name] for name in styles)}m{text}\x1b[0m"

    def highlight(self, text: str, terms: Iterable[str], *styles: str) -> str:
        """`text` in `styles`, with each of `terms` (matched case-insensitively, longest first) in
        bold yellow as well."""
        words = sorted({term for term in terms if term}, key=len, reverse=True)
        if not self.color or not words:
            return self.style(text, *styles)
        pattern = re.compile("|".join(map(re.escape, words)), re.IGNORECASE)
        parts, start = [], 0
        for match in pattern.finditer(text):
            parts += [self.style(text[start:match.start()], *styles),
                      self.style(match.group(), *styles, "bold", "yellow")]
            start = match.end()
        return "".join(parts) + self.style(text[start:], *styles)

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")

    def block(self, text: str, indent: int, *styles: str, terms: Iterable[str] = (), lead: str = "") -> None:
        """`text` wrapped to the width after `indent` columns, each line styled (and `terms`
        highlighted); the first line starts with `lead` (as wide as the indent) instead of spaces."""
        for number, part in enumerate(wrap(text, max(self.width - indent, 20))):
            self.line((lead if number == 0 and lead else " " * indent) + self.highlight(part, terms, *styles))
