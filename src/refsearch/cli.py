"""The `refsearch` command: a thin typer layer over the public API (api.py) and render.py.

Each command parses its options, calls the API, and hands the result to render.py. Heavy modules
load inside commands.
"""

from __future__ import annotations

import functools
import os
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperCommand

from . import encoders
from .errors import RefsearchError, os_error_message
from .params import CLI, EXPORTS, MAX_QUERY_BYTES, MODES, RELATED, SEARCH, SHOW, TOPICS, check, checked, named, option

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  help="Search annotated reading lists (Chinese and English), offline. "
                       "Tab completion for your shell: refsearch --install-completion.")

# A --batch line or a --file query is read in bounded pieces: `--batch /dev/zero` must not grow
# without bound. The limit is the query limit in UTF-8's worst case. The rest of an over-long line
# is skipped, up to MAX_SKIPPED_PIECES more pieces: a stream without newlines must end too.
MAX_LINE_BYTES = MAX_QUERY_BYTES
MAX_SKIPPED_PIECES = 16
BAR_AFTER = 0.5  # seconds of a build before its progress bar shows


class Format(str, Enum):
    text = "text"
    table = "table"
    json = "json"
    md = "md"
    bibtex = "bibtex"
    ris = "ris"
    csl_json = "csl-json"




class Output:
    """The one place a command's output format is decided: `--json` is `--format json`; the
    formats for a reference manager are written by export.py from the command's references; every
    other format by the writer the command gives for it. Made before the index is opened, so a
    format the command cannot write is refused at once."""

    def __init__(self, fmt: Format, as_json: bool, exports: bool = True):
        self.format = Format.json if as_json else fmt
        if self.format in EXPORTS and not exports:
            raise RefsearchError(f"--format {self.format.value} writes references: use it with search, related or show.")

    def write(self, writers: dict, references=None) -> None:
        """`writers`: format -> a function printing the answer in it; `references`: a function
        giving the references the export formats write."""
        if self.format in EXPORTS:
            from .export import export

            print(export(references(), self.format.value), end="")
        else:
            writers[self.format]()


def _print_version(asked: bool) -> None:
    if asked:
        from . import __version__

        print(f"refsearch {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                          help="Print refsearch's version and exit.")) -> None:
    pass  # the options of `refsearch` itself, before any command


def _stderr(message: str) -> None:
    from .render import clean

    print(f"refsearch: {clean(message)}", file=sys.stderr)


def friendly_errors(command):
    """Print RefsearchError (and OS errors on user paths) as one line and exit 1, Ctrl-C as one line
    and exit 130 (as shells report SIGINT); REFSEARCH_DEBUG=1 re-raises."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            try:
                return command(*args, **kwargs)
            finally:
                _stop_bars()  # before any message, and so the terminal gets its cursor back
        except (KeyboardInterrupt, ImportError) as stop:
            interrupt = _interrupt_behind(stop)
            if interrupt is None or os.environ.get("REFSEARCH_DEBUG") == "1":
                raise
            _say_interrupted(interrupt)
            raise typer.Exit(130) from None
        except BrokenPipeError:
            # the reader went away (`refsearch search … | head`): stop quietly, as other tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(1) from None
        except (RefsearchError, OSError, MemoryError) as error:
            if os.environ.get("REFSEARCH_DEBUG") == "1":
                raise
            _stderr(f"error: {_message(error)}")
            raise typer.Exit(1) from None

    return wrapper


def _say_interrupted(interrupt: KeyboardInterrupt) -> None:
    """One line: a build's interrupt says whether the index changed (errors.BuildInterrupted).
    Printed as it is, importing nothing: the interrupt may have cut an import short (numpy's
    cannot be tried again)."""
    print(f"refsearch: {str(interrupt) or 'interrupted'}", file=sys.stderr)


def _interrupt_behind(error: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C that `error` is, or that caused it: a C extension interrupted while it loads
    (numpy, onnxruntime) raises an ImportError instead."""
    for _ in range(8):
        if error is None or isinstance(error, KeyboardInterrupt):
            return error
        error = error.__cause__ or error.__context__
    return None


def _message(error: Exception) -> str:
    if isinstance(error, RefsearchError):
        return " ".join(str(error).split())
    if isinstance(error, MemoryError):
        return "out of memory"
    return os_error_message(error)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=False)


_BARS: list = []  # the progress bars on screen


def _stop_bars() -> None:
    while _BARS:
        _BARS.pop().stop()


def _progress():
    """A progress callback drawing a bar on stderr while a build indexes references, once it has
    taken BAR_AFTER seconds (an update that takes over nearly every row is done sooner: it draws
    nothing, and does not import rich)."""
    import time

    state = {"started": time.monotonic()}

    def update(done: int, total: int) -> None:
        if "bar" not in state and (done >= total or time.monotonic() - state["started"] < BAR_AFTER):
            return
        if "bar" not in state:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            bar = Progress("indexing", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                           console=_console(stderr=True), transient=True)
            bar.start()
            _BARS.append(bar)
            state["bar"], state["task"] = bar, bar.add_task("index", total=total)
        state["bar"].update(state["task"], completed=done)
        if done >= total:
            _BARS.remove(state["bar"])
            state.pop("bar").stop()

    return update


def _open(index, model: Optional[str] = None, update: bool = True, one_query: bool = False):
    """The index (or, for several `--index`, the libraries answering together) a command asks."""
    from . import api

    if isinstance(index, list):
        index = index[0] if len(index) == 1 else (index or None)
    return api.open(index, update=update, model=model, say=_stderr, progress=_progress(), one_query=one_query)


def _print_json(data) -> None:
    from .render import json_text

    print(json_text(data, indent=1))


IndexOption = typer.Option(None, "--index", "-i", help="Index directory (default: the user's default index, "
                                                       "or $REFSEARCH_INDEX, or `index:` in refsearch.yaml).")
IndexesOption = typer.Option(None, "--index", "-i", help="Index directory (default: the user's default index, or "
                                                         "$REFSEARCH_INDEX, or `index:` in refsearch.yaml); repeat it "
                                                         "to answer across several libraries.")
ModelOption = typer.Option(None, "--model", help="sentence-transformers model name or path (default: all-MiniLM-L6-v2, bundled).")
JsonOption = typer.Option(False, "--json", help="Print JSON (same as --format json).")
FormatOption = typer.Option(Format.text, "--format", help="text (the default, to read), table (one reference a row), "
                                                          "json, md (Markdown, to paste), or for a reference manager "
                                                          "bibtex, ris or csl-json.")


class _OptionalValueCommand(TyperCommand):
    """Lets `--ray` be given with or without an address (click's optional-value options, which
    typer does not expose): alone it means a local Ray."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.name == "ray":
                param._flag_needs_value, param.flag_value = True, "local"


@app.command(cls=_OptionalValueCommand)
@friendly_errors
def build(
    sources: List[Path] = typer.Argument(
        None, help="Files or folders (Markdown, BibTeX, RIS, CSL-JSON/YAML, bookmarks HTML, JSON Lines, our YAML); "
                   "default: the configured or bundled sources, or with --index the sources that index was built from."),
    index: Optional[str] = IndexOption,
    model: Optional[str] = ModelOption,
    encoder: str = typer.Option(None, "--encoder", help=f"{encoders.choices_text()}; an update keeps the "
                                                        "encoder the index was built with."),
    force: bool = typer.Option(False, "--force", help="Rebuild everything, ignoring the current index."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="List the files skipped, the entries passed over "
                                                                "and the entries that share an id but not a title."),
    ray: Optional[str] = typer.Option(None, "--ray", metavar="[ADDRESS]",
                                      help="Embed on Ray: a cluster's ADDRESS, or alone to start a local Ray "
                                           "(pip install 'refsearch[ray]'; docs/scale.md)."),
):
    """Index reference lists (incremental: only new or changed references are embedded)."""
    from . import api

    report = api.build(sources or None, index, model=model, encoder=encoder, force=force, progress=_progress(),
                       ray=ray)
    for note in report.notes:
        _stderr(note)
    if verbose:
        for path, reason in report.skipped:
            _stderr(f"skipped {path}: {reason}")
        for warning in report.warnings:
            _stderr(f"passed over {warning}")
        for conflict in report.conflicts:
            _stderr(f"kept apart: {conflict}")
    print(report.summary())


@app.command()
@friendly_errors
def search(
    query: Optional[str] = option(SEARCH, "query", None),
    k: int = option(SEARCH, "k"),
    offset: int = option(SEARCH, "offset"),
    index: Optional[List[str]] = IndexesOption,
    mode: str = option(SEARCH, "mode"),
    topic: Optional[str] = option(SEARCH, "topic"),
    kind: Optional[str] = option(SEARCH, "kind"),
    year: Optional[str] = option(SEARCH, "year"),
    page: Optional[str] = option(SEARCH, "page"),
    author: Optional[str] = option(SEARCH, "author"),
    venue: Optional[str] = option(SEARCH, "venue"),
    collection: Optional[str] = option(SEARCH, "collection"),
    tag: Optional[str] = option(SEARCH, "tag"),
    context: bool = typer.Option(False, "--context", help="Also list a few other references under each hit's topic, "
                                                          "nearest first (`show ID` lists them all, a page at a time)."),
    show_all: bool = option(SEARCH, "include_weak"),
    explain: bool = typer.Option(False, "--explain", help="Show dense and lexical ranks and the matched terms."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (same as --format json)."),
    fmt: Format = FormatOption,
    query_file: Optional[Path] = typer.Option(None, "--file", help="Take the query from a file ('-' for stdin): "
                                                                   "find references related to an abstract or a draft."),
    batch: Optional[Path] = typer.Option(None, "--batch", help="Read one query per line ('-' for stdin); print JSON Lines."),
    strict: bool = typer.Option(False, "--strict", help="With --batch: exit 1 if any line could not be searched."),
    no_update: bool = typer.Option(False, "--no-update", help="Do not rebuild a stale index; warn and answer from it."),
    also: bool = typer.Option(False, "--related", help="Add a 'see also' line under the top hit: related reading from other topics."),
    model: Optional[str] = ModelOption,
):
    """Find the references that answer QUERY."""
    from .search import Filters

    output = Output(fmt, as_json)
    checked_values = check(SEARCH, {"k": k, "offset": offset, "mode": mode, "year": year}, CLI)
    given = [name for name, value in (("QUERY", query), ("--file", query_file), ("--batch", batch)) if value is not None]
    if len(given) != 1:
        raise RefsearchError("give a QUERY, --file PATH or --batch FILE." if not given else
                             f"give only one of QUERY, --file and --batch, not {' and '.join(given)}.")
    filters = Filters(topic=topic, kind=kind, years=checked_values.get("year"), page=page, author=author, venue=venue,
                      collection=collection, tag=tag)
    if query_file is not None:
        query = _read_query_file(query_file)
    if batch is None:
        query = checked(named(SEARCH, "query"), query, CLI)
    idx = _open(index, model, update=not no_update, one_query=batch is None)
    if batch is not None:
        _search_batch(idx, batch, k, mode, filters, explain, strict, show_all)
        return
    from .paging import CONTEXT_SHOWN
    from .search import shown_hits

    hits, weak_cut, next_offset = shown_hits(idx.search(query, k=offset + k, mode=mode, filters=filters),
                                             offset, k, show_all)
    ctx = {hit.ref.id: idx.siblings(hit.ref, limit=CONTEXT_SHOWN) for hit in hits} if context else None
    see_also = idx.related(hits[0].ref, k=3, other_topics=True) if also and hits else ([] if also else None)
    from . import render

    def markdown() -> None:
        print(render.markdown_list((h.ref for h in hits), heading=f"Further reading: {query[:200]}"), end="")
        if see_also:
            print("\n" + render.markdown_list((s.ref for s in see_also), heading=f"See also (after {hits[0].ref.title})",
                                              reasons=["; ".join(s.reasons) for s in see_also]), end="")

    def text() -> None:
        out = render.Writer()
        render.print_hits(out, query, hits, explain, weak_cut)
        if see_also:
            render.print_see_also(out, hits[0].ref, see_also)
        if ctx:
            render.print_context(out, hits, ctx)

    output.write({Format.json: lambda: _print_json(render.results_json(query, hits, explain, ctx, see_also, weak_cut,
                                                                       offset, next_offset)),
                  Format.md: markdown, Format.text: text,
                  Format.table: lambda: render.print_hits_table(_console(), query, hits, explain, weak_cut, see_also,
                                                                ctx)},
                 lambda: [h.ref for h in hits])


def _read_query_file(path: Path) -> str:
    with _binary(path) as handle:
        data = handle.read(MAX_LINE_BYTES + 1)
    if len(data) > MAX_LINE_BYTES:
        raise RefsearchError(f"--file {path}: over {MAX_LINE_BYTES:,} bytes; search with its most telling part.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RefsearchError(f"--file {path}: not UTF-8 text (byte {error.start}); re-save it as UTF-8.") from None


def _binary(path: Path):
    """The file, or standard input for '-', as bytes (decoded by the caller, line by line)."""
    import contextlib

    return contextlib.nullcontext(sys.stdin.buffer) if str(path) == "-" else open(path, "rb")


def _batch_lines(path: Path):
    """(line number, text or error) for each line, each read in bounded pieces. A file that is not
    text (a NUL byte: binary data, UTF-16, /dev/zero) ends the batch with an error."""
    with _binary(path) as handle:
        number = 0
        while True:
            line = handle.readline(MAX_LINE_BYTES + 1)
            if not line:
                return
            number += 1
            if b"\0" in line:
                raise RefsearchError(f"{path}:{number}: binary data (a NUL byte); --batch reads UTF-8 text, "
                                     "one query per line.")
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                _skip_rest_of_line(handle, path, number)
                yield number, RefsearchError(f"line is over {MAX_LINE_BYTES:,} bytes")
                continue
            try:
                yield number, line.decode("utf-8").rstrip("\r\n").removeprefix("\ufeff")
            except UnicodeDecodeError as error:
                yield number, RefsearchError(f"not UTF-8 text (byte {error.start}); re-save the file as UTF-8")


def _skip_rest_of_line(handle, path: Path, number: int) -> None:
    for _ in range(MAX_SKIPPED_PIECES):
        rest = handle.readline(MAX_LINE_BYTES)
        if not rest or rest.endswith(b"\n"):
            return
    raise RefsearchError(f"{path}:{number}: a line of over {MAX_LINE_BYTES * (MAX_SKIPPED_PIECES + 1):,} bytes "
                         "that does not end; --batch reads text, one query per line.")


def _search_batch(idx, batch: Path, k: int, mode: str, filters, explain: bool, strict: bool, show_all: bool) -> None:
    """One JSON line per query line; a line that cannot be searched gets an "error" line of its own."""
    from .render import json_text, results_json
    from .search import shown_hits

    failures = 0
    for number, query in _batch_lines(batch):
        try:
            if isinstance(query, RefsearchError):
                raise query
            if not query.strip():
                continue
            query = checked(named(SEARCH, "query"), query, CLI)
            hits, weak_cut, next_offset = shown_hits(idx.search(query, k=k, mode=mode, filters=filters), 0, k, show_all)
            result = results_json(query, hits, explain, weak_cut=weak_cut, next_offset=next_offset)
        except RefsearchError as error:
            failures += 1
            result = {"query": query if isinstance(query, str) else None, "line": number,
                      "error": f"{batch}:{number}: {error}", "results": []}
        print(json_text(result), flush=False)
    if failures:
        message = f"{failures} query line(s) in {batch} could not be searched (see their \"error\")."
        if strict:
            raise RefsearchError(message)
        _stderr(f"warning: {message}")


@app.command()
@friendly_errors
def topics(index: Optional[List[str]] = IndexesOption, as_json: bool = JsonOption, fmt: Format = FormatOption,
           offset: int = option(TOPICS, "offset"), limit: int = option(TOPICS, "limit")):
    """List the topics of the index with their reference counts (derived ones, for pages without
    headings, marked *), a window at a time."""
    from . import render

    output = Output(fmt, as_json, exports=False)
    check(TOPICS, {"offset": offset, "limit": limit}, CLI)
    idx = _open(index)
    found = idx.topics()

    def table() -> None:  # an overview of topics reads best as a table, so text is one too
        render.print_topics(_console(), found, offset, limit)

    output.write({Format.json: lambda: _print_json(render.topics_json(found, offset, limit)),
                  Format.md: lambda: print(render.topics_markdown(idx, found, offset, limit), end=""),
                  Format.text: table, Format.table: table})


@app.command()
@friendly_errors
def show(
    ref_id: str = option(SHOW, "id"),
    index: Optional[List[str]] = IndexesOption,
    as_json: bool = JsonOption,
    fmt: Format = FormatOption,
    offset: int = option(SHOW, "offset"),
    limit: int = option(SHOW, "limit"),
):
    """Print one reference, with the other references of its topic, nearest first, a window at a time."""
    from . import render

    output = Output(fmt, as_json)
    check(SHOW, {"id": ref_id, "offset": offset, "limit": limit}, CLI)
    idx = _open(index)
    ref = idx.resolve(ref_id)
    siblings = idx.siblings(ref, offset, limit)
    output.write({Format.json: lambda: _print_json(render.show_json(ref, siblings)),
                  Format.md: lambda: print(render.markdown_list([ref]), end=""),
                  Format.text: lambda: render.print_reference(render.Writer(), ref, siblings),
                  Format.table: lambda: render.print_reference_table(_console(), ref, siblings)},
                 lambda: [ref])


@app.command()
@friendly_errors
def status(index: Optional[str] = IndexOption, as_json: bool = JsonOption):
    """Say whether the index matches its sources and model, and what it holds on disk."""
    from . import api, render

    output = Output(Format.text, as_json)
    found = api.status(index)
    output.write({Format.json: lambda: _print_json(render.status_json(found)),
                  Format.text: lambda: render.print_status(_console(), found)})


@app.command()
@friendly_errors
def related(
    ref: str = option(RELATED, "ref"),
    k: int = option(RELATED, "k"),
    diverse: bool = option(RELATED, "diverse"),
    offset: int = option(RELATED, "offset"),
    index: Optional[List[str]] = IndexesOption,
    as_json: bool = JsonOption,
    fmt: Format = FormatOption,
):
    """Suggest what to read next after REF, with the reasons."""
    from . import render
    from .paging import after

    output = Output(fmt, as_json)
    check(RELATED, {"ref": ref, "k": k, "offset": offset}, CLI)
    idx = _open(index)
    anchor = idx.resolve(ref)
    suggestions, next_offset = after(idx.related(anchor, k=offset + k, diverse=diverse), offset, k)
    output.write({Format.json: lambda: _print_json(render.related_json(anchor, suggestions, offset, next_offset)),
                  Format.md: lambda: print(render.markdown_list((s.ref for s in suggestions),
                                                                heading=f"Further reading after {anchor.title}",
                                                                reasons=["; ".join(s.reasons) for s in suggestions]),
                                           end=""),
                  Format.text: lambda: render.print_related(render.Writer(), anchor, suggestions, offset),
                  Format.table: lambda: render.print_related_table(_console(), anchor, suggestions, offset)},
                 lambda: [s.ref for s in suggestions])


@app.command()
@friendly_errors
def serve(
    index: Optional[List[str]] = IndexesOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default: loopback only; anything "
                                                         "else is reachable by others and warns)."),
    port: int = typer.Option(8000, "--port", help="Port to listen on (0: any free port)."),
    allow_host: List[str] = typer.Option(None, "--allow-host", help="With a --host beyond loopback: also answer "
                                                                    "requests addressed to this name (a DNS name, a "
                                                                    "proxy's); repeat for more."),
):
    """Serve the JSON API (/api/search, /api/related, …, docs at /api/docs) and the search page with its topic map
    (several --index: one ranking across them, each result naming its library)."""
    from .errors import require_extra

    require_extra("serve", "starlette", "uvicorn", "httptools")
    from .serve.http import run

    run(index, host, port, say=_stderr, progress=_progress(), also_allowed=allow_host or ())


@app.command()
@friendly_errors
def mcp(index: Optional[List[str]] = IndexesOption):
    """Answer an assistant over the Model Context Protocol on stdio (tools: search, related, show, topics;
    several --index: one ranking across them, each result naming its library)."""
    from .errors import require_extra

    require_extra("mcp", "mcp")
    from .serve.mcp import run

    run(index, say=_stderr)


@app.command("eval")
@friendly_errors
def evaluate_command(
    queries: Path = typer.Argument(..., help="Queries YAML (data/eval/*.yaml) or a BEIR folder."),
    index: Optional[str] = IndexOption,
    mode: str = option(SEARCH, "mode", help="Ranking to evaluate: hybrid (default), dense or lexical."),
    compare: bool = typer.Option(False, "--compare", help="Evaluate hybrid, dense and lexical side by side."),
    split: Optional[str] = typer.Option(None, "--split", help="Queries file: tune, report or all (default); BEIR folder: the qrels file (default test)."),
    as_json: bool = JsonOption,
):
    """Measure nDCG@10, MRR, Recall@5/10/100 and hit@3 on judged queries, per query kind; list the misses."""
    from . import evaluate, render

    check(SEARCH, {"mode": mode}, CLI)
    eval_set = evaluate.load_eval_set(queries, split)
    idx = evaluate.open_index(eval_set, index, say=_stderr, progress=_progress())
    judged = evaluate.resolve(eval_set, idx)
    modes = list(MODES) if compare else [mode]
    reports = [evaluate.run(idx, judged, m) for m in modes]
    Output(Format.text, as_json).write({
        Format.json: lambda: _print_json(render.eval_json(eval_set, reports)),
        Format.text: lambda: render.print_eval(_console(), eval_set, reports, lambda ref_id: idx.get(ref_id).title)})


def main() -> None:
    try:
        app()
    except (KeyboardInterrupt, ImportError) as stop:  # Ctrl-C while typer makes the commands, before one runs
        if _interrupt_behind(stop) is None or os.environ.get("REFSEARCH_DEBUG") == "1":
            raise
        _say_interrupted(KeyboardInterrupt())
        sys.exit(130)


if __name__ == "__main__":
    main()
