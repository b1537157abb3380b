"""The `refsearch` command: a thin typer layer over the library. Heavy modules load inside commands."""

from __future__ import annotations

import functools
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from .errors import RefsearchError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Search annotated reading lists (Chinese and English), offline.")


class Format(str, Enum):
    table = "table"
    json = "json"
    md = "md"


class Mode(str, Enum):
    hybrid = "hybrid"
    dense = "dense"
    lexical = "lexical"


def _stderr(message: str) -> None:
    print(f"refsearch: {message}", file=sys.stderr)


def friendly_errors(command):
    """Print RefsearchError (and OS errors on user paths) as one line and exit 1; REFSEARCH_DEBUG=1 re-raises."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except BrokenPipeError:
            # the reader went away (`refsearch search … | head`): stop quietly, as other tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(1) from None
        except (RefsearchError, OSError) as error:
            if os.environ.get("REFSEARCH_DEBUG") == "1":
                raise
            _stderr(f"error: {_message(error)}")
            raise typer.Exit(1) from None

    return wrapper


def _message(error: Exception) -> str:
    if isinstance(error, RefsearchError):
        return str(error)
    reason = getattr(error, "strerror", None) or str(error)
    filename = getattr(error, "filename", None)
    return f"{filename}: {reason}" if filename else reason


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=False)


def _progress():
    """A progress callback drawing a bar on stderr (only while a build embeds texts)."""
    state = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            bar = Progress("embedding", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                           console=_console(stderr=True), transient=True)
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task("embed", total=total)
        state["bar"].update(state["task"], completed=done)
        if done >= total:
            state.pop("bar").stop()

    return update


def _index_dir(index: Optional[Path]) -> Path:
    from .config import load_config

    return index if index is not None else load_config().index_dir


IndexOption = typer.Option(None, "--index", "-i", help="Index directory (default: the bundled data's index/).")
ModelOption = typer.Option(None, "--model", help="sentence-transformers model name or path (default: all-MiniLM-L6-v2, bundled).")


@app.command()
@friendly_errors
def build(
    sources: List[Path] = typer.Argument(
        None, help="Files or folders (YAML, Markdown, JSONL); default: the bundled data, or with --index "
                   "the sources that index was built from."),
    index: Optional[Path] = IndexOption,
    model: Optional[str] = ModelOption,
    encoder: str = typer.Option(None, "--encoder", help="onnx (default: fast, torch-free queries) or torch."),
    force: bool = typer.Option(False, "--force", help="Rebuild everything, ignoring the current index."),
):
    """Index reference pages (incremental: only new or changed references are embedded)."""
    from .build import build_index
    from .config import load_config
    from .lifecycle import refresh_index

    config = load_config()
    sources = sources or _default_sources(index, config)
    if sources:
        report = build_index(sources, _index_dir(index), model=model or config.model,
                             encoder=encoder or config.encoder, force=force, progress=_progress())
    else:
        report = refresh_index(_index_dir(index), model=model, encoder=encoder, force=force, progress=_progress())
    for note in report.notes:
        _stderr(note)
    print(report.summary())


def _open_index(index: Optional[Path], model: Optional[str], update: bool = True):
    from .config import load_config
    from .lifecycle import open_for_query

    sources = _default_sources(index, load_config())
    return open_for_query(_index_dir(index), sources, model=model or None, update=update, say=_stderr,
                          progress=_progress())


def _default_sources(index: Optional[Path], config) -> list[Path] | None:
    """Sources when none are named: the configured (or bundled) ones for the default index; None for
    an index named by --index or REFSEARCH_INDEX, which keeps the sources it was built from."""
    default_dir = index is None and not os.environ.get("REFSEARCH_INDEX")
    return config.default_sources() if default_dir else None


@app.command()
@friendly_errors
def search(
    query: Optional[str] = typer.Argument(None, help="What to look for, in any words (Chinese or English)."),
    k: int = typer.Option(10, "-k", help="How many results."),
    index: Optional[Path] = IndexOption,
    mode: Mode = typer.Option(Mode.hybrid, "--mode", help="hybrid (default), dense or lexical ranking."),
    topic: Optional[str] = typer.Option(None, "--topic", help="Only references whose topic contains this."),
    kind: Optional[str] = typer.Option(None, "--kind", help="Only this kind (paper, blog, official-doc, book, course…)."),
    year: Optional[str] = typer.Option(None, "--year", help="A year (2021) or a range (2020-2023)."),
    page: Optional[str] = typer.Option(None, "--page", help="Only references from pages whose title or key contains this."),
    context: bool = typer.Option(False, "--context", help="Also list the other references under each hit's topic."),
    explain: bool = typer.Option(False, "--explain", help="Show dense and lexical ranks and the matched terms."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (same as --format json)."),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or md."),
    batch: Optional[Path] = typer.Option(None, "--batch", help="Read one query per line ('-' for stdin); print JSON Lines."),
    no_update: bool = typer.Option(False, "--no-update", help="Do not rebuild a stale index; warn and answer from it."),
    also: bool = typer.Option(False, "--related", help="Add a 'see also' line under the top hit: related reading from other topics."),
    model: Optional[str] = ModelOption,
):
    """Find the references that answer QUERY."""
    from .search import Filters, Searcher, validate_k
    from .topics import siblings

    validate_k(k)
    if batch is None and query is None:
        raise RefsearchError("give a QUERY (or --batch FILE).")
    filters = Filters(topic=topic, kind=kind, years=Filters.parse_years(year) if year else None, page=page)
    idx = _open_index(index, model, update=not no_update)
    searcher = Searcher(idx)
    if batch is not None:
        _search_batch(searcher, batch, k, mode.value, filters, explain)
        return
    hits = searcher.search(query, k=k, mode=mode.value, filters=filters)
    ctx = {hit.ref.id: siblings(idx, hit.ref) for hit in hits} if context else None
    see_also = _see_also(idx, hits) if also else None
    fmt = Format.json if as_json else fmt
    if fmt is Format.json:
        from .render import results_json

        data = results_json(query, hits, explain, ctx)
        if see_also is not None:
            data["see_also"] = [{"id": s.ref.id, "title": s.ref.title, "reasons": s.reasons} for s in see_also]
        print(json.dumps(data, ensure_ascii=False, indent=1))
    elif fmt is Format.md:
        from .render import markdown_list

        print(markdown_list((h.ref for h in hits), heading=f"Further reading: {query}"), end="")
        if see_also:
            print("\n" + markdown_list((s.ref for s in see_also), heading=f"See also (after {hits[0].ref.title})",
                                       reasons=["; ".join(s.reasons) for s in see_also]), end="")
    else:
        from .render import print_context, print_hits, print_see_also

        console = _console()
        print_hits(console, query, hits, explain)
        if see_also:
            print_see_also(console, hits[0].ref, see_also)
        if ctx:
            print_context(console, hits, ctx)


def _see_also(idx, hits):
    """The top hit's best related references from other topics."""
    from .related import related as suggest

    return suggest(idx, hits[0].ref, k=3, other_topics=True) if hits else []


def _search_batch(searcher, batch: Path, k: int, mode: str, filters, explain: bool) -> None:
    from .render import results_json

    handle = sys.stdin if str(batch) == "-" else open(batch, encoding="utf-8")
    failures = 0
    with handle:
        for number, line in enumerate(handle, start=1):
            query = line.rstrip("\n")
            if not query.strip():
                continue
            try:
                result = results_json(query, searcher.search(query, k=k, mode=mode, filters=filters), explain)
            except RefsearchError as error:
                failures += 1
                result = {"query": query, "error": f"{batch}:{number}: {error}", "results": []}
            print(json.dumps(result, ensure_ascii=False), flush=False)
    if failures:
        raise RefsearchError(f"{failures} query line(s) in {batch} could not be searched (see their \"error\").")


@app.command()
@friendly_errors
def topics(
    index: Optional[Path] = IndexOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON (same as --format json)."),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or md."),
):
    """List the topics of the index with their reference counts."""
    from .topics import topics as list_topics

    idx = _open_index(index, None)
    found = list_topics(idx)
    fmt = Format.json if as_json else fmt
    if fmt is Format.json:
        print(json.dumps({"topics": [t.to_json() for t in found]}, ensure_ascii=False, indent=1))
    elif fmt is Format.md:
        from .render import markdown_list

        for topic in found:
            print(markdown_list((idx.records[idx.row(i)] for i in topic.ref_ids), heading=topic.breadcrumb))
    else:
        from rich.table import Table

        table = Table(title="Topics")
        for column in ("page", "topic", "topic (en)", "refs"):
            table.add_column(column, justify="right" if column == "refs" else "left")
        for topic in found:
            table.add_row(topic.page, " › ".join(topic.path), " › ".join(topic.path_en), str(len(topic.ref_ids)))
        _console().print(table)


@app.command()
@friendly_errors
def show(
    ref_id: str = typer.Argument(..., metavar="ID", help="A reference id (as printed by search --json)."),
    index: Optional[Path] = IndexOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
):
    """Print one reference, with the other references of its topic."""
    from .render import print_reference, reference_json
    from .topics import siblings

    idx = _open_index(index, None)
    if ref_id not in idx.by_id:
        raise RefsearchError(f"ID {ref_id!r} is not in the index; `refsearch search` prints ids with --json.")
    ref = idx.records[idx.row(ref_id)]
    others = siblings(idx, ref)
    if as_json:
        data = {**reference_json(ref), "source": ref.source, "context": [{"id": r.id, "title": r.title} for r in others]}
        print(json.dumps(data, ensure_ascii=False, indent=1))
        return
    console = _console()
    print_reference(console, ref)
    if others:
        console.print(f"\n  same topic ({ref.breadcrumb}):")
        for other in others:
            console.print(f"    • {other.title} [dim]{other.id}[/dim]")


@app.command()
@friendly_errors
def status(
    index: Optional[Path] = IndexOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
):
    """Say whether the index matches its sources and model, and what it holds on disk."""
    from .status import index_status, print_status, status_json

    found = index_status(_index_dir(index))
    if as_json:
        print(json.dumps(status_json(found), ensure_ascii=False, indent=1))
    else:
        print_status(_console(), found)


@app.command()
@friendly_errors
def related(
    ref: str = typer.Argument(..., metavar="REF", help="A reference id or part of its title (\"vllm\", \"flash attention\")."),
    k: int = typer.Option(5, "-k", help="How many suggestions."),
    diverse: bool = typer.Option(False, "--diverse", help="Spread suggestions across topics (maximal marginal relevance)."),
    index: Optional[Path] = IndexOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON (same as --format json)."),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or md."),
):
    """Suggest what to read next after REF, with the reasons."""
    from .related import related as suggest, resolve_reference
    from .render import markdown_list, print_related, related_json
    from .search import validate_k

    validate_k(k)
    idx = _open_index(index, None)
    anchor = resolve_reference(idx, ref)
    suggestions = suggest(idx, anchor, k=k, diverse=diverse)
    fmt = Format.json if as_json else fmt
    if fmt is Format.json:
        print(json.dumps(related_json(anchor, suggestions), ensure_ascii=False, indent=1))
    elif fmt is Format.md:
        print(markdown_list((s.ref for s in suggestions), heading=f"Further reading after {anchor.title}",
                            reasons=["; ".join(s.reasons) for s in suggestions]), end="")
    else:
        print_related(_console(), anchor, suggestions)


@app.command("eval")
@friendly_errors
def evaluate_command(
    queries: Path = typer.Argument(..., help="Queries YAML (data/eval/*.yaml) or a BEIR folder."),
    index: Optional[Path] = IndexOption,
    mode: Mode = typer.Option(Mode.hybrid, "--mode", help="Ranking to evaluate."),
    compare: bool = typer.Option(False, "--compare", help="Evaluate hybrid, dense and lexical side by side."),
    split: Optional[str] = typer.Option(None, "--split", help="Queries file: tune, report or all (default); BEIR folder: the qrels file (default test)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
):
    """Measure nDCG@10, MRR, Recall@5/10/100 and hit@3 on judged queries, per query kind; list the misses."""
    from . import evaluate
    from .lifecycle import open_for_query
    from .search import Searcher

    eval_set = evaluate.load_eval_set(queries, split)
    if index is None and not eval_set.sources:
        idx = _open_index(None, None)
    else:
        directory = index or evaluate.default_index_dir(eval_set)
        idx = open_for_query(directory, eval_set.sources or None, say=_stderr, progress=_progress())
    judged = evaluate.resolve(eval_set, idx)
    searcher = Searcher(idx)
    modes = [m.value for m in Mode] if compare else [mode.value]
    reports = [evaluate.run(searcher, judged, m) for m in modes]
    if as_json:
        print(json.dumps(evaluate.summary_json(eval_set, reports), ensure_ascii=False, indent=1))
        return
    from rich.table import Table

    console = _console()
    header, rows = evaluate.table_rows(reports)
    table = Table(title=f"{eval_set.name} ({eval_set.split}): {len(judged)} queries")
    for number, column in enumerate(header):
        table.add_column(column, justify="left" if number < 2 else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for report in reports:
        misses = report.misses()
        if not misses:
            continue
        table = Table(title=f"{report.mode}: {len(misses)} queries without a relevant result in the top 3")
        for column in ("query", "first relevant", "top result"):
            table.add_column(column)
        for miss in misses:
            top = idx.records[idx.row(miss.ranked[0])].title if miss.ranked else "—"
            table.add_row(miss.query.text, str(miss.first_relevant or "—"), top)
        console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
