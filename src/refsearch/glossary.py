"""Dictionary-based cross-lingual matching: Chinese technical terms -> their English words.

Why: the embedding model (all-MiniLM-L6-v2) is English-only, so a Chinese query such as
"模型注册中心" lands nowhere near an English annotation "Tracking / Projects / Models / Registry",
and Chinese bigrams never equal English tokens in BM25. A curated glossary bridges the two: the
lexical tokenizer lets a Chinese term also emit the tokens of its English rendering, and a Chinese
query gets its English words appended before it is embedded.

The glossary (`glossary_zh_en.tsv`, `中文<TAB>english renderings`) is general vocabulary of
ML-systems, LLM, MLOps, data and software reading lists, written from knowledge of the field and
the Chinese text of the shared lists; it is deliberately not tuned on the evaluation queries, so
evaluation numbers measure how well general vocabulary transfers.

Matching is greedy leftmost-longest over each run of Chinese characters: "特征存储的开山之作"
gives "feature store" and "seminal original", not also "feature" and "storage". Loading parses
~600 short lines once (well under 5 ms) and validates every line, so a malformed entry raises
instead of loading silently.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

GLOSSARY_PATH = Path(__file__).with_name("glossary_zh_en.tsv")

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # the Han ranges, for a character class (one definition)


@cache
def _han_run() -> re.Pattern:
    """A run of Han characters. Compiled on first use: the character class costs ~2 ms to compile,
    which a query without Chinese never needs."""
    return re.compile(f"[{HAN}]+")


def han_runs(text: str) -> list[str]:
    """The runs of Han characters in `text`, in order."""
    if not text or max(text) < HAN[0]:  # nothing as high as the first Han character
        return []
    return _han_run().findall(text)


def parse_glossary(text: str, source: str = "glossary") -> dict[str, str]:
    """Parse TSV text into {chinese: english}; raise ValueError naming the line of any bad entry."""
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        where = f"{source}:{number}"
        if len(fields) != 2:
            raise ValueError(f"{where}: expected `中文<TAB>english`, found {len(fields) - 1} tabs")
        chinese, english = (field.strip() for field in fields)
        if not _han_run().fullmatch(chinese):
            raise ValueError(f"{where}: the key {chinese!r} must be Chinese characters only")
        if not english or han_runs(english):
            raise ValueError(f"{where}: the English side of {chinese!r} is empty or has Chinese")
        if chinese in entries:
            raise ValueError(f"{where}: {chinese!r} is already defined")
        entries[chinese] = english
    return entries


@cache
def glossary_entries() -> tuple[dict[str, str], int]:
    """The parsed glossary and the length of its longest key (loaded once)."""
    entries = parse_glossary(GLOSSARY_PATH.read_text(encoding="utf-8"), GLOSSARY_PATH.name)
    return entries, max(map(len, entries))


def glossary_matches(text: str) -> list[tuple[str, str]]:
    """(Chinese term, English) for each glossary term in `text`, leftmost-longest, in order."""
    runs = han_runs(text)
    if not runs:
        return []  # without loading the glossary (~5 ms): most English queries
    entries, longest = glossary_entries()
    found: list[tuple[str, str]] = []
    for run in runs:
        start = 0
        while start < len(run):
            for end in range(min(len(run), start + longest), start, -1):
                english = entries.get(run[start:end])
                if english is not None:
                    found.append((run[start:end], english))
                    start = end
                    break
            else:
                start += 1
    return found


def english_for(text: str) -> list[str]:
    """English phrases of the glossary terms in `text`, leftmost-longest, in order, deduplicated."""
    return list(dict.fromkeys(english for _, english in glossary_matches(text)))


def translate_query(text: str) -> str:
    """The query with the English of its Chinese terms appended, for the English-only encoder."""
    phrases = english_for(text)
    return " ".join([text, *phrases]) if phrases else text
