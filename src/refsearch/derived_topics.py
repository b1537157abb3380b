"""Topics for pages that have none, derived when an index is built (nothing of this runs on a query).

Topic context (a hit's heading, its siblings, "same topic" in related reading, the map's colours) is
empty for a BibTeX or RIS export, a CSL library without collections or a bookmark file without
folders: one "topic" holds every reference. So a build gives each such page topics of its own:

- *which pages*: a page (a source file) none of whose references has a topic, with at least
  MIN_REFERENCES references (fewer are read at a glance, and k-means on them is noise);
- *how many topics*: the library's size proposes, the silhouette checks. The guess is
  sqrt(n / 8) (2,500 references: 18), and k-means (faiss, spherical, seeded) runs at 0.6, 0.8, 1,
  1.25 and 1.5 times it, between 2 and MAX_TOPICS, each topic holding at least MIN_TOPIC_SIZE on
  average. Each is scored by its silhouette (cosine) on a sample of at most SAMPLE references, and
  the smallest number whose silhouette is within NEAR_BEST of the best is taken. Why not simply the
  best: on sentence embeddings the silhouette is low (0.05-0.09 on the real libraries measured) and
  creeps up with the number of clusters, so the best is nearly always the largest candidate; its
  differences of a few percent say little, while a clearly worse split shows (docs/benchmarks.md,
  "Derived topics"). Topics left with fewer than MIN_TOPIC_SIZE references are dissolved into the
  nearest others;
- *labels*: each topic's most distinctive terms by a class-based TF-IDF (c-TF-IDF, as BERTopic
  labels its clusters) over the lexical index's own tokens, so Chinese (character bigrams, glossary
  terms) and English (stems) are handled alike. A term scores by the share p of the topic's
  references holding it times log(p / q), q its share among all the derived pages' references: the
  idf is taken relative to the topic, so a word every topic holds alike ("study", a venue) scores
  nothing, where plain c-TF-IDF ranked it first in a small library. A term is shown as written
  in the titles, tags and notes (or abstracts' first words) of the topic's references nearest its
  centre (a stem is not shown; a term found only in authors or venues is passed over; when none is
  found there, in any of the topic's references; when none at all, the topic is "topic N");
  adjacent Chinese bigrams among the top terms are joined back into the word they came from;
- *stability*: a rebuild that changes little keeps the topics. The centroids and labels are kept in
  the generation (`topics.centroids.npy`, the manifest's `topics` entry); a later build assigns every
  reference of the page to its nearest kept centroid (a new reference joins the nearest topic) until
  the references added, changed or removed since the topics were derived exceed REDERIVE_SHARE of
  the page as it was then; that build derives them anew. `--force` always derives anew.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .errors import IndexProblem
from .glossary import han_runs
from .lexical import BM25Index, query_terms

METHOD = "kmeans-ctfidf@1"
FILE = "topics.centroids.npy"
MIN_REFERENCES = 50
MIN_TOPIC_SIZE = 10
MAX_TOPICS = 40
SIZE_FACTORS = (0.6, 0.8, 1.0, 1.25, 1.5)
SAMPLE = 2000
NEAR_BEST = 0.9
REDERIVE_SHARE = 0.2
LABEL_TERMS = 3
CANDIDATE_TERMS = 30  # per topic, by c-TF-IDF, before the ones shown are picked
MIN_TERM_SHARE = 0.05  # a label term is held by at least this share of the topic's references
LABEL_TEXT_CHARS = 200  # of a reference's note or abstract kept for its topic's label (builds hold them)
NEAREST_TEXTS = 50  # references nearest a topic's centre whose texts give the label's spelling
SEED = 20261128
NREDO = 3  # k-means runs from different starts, the best kept: one run can merge two clear clusters


@dataclass
class PageTopics:
    """The derived topics of one page: labels and centroids, and each of its rows' topic."""

    page: tuple[str, str]  # (title, key), as the catalog names pages
    rows: np.ndarray  # int64, the page's rows in the index
    assignment: np.ndarray  # int64 per row: its topic (index into labels)
    labels: list[str]
    centroids: np.ndarray  # float32 (topics, dimension)
    derived_at: int  # the page's references when its topics were derived
    changed: int  # references added, changed or removed since then

    def entry(self, first: int) -> dict:
        """The manifest's record of this page; its centroids are rows first.. of FILE."""
        return {"page": list(self.page), "labels": self.labels, "centroids": [first, first + len(self.labels)],
                "count": len(self.rows), "derived_at": self.derived_at, "changed": self.changed}


@dataclass
class KeptTopics:
    """A page's topics as a previous generation recorded them."""

    labels: list[str]
    centroids: np.ndarray
    count: int
    derived_at: int
    changed: int


def label_text(ref) -> str:
    """The words a reference lends to its topic's label: its title, tags and the start of its note
    (else of its abstract: a paper library's titles can be as bare as "Paper105")."""
    return " ".join((ref.title, *ref.tags, (ref.note or ref.abstract or "")[:LABEL_TEXT_CHARS]))


def derive(flat: dict[tuple[str, str], np.ndarray], vectors: Callable[[np.ndarray], np.ndarray],
           lexical: BM25Index, texts: dict[int, str], fresh: np.ndarray,
           kept: dict[tuple[str, str], KeptTopics]) -> list[PageTopics]:
    """Topics for each flat page (`flat`: page -> its rows); `texts` holds each of those rows' title,
    tags and note (for the labels' spelling), `fresh` marks the rows added or changed by this build,
    `kept` the topics a previous generation derived."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # measured: on a busy 2-core machine one thread is 10x faster
    try:
        derived, pending = [], []
        for page, rows in flat.items():
            if len(rows) < MIN_REFERENCES:
                continue
            points = _unit(vectors(rows))
            topics = _reassigned(page, rows, points, fresh, kept.get(page))
            if topics is None:
                centroids, assignment = _cluster(points)
                topics = PageTopics(page, rows, assignment, [], centroids, len(rows), 0)
                pending.append((topics, points))
            derived.append(topics)
        _label(pending, lexical, texts)
        return derived
    finally:
        faiss.omp_set_num_threads(threads)


def _unit(points: np.ndarray) -> np.ndarray:
    points = np.ascontiguousarray(points, dtype=np.float32)
    norms = np.linalg.norm(points, axis=1, keepdims=True)
    return points / np.where(norms > 0, norms, 1)


def _reassigned(page, rows: np.ndarray, points: np.ndarray, fresh: np.ndarray, kept: KeptTopics | None) -> PageTopics | None:
    """The page's previous topics with every row assigned to its nearest centroid, unless too much
    changed since they were derived (or they do not fit these vectors)."""
    if kept is None or kept.centroids.shape[1] != points.shape[1]:
        return None
    new_or_changed = int(fresh[rows].sum())
    removed = max(0, kept.count - (len(rows) - new_or_changed))
    changed = kept.changed + new_or_changed + removed
    if changed > REDERIVE_SHARE * kept.derived_at:
        return None
    assignment = np.argmax(points @ kept.centroids.T, axis=1)
    used = np.unique(assignment)  # a topic that lost every reference is dropped
    renumber = np.full(len(kept.labels), -1)
    renumber[used] = np.arange(len(used))
    return PageTopics(page, rows, renumber[assignment], [kept.labels[i] for i in used],
                      np.ascontiguousarray(kept.centroids[used], dtype=np.float32), kept.derived_at, changed)


# --- how many topics, and which ------------------------------------------------------------------


def candidate_sizes(count: int) -> list[int]:
    """Numbers of topics to try for a page of `count` references (see the module's docstring)."""
    guess = math.sqrt(count / 8)
    high = max(2, min(MAX_TOPICS, count // MIN_TOPIC_SIZE))
    return sorted({min(high, max(2, round(guess * factor))) for factor in SIZE_FACTORS})


def _cluster(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centroids, each point's topic) for the number of topics chosen by `candidate_sizes` and the
    silhouette."""
    sample = np.sort(np.random.default_rng(SEED).choice(len(points), min(len(points), SAMPLE), replace=False))
    distances = 1.0 - points[sample] @ points[sample].T
    runs = []
    for k in candidate_sizes(len(points)):
        centroids = _kmeans(points, k)
        assignment = np.argmax(points @ centroids.T, axis=1)
        runs.append((k, silhouette(distances, assignment[sample], k), centroids))
    best = max(score for _, score, _ in runs)
    _, _, centroids = next(run for run in runs if run[1] >= best - (1 - NEAR_BEST) * abs(best))
    return _dissolve_small(points, centroids)


def _kmeans(points: np.ndarray, k: int) -> np.ndarray:
    import faiss

    kmeans = faiss.Kmeans(points.shape[1], k, niter=20, nredo=NREDO, seed=SEED, spherical=True, verbose=False,
                          min_points_per_centroid=1, max_points_per_centroid=512)
    kmeans.train(points)
    return _unit(kmeans.centroids)


def _dissolve_small(points: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop the centroids of topics under MIN_TOPIC_SIZE references, smallest first, and give their
    references to the nearest remaining ones (a topic of three is noise, not a section)."""
    while True:
        assignment = np.argmax(points @ centroids.T, axis=1)
        sizes = np.bincount(assignment, minlength=len(centroids))
        smallest = int(np.argmin(sizes))
        if sizes[smallest] >= MIN_TOPIC_SIZE or len(centroids) <= 2:
            return centroids, assignment
        centroids = np.delete(centroids, smallest, axis=0)


def silhouette(distances: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Mean silhouette of the sampled points (`distances`: their pairwise cosine distances): per
    point, (b - a) / max(a, b), a its mean distance to its own topic, b to the nearest other."""
    members = np.zeros((len(labels), k))
    members[np.arange(len(labels)), labels] = 1.0
    sums, sizes = distances @ members, members.sum(axis=0)
    own = sums[np.arange(len(labels)), labels] / np.maximum(sizes[labels] - 1, 1)
    others = sums / np.maximum(sizes, 1)
    others[np.arange(len(labels)), labels] = np.inf
    others[:, sizes == 0] = np.inf
    nearest = others.min(axis=1)
    values = (nearest - own) / np.maximum(np.maximum(own, nearest), 1e-12)
    values[(sizes[labels] <= 1) | ~np.isfinite(nearest)] = 0.0
    return float(values.mean())


# --- labels --------------------------------------------------------------------------------------


def _label(pending: list[tuple[PageTopics, np.ndarray]], lexical: BM25Index, texts: dict[int, str]) -> None:
    """Label every newly derived topic (all pages at once: one pass over the postings)."""
    if not pending:
        return
    topic_of = np.full(lexical.n_docs, -1, dtype=np.int64)
    first = 0
    for topics, _ in pending:
        topic_of[topics.rows] = first + topics.assignment
        first += len(topics.centroids)
    sizes = np.bincount(topic_of[topic_of >= 0], minlength=first)
    terms, topic, held = _holders(lexical, topic_of, first)
    anywhere = np.bincount(terms, weights=held, minlength=len(lexical.terms))
    share = held / sizes[topic]
    score = share * np.log(share / (anywhere[terms] / sizes.sum()))
    keep = (held >= np.maximum(2, MIN_TERM_SHARE * sizes[topic])) & (score > 0)
    terms, topic, score = terms[keep], topic[keep], score[keep]
    order = np.lexsort((terms, -score, topic))  # by topic, best term first
    starts = np.searchsorted(topic[order], np.arange(first + 1))
    first = 0
    for topics, points in pending:
        labels = []
        for local in range(len(topics.centroids)):
            best = order[starts[first + local]:starts[first + local + 1]][:CANDIDATE_TERMS]
            tokens = [lexical.terms[int(term)].decode("utf-8") for term in terms[best]]
            members = np.flatnonzero(topics.assignment == local)
            nearest = members[np.argsort(-(points[members] @ topics.centroids[local]), kind="stable")[:NEAREST_TEXTS]]
            labels.append(label_from(tokens, [texts.get(int(topics.rows[i]), "") for i in nearest])
                          or label_from(tokens, [texts.get(int(topics.rows[i]), "") for i in members], least=1))
        topics.labels = _distinct(labels)
        first += len(topics.centroids)


def _holders(lexical: BM25Index, topic_of: np.ndarray, topics: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(term, topic, how many of the topic's references hold the term), for every pair that occurs."""
    keys = []
    block = 1 << 22
    for start in range(0, len(lexical.doc_ids), block):
        docs = np.asarray(lexical.doc_ids[start:start + block])
        terms = np.searchsorted(lexical.term_ptr, np.arange(start, start + len(docs)), side="right") - 1
        topic = topic_of[docs]
        keys.append(terms[topic >= 0] * topics + topic[topic >= 0])
    found, held = np.unique(np.concatenate(keys) if keys else np.zeros(0, np.int64), return_counts=True)
    return found // topics, found % topics, held


def label_from(tokens: Sequence[str], texts: Sequence[str], least: int | None = None) -> str:
    """The first LABEL_TERMS of `tokens` (best first) as written in `texts`, joined by ", "; a token
    not found in at least `least` of them (default: MIN_TERM_SHARE, and 2) is passed over: a stem of
    an author's name, a word of one odd title."""
    spelled = _spellings(texts, least or max(2, round(MIN_TERM_SHARE * len(texts))))
    wanted = set(tokens)
    words: list[str] = []
    for token in tokens:
        surface = spelled.get(token)
        if surface is None or _digits(surface):
            continue
        if han_runs(surface) == [surface]:
            surface = _joined(surface, wanted, texts)
        if any(surface.casefold() in word.casefold() or word.casefold() in surface.casefold() for word in words):
            continue
        words.append(surface)
        if len(words) == LABEL_TERMS:
            break
    return ", ".join(words)


def _spellings(texts: Sequence[str], least: int) -> dict[str, str]:
    """token -> its most frequent spelling in `texts`, for the tokens at least `least` of them hold
    (lower case unless written as a name: GPU, iOS)."""
    seen: dict[str, Counter] = {}
    for text in texts:
        text = unicodedata.normalize("NFKC", text)
        found: dict[str, str] = {}
        for term in query_terms(text):
            at = text.lower().find(term.surface)
            found.setdefault(term.token, _case(text[at:at + len(term.surface)] if at >= 0 else term.surface))
        for token, written in found.items():
            seen.setdefault(token, Counter())[written] += 1
    return {token: spellings.most_common(1)[0][0] for token, spellings in seen.items()
            if sum(spellings.values()) >= least}


def _case(word: str) -> str:
    """A word keeps its capitals only when they are inside it or it is all capitals (GPU, iOS, vLLM)."""
    if len(word) > 1 and (word.isupper() or any(char.isupper() for char in word[1:])):
        return word
    return word.lower()


def _joined(bigram: str, wanted: set[str], texts: Sequence[str]) -> str:
    """A Chinese bigram grown, in the texts, into the longest run whose every bigram is also a top
    term (机器 with 器学 and 学习 among them: 机器学习); the most frequent such run."""
    runs: Counter = Counter()
    for text in texts:
        for run in han_runs(text):
            at = run.find(bigram)
            while at >= 0:
                start, end = at, at + 2
                while start > 0 and run[start - 1:start + 1] in wanted:
                    start -= 1
                while end < len(run) and run[end - 1:end + 1] in wanted:
                    end += 1
                runs[run[start:end]] += 1
                at = run.find(bigram, at + 1)
    return runs.most_common(1)[0][0] if runs else bigram


def _digits(token: str) -> bool:
    """A number, or a one- or two-letter lower-case word (Danish "og", French "la": the stop words
    are English; "3D" or "AI" keep their capitals and are kept)."""
    return token.isdigit() or len(token) < 2 or (len(token) == 2 and token.isalpha() and token.islower())


def _distinct(labels: list[str]) -> list[str]:
    """Labels made unique within a page (an empty or repeated one gets a number)."""
    seen: Counter = Counter()
    distinct = []
    for number, label in enumerate(labels, start=1):
        label = label or f"topic {number}"
        seen[label] += 1
        distinct.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return distinct


# --- in an index ---------------------------------------------------------------------------------


def write(path_of: Callable[[str], Path], derived: list[PageTopics], dimension: int) -> dict:
    """Write the centroids of a generation being built; return the manifest's `topics` entry."""
    from .vectors import save_npy

    entry: dict = {"method": METHOD, "pages": []}
    if not derived:
        return entry
    first = 0
    for topics in derived:
        entry["pages"].append(topics.entry(first))
        first += len(topics.labels)
    save_npy(path_of(FILE), np.concatenate([t.centroids for t in derived]).astype(np.float32).reshape(-1, dimension))
    entry["file"] = FILE
    return entry


def kept_topics(generation, dimension: int) -> dict[tuple[str, str], KeptTopics]:
    """The topics a previous generation derived, by page; {} when it has none usable (another
    method, another dimension, or an entry that does not hold together: the index is untrusted,
    and what is not understood is simply derived again)."""
    from .vectors import load_npy

    entry = generation.manifest.get("topics")
    if not isinstance(entry, dict) or entry.get("method") != METHOD or not entry.get("pages"):
        return {}
    pages = entry["pages"]
    try:
        if entry.get("file") not in generation.manifest["files"] or not isinstance(pages, list):
            return {}
        centroids = np.asarray(load_npy(generation.path(entry["file"]), "float32", (None, dimension)))
        if not np.isfinite(centroids).all():
            return {}
        found = {}
        for page in pages:
            title, key = page["page"]
            start, end = page["centroids"]
            labels = page["labels"]
            numbers = (start, end, page["count"], page["derived_at"], page["changed"])
            if not (isinstance(title, str) and isinstance(key, str) and isinstance(labels, list)
                    and all(isinstance(label, str) for label in labels)
                    and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers)
                    and 0 <= start < end <= len(centroids) and end - start == len(labels)):
                return {}
            found[(title, key)] = KeptTopics(labels, centroids[start:end], *numbers[2:])
        return found
    except (IndexProblem, KeyError, TypeError, ValueError):
        return {}
