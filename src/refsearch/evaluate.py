"""Retrieval quality: judged queries (our YAML, or a BEIR folder) -> nDCG@10, MRR, Recall@k, hit@3.

Metric definitions follow BEIR/pytrec_eval: nDCG with linear gains (the grade), MRR is the
reciprocal rank of the first relevant result within the top 100 (0 if none), Recall@k is the share
of a query's relevant references found in the top k.

A YAML set may tag each query with a `kind` (paraphrase, zh-en, ...) and give a `split_seed`: then
every metric is also reported per kind, and the set divides into a `tune` half, the only part a
tuning experiment may look at, and a `report` half, the one whose numbers we publish. The division
is stratified by kind and fixed by the seed (`split_part`), so it cannot drift towards what works.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

from .errors import RefsearchError, SourceError
from .index import Index
from .records import Reference, page_key
from .search import Filters

QUERIES_FORMAT = "refsearch/queries@1"
DEPTH = 100
CUTOFFS = (5, 10, 100)
SPLITS = ("tune", "report", "all")
ALL_KINDS = "all"


@dataclass
class Judged:
    qid: str
    text: str
    grades: dict[str, int]  # reference id -> grade (>= 1)
    kind: str | None = None


@dataclass
class Question:
    """A query as written in the eval file: relevant items are ids, titles or title fragments."""

    qid: str
    text: str
    relevant: list
    kind: str | None = None


@dataclass
class EvalSet:
    name: str
    queries: list[Question]
    sources: list[Path]  # what the index must be built from
    split_seed: int | None = None
    split: str = "all"  # which part of the set `queries` holds


@dataclass
class QueryResult:
    query: Judged
    ranked: list[str]
    first_relevant: int | None  # 1-based rank

    def metrics(self) -> dict[str, float]:
        ideal = sorted(self.query.grades.values(), reverse=True)[:10]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        dcg = sum(self.query.grades.get(ref, 0) / math.log2(i + 2) for i, ref in enumerate(self.ranked[:10]))
        values = {"ndcg@10": dcg / idcg if idcg else 0.0,
                  "mrr": 1.0 / self.first_relevant if self.first_relevant else 0.0,
                  "hit@3": 1.0 if self.first_relevant and self.first_relevant <= 3 else 0.0}
        for cutoff in CUTOFFS:
            found = len(set(self.ranked[:cutoff]) & self.query.grades.keys())
            values[f"recall@{cutoff}"] = found / len(self.query.grades)
        return values


@dataclass
class EvalReport:
    mode: str
    results: list[QueryResult] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        return _mean_metrics(self.results)

    def by_kind(self) -> dict[str, dict[str, float]]:
        """Every metric per query kind (sorted), after the overall figures under "all"."""
        kinds = sorted({r.query.kind for r in self.results if r.query.kind})
        groups = {ALL_KINDS: self.results} | {k: [r for r in self.results if r.query.kind == k] for k in kinds}
        return {kind: {"count": len(results), **_mean_metrics(results)} for kind, results in groups.items()}

    def misses(self, worse_than: int = 3) -> list[QueryResult]:
        return [r for r in self.results if not r.first_relevant or r.first_relevant > worse_than]


def load_eval_set(path: Path, split: str | None = None) -> EvalSet:
    """A queries YAML file, or a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv).

    `split`: for a BEIR folder the qrels file (default "test"); for a YAML set one of `SPLITS`
    (default "all"), which needs the file's `split_seed` unless it is "all".
    """
    if path.is_dir():
        return _load_beir(path, split or "test")
    eval_set = _load_yaml(path)
    return select_split(eval_set, split or "all", path)


def split_part(questions: Sequence[Question], seed: int) -> dict[str, str]:
    """qid -> "tune" or "report": within each kind, the first half (rounded down) in seeded order.

    The order is sha256(seed, query text): file order does not matter, but editing or adding
    queries can move others across the line, so a set is frozen once tuning has looked at it.
    """
    parts: dict[str, str] = {}
    by_kind: dict[str | None, list[Question]] = {}
    for question in questions:
        by_kind.setdefault(question.kind, []).append(question)
    for group in by_kind.values():
        ordered = sorted(group, key=lambda q: hashlib.sha256(f"{seed}\0{q.text}".encode()).hexdigest())
        for position, question in enumerate(ordered):
            parts[question.qid] = "tune" if position < len(ordered) // 2 else "report"
    return parts


def select_split(eval_set: EvalSet, split: str, path: Path) -> EvalSet:
    if split not in SPLITS:
        raise RefsearchError(f"--split must be one of {', '.join(SPLITS)} for a queries file, not {split!r}.")
    if split == "all":
        return eval_set
    if eval_set.split_seed is None:
        raise SourceError(path, None, f"`--split {split}` needs a top-level `split_seed` in the queries file")
    parts = split_part(eval_set.queries, eval_set.split_seed)
    kept = [q for q in eval_set.queries if parts[q.qid] == split]
    return EvalSet(eval_set.name, kept, eval_set.sources, eval_set.split_seed, split)


def resolve(eval_set: EvalSet, index: Index) -> list[Judged]:
    """Turn title/page references into ids of this index; an item that matches nothing is an error."""
    return [Judged(q.qid, q.text, _resolve_grades(q.relevant, index), q.kind) for q in eval_set.queries]


class Ranker(Protocol):
    """What an eval measures: an `Index`, searched as users search it (`refsearch eval`), or a
    `search.Searcher` with other settings (the tuning scripts)."""

    def search(self, query: str, k: int, mode: str, filters: Filters) -> list: ...

    def __len__(self) -> int: ...


def run(ranker: Ranker, queries: Sequence[Judged], mode: str) -> EvalReport:
    k = min(DEPTH, len(ranker))
    rankings = [[hit.ref.id for hit in ranker.search(q.text, k=k, mode=mode, filters=Filters())] for q in queries]
    return score(mode, queries, rankings)


def score(mode: str, queries: Sequence[Judged], rankings: Sequence[list[str]]) -> EvalReport:
    report = EvalReport(mode)
    for query, ranked in zip(queries, rankings):
        first = next((rank for rank, ref in enumerate(ranked, start=1) if ref in query.grades), None)
        report.results.append(QueryResult(query, ranked, first))
    return report


def open_index(eval_set: EvalSet, index: Path | None = None, say=None, progress=None) -> Index:
    """The index an eval set is measured on: built (or updated) from its sources, in the cache
    unless `index` names one; the default index when the set names no sources."""
    from . import api

    if not eval_set.sources:
        return api.open(index, say=say, progress=progress)
    directory = index or default_index_dir(eval_set)
    api.build(eval_set.sources, directory, progress=progress)
    return api.open(directory, say=say)


def default_index_dir(eval_set: EvalSet) -> Path:
    """Eval indexes live in the cache, one per set of sources, so shared folders stay read-only."""
    from .config import cache_root

    key = hashlib.sha256("\0".join(str(p) for p in eval_set.sources).encode()).hexdigest()[:12]
    return cache_root() / "eval" / f"{eval_set.name}-{key}"


def _load_yaml(path: Path) -> EvalSet:
    import yaml

    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise SourceError(path, None, f"cannot read queries file ({error.__class__.__name__}: {error})") from None
    if not isinstance(data, dict) or data.get("format") != QUERIES_FORMAT:
        raise SourceError(path, 1, f"not a queries file (expected `format: {QUERIES_FORMAT}`)")
    if not isinstance(data.get("queries"), list) or not data["queries"]:
        raise SourceError(path, None, "`queries` must be a non-empty list")
    sources = [(path.parent / s).resolve() for s in data.get("sources") or []]
    seed = data.get("split_seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise SourceError(path, None, "`split_seed` must be an integer")
    queries = []
    for number, item in enumerate(data["queries"], start=1):
        if not isinstance(item, dict) or not isinstance(item.get("query"), str) or not item.get("relevant"):
            raise SourceError(path, None, f"query #{number} needs `query` (text) and `relevant` (list)")
        kind = item.get("kind")
        if kind is not None and (not isinstance(kind, str) or not kind.strip() or kind == ALL_KINDS):
            raise SourceError(path, None, f"query #{number}: `kind` must be a word other than {ALL_KINDS!r}")
        queries.append(Question(f"q{number}", item["query"], list(item["relevant"]), kind))
    return EvalSet(path.stem, queries, sources, seed)


def _mean_metrics(results: Sequence[QueryResult]) -> dict[str, float]:
    if not results:
        return {}
    per_query = [r.metrics() for r in results]
    return {key: sum(m[key] for m in per_query) / len(per_query) for key in per_query[0]}


def _resolve_grades(relevant: list, index: Index) -> dict[str, int]:
    grades: dict[str, int] = {}
    for item in relevant:
        spec = item if isinstance(item, dict) else {"ref": item}
        grade = int(spec.get("grade", 1))
        for ref_id in _matching_ids(spec, index):
            grades[ref_id] = max(grade, grades.get(ref_id, 0))
    return grades


def _matching_ids(spec: dict, index: Index) -> list[str]:
    if "id" in spec:  # BEIR qrels: exact ids; a judged document missing from the corpus is ignored
        return [spec["id"]] if spec["id"] in index else []
    if "ref" in spec and spec["ref"] in index:
        return [spec["ref"]]
    if "title" in spec:
        title, page = spec["title"].casefold(), spec.get("page")
        found = [r.id for r in index if title in _titles_of(r) and (page is None or page in _pages_of(r))]
    else:
        fragment = str(spec.get("ref", "")).casefold()
        found = [r.id for r in index if fragment and fragment in r.title.casefold()]
    if not found:
        raise RefsearchError(f"judged reference {spec} matches nothing in the index.")
    return found


def _titles_of(ref: Reference) -> set[str]:
    """Its title and those of the duplicates merged into it (dedupe.py), case-folded."""
    return {title.casefold() for title in (ref.title, *ref.other_titles)}


def _pages_of(ref: Reference) -> set[str]:
    """The pages a reference is listed on: its own, and those of the duplicates merged into it (a
    judged {page, title} names the page its author read, which may not be the one that survived)."""
    return {ref.id.split("/")[0], *(page_key(Path(place.rpartition(":")[0])) for place in ref.also_in)}


def _load_beir(folder: Path, split: str) -> EvalSet:
    corpus, queries_path, qrels_path = folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv"
    for needed in (corpus, queries_path, qrels_path):
        if not needed.is_file():
            raise RefsearchError(f"{folder}: not a BEIR folder (missing {needed.relative_to(folder)}).")
    grades: dict[str, list] = {}
    with open(qrels_path, encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                continue  # header
            if int(row[2]) > 0:
                grades.setdefault(row[0], []).append({"id": row[1], "grade": int(row[2])})
    texts = {}
    with open(queries_path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                texts[str(row["_id"])] = row["text"]
    queries = [Question(qid, texts[qid], g) for qid, g in grades.items() if qid in texts]
    return EvalSet(folder.name, queries, [corpus.resolve()], split=split)
