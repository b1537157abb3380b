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
  adjacent Chinese bigrams among the top terms are joined back into the word they came from; no two
  labels of a page have the same words (the smaller topic takes its next best word);
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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .errors import IndexProblem
from .glossary import han_runs
from .lexical import BM25Index
from .tokenizer import query_terms
from .records import Reference

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
FALLBACK_TEXTS = 1000  # a topic's references read when none near the centre spells a term
TRAINING = 50_000  # k-means trains on at most this many references of a page (a sample above)
CHUNK = 8192  # vectors read at a time
TERM_BLOCK = 1 << 16  # terms whose postings are counted at a time
SEED = 20261128
NREDO = 3  # k-means runs from different starts, the best kept: one run can merge two clear clusters


@dataclass
class PageTopics:
    """The derived topics of one page: labels and centroids, and each of its rows' topic."""

    page: tuple[str, str]  # (title, key), as the catalog names pages
    rows: np.ndarray  # int64, the page's rows in the index
    assignment: np.ndarray  # int64 per row: its topic (index into labels)
    closeness: np.ndarray  # float32 per row: its cosine to its topic's centroid (NaN: kept, not worked out)
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


Vectors = Callable[[np.ndarray], np.ndarray]  # rows -> their vectors


def label_text(ref: Reference) -> str:
    """The words a reference lends to its topic's label: its title, tags and the start of its note
    (else of its abstract: a paper library's titles can be as bare as "Paper105")."""
    return " ".join((ref.title, *ref.tags, (ref.note or ref.abstract or "")[:LABEL_TEXT_CHARS]))


def derive(flat: dict[tuple[str, str], np.ndarray], vectors: Vectors, lexical: BM25Index,
           reference_of: Callable[[int], Reference], fresh: np.ndarray,
           kept: dict[tuple[str, str], KeptTopics], known: np.ndarray | None = None) -> list[PageTopics]:
    """Topics for each flat page (`flat`: page -> its rows). `reference_of(row)` reads a row's
    reference (for the few near each centre that lend their words), `fresh` marks the rows added or
    changed by this build, `kept` the topics a previous generation derived, `known` each row's
    topic among them (-1: to be worked out; a row taken over has the vector and the centroids it
    was assigned with). Vectors are read in chunks, and k-means trains on at most TRAINING
    references: memory stays small at any size."""
    derived, pending = [], []
    for page, rows in flat.items():
        if len(rows) < MIN_REFERENCES:
            continue
        topics = _reassigned(page, rows, vectors, fresh, kept.get(page), None if known is None else known[rows])
        if topics is None:
            training = rows if len(rows) <= TRAINING else np.sort(
                np.random.default_rng(SEED).choice(rows, TRAINING, replace=False))
            centroids = _cluster(_unit(vectors(training)), len(rows))
            topics = PageTopics(page, rows, *_assign(vectors, rows, centroids), [], centroids, len(rows), 0)
            topics = _without_empty(topics)
            pending.append(topics)
        derived.append(topics)
    _label(pending, lexical, reference_of)
    return derived


def _unit(points: np.ndarray) -> np.ndarray:
    points = np.ascontiguousarray(points, dtype=np.float32)
    norms = np.linalg.norm(points, axis=1, keepdims=True)
    return points / np.where(norms > 0, norms, 1)


def _assign(vectors: Vectors, rows: np.ndarray, centroids: np.ndarray,
            known: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest centroid and its cosine to it, the vectors read CHUNK rows at a time;
    a row with a `known` centroid keeps it (its closeness is NaN: only new topics' labels use it)."""
    assignment = np.empty(len(rows), dtype=np.int64)
    closeness = np.full(len(rows), np.nan, dtype=np.float32)
    todo = np.arange(len(rows))
    if known is not None:
        assignment[:] = known
        todo = np.flatnonzero((known < 0) | (known >= len(centroids)))
    for start in range(0, len(todo), CHUNK):
        part = todo[start:start + CHUNK]
        similarity = _unit(vectors(rows[part])) @ centroids.T
        assignment[part] = np.argmax(similarity, axis=1)
        closeness[part] = similarity.max(axis=1)
    return assignment, closeness


def _without_empty(topics: PageTopics) -> PageTopics:
    """The topics that kept at least one reference, renumbered."""
    used = np.unique(topics.assignment)
    if len(used) == len(topics.centroids):
        return topics
    renumber = np.full(len(topics.centroids), -1)
    renumber[used] = np.arange(len(used))
    labels = [topics.labels[i] for i in used] if topics.labels else []
    return replace(topics, assignment=renumber[topics.assignment], labels=labels,
                   centroids=np.ascontiguousarray(topics.centroids[used]))


def _reassigned(page, rows: np.ndarray, vectors: Vectors, fresh: np.ndarray, kept: KeptTopics | None,
                known: np.ndarray | None) -> PageTopics | None:
    """The page's previous topics with every row assigned to its nearest centroid (a topic that
    lost every reference is dropped; a row `known` keeps its topic), unless too much changed since
    they were derived."""
    if kept is None:
        return None
    new_or_changed = int(fresh[rows].sum())
    removed = max(0, kept.count - (len(rows) - new_or_changed))
    changed = kept.changed + new_or_changed + removed
    if changed > REDERIVE_SHARE * kept.derived_at:
        return None
    centroids = np.ascontiguousarray(kept.centroids, dtype=np.float32)
    return _without_empty(PageTopics(page, rows, *_assign(vectors, rows, centroids, known), list(kept.labels), centroids,
                                     kept.derived_at, changed))


# --- how many topics, and which ------------------------------------------------------------------


def candidate_sizes(count: int) -> list[int]:
    """Numbers of topics to try for a page of `count` references (see the module's docstring)."""
    guess = math.sqrt(count / 8)
    high = max(2, min(MAX_TOPICS, count // MIN_TOPIC_SIZE))
    return sorted({min(high, max(2, round(guess * factor))) for factor in SIZE_FACTORS})


def _cluster(points: np.ndarray, count: int) -> np.ndarray:
    """The centroids for a page of `count` references (`points`: all of them, or a sample), their
    number chosen by `candidate_sizes` and the silhouette."""
    sample = np.sort(np.random.default_rng(SEED).choice(len(points), min(len(points), SAMPLE), replace=False))
    distances = 1.0 - points[sample] @ points[sample].T
    runs = []
    for k in candidate_sizes(count):
        centroids = _kmeans(points, k)
        assignment = np.argmax(points @ centroids.T, axis=1)
        runs.append((k, silhouette(distances, assignment[sample], k), centroids))
    best = max(score for _, score, _ in runs)
    _, _, centroids = next(run for run in runs if run[1] >= best - (1 - NEAR_BEST) * abs(best))
    return _dissolve_small(points, centroids, MIN_TOPIC_SIZE * len(points) / count)


def _kmeans(points: np.ndarray, k: int) -> np.ndarray:
    import faiss  # here, not at the top: an update that only places new references never loads it (45 ms)

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # measured: on a busy 2-core machine one thread is 10x faster
    try:
        kmeans = faiss.Kmeans(points.shape[1], k, niter=20, nredo=NREDO, seed=SEED, spherical=True, verbose=False,
                              min_points_per_centroid=1, max_points_per_centroid=512)
        kmeans.train(points)
    finally:
        faiss.omp_set_num_threads(threads)
    return _unit(kmeans.centroids)


def _dissolve_small(points: np.ndarray, centroids: np.ndarray, smallest_kept: float) -> np.ndarray:
    """Drop the centroids of topics under MIN_TOPIC_SIZE references (`smallest_kept` of these
    points), smallest first, so their references go to the nearest others (a topic of three is noise,
    not a section)."""
    while True:
        sizes = np.bincount(np.argmax(points @ centroids.T, axis=1), minlength=len(centroids))
        smallest = int(np.argmin(sizes))
        if sizes[smallest] >= smallest_kept or len(centroids) <= 2:
            return centroids
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


def _label(pending: list[PageTopics], lexical: BM25Index, reference_of: Callable[[int], Reference]) -> None:
    """Label every newly derived topic (all pages at once: one pass over the postings); a topic whose
    references share no words (a list of game titles) is named after the one nearest its centre."""
    if not pending:
        return
    topic_of = np.full(lexical.n_docs, -1, dtype=np.int64)
    first = 0
    for topics in pending:
        topic_of[topics.rows] = first + topics.assignment
        first += len(topics.centroids)
    candidates = _candidate_terms(lexical, topic_of, first)
    first = 0
    for topics in pending:
        words = []
        for local in range(len(topics.centroids)):
            tokens = [lexical.terms[int(term)].decode("utf-8") for term in candidates[first + local]]
            members = np.flatnonzero(topics.assignment == local)
            nearest = members[np.argsort(-topics.closeness[members], kind="stable")[:NEAREST_TEXTS]]
            near = [reference_of(int(topics.rows[i])) for i in nearest]
            words.append(label_words(tokens, [label_text(ref) for ref in near])
                         or label_words(tokens, [label_text(reference_of(int(topics.rows[i])))
                                                 for i in members[:FALLBACK_TEXTS]], least=1)
                         or ([f"like {_short(near[0].title)}"] if near else []))
        topics.labels = _distinct(words, np.bincount(topics.assignment, minlength=len(topics.centroids)))
        first += len(topics.centroids)


def _candidate_terms(lexical: BM25Index, topic_of: np.ndarray, topics: int) -> list[np.ndarray]:
    """Per topic, its CANDIDATE_TERMS best terms, best first: score p * log(p / q), p the share of
    the topic's references holding the term (at least MIN_TERM_SHARE of them, and 2), q its share of
    all the derived pages' references. The postings are read a block of terms at a time (they are
    stored term by term), so memory stays small at any size."""
    sizes = np.bincount(topic_of[topic_of >= 0], minlength=topics).astype(np.float64)
    total = sizes.sum()
    best: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(topics)]
    for first in range(0, len(lexical.term_ptr) - 1, TERM_BLOCK):
        last = min(first + TERM_BLOCK, len(lexical.term_ptr) - 1)
        ptr = np.asarray(lexical.term_ptr[first:last + 1])
        topic = topic_of[np.asarray(lexical.doc_ids[ptr[0]:ptr[-1]])]
        term = np.repeat(np.arange(last - first), np.diff(ptr))
        held = np.bincount(term[topic >= 0] * topics + topic[topic >= 0],
                           minlength=(last - first) * topics).reshape(last - first, topics).astype(np.float64)
        share = held / np.maximum(sizes, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            score = share * np.log(share / (held.sum(axis=1, keepdims=True) / total))
        score[(held < np.maximum(2, MIN_TERM_SHARE * sizes)) | ~(score > 0)] = -np.inf
        keep = min(CANDIDATE_TERMS, last - first)
        top = np.argpartition(-score, keep - 1, axis=0)[:keep]  # (keep, topics): each topic's best rows
        for number in range(topics):
            rows = top[:, number][np.isfinite(score[top[:, number], number])]
            best[number].append((score[rows, number], rows + first))
    found = []
    for parts in best:
        scores = np.concatenate([scores for scores, _ in parts]) if parts else np.zeros(0)
        terms = np.concatenate([terms for _, terms in parts]) if parts else np.zeros(0, np.int64)
        found.append(terms[np.lexsort((terms, -scores))][:CANDIDATE_TERMS])
    return found


def label_words(tokens: Sequence[str], texts: Sequence[str], least: int | None = None) -> list[str]:
    """Up to 2 x LABEL_TERMS of `tokens` (best first) as written in `texts` (the first LABEL_TERMS
    make the label, the rest stand by: `_distinct`); a token not found in at least `least` of them
    (default: MIN_TERM_SHARE, and 2) is passed over: a stem of an author's name, a word of one odd
    title."""
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
        if len(words) == 2 * LABEL_TERMS:
            break
    return words


def _spellings(texts: Sequence[str], least: int) -> dict[str, str]:
    """token -> its most frequent spelling in `texts`, for the tokens at least `least` of them hold
    (lower case unless written as a name: GPU, iOS)."""
    seen: dict[str, Counter] = {}
    for text in texts:
        text = unicodedata.normalize("NFKC", text)
        found: dict[str, str] = {}
        lowered = text.lower()
        for term in query_terms(text):
            at = lowered.find(term.surface)
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


def _short(title: str, limit: int = 40) -> str:
    return title if len(title) <= limit else title[:limit].rsplit(" ", 1)[0] + " …"


def _digits(token: str) -> bool:
    """A number, or a one- or two-letter lower-case word (Danish "og", French "la": the stop words
    are English; "3D" or "AI" keep their capitals and are kept)."""
    return token.isdigit() or len(token) < 2 or (len(token) == 2 and token.isalpha() and token.islower())


def _distinct(words: list[list[str]], sizes: np.ndarray) -> list[str]:
    """A page's labels, from each topic's `label_words`: its first LABEL_TERMS words, joined by ", ".
    Largest topic first, a label that would repeat another's words (in any order or case: two topics
    of IMDb links, "imdb, movie, seen" and "movie, IMDb, seen") gives up its last words for the next
    ones until it differs; one without words, or that cannot differ, is numbered."""
    labels = [""] * len(words)
    taken: list[set[str]] = []
    for number in np.argsort(-sizes, kind="stable").tolist():
        chosen, spare = words[number][:LABEL_TERMS], iter(words[number][LABEL_TERMS:])
        while chosen and {word.casefold() for word in chosen} in taken and (following := next(spare, None)):
            chosen = [*chosen[:-1], following]
        label = ", ".join(chosen)
        if not chosen or {word.casefold() for word in chosen} in taken:
            label = f"{label} ({number + 1})" if label else f"topic {number + 1}"
        taken.append({word.casefold() for word in chosen})
        labels[number] = label
    return labels


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
