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

from .paging import more_text, page_json
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
            "topic_en": " › ".join(ref.topic_en) or None, "topic_source": _topic_source(ref), "page": ref.page,
            "note": ref.note,
            "note_en": ref.note_en, "url": ref.url, "year": ref.year, "kind": ref.kind,
            "author": ref.author, "authors": list(ref.authors), "venue": ref.venue, "doi": ref.doi,
            "tags": list(ref.tags), **({"library": ref.extra["library"]} if "library" in ref.extra else {})}


def _topic_source(ref: Reference) -> str | None:
    """"source" (its headings), "derived" (by the build: its page had none), None (no topic)."""
    return ref.topic_source or ("source" if ref.topic else None)


def hit_json(hit: Hit, explain: bool = False) -> dict[str, Any]:
    data = {"rank": hit.rank, "score": round(hit.score, 6), "weak": hit.weak, **reference_json(hit.ref),
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


def results_json(query: str, hits: Sequence[Hit], explain: bool = False, context: dict | None = None,
                 see_also=None, weak_cut: int = 0, offset: int = 0, next_offset: int | None = None) -> dict[str, Any]:
    """The results (`context`: each hit's `Siblings` window); `weak_cut` says how many weak matches
    were left out, `page` where this window starts and where the next one would (search.shown_hits)."""
    results = []
    for hit in hits:
        data = hit_json(hit, explain)
        if context is not None and hit.ref.id in context:
            data.update(_context_json(context[hit.ref.id]))
        results.append(data)
    shown = {"query": query, "results": results, "weak_cut": weak_cut,
             "page": {"offset": offset, "shown": len(results), "next_offset": next_offset}}
    if see_also is not None:
        shown["see_also"] = [{"id": s.ref.id, "title": s.ref.title, "reasons": s.reasons} for s in see_also]
    return shown


def related_json(anchor: Reference, suggestions, offset: int = 0, next_offset: int | None = None) -> dict[str, Any]:
    """The suggestions after `anchor`, ranked from `offset` + 1; `page` says where the next ones start."""
    return {"ref": reference_json(anchor), "related": [
        {"rank": rank, "score": round(s.score, 6), "similarity": round(s.similarity, 6), "reasons": s.reasons,
         "shared_terms": s.shared_terms, **reference_json(s.ref)}
        for rank, s in enumerate(suggestions, start=offset + 1)],
        "page": {"offset": offset, "shown": len(suggestions), "next_offset": next_offset}}


def show_json(ref: Reference, siblings) -> dict[str, Any]:
    """Every field of the reference (the abstract and where else it was found too), and a window of
    its topic's others (`siblings`, nearest first)."""
    return {**reference_json(ref), "abstract": ref.abstract, "source": ref.source, "also_in": list(ref.also_in),
            "also_topics": [list(path) for path in ref.also_topics], "fulltext": list(ref.fulltext),
            "extra": ref.extra, **_context_json(siblings)}


def _context_json(siblings) -> dict[str, Any]:
    return {"context": [{"id": r.id, "title": r.title} for r in siblings],
            "context_page": page_json(siblings.total, siblings.offset, len(siblings))}


def eval_json(eval_set, reports) -> dict[str, Any]:
    """What `refsearch eval --json` prints: per mode the metrics, per kind, and the misses."""
    return {"queries": eval_set.name, "split": eval_set.split, "count": len(reports[0].results) if reports else 0,
            "modes": {r.mode: {"metrics": r.summary(), "by_kind": r.by_kind(), "misses": [
                {"query": m.query.text, "kind": m.query.kind, "first_relevant_rank": m.first_relevant,
                 "top": m.ranked[:3]} for m in r.misses()]} for r in reports}}


def topics_json(topics, offset: int, limit: int) -> dict[str, Any]:
    """A window of the topics: names and counts."""
    shown = topics[offset:offset + limit]
    return {"topics": [topic.to_json() for topic in shown], "page": page_json(len(topics), offset, len(shown))}


def map_json(refs: Iterable[Reference], points, method: str) -> dict[str, Any]:
    """The topic map: one column per field, one entry per reference in index order (a 6,426-point
    map is a third the size of a list of objects); `topic` numbers index `topics`, whose `group`
    numbers index `groups`: what the map colours by (topics.colour_groups), largest first."""
    from .topics import colour_groups

    numbers: dict[tuple, int] = {}
    topics, counts = [], []
    columns: dict[str, list] = {"id": [], "title": [], "topic": [], "year": [], "kind": [], "x": [], "y": []}
    for ref, (x, y) in zip(refs, points.tolist()):
        key = (ref.page, ref.topic)
        if key not in numbers:
            numbers[key] = len(topics)
            topics.append({"page": ref.page, "topic": " › ".join(ref.topic), "topic_path": list(ref.topic),
                           "topic_en": " › ".join(ref.topic_en) or None, "topic_source": _topic_source(ref)})
            counts.append(0)
        counts[numbers[key]] += 1
        for name, value in (("id", ref.id), ("title", ref.title), ("topic", numbers[key]), ("year", ref.year),
                            ("kind", ref.kind), ("x", round(x, 4)), ("y", round(y, 4))):
            columns[name].append(value)
    grouped = colour_groups([(t["page"], tuple(t["topic_path"])) for t in topics], counts)
    sizes: dict[tuple, int] = {}
    for group, count in zip(grouped, counts):
        sizes[group] = sizes.get(group, 0) + count
    order = sorted(sizes, key=lambda group: (-sizes[group], group))
    number_of = {group: number for number, group in enumerate(order)}
    for topic, group in zip(topics, grouped):
        topic["group"] = number_of[group]
    one_page = len({group[0] for group in order}) == 1  # a group is named by its last heading (and page)
    groups = [{"name": group[-1] if one_page or len(group) == 1 else f"{group[0]} › {group[-1]}", "page": group[0],
               "count": sizes[group]} for group in order]
    return {"method": method, "count": len(columns["id"]), "topics": topics, "groups": groups, "points": columns}


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
        "bytes_shared": status.shared,  # of "total": hard-linked encoder files, held once for every index of the model
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


def topics_markdown(index, topics, offset: int, limit: int) -> str:
    """A window of the topics as Markdown sections, each listing its first TOPIC_REFS_SHOWN
    references and how many more there are."""
    from .paging import TOPIC_REFS_SHOWN

    shown = topics[offset:offset + limit]
    parts = []
    for topic in shown:
        text = markdown_list((index.get(ref_id) for ref_id in topic.ref_ids[:TOPIC_REFS_SHOWN]), heading=topic.breadcrumb)
        if len(topic.ref_ids) > TOPIC_REFS_SHOWN:
            name = " › ".join(topic.path) or topic.page
            text += clean(f"- … {len(topic.ref_ids) - TOPIC_REFS_SHOWN} more: `refsearch search QUERY --topic "
                          f"{_quoted(name)}`\n")
        parts.append(text)
    if more := more_text(len(topics), offset, len(shown), "refsearch topics --format md"):
        parts.append(f"_{more}_\n")
    return "\n".join(parts)


# --- terminal: result lists (plain lines, terminal.py) --------------------------------------------

SNIPPET_CHARS = 240  # of an abstract, shown for a reference without a note
SHOW_CHARS = 2000  # of a long field (an abstract) that `show` prints on a terminal
SHOWN_ANNOTATIONS = 10  # of a Zotero item's notes and highlights, on a terminal (`--json` has them all)
# What the reading kept aside (tidy.py): counted on a terminal, whole in `--json`
_SUMMED = {"database_notes": lambda notes: f"{len(notes)} line(s) the database wrote (--json shows them)",
           "raw": lambda raw: f"{', '.join(raw)} as written before markup was removed (--json shows them)"}


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


def print_hits(out: Writer, query: str, hits: Sequence[Hit], explain: bool = False, weak_cut: int = 0) -> None:
    """Each hit as a short block: title, byline, score (and "weak match" when it is one) and the name
    `show` takes, topic (with its English gloss; "derived" when the build derived it), the annotation
    and its gloss (or, without a note, the abstract's words around the match) with the matched terms
    highlighted, the URL, and with `explain` why; then how many weak matches were left out (`weak_cut`)."""
    query = " ".join(clean(query).split())[:200]
    cut = _weak_cut_text(weak_cut)
    if not hits:
        out.line(f"No references match {out.style(query, 'bold')}." + (f" ({cut})" if cut else ""))
        return
    pages = {hit.ref.page for hit in hits}
    heading = f"refsearch: {query}" + (f"  (from {next(iter(pages))})" if len(pages) == 1 else "")
    out.block(clean(heading), 0, "bold")
    for hit in hits:
        ref, terms = hit.ref, [clean(term) for term in hit.matched]
        out.line()
        indent = _numbered(out, hit.rank, len(hits), ref.title, terms)
        score = f"score {hit.score:.2f}" + (" · weak match" if hit.weak else "")
        out.block(clean(" · ".join(x for x in (_byline(ref), score, f"[{ref.handle}]") if x)), indent, "dim")
        path = " › ".join(ref.topic if len(pages) == 1 else (ref.page, *ref.topic))
        if path:
            gloss = f"  ({' › '.join(ref.topic_en)})" if ref.topic_en else ""
            out.block(clean(path + gloss + ("  (derived topic)" if ref.topic_source else "")), indent, "green")
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
    if cut:
        out.line()
        out.block(cut, 0, "dim")


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


def print_context(out: Writer, hits: Sequence[Hit], context: dict) -> None:
    """Under the results, each hit's topic once, with the few references of it nearest that hit
    (`context`: a `Siblings` window per hit) and the command that lists the rest."""
    shown = set()
    for hit in hits:
        key = (hit.ref.page, hit.ref.topic)
        if key in shown or hit.ref.id not in context:
            continue
        shown.add(key)
        siblings = context[hit.ref.id]
        out.line()
        out.block(clean(f"{hit.ref.breadcrumb} — {siblings.total} other reference(s) in this topic"
                        + (", nearest first" if len(siblings) < siblings.total else "")), 0, "bold")
        for ref in siblings:
            _listed(out, ref, 2)
        _more(out, siblings, hit.ref, 2)


def _more(out: Writer, siblings, ref: Reference, indent: int) -> None:
    """The line under a window of siblings that is not the last: how many more, and how to page."""
    more = _siblings_more(ref, siblings)
    if more:
        out.block(clean(more), indent + 2, "dim")


def _quoted(text: str) -> str:
    """`text` as one shell word (an id may hold spaces or quotes)."""
    import shlex

    return shlex.quote(text)


def print_see_also(out: Writer, top: Reference, suggestions) -> None:
    out.line()
    out.block(clean(f"See also, after {top.title}:"), 0, "bold")
    for s in suggestions:
        _bullet(out, f"{s.ref.title} ({s.ref.breadcrumb}; {', '.join(s.reasons[1:]) or s.reasons[0]})", 0)


def print_reference(out: Writer, ref: Reference, siblings) -> None:
    """Every field, long ones cut at SHOW_CHARS (`--json` has them whole), then a window of the
    topic's other references, nearest first (`siblings`), and how to page through the rest."""
    out.block(clean(ref.title), 0, "bold")
    out.line(out.style(clean(ref.id if ref.handle == ref.id else f"{ref.handle} · {ref.id}"), "dim"))
    for label, text in _fields(ref):
        out.block(clean(text), 14, lead=out.style(clean(f"  {label:>10}: "), "bold"))  # extra keys are data
    annotations = ref.extra.get("annotations")
    if isinstance(annotations, list) and annotations:
        out.line()
        out.block(clean(f"annotations ({len(annotations)}):"), 2)
        for annotation in annotations[:SHOWN_ANNOTATIONS]:
            _bullet(out, annotation_line(annotation), 4)
        if len(annotations) > SHOWN_ANNOTATIONS:
            out.block(clean(f"… {len(annotations) - SHOWN_ANNOTATIONS} more: --json lists them all"), 4, "dim")
    if siblings.total:
        out.line()
        window = f"{siblings.offset + 1}-{siblings.offset + len(siblings)} of {siblings.total}, nearest first"
        derived = ", a derived topic" if ref.topic_source else ""
        out.block(clean(f"same topic ({ref.breadcrumb}{derived}): {window}"), 2)
        for other in siblings:
            _listed(out, other, 4)
        _more(out, siblings, ref, 2)


def _fields(ref: Reference) -> list[tuple[str, str]]:
    """(label, text) of each field a reference has, long ones cut at SHOW_CHARS."""
    extra = {key: _SUMMED.get(key, lambda v: v)(value) for key, value in ref.extra.items() if key != "annotations"}
    fields = []
    for label, value in (("topic", ref.breadcrumb + ("  (derived topic)" if ref.topic_source else "")),
                         *(("also under", " › ".join(path)) for path in ref.also_topics),
                         ("topic (en)", " › ".join(ref.topic_en)),
                         ("year", ref.year), ("kind", ref.kind), ("authors", "; ".join(ref.authors)),
                         ("venue", ref.venue), ("doi", ref.doi), ("url", ref.url), ("note", ref.note),
                         ("note (en)", ref.note_en), ("abstract", ref.abstract), ("tags", ", ".join(ref.tags)),
                         ("source", ref.source), ("also in", ", ".join(ref.also_in)),
                         ("full text", ", ".join(ref.fulltext)),
                         *((key, json.dumps(value, ensure_ascii=False)) for key, value in extra.items())):
        if value:
            text = str(value)
            if len(text) > SHOW_CHARS:
                text = text[:SHOW_CHARS].rsplit(" ", 1)[0] + f" … ({len(text) - SHOW_CHARS:,} more characters: --json)"
            fields.append((label, text))
    return fields


def annotation_line(annotation: object) -> str:
    """One of a reference's annotations (`extra.annotations`: a note, or a highlight with its comment
    and page) as a line: `p. 3 · highlight: “text” — comment`."""
    if not isinstance(annotation, dict):
        return str(annotation)
    page, kind = annotation.get("page"), annotation.get("kind") or "annotation"
    text = f"“{annotation['text']}”" if annotation.get("text") and kind != "note" else annotation.get("text")
    body = " — ".join(str(part) for part in (text, annotation.get("comment")) if part)
    return " · ".join(str(part) for part in (f"p. {page}" if page else None, f"{kind}: {body}") if part)


def print_related(out: Writer, anchor: Reference, suggestions, offset: int = 0) -> None:
    out.block(clean(f"After: {anchor.title}  ({anchor.breadcrumb})"), 0, "bold")
    for rank, s in enumerate(suggestions, start=offset + 1):
        out.line()
        indent = _numbered(out, rank, offset + len(suggestions), s.ref.title)
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


def print_rows(console, title: str, refs: Sequence[Reference], first: int = 1, last: tuple[str, Sequence[str]] = (),
               caption: str | None = None) -> None:
    """References one to a row (`--format table`): rank, title, year, kind, topic, the name `show`
    takes, and a `last` column (its name and values: score, reasons)."""
    table = _table(title, caption)
    for column in ("#", "title", "year", "kind", "topic", "name", *last[:1]):  # a name is never cut: `show` takes it
        table.add_column(column, justify="right" if column in ("#", "year") else "left",
                         overflow="fold" if column == "name" else "ellipsis")
    for number, ref in enumerate(refs):
        table.add_row(str(first + number), _text(ref.title, "bold"), str(ref.year or ""), _text(ref.kind or ""),
                      _text(" › ".join(ref.topic) or ref.page, "green"), _text(ref.handle, "dim"),
                      *([_text(last[1][number])] if last else []))
    console.print(table)


def _siblings_more(ref: Reference, siblings) -> str | None:
    """How many of `ref`'s topic are not listed, and the command that lists the next ones."""
    return more_text(siblings.total, siblings.offset, len(siblings), f"refsearch show {_quoted(ref.id)}")


def _weak_cut_text(weak_cut: int) -> str | None:
    """What the list and the table say of the weak matches they left out (None: none)."""
    if not weak_cut:
        return None
    return f"{weak_cut} weak match{'es' if weak_cut > 1 else ''} left out (far below the best for this query); --all shows them"


def print_hits_table(console, query: str, hits: Sequence[Hit], explain: bool = False, weak_cut: int = 0,
                     see_also: Sequence = (), context: dict | None = None) -> None:
    """`search --format table`: the hits as rows (with `explain`, why each ranks where it does), the
    "see also" suggestions and each hit's topic neighbours (`context`) as tables of their own."""
    cut = _weak_cut_text(weak_cut)
    if not hits:
        cut = "No references match." + (f" ({cut})" if cut else "")
    why = [explain_text(hit) if explain else f"{hit.score:.2f}" + (" weak" if hit.weak else "") for hit in hits]
    print_rows(console, f"refsearch: {' '.join(clean(query).split())[:200]}", [hit.ref for hit in hits],
               hits[0].rank if hits else 1, ("why" if explain else "score", why), cut)
    if see_also:
        print_rows(console, f"See also, after {hits[0].ref.title}", [s.ref for s in see_also],
                   last=("why", ["; ".join(s.reasons) for s in see_also]))
    shown = set()
    for hit in hits if context else ():
        siblings, key = context[hit.ref.id], (hit.ref.page, hit.ref.topic)
        if key not in shown and len(siblings):
            shown.add(key)
            more = _siblings_more(hit.ref, siblings)
            print_rows(console, f"{hit.ref.breadcrumb}: {siblings.total} other reference(s)", list(siblings), caption=more)


def print_related_table(console, anchor: Reference, suggestions, offset: int = 0) -> None:
    print_rows(console, f"After: {anchor.title}", [s.ref for s in suggestions], offset + 1,
               ("why", ["; ".join(s.reasons) for s in suggestions]))


def print_reference_table(console, ref: Reference, siblings) -> None:
    """`show --format table`: the reference's fields as a two-column table, then the window of its
    topic's other references as rows."""
    table = _table(ref.title, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for label, text in (("name", ref.handle if ref.handle == ref.id else f"{ref.handle} · {ref.id}"), *_fields(ref)):
        table.add_row(_text(label), _text(text))
    console.print(table)
    if len(siblings):
        more = _siblings_more(ref, siblings)
        print_rows(console, f"Same topic: {siblings.total} other reference(s), nearest first", list(siblings),
                   siblings.offset + 1, caption=more)


def print_topics(console, topics, offset: int, limit: int) -> None:
    """A window of the topics; a derived one (its page has no headings) is marked *."""
    shown = topics[offset:offset + limit]
    derived = any(topic.derived for topic in shown)
    notes = ["* derived: clustered from the references' meaning, labelled with their most distinctive words"] if derived else []
    if more := more_text(len(topics), offset, len(shown), "refsearch topics"):
        notes.append(more)
    title = "Topics" if len(shown) == len(topics) else f"Topics {offset + 1}-{offset + len(shown)} of {len(topics)}"
    table = _table(title, "\n".join(notes) or None)
    glossed = any(topic.path_en for topic in shown)
    for column in ("page", "topic", "topic (en)", "refs") if glossed else ("page", "topic", "refs"):
        table.add_column(column, justify="right" if column == "refs" else "left")
    for topic in shown:
        gloss = [_text(" › ".join(topic.path_en))] if glossed else []
        table.add_row(_text(topic.page), _text(" › ".join(topic.path) + (" *" if topic.derived else "")), *gloss,
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
    shared = f" ({_bytes(status.shared)} of it held once for every index of this model)" if status.shared else ""
    row("on disk", " · ".join(f"{part} {_bytes(size)}" for part, size in status.sizes.items()) + shared)
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
