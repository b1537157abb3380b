"""Query -> ranked references: dense, lexical or hybrid, with filters applied before the cut."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING

import numpy as np

from .catalog import KIND, PAGE, VENUE, YEAR, Catalog
from .errors import NoMatch
from .fusion import DEFAULT_FUSION, SCALE_DEPTH, Fusion, Ranking, fuse
from .lexical import LexicalHits
from .params import API, SEARCH, check, checked, named
from .records import Reference, kind_name, normalised_title
from .translate import translate

if TYPE_CHECKING:
    from .opened import OpenedIndex

MIN_DEPTH = SCALE_DEPTH  # candidates each ranker hands to fusion (at least the ones it scales by)
TITLE_WINDOW = 10  # how far down a reference whose title is the query is brought to the top
# A hit is a weak match when it stands above the query's background (the SCALE_DEPTH-th candidate's
# score) by less than this share of what the best hit does (docs/benchmarks.md, "Weak matches").
WEAK_STRENGTH = 0.2


@dataclass
class Hit:
    rank: int
    ref: Reference
    score: float
    dense_rank: int | None = None
    dense_score: float | None = None
    lexical_rank: int | None = None
    lexical_score: float | None = None
    matched: list[str] = field(default_factory=list)
    passage: str | None = None  # the full-text passage that matched best (refsearch.fulltext), if any
    strength: float = 1.0  # (score - background) / (best score - background): 1 for the best hit

    def __repr__(self) -> str:
        return f"Hit(rank={self.rank}, score={self.score:.3f}, ref={self.ref!r}{', weak' if self.weak else ''})"

    @property
    def weak(self) -> bool:
        """Far below the best hit, relative to this query's own scores (WEAK_STRENGTH)."""
        return self.strength < WEAK_STRENGTH


_QUERY = named(SEARCH, "query")
_YEARS = replace(named(SEARCH, "year"), name="years")  # as Filters names it


@dataclass(frozen=True)
class Filters:
    """Restrict results; every filter given must match (case-insensitive)."""

    topic: str | None = None  # substring of any topic element or its English gloss
    kind: str | None = None  # one of the kind's '/'-separated parts ("blog" matches "blog/course")
    years: tuple[int, int] | None = None  # inclusive range (a year, or text such as "2020-2023", is taken too)
    page: str | None = None  # substring of the page title or of the id's page key
    author: str | None = None  # substring of any author's name
    venue: str | None = None  # substring of the venue
    collection: str | None = None  # a collection (or heading) by name or path ("AI", "Computer Science/AI"), with its sub-collections
    tag: str | None = None  # a whole tag (case-insensitive)

    def __repr__(self) -> str:
        given = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if getattr(self, f.name) is not None)
        return f"Filters({given})"

    def __post_init__(self):
        """`years` as the CLI and the servers take it too: 2021, "2020-2023", "2020-", (2020, 2023)."""
        if self.years is not None:
            object.__setattr__(self, "years", checked(_YEARS, self.years, API))

    def active(self) -> bool:
        return any(value is not None for value in (self.topic, self.kind, self.years, self.page, self.author, self.venue,
                                                   self.collection, self.tag))

    def mask(self, catalog: Catalog) -> np.ndarray | None:
        """Which rows pass, decided once per distinct topic, kind and page (None: no filter). A topic
        or collection filter looks at every topic path of a reference (`Reference.topics`). A filter
        that no reference passes is a NoMatch error naming what the index has ("no kind 'papers';
        kinds here: paper 2,310, book 42"): a typo should not look like an empty answer."""
        if not self.active():
            return None
        allowed = np.ones(catalog.count, dtype=bool)
        for name, value, passing in self._parts(catalog):
            if not passing.any():
                raise NoMatch(_nothing_passes(name, value, catalog))
            allowed &= passing
        return allowed

    def _parts(self, catalog: Catalog):
        """(filter name, value given, which rows pass it) for each filter given."""
        if self.topic is not None:
            needle = self.topic.casefold()
            yield "topic", self.topic, catalog.rows_by_topic(
                [any(needle in part.casefold() for part in (*t.path, *t.path_en)) for t in catalog.topics])
        if self.collection is not None:
            names = [part.strip().casefold() for part in re.split(r"[/›]", self.collection) if part.strip()]
            yield "collection", self.collection, catalog.rows_by_topic(
                [_holds_run([part.casefold() for part in t.path], names) for t in catalog.topics])
        if self.tag is not None:
            yield "tag", self.tag, catalog.rows_by_tag(self.tag)
        if self.kind is not None:
            wanted = kind_name(self.kind)
            ok = [wanted in (kind_name(kind) or "").split("/") for kind in catalog.kinds]
            yield "kind", self.kind, np.array(ok, dtype=bool)[catalog.facet(KIND)]
        if self.years is not None:
            years = catalog.facet(YEAR)
            yield "year", self.years, (years >= self.years[0]) & (years <= self.years[1])
        if self.page is not None:
            needle = self.page.casefold()
            ok = [needle in title.casefold() or needle in key.casefold() for title, key in catalog.pages]
            yield "page", self.page, np.array(ok, dtype=bool)[catalog.facet(PAGE)]
        if self.venue is not None:
            needle = self.venue.casefold()
            ok = [needle in (venue or "").casefold() for venue in catalog.venues]
            yield "venue", self.venue, np.array(ok, dtype=bool)[catalog.facet(VENUE)]
        if self.author is not None:
            yield "author", self.author, catalog.rows_by_author(self.author)


def _nothing_passes(name: str, value, catalog: Catalog) -> str:
    """One line: the filter matched nothing, and what the index has instead."""
    import difflib  # only on this path: a query that matches pays nothing for it

    if name == "kind":
        counts = np.bincount(catalog.facet(KIND), minlength=len(catalog.kinds))
        kinds = sorted(((int(n), kind) for kind, n in zip(catalog.kinds, counts) if kind and n), reverse=True)
        return f"no kind {value!r}; kinds here: " + (", ".join(f"{kind} {n:,}" for n, kind in kinds[:12]) or "none")
    if name == "year":
        years = catalog.facet(YEAR)
        known = years[years > 0]
        asked = f"{value[0]}" if value[0] == value[1] else f"{value[0]}-{value[1]}"
        held = f"years here run {known.min()}-{known.max()}" if len(known) else "no reference here has a year"
        return f"no reference from {asked}; {held}."
    if name == "page":
        return f"no page {value!r}; pages here: " + ", ".join(key for _, key in catalog.pages[:12])
    names = {"topic": lambda: {part for t in catalog.topics for part in t.path},
             "collection": lambda: {part for t in catalog.topics for part in t.path},
             "venue": lambda: {venue for venue in catalog.venues if venue},
             "author": catalog.author_names, "tag": catalog.tag_names}[name]()
    by_word = {word.casefold(): name for name in names for word in (name, *name.split())}  # "Vaswany" ~ "Vaswani"
    wanted = value.casefold()
    close = [word for word in by_word if word.startswith(wanted)][:5]
    close += difflib.get_close_matches(wanted, list(by_word), n=5, cutoff=0.75) if len(by_word) <= 100_000 else []
    close = list(dict.fromkeys(by_word[word] for word in close))[:5]
    hint = f"; close: {', '.join(close)}" if close else ("; `refsearch topics` lists them" if name == "topic" else "")
    return f"no {name} {value!r}{hint}." if name in ("tag", "collection") else f"no {name} contains {value!r}{hint}."


def _holds_run(path: list[str], names: list[str]) -> bool:
    """Whether `names` appear one after another in `path`: the collection they name, or one inside it."""
    return bool(names) and any(path[start:start + len(names)] == names for start in range(len(path) - len(names) + 1))


class Searcher:
    """Ranks an index's references for queries; `Index.search` is the public way in."""

    def __init__(self, index: OpenedIndex, fusion: Fusion = DEFAULT_FUSION, translation: str = "selective"):
        self.index = index
        self.fusion = fusion
        self.translation = translation  # translate.MODES; "all" and "off" exist for measurement

    def __len__(self) -> int:
        return len(self.index)  # how many references it ranks (evaluate.Ranker)

    def search(self, query: str, k: int = 10, mode: str = "hybrid", filters: Filters | None = None) -> list[Hit]:
        query = checked(_QUERY, query, API)
        check(SEARCH, {"k": k, "mode": mode}, API)
        allowed = (filters or Filters()).mask(self.index.catalog)
        if allowed is not None and not allowed.any():
            return []
        depth = min(max(MIN_DEPTH, 5 * k), len(self.index))
        dense, lexical_hits = self.rankings(query, depth, mode, allowed)
        lexical = lexical_hits.ranking() if lexical_hits else _EMPTY
        if mode == "hybrid":
            ranked = _exact_title_first(fuse(dense, lexical, self.fusion, self.index.features), query, self.index)
        else:
            chosen = dense if mode == "dense" else lexical
            ranked = list(zip(chosen.doc_ids.tolist(), chosen.scores.tolist()))
        dense_ranks, lexical_ranks = dense.ranks(), lexical.ranks()
        best, background = _score_range(ranked)
        hits = []
        passages = lexical_hits.passages if lexical_hits else {}
        for rank, (row, score) in enumerate(ranked[:k], start=1):
            d, l = dense_ranks.get(row), lexical_ranks.get(row)
            hits.append(Hit(
                rank=rank, ref=self.index.reference(row), score=float(score),
                dense_rank=d, dense_score=float(dense.scores[d - 1]) if d else None,
                lexical_rank=l, lexical_score=float(lexical.scores[l - 1]) if l else None,
                matched=lexical_hits.matched.get(row, []) if lexical_hits else [],
                passage=self.index.fulltext.passage(passages[row]) if row in passages else None,
                strength=(score - background) / (best - background) if best > background else 1.0,
            ))
        return hits

    def rankings(self, query: str, depth: int, mode: str = "hybrid",
                 allowed: np.ndarray | None = None) -> tuple[Ranking, LexicalHits | None]:
        """The rankings that `mode` needs, each cut to `depth` (the input to fusion)."""
        translation = translate(query, self.index.lexical, self.translation)
        dense = self.dense_ranking(translation.dense_query(query), depth, allowed) if mode != "lexical" else _EMPTY
        lexical = self.lexical_hits(query, depth, allowed, translation.lexical_terms) if mode != "dense" else None
        return dense, lexical

    def lexical_hits(self, query: str, depth: int, allowed: np.ndarray | None, terms) -> LexicalHits:
        """BM25 over the references and, where the index has full text, their best passages
        (refsearch.fulltext): a reference's score gains its best passage's, and it keeps that passage."""
        fulltext = self.index.fulltext
        found = fulltext.search(query, depth, allowed, terms) if fulltext else None
        hits = self.index.lexical.search(query, depth, allowed, terms, added=found.scores if found else None)
        if found:
            for row in hits.doc_ids.tolist():
                if row in found.best:
                    hits.passages[row] = found.best[row]
                    words = hits.matched.setdefault(row, [])
                    words.extend(word for word in found.matched[row] if word not in words)
        return hits

    def dense_ranking(self, text: str, depth: int, allowed: np.ndarray | None) -> Ranking:
        """Nearest references to `text` as it is (the query with its translations)."""
        vector = self.index.encoder.encode([text])
        return self.vector_ranking(vector, depth, allowed)

    def vector_ranking(self, vector: np.ndarray, depth: int, allowed: np.ndarray | None) -> Ranking:
        scores, rows = self.index.vectors.search(vector, depth, allowed)
        keep = rows[0] >= 0
        return Ranking(rows[0][keep].astype(np.int64), scores[0][keep])


def _score_range(ranked: list[tuple[int, float]]) -> tuple[float, float]:
    """The best score of a ranking and its background: the score of the SCALE_DEPTH-th candidate,
    or 0 (what a reference no ranker found scores) when there are fewer."""
    if not ranked:
        return 0.0, 0.0
    return float(ranked[0][1]), float(ranked[SCALE_DEPTH - 1][1]) if len(ranked) >= SCALE_DEPTH else 0.0


def shown_hits(hits: list[Hit], offset: int, k: int, keep_weak: bool = False) -> tuple[list[Hit], int, int | None]:
    """What to show of a search for `offset + k` results: the hits from `offset` on, weak ones left
    out unless `keep_weak` (`--all`); how many weak ones were left out; and the offset of the next
    window (None when there is none: fewer hits than asked for, or weak ones cut, which rank last)."""
    strong = hits if keep_weak else [hit for hit in hits if not hit.weak]
    cut = len(hits) - len(strong)
    window = strong[offset:]
    more = len(hits) == offset + k and not cut
    return window, cut, offset + len(window) if more else None


def _exact_title_first(ranked: list[tuple[int, float]], query: str, index: OpenedIndex) -> list[tuple[int, float]]:
    """A query that is a reference's title (case, accents and punctuation aside) asks for that
    reference: the first of the top TITLE_WINDOW whose title, or a title it was merged from, equals
    the query comes first, at the best score. ("The Law and Society Reader" ranked "The Law and
    Society Reader II" first: the longer title holds every word too.) Reads only records a query
    of k >= TITLE_WINDOW returns anyway."""
    wanted = normalised_title(query)
    for position, (row, _) in enumerate(ranked[:TITLE_WINDOW] if wanted else ()):
        ref = index.reference(row)
        if wanted in (normalised_title(ref.title), *map(normalised_title, ref.other_titles)):
            return ranked if position == 0 else [(row, ranked[0][1]), *ranked[:position], *ranked[position + 1:]]
    return ranked


_EMPTY = Ranking(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
