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

from .glossary import english_for
from .records import Reference

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


def lexical_fields(ref: Reference) -> list[tuple[str, float]]:
    fields = []
    for name, weight in LEXICAL_FIELDS:
        value = getattr(ref, name)
        if name == "title" and ref.other_titles:  # the titles of the same work merged into it
            value = " ".join((value, *ref.other_titles))
        if isinstance(value, tuple):
            value = " ".join(value)
        if value:
            fields.append((value, weight))
    return fields


def content_hash(ref: Reference, model_fingerprint: str) -> str:
    """Key for reusing a vector: same embedded text under the same model means same vector."""
    return hashlib.sha256(f"{model_fingerprint}\0{dense_text(ref)}".encode()).hexdigest()[:32]
