"""Results -> what people read: a rich table, JSON for scripts, or Markdown to paste into a wiki."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from .records import Reference
from .search import Hit


def reference_json(ref: Reference) -> dict[str, Any]:
    return {"id": ref.id, "title": ref.title, "topic": " › ".join(ref.topic), "topic_path": list(ref.topic),
            "topic_en": " › ".join(ref.topic_en) or None, "page": ref.page, "note": ref.note,
            "note_en": ref.note_en, "url": ref.url, "year": ref.year, "kind": ref.kind,
            "author": ref.author, "tags": list(ref.tags)}


def hit_json(hit: Hit, explain: bool = False) -> dict[str, Any]:
    data = {"rank": hit.rank, "score": round(hit.score, 6), **reference_json(hit.ref)}
    if explain:
        data["explain"] = {
            "dense_rank": hit.dense_rank,
            "dense_score": None if hit.dense_score is None else round(hit.dense_score, 6),
            "lexical_rank": hit.lexical_rank,
            "lexical_score": None if hit.lexical_score is None else round(hit.lexical_score, 6),
            "matched_terms": hit.matched,
        }
    return data


def results_json(query: str, hits: Sequence[Hit], explain: bool = False,
                 context: dict[str, list[Reference]] | None = None) -> dict[str, Any]:
    results = []
    for hit in hits:
        data = hit_json(hit, explain)
        if context is not None:
            data["context"] = [{"id": r.id, "title": r.title} for r in context.get(hit.ref.id, [])]
        results.append(data)
    return {"query": query, "results": results}


def _md_item(ref: Reference, why: str | None = None) -> str:
    title = f"[{ref.title}]({ref.url})" if ref.url else ref.title
    facts = ", ".join(str(x) for x in (ref.year, ref.kind, ref.author) if x)
    line = f"- {title}" + (f" ({facts})" if facts else "")
    note = ref.note_en or ref.note
    if note:
        line += f" — {note}"
    if why:
        line += f" _({why})_"
    return line


def markdown_list(refs: Iterable[Reference], heading: str | None = None,
                  reasons: Sequence[str] | None = None) -> str:
    lines = [f"### {heading}", ""] if heading else []
    for i, ref in enumerate(refs):
        lines.append(_md_item(ref, reasons[i] if reasons else None))
    return "\n".join(lines) + "\n"


def _highlighted(text: str, terms: Sequence[str]):
    from rich.text import Text

    rich_text = Text(text)
    if terms:
        rich_text.highlight_words(sorted(set(terms), key=len, reverse=True), style="bold yellow", case_sensitive=False)
    return rich_text


def _facts(ref: Reference) -> str:
    return " · ".join(str(x) for x in (ref.year, ref.kind) if x)


def print_hits(console, query: str, hits: Sequence[Hit], explain: bool = False) -> None:
    from rich.table import Table

    if not hits:
        console.print(f"No references match [bold]{query}[/bold].")
        return
    pages = {hit.ref.page for hit in hits}
    caption = f"from {next(iter(pages))}" if len(pages) == 1 else None
    table = Table(title=f"refsearch: {query}", caption=caption, show_lines=True, expand=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("reference", ratio=3)
    table.add_column("topic", ratio=2)
    table.add_column("annotation", ratio=4)
    if explain:
        table.add_column("why", ratio=2)
    for hit in hits:
        ref = hit.ref
        title = _highlighted(ref.title, hit.matched)
        title.stylize("bold")
        facts = " · ".join(str(x) for x in (ref.year, ref.kind, ref.author) if x)
        if facts:
            title.append(f"\n{facts}", style="dim")
        if ref.url:
            title.append(f"\n{ref.url}", style="cyan")
        note = _highlighted(ref.note or "", hit.matched)
        if ref.note_en:
            note.append("\n")
            gloss = _highlighted(ref.note_en, hit.matched)
            gloss.stylize("italic")
            note.append(gloss)
        path = ref.topic if len(pages) == 1 else (ref.page, *ref.topic)
        topic = " › ".join(path) + (f"\n({' › '.join(ref.topic_en)})" if ref.topic_en else "")
        row = [f"{hit.rank}\n[dim]{hit.score:.2f}[/dim]", title, topic, note]
        if explain:
            row.append(explain_text(hit))
        table.add_row(*row)
    console.print(table)


def explain_text(hit: Hit) -> str:
    dense = f"dense #{hit.dense_rank} ({hit.dense_score:.3f})" if hit.dense_rank else "dense: —"
    lexical = f"lexical #{hit.lexical_rank} ({hit.lexical_score:.2f})" if hit.lexical_rank else "lexical: —"
    matched = f"matched: {', '.join(dict.fromkeys(hit.matched))}" if hit.matched else "no term matched"
    return f"{dense}\n{lexical}\n{matched}"


def print_context(console, hits: Sequence[Hit], context: dict[str, list[Reference]]) -> None:
    shown = set()
    for hit in hits:
        key = (hit.ref.page, hit.ref.topic)
        if key in shown:
            continue
        shown.add(key)
        siblings = context.get(hit.ref.id, [])
        console.print(f"\n[bold]{hit.ref.breadcrumb}[/bold] — {len(siblings)} other reference(s) in this topic")
        for ref in siblings:
            facts = _facts(ref)
            console.print(f"  • {ref.title}" + (f" [dim]({facts})[/dim]" if facts else "") + f" [dim]{ref.id}[/dim]")


def print_reference(console, ref: Reference) -> None:
    console.print(f"[bold]{ref.title}[/bold]  [dim]{ref.id}[/dim]")
    for label, value in (("topic", ref.breadcrumb), ("topic (en)", " › ".join(ref.topic_en)),
                         ("year", ref.year), ("kind", ref.kind), ("author", ref.author), ("url", ref.url),
                         ("note", ref.note), ("note (en)", ref.note_en), ("tags", ", ".join(ref.tags)),
                         ("source", ref.source)):
        if value:
            console.print(f"  {label:>10}: {value}", highlight=False)


def related_json(anchor: Reference, suggestions) -> dict[str, Any]:
    return {"ref": reference_json(anchor), "related": [
        {"rank": rank, "score": round(s.score, 6), "similarity": round(s.similarity, 6), "reasons": s.reasons,
         "shared_terms": s.shared_terms, **reference_json(s.ref)}
        for rank, s in enumerate(suggestions, start=1)]}


def print_related(console, anchor: Reference, suggestions) -> None:
    from rich.table import Table

    table = Table(title=f"After: {anchor.title}  ({anchor.breadcrumb})", show_lines=True, expand=True)
    for column, ratio in (("#", None), ("reference", 3), ("year · kind", None), ("topic", 2), ("why", 3)):
        table.add_column(column, ratio=ratio, no_wrap=ratio is None)
    for rank, s in enumerate(suggestions, start=1):
        table.add_row(str(rank), s.ref.title, _facts(s.ref), s.ref.breadcrumb, "\n".join(s.reasons))
    console.print(table)


def print_see_also(console, top: Reference, suggestions) -> None:
    items = "; ".join(f"{s.ref.title} [dim]({s.ref.breadcrumb}; {', '.join(s.reasons[1:]) or s.reasons[0]})[/dim]"
                      for s in suggestions)
    console.print(f"[bold]See also[/bold] (after {top.title}): {items}")
