"""The same work, wherever it appears, becomes one reference that says where else it is.

A work is known by, strongest first: its DOI, arXiv id, PubMed id, a book's ISBN (chapters and
conference papers carry their volume's), normalised URL, and as the fallback its citation key or its normalised title
(case, accents, punctuation and spacing ignored) with its year. Two references that share one of these are the same
work, across files and formats (a library exported as CSL-JSON and as CSL-YAML, two Web of Science
exports that overlap, two browsers' bookmarks) and inside one file (a BibTeX file with a DOI twice,
a list that links one page under two headings). Two guards keep different works apart:
- an identifier shared by two different titles (a DOI given to a whole proceedings, a URL reused
  for "Part 2") is a conflict: both stay, and the pair is reported (`refsearch build --verbose`);
- a fallback key needs the same title, and the title key the year and, when both name one, the
  same first author (citation keys repeat across libraries: "smith2020"): awesome lists
  each have their own undated "TensorFlow" line with their own annotation, and "Introduction"
  (2019) is a title many chapters share.

The first occurrence (files in sorted order, entries in file order) survives with the id it has
alone, so ids are stable across rebuilds of the same sources. It keeps the richest value of each
field (a missing one filled, the longer abstract and author list, every distinct annotation, the
union of tags and full texts, a topic if it had none or the other's topic paths on the same page
as `also_topics`, the others' titles as `extra["titles"]`, searchable), records
which `file:line` a field came from in `extra["from"]`, and lists the others' `file:line` in `also_in`. Merges are planned from the work
keys in a first reading and applied in a second one (`DuplicatePlan`), so a library of any size
streams: the plan holds a few short strings per reference, never the references.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Iterator

import numpy as np

from refsearch.records import Reference, normalised_title, normalised_url

Position = tuple[int, int]  # (file number, entry number in the file)

_STRONG = ("doi", "arxiv", "pmid", "isbn", "url")
_ARXIV = re.compile(r"(?:arxiv\.org/(?:abs|pdf)/|10\.48550/arxiv\.|arxiv:)\s*([0-9]{4}\.[0-9]{4,5}|[a-z-]+(?:\.[a-z]{2})?/[0-9]{7})",
                    re.IGNORECASE)
_PUBMED = re.compile(r"(?:pubmed\.ncbi\.nlm\.nih\.gov/|ncbi\.nlm\.nih\.gov/pubmed/)([0-9]{1,9})\b")
_SAME_TITLE_SHARE = 0.6  # words two titles of one work share at least (a subtitle, a reworded export)
# A key that many different works share (a catalogue's search URL, a book's ISBN on its chapters)
# names none of them; only the first few are compared, so a planning stays linear.
_MAX_WORKS_PER_KEY = 8


@dataclasses.dataclass(frozen=True)
class _Work:
    """What the plan keeps of a surviving reference to judge later ones against it."""

    title: str  # normalised
    shown: str  # as written, for a conflict's message
    source: str
    first_author: str | None


@dataclasses.dataclass(frozen=True)
class Conflict:
    """Two references that share an identifier but not a title: kept apart, reported."""

    key: str
    first: str  # file:line
    second: str
    first_title: str
    second_title: str
    at: Position = dataclasses.field(default=(0, 0), compare=False)  # the second's place: conflicts are listed in it

    def __str__(self) -> str:
        kind, _, value = self.key.partition(":")
        return (f"{self.second}: shares its {kind} ({value}) with {self.first} but not its title "
                f"({self.second_title!r} vs {self.first_title!r}); kept as two references")


class DuplicatePlan:
    """Found while the sources are first read (`add`, in reading order); applied while they are read
    again for the build (`merge`), so no reader holds every reference at once."""

    def __init__(self) -> None:
        self._owners: dict[str, list[Position]] = {}  # work key -> the surviving references known by it
        self._works: dict[Position, _Work] = {}
        self.into: dict[Position, Position] = {}  # a duplicate -> the reference it merges into
        self.absorbs: dict[Position, int] = {}  # a survivor -> how many duplicates merge into it
        self.conflicts: list[Conflict] = []
        # files (by number) one of whose entries shared a work key with another file's: the others are
        # alone, and the next build may take one of them whole if it has not changed (sources.Whole)
        self.crossed: set[int] = set()
        self.merged_in_wholes = 0  # entries merged within the files taken whole (planned by the last build)

    @property
    def merged(self) -> int:
        """How many entries merge into another."""
        return len(self.into) + self.merged_in_wholes

    def add(self, position: Position, ref: Reference) -> bool:
        """Plan `ref`; True if it is a duplicate that will merge into an earlier reference."""
        return self.add_facts(position, plan_facts(ref))

    def add_facts(self, position: Position, facts: list) -> bool:
        """`add`, from what `plan_facts` kept of a reference (a build keeps them for files it does
        not read again: builder.py)."""
        keys, title, shown, source, first_author = facts
        work = _Work(title, shown, source, first_author)
        survivor, conflict = None, None
        for key in keys:
            strong = key.partition(":")[0] in _STRONG
            for owner in self._owners.get(key, ()):
                if owner[0] != position[0]:
                    self.crossed.update((owner[0], position[0]))
                if _same_work(self._works[owner], work, strong):
                    survivor = survivor or owner
                elif strong and conflict is None:
                    conflict = (owner, key)
        if survivor is not None:
            self.into[position] = survivor
            self.absorbs[survivor] = self.absorbs.get(survivor, 0) + 1
            return True
        self._works[position] = work
        for key in keys:
            owners = self._owners.setdefault(key, [])
            if len(owners) < _MAX_WORKS_PER_KEY:
                owners.append(position)
        if conflict is not None:  # one pair per reference, with the first work it was told apart from
            known = self._works[conflict[0]]
            self.conflicts.append(Conflict(conflict[1], known.source, source, known.shown, shown, position))
        return False

    def add_whole(self, file: int, merged: int, conflicts: Iterable[Conflict]) -> None:
        """A file taken whole (sources.Whole): its `merged` entries merged within it, its conflicts."""
        self.merged_in_wholes += merged
        self.conflicts.extend(dataclasses.replace(conflict, at=(file, conflict.at[1])) for conflict in conflicts)

    def merge(self, positioned: Iterable[tuple[Position, Reference]]) -> Iterator[tuple[Position, Reference]]:
        """The references with duplicates folded in, each with its position (a merged one's is its
        survivor's); a survivor is held back until its last duplicate has been
        read (so it comes out there, not at its own place). What is merged with nothing passes
        through as it came (a build passes some entries by where they are, not as references)."""
        held: dict[Position, Reference] = {}
        waiting = dict(self.absorbs)
        for position, ref in positioned:
            survivor = self.into.get(position)
            if survivor is not None:
                held[survivor] = absorb(held[survivor], ref)
                waiting[survivor] -= 1
                if not waiting[survivor]:
                    merged = held.pop(survivor)
                    yield survivor, merged
            elif position in waiting:
                held[position] = ref
            else:
                yield position, ref


def key_digests(ids: Iterable[str], facts: Iterable[list]) -> np.ndarray:
    """The sorted 64-bit digests of entries' ids and work keys (`plan_facts`): a file taken whole
    is told apart from the entries planned anew by these (a shared digest plans everything again)."""
    names = [f"id:{ref_id}" for ref_id in ids]
    names += [key for fact in facts for key in fact[0]]
    return np.unique(np.fromiter((int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")
                                  for name in names), dtype=np.uint64, count=len(names)))


def plan_facts(ref: Reference) -> list:
    """What planning needs of a reference, as plain JSON: its work keys, normalised title, title as
    written, place and first author's family name."""
    return [work_keys(ref), normalised_title(ref.title), ref.title, ref.source, _first_author(ref)]


def plan_facts_valid(facts: object) -> bool:
    """Whether `facts` (read back from an index, which is untrusted) has `plan_facts`'s shape."""
    return (isinstance(facts, list) and len(facts) == 5 and isinstance(facts[0], list)
            and all(isinstance(key, str) for key in facts[0]) and all(isinstance(v, str) for v in facts[1:4])
            and (facts[4] is None or isinstance(facts[4], str)))


def work_keys(ref: Reference) -> list[str]:
    """The keys that name `ref`'s work, strongest first."""
    keys = []
    arxiv = _arxiv(ref)
    if ref.doi and not ref.doi.startswith("10.48550/"):
        keys.append(f"doi:{ref.doi}")
    if arxiv:
        keys.append(f"arxiv:{arxiv}")
    if pmid := str(ref.extra.get("pmid") or "").strip() or _match(_PUBMED, ref.url):
        keys.append(f"pmid:{pmid}")
    if ref.kind == "book" and (isbn := isbn13(str(ref.extra.get("isbn") or ""))):
        keys.append(f"isbn:{isbn}")
    if url := normalised_url(ref.url):
        keys.append(f"url:{url}")
    if citation_key := str(ref.extra.get("key") or "").strip():
        keys.append(f"key:{citation_key}")  # one library exported twice; never a conflict: keys repeat across libraries
    if ref.year is not None and (title := normalised_title(ref.title)):
        keys.append(f"title:{title}:{ref.year}")
    return keys


def isbn13(text: str) -> str | None:
    """An ISBN as 13 digits (an ISBN-10 converted), or None when `text` holds none."""
    digits = re.sub(r"[^0-9Xx]", "", text.split()[0] if text.split() else "").upper()
    if len(digits) == 10 and digits[:9].isdigit():
        core = "978" + digits[:9]
        check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(core)) % 10) % 10
        return core + str(check)
    return digits if len(digits) == 13 and digits.isdigit() else None


def absorb(kept: Reference, other: Reference) -> Reference:
    """`kept` with `other` (the same work, found later) folded in: the richest value of each field."""
    chosen: dict[str, object] = {}
    for name in ("url", "year", "note_en", "venue", "doi"):
        if not getattr(kept, name) and getattr(other, name):
            chosen[name] = getattr(other, name)
    if kept.kind in (None, "other", "web") and other.kind not in (None, "other", "web"):
        chosen["kind"] = other.kind
    for name in ("authors", "abstract"):
        if len(getattr(other, name) or ()) > len(getattr(kept, name) or ()):
            chosen[name] = getattr(other, name)
    if other.note and other.note not in (kept.note or ""):
        chosen["note"] = f"{kept.note} · {other.note}" if kept.note else other.note
    if not kept.topic and other.topic:
        chosen.update(topic=other.topic, topic_en=other.topic_en, also_topics=other.also_topics)
    elif other.page == kept.page:  # listed under two headings (collections) of one page: both stay
        paths = [path for path in (*kept.also_topics, *other.topics) if path and path != kept.topic]
        if tuple(dict.fromkeys(paths)) != kept.also_topics:
            chosen["also_topics"] = tuple(dict.fromkeys(paths))
    if other.fulltext and not set(other.fulltext) <= set(kept.fulltext):
        chosen["fulltext"] = tuple(dict.fromkeys((*kept.fulltext, *other.fulltext)))
    extra = {**other.extra, **kept.extra}
    titles = [title for title in (*kept.other_titles, other.title, *other.other_titles)
              if title.casefold() != kept.title.casefold()]
    if titles:  # "斯坦福 CS324: Large Language Models" stays findable under "CS324 - Large Language Models"
        extra["titles"] = list(dict.fromkeys(titles))
    if chosen:
        extra["from"] = {**kept.extra.get("from", {}), **{name: other.source for name in chosen}}
    return dataclasses.replace(
        kept, **chosen,
        tags=tuple(dict.fromkeys((*kept.tags, *other.tags))),
        extra=extra,
        also_in=(*kept.also_in, other.source, *other.also_in),
    )


def _same_work(known: _Work, new: _Work, strong: bool) -> bool:
    """Whether a reference that shares a key with `known` is the same work (see the module docstring)."""
    if not strong and known.first_author and new.first_author and known.first_author != new.first_author:
        return False
    if known.title == new.title:
        return True
    shorter, longer = sorted((known.title, new.title), key=len)
    if shorter and longer.startswith(shorter + " "):
        return True  # a subtitle one export keeps and another drops
    first, second = set(known.title.split()), set(new.title.split())
    return len(first & second) >= _SAME_TITLE_SHARE * max(len(first), len(second), 2)


def _first_author(ref: Reference) -> str | None:
    """The first author's family name as a key ("Ilya Sutskever" and "Sutskever, I." agree)."""
    if not ref.authors:
        return None
    first = ref.authors[0]
    family = first.partition(",")[0] if "," in first else (first.split() or [""])[-1]
    return normalised_title(family) or None


def _arxiv(ref: Reference) -> str | None:
    given = str(ref.extra.get("arxiv") or "").strip()
    for text in (f"arxiv:{given}" if given else None, ref.doi, ref.url):
        if found := _match(_ARXIV, text):
            return found.lower()
    return None


def _match(pattern: re.Pattern[str], text: str | None) -> str | None:
    found = pattern.search(text or "")
    return found[1] if found else None
