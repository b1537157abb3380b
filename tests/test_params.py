"""The query parameters declared once (params.py): every surface made from it, the API checking
through it, and each error naming the parameter as its caller wrote it."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

import refsearch
from refsearch import params
from refsearch.cli import app
from refsearch.errors import InvalidParameter, RefsearchError
from refsearch.search import Filters
from serving import make_project

runner = CliRunner()


@pytest.mark.parametrize("given, years", [
    (2015, (2015, 2015)), ("2015", (2015, 2015)), ("2014-2016", (2014, 2016)), (" 2014 - 2016 ", (2014, 2016)),
    ("2014-", (2014, params.YEARS[1])), ("-2016", (params.YEARS[0], 2016)), ((2014, 2016), (2014, 2016)),
    ((None, 2016), (params.YEARS[0], 2016)), ([2014, 2016], (2014, 2016)),
])
def test_filters_take_years_as_the_cli_does(given, years):
    assert Filters(years=given).years == years


@pytest.mark.parametrize("given, message", [
    ("20x", "years='20x': give a year (2021) or a range"),
    ("-", "years='-': give a year"),
    ("2016-2014", "years='2016-2014': the range is empty"),
    (True, "years=True: give a year"),
    (2.5, "years must be text, not 2.5"),
    ((2014, 2016, 2018), "years=(2014, 2016, 2018): give a year"),
    (0, "years=0: years run from 1 to 9999"),
])
def test_filters_refuse_other_years_in_one_line(given, message):
    with pytest.raises(InvalidParameter) as error:
        Filters(years=given)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("surface, k, year", [
    (params.CLI, "-k must be between 1 and 1000, not 0.", "--year 'soon': give a year"),
    (params.HTTP, "k= must be between 1 and 1000, not 0.", "year=soon: give a year"),
    (params.MCP, "k must be between 1 and 1000, not 0.", 'year "soon": give a year'),
    (params.API, "k must be between 1 and 1000, not 0.", "year='soon': give a year"),
])
def test_one_template_each_surface_its_spelling(surface, k, year):
    with pytest.raises(InvalidParameter, match=k):
        params.check(params.SEARCH, {"k": 0}, surface)
    with pytest.raises(InvalidParameter) as error:
        params.check(params.SEARCH, {"year": "soon"}, surface)
    assert year in str(error.value)


def test_a_ranking_window_is_checked_whole():
    assert params.check(params.RELATED, {"k": 10, "offset": 990}, params.API) == {"k": 10, "offset": 990}
    with pytest.raises(InvalidParameter, match="offset plus k must be at most 1000"):
        params.check(params.RELATED, {"k": 10, "offset": 991}, params.API)


def test_the_cli_options_are_made_from_the_declaration():
    """Every declared parameter a CLI command takes has the declared default and help there."""
    commands = typer.main.get_command(app).commands
    for name, declared in params.COMMANDS.items():
        by_flag = {opt: p for p in commands[name].params for opt in (*p.opts, (p.metavar or ""))}
        for param in declared:
            if param.name == "format":  # the CLI's --format also writes tables and Markdown (cli.Format)
                continue
            option = by_flag[param.cli]
            if param.cli.startswith("-"):  # an option (QUERY and REF are arguments)
                assert (option.help, option.default) == (param.help, param.default), (name, param.name)


@pytest.fixture
def index(tmp_path, fake_encoder):
    return refsearch.open(make_project(tmp_path))


@pytest.mark.parametrize("call, message", [
    (lambda i: i.related("infra/mig", k=-1), "k must be between 1 and 1000, not -1"),
    (lambda i: i.related("infra/mig", k=1001), "k must be between 1 and 1000, not 1001"),
    (lambda i: i.search("gpu", k=0), "k must be between 1 and 1000, not 0"),
    (lambda i: i.search("gpu", mode="fuzzy"), "mode must be one of hybrid, dense, lexical, not 'fuzzy'"),
    (lambda i: i.search("  "), "query is empty"),
    (lambda i: i.siblings(i.get("infra/mig"), limit=0), "limit must be between 1 and 1000, not 0"),
    (lambda i: i.siblings(i.get("infra/mig"), offset=-1), "offset must be 0 or more, not -1"),
    (lambda i: i.resolve(" "), "ref is empty"),
])
def test_the_api_checks_through_the_declaration(index, call, message):
    with pytest.raises(InvalidParameter) as error:
        call(index)
    assert message in str(error.value)


def test_an_index_search_takes_years_as_text(index):
    found = index.search("server", k=3, filters=Filters(years="2018-2019"))
    assert {hit.ref.title for hit in found} == {"KServe", "Triton"}


def test_libraries_check_through_it_too(tmp_path, fake_encoder):
    both = refsearch.open([make_project(tmp_path / "a"), make_project(tmp_path / "b")])
    with pytest.raises(InvalidParameter, match="k must be between 1 and 1000, not -1"):
        both.related("a/index:infra/mig", k=-1)
    with pytest.raises(InvalidParameter, match="k must be between"):
        both.search("gpu", k=0)


def test_the_cli_names_its_own_flags(tmp_path, fake_encoder):
    where = ["--index", str(make_project(tmp_path))]
    for args, message in ((["search", "gpu", "--year", "20x"], "--year '20x': give a year"),
                          (["search", "gpu", "--mode", "fuzzy"], "--mode must be one of hybrid, dense, lexical"),
                          (["related", "infra/mig", "-k", "-1"], "-k must be between 1 and 1000, not -1"),
                          (["related", " "], "REF is empty")):
        result = runner.invoke(app, [*args, *where])
        assert result.exit_code == 1 and message in result.stderr and len(result.stderr.splitlines()) == 1, args
    opened = runner.invoke(app, ["search", "server", "--year", "2020-", "--json", *where])
    assert [r["title"] for r in json.loads(opened.stdout)["results"]] == ["MIG"], opened.output


def test_errors_are_refsearch_errors():
    assert issubclass(InvalidParameter, RefsearchError)
