"""Results -> what people read: JSON (the CLI's --json, the HTTP API and the MCP tools share these
shapes), result lists and overview tables for the terminal, and Markdown to paste into a wiki.

Everything that reaches a terminal or a Markdown file passes through `clean`: a title, note or query
holding ESC or other control characters (clear the screen, set the window title, reorder text) is
printed without them. Result lists (search, related, show) are plain lines (terminal.py: what every
query prints stays off rich); the overview tables get rich `Text`, never markup, so a "[bold]" in a
title is just text. JSON keeps the data as it is, with those characters escaped (`json_text`).
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Sequence

from .records import Reference
from .search import Hit
from .terminal import Writer

# C0 and C1 controls (but newline and tab), DEL, and the bidirectional overrides and isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: object) -> str:
    """`text` without terminal control characters."""
    return _UNSAFE.sub("", str(text))


def json_text(data: Any, indent: int | None = None) -> str:
    """`data` as JSON for a terminal or a pipe: non-ASCII text stays readable, and every character
    `clean` would drop is escaped (json.dumps escapes only C0 controls, not DEL, C1 or bidi
    controls), so the data round-trips and the terminal is never driven by it."""
    text = json.dumps(data, ensure_ascii=False, indent=indent)
    return _UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


# --- JSON --------------------------------------------------------------------------------------


def reference_json(ref: Reference) -> dict[str, Any]:
    return {"id": ref.id, "key": ref.cite_key, "title": ref.title, "topic": " › ".join(ref.topic), "topic_path": list(ref.topic),
            "topic_en": " › ".join(ref.topic_en) or None, "page": ref.page, "note": ref.note,
            "note_en": ref.note_en, "url": ref.url, "year": ref.year, "kind": ref.kind,
            "author": ref.author, "authors": list(ref.authors), "venue": ref.venue, "doi": ref.doi,
            "tags": list(ref.tags)}


def hit_json(hit: Hit, explain: bool = False) -> dict[str, Any]:
    data = {"rank": hit.rank, "score": round(hit.score, 6), **reference_json(hit.ref),
            "snippet": snippet(hit.ref.abstract, hit.matched) if hit.ref.abstract else None,
            "fulltext": fulltext_snippet(hit)}
    if explain:
        data["explain"] = {
            "dense_rank": hit.dense_rank,
            "dense_score": None if hit.dense_score is None else round(hit.dense_score, 6),
            "lexical_rank": hit.lexical_rank,
            "lexical_score": None if hit.lexical_score is None else round(hit.lexical_score, 6),
            "matched_terms": hit.matched,
            "lists": hit.ref.lists,
        }
    return data


def results_json(query: str, hits: Sequence[Hit], explain: bool = False,
                 context: dict[str, list[Reference]] | None = None, see_also=None) -> dict[str, Any]:
    results = []
    for hit in hits:
        data = hit_json(hit, explain)
        if context is not None:
            data["context"] = [{"id": r.id, "title": r.title} for r in context.get(hit.ref.id, [])]
        results.append(data)
    shown = {"query": query, "results": results}
    if see_also is not None:
        shown["see_also"] = [{"id": s.ref.id, "title": s.ref.title, "reasons": s.reasons} for s in see_also]
    return shown


def related_json(anchor: Reference, suggestions) -> dict[str, Any]:
    return {"ref": reference_json(anchor), "related": [
        {"rank": rank, "score": round(s.score, 6), "similarity": round(s.similarity, 6), "reasons": s.reasons,
         "shared_terms": s.shared_terms, **reference_json(s.ref)}
        for rank, s in enumerate(suggestions, start=1)]}


def show_json(ref: Reference, others: Sequence[Reference]) -> dict[str, Any]:
    """Every field of the reference (the abstract and where else it was found too), and its topic's others."""
    return {**reference_json(ref), "abstract": ref.abstract, "source": ref.source, "also_in": list(ref.also_in),
            "also_topics": [list(path) for path in ref.also_topics], "fulltext": list(ref.fulltext),
            "extra": ref.extra, "context": [{"id": r.id, "title": r.title} for r in others]}


def eval_json(eval_set, reports) -> dict[str, Any]:
    """What `refsearch eval --json` prints: per mode the metrics, per kind, and the misses."""
    return {"queries": eval_set.name, "split": eval_set.split, "count": len(reports[0].results) if reports else 0,
            "modes": {r.mode: {"metrics": r.summary(), "by_kind": r.by_kind(), "misses": [
                {"query": m.query.text, "kind": m.query.kind, "first_relevant_rank": m.first_relevant,
                 "top": m.ranked[:3]} for m in r.misses()]} for r in reports}}


def topics_json(topics) -> dict[str, Any]:
    return {"topics": [topic.to_json() for topic in topics]}


def map_json(refs: Iterable[Reference], points, method: str) -> dict[str, Any]:
    """The topic map: one column per field, one entry per reference in index order (a 6,426-point
    map is a third the size of a list of objects); `topic` numbers index `topics`."""
    numbers: dict[tuple, int] = {}
    topics, columns = [], {"id": [], "title": [], "topic": [], "year": [], "kind": [], "x": [], "y": []}
    for ref, (x, y) in zip(refs, points.tolist()):
        key = (ref.page, ref.topic)
        if key not in numbers:
            numbers[key] = len(topics)
            topics.append({"page": ref.page, "topic": " › ".join(ref.topic), "topic_path": list(ref.topic),
                           "topic_en": " › ".join(ref.topic_en) or None})
        for name, value in (("id", ref.id), ("title", ref.title), ("topic", numbers[key]), ("year", ref.year),
                            ("kind", ref.kind), ("x", round(x, 4)), ("y", round(y, 4))):
            columns[name].append(value)
    return {"method": method, "count": len(columns["id"]), "topics": topics, "points": columns}


def status_json(status) -> dict[str, Any]:
    state, manifest = status.state, status.manifest
    model = manifest["model"]
    return {
        "index": str(state.directory),
        "generation": state.generation.directory.name,
        "created": manifest.get("created", ""),
        "schema_version": manifest["schema_version"],
        "condition": state.condition,
        "up_to_date": state.condition == "fresh",
        "detail": state.detail,
        "model": {**{key: model.get(key) for key in ("id", "fingerprint", "encoder", "dimension")},
                  "changed": state.model_changed},
        "lexical_changed": state.lexical_changed,
        "records_changed": state.records_changed,
        "sources": {"roots": [str(root) for root in state.roots] or manifest["sources"]["roots"],
                    "missing": [str(root) for root in state.missing_roots],
                    "changed": state.diff.changed, "added": state.diff.added, "removed": state.diff.removed},
        "references": {"indexed": manifest["count"], "stale": status.stale, "orphaned": status.orphaned},
        "bytes": status.sizes,
        "problems": status.problems,
    }


# --- Markdown ----------------------------------------------------------------------------------


def _md_item(ref: Reference, why: str | None = None) -> str:
    title = clean(ref.title).replace("[", "\\[").replace("]", "\\]")
    title = f"[{title}]({clean(ref.url).replace(')', '%29')})" if ref.url else title
    facts = ", ".join(clean(x) for x in (ref.year, ref.kind, ref.author) if x)
    line = f"- {title}" + (f" ({facts})" if facts else "")
    note = ref.note_en or ref.note
    if note:
        line += f" — {' '.join(clean(note).split())}"
    if why:
        line += f" _({clean(why)})_"
    return line


def markdown_list(refs: Iterable[Reference], heading: str | None = None,
                  reasons: Sequence[str] | None = None) -> str:
    lines = [f"### {' '.join(clean(heading).split())}", ""] if heading else []
    for i, ref in enumerate(refs):
        lines.append(_md_item(ref, reasons[i] if reasons else None))
    return "\n".join(lines) + "\n"


# --- terminal: result lists (plain lines, terminal.py) --------------------------------------------

SNIPPET_CHARS = 240  # of an abstract, shown for a reference without a note


def _facts(ref: Reference) -> str:
    return " · ".join(str(x) for x in (ref.year, ref.kind) if x)


def _byline(ref: Reference) -> str:
    """Year · kind · the first authors · venue, as a result's second line."""
    authors = ", ".join(ref.authors[:3]) + (" et al." if len(ref.authors) > 3 else "")
    return " · ".join(str(x) for x in (ref.year, ref.kind, authors, ref.venue) if x)


def _numbered(out: Writer, rank: int, count: int, title: str, terms: Sequence[str] = ()) -> int:
    """The rank and title line(s) of a listed result; returns the indent of the lines under it."""
    width = len(str(count))
    out.block(clean(title), width + 2, "bold", terms=terms, lead=f"{rank:>{width}}. ")
    return width + 2


def print_hits(out: Writer, query: str, hits: Sequence[Hit], explain: bool = False) -> None:
    """Each hit as a short block: title, byline, score and the name `show` takes, topic (with its English gloss), the
    annotation and its gloss (or, without a note, the abstract's words around the match) with the
    matched terms highlighted, the URL, and with `explain` why."""
    query = " ".join(clean(query).split())[:200]
    if not hits:
        out.line(f"No references match {out.style(query, 'bold')}.")
        return
    pages = {hit.ref.page for hit in hits}
    heading = f"refsearch: {query}" + (f"  (from {next(iter(pages))})" if len(pages) == 1 else "")
    out.block(clean(heading), 0, "bold")
    for hit in hits:
        ref, terms = hit.ref, [clean(term) for term in hit.matched]
        out.line()
        indent = _numbered(out, hit.rank, len(hits), ref.title, terms)
        out.block(clean(" · ".join(x for x in (_byline(ref), f"score {hit.score:.2f}", f"[{ref.handle}]") if x)),
                  indent, "dim")
        path = " › ".join(ref.topic if len(pages) == 1 else (ref.page, *ref.topic))
        if path:
            out.block(clean(path + (f"  ({' › '.join(ref.topic_en)})" if ref.topic_en else "")), indent, "green")
        if ref.note:
            out.block(clean(ref.note), indent, terms=terms)
        elif ref.abstract:  # a paper library's entries often have no note of their own
            out.block(clean(snippet(ref.abstract, hit.matched)), indent, "dim", terms=terms)
        if ref.note_en:
            out.block(clean(ref.note_en), indent, "italic", terms=terms)
        if found := fulltext_snippet(hit):
            out.block(clean(f"full text: {found}"), indent, "dim", terms=terms)
        if ref.url:
            out.line(" " * indent + out.style(clean(ref.url), "cyan"))
        if explain:
            out.block(clean(explain_text(hit)), indent, "dim")


def snippet(text: str, terms: Sequence[str] = (), limit: int = SNIPPET_CHARS) -> str:
    """About `limit` characters of `text` as a preview: its start, or the words around the first
    of `terms` (the matched query terms) when that comes later; cut at spaces, elisions marked."""
    text = " ".join(text.split())
    lowered = text.lower()
    found = [at for term in terms if term and (at := lowered.find(term.lower())) >= 0]
    start = 0
    if found and min(found) > limit - 40:
        start = text.rfind(" ", 0, min(found) - 60) + 1
    piece = text[start:start + limit]
    if start + limit < len(text):
        piece = piece.rsplit(" ", 1)[0] + " …"
    return ("… " if start else "") + piece


def fulltext_snippet(hit: Hit) -> str | None:
    """The words around the match in the hit's best full-text passage, when that passage holds a
    matched query word that the reference's own title, note and abstract do not: what only the full
    text (a PDF's extracted text) says. None otherwise."""
    if not hit.passage:
        return None
    ref, text = hit.ref, " ".join(hit.passage.split())
    passage = text.lower()
    own = " ".join(value for value in (ref.title, ref.note, ref.note_en, ref.abstract, *ref.tags) if value).lower()
    only_there = {term.lower() for term in hit.matched if term and term.lower() in passage and term.lower() not in own}
    if not only_there:
        return None
    # the stretch of the passage that holds the most of those words (a passage is ~1,000 characters)
    spots = [at for term in only_there for at in range(len(passage)) if passage.startswith(term, at)]
    best = max(sorted(spots), key=lambda at: sum(term in passage[max(0, at - 40):at + SNIPPET_CHARS - 40]
                                                 for term in only_there))
    start = text.rfind(" ", 0, max(0, best - 40)) + 1
    return ("… " if start else "") + snippet(text[start:], sorted(only_there))


def explain_text(hit: Hit) -> str:
    """Why a hit ranks where it does: its dense and lexical ranks, the query terms it matched, and
    how many lists hold it when several do (fusion's agreement prior)."""
    dense = f"dense #{hit.dense_rank} ({hit.dense_score:.3f})" if hit.dense_rank else "dense: —"
    lexical = f"lexical #{hit.lexical_rank} ({hit.lexical_score:.2f})" if hit.lexical_rank else "lexical: —"
    matched = f"matched: {', '.join(dict.fromkeys(hit.matched))}" if hit.matched else "no term matched"
    lists = f" · in {hit.ref.lists} lists" if hit.ref.lists > 1 else ""
    return f"{dense} · {lexical} · {matched}{lists}"


def _bullet(out: Writer, text: str, indent: int) -> None:
    out.block(clean(text), indent + 2, lead=" " * indent + "• ")


def _listed(out: Writer, ref: Reference, indent: int) -> None:
    facts = _facts(ref)
    _bullet(out, f"{ref.title}" + (f" ({facts})" if facts else "") + f" {ref.id}", indent)


def print_context(out: Writer, hits: Sequence[Hit], context: dict[str, list[Reference]]) -> None:
    shown = set()
    for hit in hits:
        key = (hit.ref.page, hit.ref.topic)
        if key in shown:
            continue
        shown.add(key)
        siblings = context.get(hit.ref.id, [])
        out.line()
        out.block(clean(f"{hit.ref.breadcrumb} — {len(siblings)} other reference(s) in this topic"), 0, "bold")
        for ref in siblings:
            _listed(out, ref, 2)


def print_see_also(out: Writer, top: Reference, suggestions) -> None:
    out.line()
    out.block(clean(f"See also, after {top.title}:"), 0, "bold")
    for s in suggestions:
        _bullet(out, f"{s.ref.title} ({s.ref.breadcrumb}; {', '.join(s.reasons[1:]) or s.reasons[0]})", 0)


def print_reference(out: Writer, ref: Reference, others: Sequence[Reference]) -> None:
    out.block(clean(ref.title), 0, "bold")
    out.line(out.style(clean(ref.id if ref.handle == ref.id else f"{ref.handle} · {ref.id}"), "dim"))
    extra = {key: value for key, value in ref.extra.items() if key != "annotations"}
    for label, value in (("topic", ref.breadcrumb), *(("also under", " › ".join(path)) for path in ref.also_topics),
                         ("topic (en)", " › ".join(ref.topic_en)),
                         ("year", ref.year), ("kind", ref.kind), ("authors", "; ".join(ref.authors)),
                         ("venue", ref.venue), ("doi", ref.doi), ("url", ref.url), ("note", ref.note),
                         ("note (en)", ref.note_en), ("abstract", ref.abstract), ("tags", ", ".join(ref.tags)),
                         ("source", ref.source), ("also in", ", ".join(ref.also_in)),
                         ("full text", ", ".join(ref.fulltext)),
                         *((key, json.dumps(value, ensure_ascii=False)) for key, value in extra.items())):
        if value:
            out.block(clean(value), 14, lead=out.style(clean(f"  {label:>10}: "), "bold"))  # extra keys are data
    annotations = ref.extra.get("annotations")
    if isinstance(annotations, list) and annotations:
        out.line()
        out.block(clean(f"annotations ({len(annotations)}):"), 2)
        for annotation in annotations:
            _bullet(out, annotation_line(annotation), 4)
    if others:
        out.line()
        out.block(clean(f"same topic ({ref.breadcrumb}):"), 2)
        for other in others:
            _listed(out, other, 4)


def annotation_line(annotation: object) -> str:
    """One of a reference's annotations (`extra.annotations`: a note, or a highlight with its comment
    and page) as a line: `p. 3 · highlight: “text” — comment`."""
    if not isinstance(annotation, dict):
        return str(annotation)
    page, kind = annotation.get("page"), annotation.get("kind") or "annotation"
    text = f"“{annotation['text']}”" if annotation.get("text") and kind != "note" else annotation.get("text")
    body = " — ".join(str(part) for part in (text, annotation.get("comment")) if part)
    return " · ".join(str(part) for part in (f"p. {page}" if page else None, f"{kind}: {body}") if part)


def print_related(out: Writer, anchor: Reference, suggestions) -> None:
    out.block(clean(f"After: {anchor.title}  ({anchor.breadcrumb})"), 0, "bold")
    for rank, s in enumerate(suggestions, start=1):
        out.line()
        indent = _numbered(out, rank, len(suggestions), s.ref.title)
        if _facts(s.ref):
            out.block(clean(_facts(s.ref)), indent, "dim")
        out.block(clean(s.ref.breadcrumb), indent, "green")
        out.block(clean("; ".join(s.reasons)), indent)


# --- terminal: overview tables (rich) ----------------------------------------------------------


def _text(value: object = "", style: str = ""):
    from rich.text import Text

    return Text(clean(value), style=style)


def _table(title: str, caption: str | None = None, **options):
    from rich.table import Table

    return Table(title=_text(title), caption=_text(caption) if caption else None, **options)


def print_topics(console, topics) -> None:
    table = _table("Topics")
    for column in ("page", "topic", "topic (en)", "refs"):
        table.add_column(column, justify="right" if column == "refs" else "left")
    for topic in topics:
        table.add_row(_text(topic.page), _text(" › ".join(topic.path)), _text(" › ".join(topic.path_en)),
                      str(len(topic.ref_ids)))
    console.print(table)


def print_status(console, status) -> None:
    from rich.table import Table

    state, manifest = status.state, status.manifest
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()

    def row(label: str, value: str, style: str = "") -> None:
        table.add_row(label, _text(value, style))

    row("index", f"{state.directory} ({state.generation.directory.name}, built {manifest.get('created', '')})")
    styles = {"fresh": ("up to date", "green"), "stale": (f"stale: {state.detail}; `refsearch build` (or any search) "
                                                          "updates it", "yellow"),
              "detached": (f"detached ({state.detail}); it answers from what it holds; "
                           f"`refsearch build SOURCES --index {state.directory}` attaches it", "yellow")}
    row("state", *styles[state.condition])
    row("sources", ", ".join(map(str, state.roots)) or ", ".join(manifest["sources"]["roots"]))
    for label, files in (("  changed", state.diff.changed), ("  added", state.diff.added),
                         ("  removed", state.diff.removed)):
        for path in files:
            row(label, path)
    row("references", f"{manifest['count']} indexed; {_count(status.stale)} stale (new or changed), "
                      f"{_count(status.orphaned)} orphaned")
    model = manifest["model"]
    row("model", f"{model['id']} (fingerprint {model['fingerprint']}, {model['encoder']} encoder, "
                 f"{model['dimension']} dimensions)")
    row("schema", f"version {manifest['schema_version']}")
    row("on disk", " · ".join(f"{part} {_bytes(size)}" for part, size in status.sizes.items()))
    for problem in status.problems:
        row("warning", problem, "red")
    console.print(table)


def print_eval(console, eval_set, reports, title_of) -> None:
    """Metrics per kind and mode, then each mode's misses (`title_of(id)` names a reference)."""
    keys = list(reports[0].summary()) if reports[0].results else []
    table = _table(f"{eval_set.name} ({eval_set.split}): {len(reports[0].results)} queries")
    for number, column in enumerate(["kind", "mode", "n", *keys]):
        table.add_column(column, justify="left" if number < 2 else "right")
    for kind in reports[0].by_kind() if reports[0].results else []:
        for report in reports:
            figures = report.by_kind()[kind]
            table.add_row(kind, report.mode, str(figures["count"]), *(f"{figures[key]:.3f}" for key in keys))
    console.print(table)
    for report in reports:
        misses = report.misses()
        if not misses:
            continue
        table = _table(f"{report.mode}: {len(misses)} queries without a relevant result in the top 3")
        for column in ("query", "first relevant", "top result"):
            table.add_column(column)
        for miss in misses:
            top = title_of(miss.ranked[0]) if miss.ranked else "—"
            table.add_row(_text(miss.query.text), str(miss.first_relevant or "—"), _text(top))
        console.print(table)


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


def _bytes(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    return f"{size / 1e3:.1f} kB" if size < 1e6 else f"{size / 1e6:.1f} MB"
