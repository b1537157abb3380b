"""The query parameters of search, related, show and topics, declared once.

Each is declared here with its name, type, default, bounds, allowed values and help, and every
surface is made from this table: the CLI's typer options (cli.py), the HTTP API's checks and
OpenAPI document (serve/http.py), the MCP tools' schemas (serve/mcp.py) and the Python API's
checks (`Index`, `Libraries`). So a bound or a help text is written once, and the four cannot
drift. Errors come from one set of templates, with the parameter spelled as its caller wrote it
(`Surface`): `--year` on the command line, `year=` over HTTP, `year` in an MCP call or in Python.

Stdlib only: the API checks its arguments with it on every query.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any, Callable

from .errors import InvalidParameter

MODES = ("hybrid", "dense", "lexical")
# Long enough for a pasted paper or chapter; the encoder reads the first max_seq_length tokens of
# it and BM25 its most informative terms (lexical.MAX_QUERY_TERMS). docs/benchmarks.md, "Long queries".
MAX_QUERY_CHARS = 1_000_000
MAX_QUERY_BYTES = 4 * MAX_QUERY_CHARS  # the longest query in UTF-8's worst case
MAX_K = 1000  # the longest ranking a caller may ask for (offset + k)
MAX_LIMIT = 1000  # the most items a caller may ask for in one window of a list
MAX_OFFSET = 10**9  # the start of a window (show, topics): any list this long is out of reach anyway
MAX_DIGITS = 12  # a whole number given as text
YEARS = (1, 9999)  # an open range ("2014-") runs to an end of these; 0 is "no year" in the catalog
SIBLINGS_SHOWN = 10  # `show`: the other references of its topic, per window
TOPICS_SHOWN = 50  # `topics`: per window
EXPORTS = ("bibtex", "ris", "csl-json")  # files for a reference manager (export.py writes them)
FORMATS = ("json", *EXPORTS)  # what the servers answer in: their JSON, or one of those files


@dataclass(frozen=True)
class Param:
    name: str  # as HTTP, MCP and Python callers give it
    kind: type  # str, int or bool
    help: str
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] = ()
    bounds: tuple[int, int] | None = None
    flag: str = ""  # as the CLI spells it ("-k", "QUERY"); "--NAME" when empty
    convert: Callable[["Param", Any, "Surface"], Any] | None = None  # checks and converts a given value

    @property
    def cli(self) -> str:
        return self.flag or f"--{self.name}"


@dataclass(frozen=True)
class Surface:
    """How one kind of caller writes a parameter: alone (`-k`, `k=`, `k`) and with its value."""

    name: Callable[[Param], str]
    given: Callable[[Param, Any], str]


def _shown(value: Any, text: Callable[[Any], str] = repr) -> str:
    """A value as a message quotes it: at most 40 characters (a query string may hold megabytes)."""
    return text(value) if len(text(value)) <= 40 else text(value)[:37] + "…"


CLI = Surface(lambda p: p.cli, lambda p, v: f"{p.cli} {_shown(v)}")
HTTP = Surface(lambda p: f"{p.name}=", lambda p, v: f"{p.name}={_shown(v, str)}")
MCP = Surface(lambda p: p.name, lambda p, v: f"{p.name} {_shown(v, lambda x: json.dumps(x, ensure_ascii=False))}")
API = Surface(lambda p: p.name, lambda p, v: f"{p.name}={_shown(v)}")


def _named_reference(param: Param, text: str, surface: Surface) -> str:
    if not text.strip():
        raise InvalidParameter(f"{surface.name(param)} is empty; give an id, a citation key, a DOI, a URL or the "
                               "start of a title.")
    return text


def _query(param: Param, text: str, surface: Surface) -> str:
    name = surface.name(param)
    if not text.strip():
        raise InvalidParameter(f"{name} is empty; give some words to search for.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidParameter(f"{name} is not valid UTF-8 text; check the terminal's encoding.") from None
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidParameter(f"{name} is {len(text):,} characters; the limit is {MAX_QUERY_CHARS:,} "
                               "(search with its most telling part).")
    return text.strip()


_YEARS = re.compile(r"\s*(\d{1,4})?\s*(-)?\s*(\d{1,4})?\s*")


def years(param: Param, given: Any, surface: Surface) -> tuple[int, int]:
    """A year (2021, "2021") or an inclusive range ("2020-2023", open: "2020-", "-2023", or a pair)
    as (first, last)."""
    if isinstance(given, bool):
        low = high = None
    elif isinstance(given, int):
        low = high = given
    elif isinstance(given, (tuple, list)) and len(given) == 2 and all(
            v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in given):
        low, high = given
    elif isinstance(given, str) and (match := _YEARS.fullmatch(given)) and (match[1] or match[3]):
        low = int(match[1]) if match[1] else None
        high = int(match[3]) if match[3] else None if match[2] else low
    else:
        low = high = None
    if low is None and high is None:
        raise InvalidParameter(f"{surface.given(param, given)}: give a year (2021) or a range (2020-2023, 2020-, -2023).")
    low, high = YEARS[0] if low is None else low, YEARS[1] if high is None else high
    if not (YEARS[0] <= low <= YEARS[1] and YEARS[0] <= high <= YEARS[1]):
        raise InvalidParameter(f"{surface.given(param, given)}: years run from {YEARS[0]} to {YEARS[1]}.")
    if low > high:
        raise InvalidParameter(f"{surface.given(param, given)}: the range is empty (start after end).")
    return low, high


_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


def _typed(param: Param, raw: Any, surface: Surface) -> Any:
    """`raw` (text from a command line or a URL, or a JSON value) as the parameter's kind."""
    name = surface.name(param)
    if param.kind is int:  # ASCII digits only: str.isdigit() takes `²`, which int() refuses
        if isinstance(raw, str) and _WHOLE_NUMBER.fullmatch(raw.strip()):
            if len(raw.strip()) > MAX_DIGITS:
                raise InvalidParameter(f"{name} must be a whole number of at most {MAX_DIGITS} digits, "
                                       f"not {_shown(raw)}.")
            return int(raw)
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        raise InvalidParameter(f"{name} must be a whole number, not {_shown(raw)}.")
    if param.kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false", "1", "0"):
            return raw.lower() in ("true", "1")
        raise InvalidParameter(f"{name} must be true or false, not {_shown(raw)}.")
    if param.convert is years and isinstance(raw, (int, tuple, list)):
        return raw
    if not isinstance(raw, str):
        raise InvalidParameter(f"{name} must be text, not {_shown(raw)}.")
    return raw


def checked(param: Param, raw: Any, surface: Surface) -> Any:
    """One given value, typed, bounded and converted, or InvalidParameter in the surface's words."""
    value = _typed(param, raw, surface)
    name = surface.name(param)
    if param.bounds and not param.bounds[0] <= value <= param.bounds[1]:
        low, high = param.bounds
        raise InvalidParameter(f"{name} must be 0 or more, not {value}." if value < low == 0 else
                               f"{name} must be between {low} and {high}, not {value}.")
    if param.choices and value not in param.choices:
        raise InvalidParameter(f"{name} must be one of {', '.join(param.choices)}, not {_shown(value)}.")
    return param.convert(param, value, surface) if param.convert else value


def check(params: tuple[Param, ...], given: dict[str, Any], surface: Surface) -> dict[str, Any]:
    """The values given (None: not given) checked; a ranking's offset and k together too."""
    values = {p.name: checked(p, given[p.name], surface) for p in params if given.get(p.name) is not None}
    if "k" in values and "offset" in values and values["offset"] + values["k"] > MAX_K:
        by_name = {p.name: p for p in params}
        raise InvalidParameter(f"{surface.name(by_name['offset'])} plus {surface.name(by_name['k'])} must be at most "
                               f"{MAX_K}: a ranking holds that many at most.")
    return values


def arguments(params: tuple[Param, ...], given: dict[str, Any], surface: Surface) -> dict[str, Any]:
    """Every parameter's value: those given, checked, and the defaults of the rest."""
    unknown = sorted(set(given) - {p.name for p in params})
    if unknown:
        raise TypeError(f"unexpected parameter {unknown[0]!r}")  # a caller's bug, as Python says it
    missing = [p for p in params if p.required and given.get(p.name) is None]
    if missing:
        raise InvalidParameter(f"{surface.name(missing[0])} is missing.")
    return {**{p.name: p.default for p in params}, **check(params, given, surface)}


def schema(param: Param) -> dict[str, Any]:
    """The parameter as JSON Schema (OpenAPI's parameters, the MCP tools' inputs)."""
    found: dict[str, Any] = {"type": {int: "integer", bool: "boolean", str: "string"}[param.kind]}
    if param.default is not None:
        found["default"] = param.default
    if param.choices:
        found["enum"] = list(param.choices)
    if param.bounds:
        found["minimum"], found["maximum"] = param.bounds
    return found


def _k(default: int, what: str) -> Param:
    return Param("k", int, f"How many {what} (1-{MAX_K}).", default, bounds=(1, MAX_K), flag="-k")


def _ranked_offset(what: str) -> Param:
    return Param("offset", int, f"Skip this many {what}: the next window of a long list (the previous answer's "
                                "next offset).", 0, bounds=(0, MAX_K))


def _window(default: int, what: str) -> tuple[Param, Param]:
    return (Param("offset", int, f"Skip this many {what}: the next window (the previous answer's next offset).", 0,
                  bounds=(0, MAX_OFFSET)),
            Param("limit", int, f"How many {what} to list (1-{MAX_LIMIT}).", default, bounds=(1, MAX_LIMIT)))


_REF_HELP = ("A reference's id or citation key (as search gives them), its DOI or URL, or (part of) its title "
             "(\"vllm\", \"flash attention\").")
FORMAT = Param("format", str, "json (default), or for a reference manager bibtex, ris or csl-json: the first "
                             "references that fit an answer (next_offset, over HTTP the X-Next-Offset header, "
                             "says where the rest start).", "json",
               choices=FORMATS)

SEARCH = (
    Param("query", str, "What to look for, in any words (Chinese or English), any length, up to "
                        f"{MAX_QUERY_CHARS:,} characters.", required=True, flag="QUERY", convert=_query),
    _k(10, "results"),
    Param("mode", str, "Ranking: hybrid (dense + lexical, fused; the default), dense or lexical.", "hybrid",
          choices=MODES),
    Param("topic", str, "Only references whose topic (or its English gloss) contains this."),
    Param("kind", str, "Only this kind (paper, blog, official-doc, book, course, repo…)."),
    Param("year", str, "A year (2021) or an inclusive range (2020-2023, 2020-, -2023).", convert=years),
    Param("page", str, "Only references from pages whose title or key contains this."),
    Param("author", str, "Only references with an author whose name contains this."),
    Param("venue", str, "Only references whose venue (journal, conference) contains this."),
    Param("collection", str, "Only references in this collection (Zotero) or under this heading, by name or "
                             "path (Physics/Space), with its sub-collections."),
    Param("tag", str, "Only references with this tag (the whole tag, any case)."),
    _ranked_offset("results"),
    Param("include_weak", bool, "Also return weak matches: results far below the best for this query, left out "
                                "by default.", False, flag="--all"),
    FORMAT,
)
RELATED = (
    Param("ref", str, _REF_HELP, required=True, flag="REF", convert=_named_reference),
    _k(5, "suggestions"),
    Param("diverse", bool, "Spread the suggestions across topics (maximal marginal relevance).", False),
    _ranked_offset("suggestions"),
    FORMAT,
)
SHOW = (
    Param("id", str, _REF_HELP, required=True, flag="REF", convert=_named_reference),
    *_window(SIBLINGS_SHOWN, "of the topic's other references"),
    replace(FORMAT, help="json (default), or for a reference manager bibtex, ris or csl-json (the reference alone)."),
)
TOPICS = _window(TOPICS_SHOWN, "topics")
COMMANDS = {"search": SEARCH, "related": RELATED, "show": SHOW, "topics": TOPICS}


def named(params: tuple[Param, ...], name: str) -> Param:
    return next(p for p in params if p.name == name)


def option(params: tuple[Param, ...], name: str, default: Any = ..., help: str | None = None):
    """The typer option (an argument, for QUERY and REF) of one parameter: its flag, default and
    help; the command checks the value with `check(..., CLI)`, so its errors are these templates."""
    import typer

    param = named(params, name)
    if default is ...:
        default = ... if param.required else param.default
    if param.cli.isupper():
        return typer.Argument(default, metavar=param.cli, help=help or param.help, show_default=False)
    metavar = "[" + "|".join(param.choices) + "]" if param.choices else None
    return typer.Option(default, param.cli, help=help or param.help, metavar=metavar)
