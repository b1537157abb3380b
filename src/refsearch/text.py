"""What each reference contributes to the dense vector and to the lexical index.

The dense text is `title. note. note_en. abstract. Topic: topic_en-or-topic.`: the title carries the
names, the annotation what the entry is about, the English gloss lets an English-only model
understand a Chinese annotation, and the topic places the entry. Where no human gloss exists, the
glossary's English words for the Chinese terms stand in for it (why, with numbers:
docs/benchmarks.md, "Embedded text").

The abstract comes after the user's own words: MiniLM reads 256 word pieces, so an abstract first
would push the annotation out of what the model sees (the model's own truncation cuts the rest). In
the lexical index it is its own field with the note's weight. On SciFact (whose corpus `text` is an
abstract) a reference with only an abstract is embedded and weighted exactly as one with only a
note, which is the configuration the fusion weights were tuned on; the bundled and corpora lists
have no abstracts, so none of the three measured scores moves (docs/benchmarks.md).
"""

from __future__ import annotations

import hashlib
import re
from functools import cache

from .glossary import english_for
from .tokenizer import CJK
from .records import Reference, normalised_title

# Lexical field weights scale term frequency (a cheap BM25F): names in titles count double.
LEXICAL_FIELDS = (("title", 2.0), ("note", 1.0), ("note_en", 1.0), ("abstract", 1.0), ("topic", 0.5),
                  ("topic_en", 0.5), ("authors", 1.0), ("venue", 0.5), ("tags", 1.0), ("kind", 0.5))


def dense_text(ref: Reference) -> str:
    parts = [ref.title]
    parts += [text for text in (ref.note, ref.note_en, ref.abstract) if text]
    topic = ref.topic_en or ref.topic
    if topic:
        parts.append("Topic: " + " / ".join(topic))
    if not ref.note_en:
        # no human gloss: give the English-only model the glossary's words for the Chinese terms
        parts.append(" ".join(english_for(" ".join((ref.title, ref.note or "", *topic)))))
    return ". ".join(part.strip().rstrip(".。") for part in parts if part.strip()) + "."


def unreadable_share(ref: Reference) -> float:
    """How much of a reference's own embedded text the English-only encoder cannot read: CJK
    characters over CJK characters plus Latin/digit words (each is about one word piece), over the
    parts `dense_text` embeds except the glossary's English, which is a few keywords and not what
    the entry says. 0 for English, near 1 for a Chinese entry without a gloss (a gloss, being
    English, lowers it). Fusion can let lexical evidence stand in for the unread share
    (`Fusion.readability`, off by default: docs/benchmarks.md, "Answers, round three")."""
    parts = (ref.title, ref.note, ref.note_en, ref.abstract, *(ref.topic_en or ref.topic))
    text = " ".join(part for part in parts if part)
    unread = len(_unreadable().findall(text))
    return unread / max(1, unread + len(_LATIN_WORD.findall(text)))


@cache
def _unreadable() -> re.Pattern:
    """The CJK class, compiled on first use (~4 ms, which only builds pay)."""
    return re.compile(f"[{CJK}]")


_LATIN_WORD = re.compile(r"[A-Za-z0-9]+")


def lexical_fields(ref: Reference) -> list[tuple[str, float]]:
    fields = []
    for name, weight in LEXICAL_FIELDS:
        value = getattr(ref, name)
        if name == "title" and ref.other_titles:  # the other words the same work was found under
            value = " ".join((value, *(t for t in ref.other_titles if normalised_title(t) != normalised_title(value))))
        if isinstance(value, tuple):
            value = " ".join(value)
        if value:
            fields.append((value, weight))
    return fields


def content_hash(ref: Reference, model_fingerprint: str) -> str:
    """Key for reusing a vector: same embedded text under the same model means same vector."""
    return hashlib.sha256(f"{model_fingerprint}\0{dense_text(ref)}".encode()).hexdigest()[:32]


# --- full text (refsearch.fulltext) ---------------------------------------------------------------
# Of each reference's full text, the first FULLTEXT_CHARS characters are indexed (Zotero's own
# full-text index stops at 500,000 by default; a paper's text is 30,000-100,000), in passages of
# about PASSAGE_CHARS, each starting with the last PASSAGE_OVERLAP words of the one before so that a
# phrase across a boundary is whole in one of them. The full text is searched by BM25 only: the
# vector stays on the title, the user's notes and the abstract (docs/benchmarks.md, "Full text").
FULLTEXT_CHARS = 200_000
PASSAGE_CHARS = 1_000
PASSAGE_OVERLAP = 12


def passages(text: str) -> list[str]:
    """`text` (its first FULLTEXT_CHARS characters) as overlapping passages, whitespace collapsed."""
    words = text[:FULLTEXT_CHARS].split()
    found: list[str] = []
    start = 0
    while start < len(words):
        end, size = start, 0
        while end < len(words) and size < PASSAGE_CHARS:
            size += len(words[end]) + 1
            end += 1
        found.append(" ".join(words[start:end]))
        if end >= len(words):
            break
        start = max(start + 1, end - PASSAGE_OVERLAP)
    return found
