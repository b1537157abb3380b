"""Per-kind reporting and the seeded tune/report split of judged query sets."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from refsearch import evaluate
from refsearch.cli import app
from refsearch.errors import RefsearchError, SourceError
from refsearch.evaluate import EvalSet, Judged, Question
from refsearch.render import print_eval

ROOT = Path(__file__).resolve().parents[1]
HARD = ROOT / "data" / "eval" / "hard.yaml"


def questions(kinds: dict[str, int]) -> list[Question]:
    return [Question(f"{kind}{i}", f"{kind} query number {i}", ["x"], kind)
            for kind, count in kinds.items() for i in range(count)]


def test_split_is_deterministic_and_stratified_by_kind():
    qs = questions({"paraphrase": 7, "named": 6, "long": 3})
    parts = evaluate.split_part(qs, seed=15)
    assert parts == evaluate.split_part(list(reversed(qs)), seed=15)  # file order does not matter
    for kind, count in {"paraphrase": 7, "named": 6, "long": 3}.items():
        tune = sum(parts[q.qid] == "tune" for q in qs if q.kind == kind)
        assert tune == count // 2  # the odd one goes to report


def test_another_seed_gives_another_split():
    qs = questions({"paraphrase": 20})
    assert evaluate.split_part(qs, seed=15) != evaluate.split_part(qs, seed=16)


def test_hard_set_halves_are_disjoint_and_cover_every_kind():
    tune = evaluate.load_eval_set(HARD, "tune")
    report = evaluate.load_eval_set(HARD, "report")
    everything = evaluate.load_eval_set(HARD)
    assert {q.qid for q in tune.queries}.isdisjoint(q.qid for q in report.queries)
    assert len(tune.queries) + len(report.queries) == len(everything.queries) >= 120
    all_kinds = Counter(q.kind for q in everything.queries)
    assert set(all_kinds) == {"paraphrase", "task", "zh-en", "en-zh", "named", "short", "long"}
    tune_kinds = Counter(q.kind for q in tune.queries)
    assert all(tune_kinds[kind] == count // 2 for kind, count in all_kinds.items())


def test_split_needs_a_seed_and_a_known_name(tmp_path):
    unseeded = tmp_path / "q.yaml"
    unseeded.write_text("format: refsearch/queries@1\nqueries:\n  - query: a\n    relevant: [x]\n", "utf-8")
    with pytest.raises(SourceError, match="split_seed"):
        evaluate.load_eval_set(unseeded, "tune")
    assert len(evaluate.load_eval_set(unseeded, "all").queries) == 1
    with pytest.raises(RefsearchError, match="tune, report, all"):
        evaluate.load_eval_set(HARD, "train")


@pytest.mark.parametrize("kind", ["all", "", 3])
def test_reserved_or_empty_kind_is_refused(tmp_path, kind):
    path = tmp_path / "q.yaml"
    path.write_text("format: refsearch/queries@1\nqueries:\n"
                    f"  - query: a\n    kind: {json.dumps(kind)}\n    relevant: [x]\n", "utf-8")
    with pytest.raises(SourceError, match="kind"):
        evaluate.load_eval_set(path)


def test_metrics_are_reported_per_kind_and_overall():
    judged = [Judged("q1", "a", {"r1": 1}, "named"), Judged("q2", "b", {"r2": 1}, "named"),
              Judged("q3", "c", {"r3": 1}, "short")]
    report = evaluate.score("hybrid", judged, [["r1", "x"], ["x", "r2"], ["x", "y"]])
    by_kind = report.by_kind()
    assert list(by_kind) == ["all", "named", "short"]
    assert by_kind["named"]["mrr"] == pytest.approx(0.75) and by_kind["named"]["count"] == 2
    assert by_kind["short"]["mrr"] == 0.0
    assert by_kind["all"]["mrr"] == pytest.approx(1.5 / 3) == pytest.approx(report.summary()["mrr"])
    console = Console(record=True, width=200)
    print_eval(console, EvalSet("set", [], []), [report], lambda ref_id: ref_id)
    lines = console.export_text().splitlines()
    assert [line.split()[1] for line in lines if line.startswith("│ ") and "hybrid" in line] == ["all", "named", "short"]


def test_eval_command_reports_kinds_of_the_chosen_half(tmp_path, fake_encoder):
    refs = tmp_path / "refs.md"
    refs.write_text("# Test\n\n## Tools\n\n" + "".join(f"- [Entry {word}](https://example.org/{word}) - about {word}\n"
                                                   for word in ("kafka", "redis", "spark", "flink")), "utf-8")
    queries = tmp_path / "q.yaml"
    queries.write_text("format: refsearch/queries@1\nsources: [refs.md]\nsplit_seed: 1\nqueries:\n"
                       + "".join(f"  - query: {word}\n    kind: {kind}\n    relevant: [Entry {word}]\n"
                                 for word, kind in (("kafka", "short"), ("redis", "short"),
                                                    ("spark", "named"), ("flink", "named"))), "utf-8")
    result = CliRunner().invoke(app, ["eval", str(queries), "--split", "report", "--json",
                                      "--index", str(tmp_path / "idx")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["split"] == "report" and data["count"] == 2
    by_kind = data["modes"]["hybrid"]["by_kind"]
    assert {k: v["count"] for k, v in by_kind.items()} == {"all": 2, "named": 1, "short": 1}
    assert by_kind["all"]["mrr"] == 1.0  # each entry is the only one holding its word


def test_a_judged_page_and_title_finds_the_reference_its_duplicate_was_merged_into(tmp_path, fake_encoder):
    # the same work (title and year) on two pages is one reference, listed under the first file;
    # a query judged by reading the second page must still find it
    (tmp_path / "a.jsonl").write_text('{"title": "Attention Is All You Need", "year": 2017}\n', "utf-8")
    (tmp_path / "b.jsonl").write_text('{"title": "Attention is all you need", "year": 2017}\n'
                                      '{"title": "Other Work", "year": 2019}\n', "utf-8")
    queries = tmp_path / "q.yaml"
    queries.write_text("format: refsearch/queries@1\nsources: [a.jsonl, b.jsonl]\nqueries:\n"
                       "  - query: attention\n    relevant: [{page: b, title: attention is all you need}]\n"
                       "  - query: other\n    relevant: [{page: a, title: other work}]\n", "utf-8")
    eval_set = evaluate.load_eval_set(queries)
    index = evaluate.open_index(eval_set, tmp_path / "idx")
    merged = [r for r in index if r.title.casefold() == "attention is all you need"]
    assert len(merged) == 1 and merged[0].id.startswith("a/")
    assert evaluate.resolve(EvalSet("q", eval_set.queries[:1], []), index)[0].grades == {merged[0].id: 1}
    with pytest.raises(RefsearchError, match="matches nothing"):  # a page the work is not on
        evaluate.resolve(EvalSet("q", eval_set.queries[1:], []), index)
