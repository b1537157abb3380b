"""Results back out (export.py): what a reference manager reads back, with the annotation in its note."""

from __future__ import annotations

import json

import bibtexparser
import pytest
import rispy
from typer.testing import CliRunner

import refsearch
from refsearch.cli import app
from refsearch.export import export
from refsearch.records import Reference

REFS = [Reference(id=f"list/r{n}", title=f"Paper {n}: serving {{braces}} & more", page="list",
                  url=f"https://example.org/{n}", year=2020 + n, kind=kind, authors=("Ada Lovelace", "王小明"),
                  note=f"my note {n}, 中文", venue="NeurIPS", doi=f"10.1000/{n}", tags=("gpu", "serving"),
                  extra={"key": "lovelace2021", "type": "inproceedings"} if n == 1 else {})
        for n, kind in enumerate(("paper", "paper", "book", "web", "software"))]


def test_five_results_read_back_in_each_format():
    library = bibtexparser.parse_string(export(REFS, "bibtex"))
    assert not library.failed_blocks and len(library.entries) == 5
    first = library.entries[1]
    assert (first.entry_type, first.key) == ("inproceedings", "lovelace2021")  # its own key and type kept
    assert first["booktitle"] == "NeurIPS" and first["note"] == "my note 1, 中文" and first["url"] == "https://example.org/1"
    assert first["title"] == "Paper 1: serving {braces} & more"
    records = rispy.loads(export(REFS, "ris"))
    assert [(r["title"], r["urls"], r["notes"]) for r in records][0] == (REFS[0].title, [REFS[0].url], [REFS[0].note])
    assert [r["type_of_reference"] for r in records] == ["JOUR", "JOUR", "BOOK", "ELEC", "COMP"]
    items = json.loads(export(REFS, "csl-json"))
    assert [(i["title"], i["URL"], i["note"], i["issued"]) for i in items][2] == (
        REFS[2].title, REFS[2].url, REFS[2].note, {"date-parts": [[2022]]})
    assert items[0]["author"] == [{"literal": "Ada Lovelace"}, {"literal": "王小明"}] and items[1]["id"] == "lovelace2021"


def test_unbalanced_braces_and_repeated_keys_stay_valid_bibtex():
    odd = [Reference(id="l/a", title="a } b {", page="l"), Reference(id="x/a", title="Other", page="x")]
    library = bibtexparser.parse_string(export(odd, "bibtex"))
    assert not library.failed_blocks and [e.key for e in library.entries] == ["a", "a-2"]


def test_search_show_and_related_export(tmp_path, fake_encoder):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "lib.bib").write_text(
        "@inproceedings{kwon2023, title = {Efficient Memory Management for LLM Serving with PagedAttention},"
        " year = 2023, annote = {The vLLM paper.}, url = {https://arxiv.org/abs/2309.06180}}\n"
        "@article{dao2022, title = {FlashAttention}, year = 2022, annote = {IO-aware attention.}}\n", "utf-8")
    refsearch.build([tmp_path / "src"], tmp_path / "index")
    runner = CliRunner()
    found = runner.invoke(app, ["search", "LLM serving memory", "--format", "bibtex", "--index", str(tmp_path / "index")])
    assert found.exit_code == 0, found.output
    entries = {e.key: e for e in bibtexparser.parse_string(found.stdout).entries}
    assert entries["kwon2023"]["note"] == "The vLLM paper." and entries["kwon2023"].entry_type == "inproceedings"
    shown = runner.invoke(app, ["show", "kwon2023", "--format", "ris", "--index", str(tmp_path / "index")])
    assert rispy.loads(shown.stdout)[0]["id"] == "kwon2023"
    related = runner.invoke(app, ["related", "kwon2023", "--format", "csl-json", "--index", str(tmp_path / "index")])
    assert [item["id"] for item in json.loads(related.stdout)] == ["dao2022"]
    topics = runner.invoke(app, ["topics", "--format", "ris", "--index", str(tmp_path / "index")])
    assert topics.exit_code == 1 and "use it with search, related or show" in topics.output


@pytest.mark.parametrize("fmt", ["bib", "endnote"])
def test_an_unknown_export_format_is_one_line(fmt):
    with pytest.raises(refsearch.RefsearchError, match="export formats are bibtex, ris, csl-json"):
        export(REFS, fmt)
