"""Identity before ids (dedupe.py, records.page_keys) and the names people use (Index.resolve)."""

from __future__ import annotations

from pathlib import Path

import pytest

from refsearch.errors import AmbiguousReference, NoMatch, UnknownReference
from refsearch.records import Reference, normalised_url, page_keys
from refsearch.sources import plan_sources, read_sources
from refsearch.sources.dedupe import DuplicatePlan, isbn13, work_keys


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def ref(title, source="a.bib:1", **fields) -> Reference:
    return Reference(id=f"p/{title}", title=title, page="p", source=source, **fields)


def test_page_keys_tell_same_named_files_apart():
    keys = page_keys([Path("/x/chrome/bookmarks.html"), Path("/x/firefox/bookmarks.html"), Path("/y/Lib.json"),
                      Path("/y/Lib.yaml"), Path("/z/awesome-go/README.md"), Path("/q/solo.md")])
    assert list(keys.values()) == ["chrome-bookmarks", "firefox-bookmarks", "Lib.json", "Lib.yaml", "awesome-go", "solo"]


def test_work_keys_strongest_first():
    paper = ref("Attention", doi="10.1/x", url="https://arxiv.org/abs/1706.03762v5", year=2017,
                extra={"pmid": "1", "isbn": "0-306-40615-2", "key": "vaswani2017"}, kind="book")
    assert work_keys(paper) == ["doi:10.1/x", "arxiv:1706.03762", "pmid:1", "isbn:9780306406157",
                                "url:arxiv.org/abs/1706.03762v5", "key:vaswani2017", "title:attention:2017"]
    assert "isbn:9780306406157" not in work_keys(ref("A chapter", kind="chapter", extra={"isbn": "0306406152"}))
    assert isbn13("978-0-306-40615-7") == "9780306406157" and isbn13("n/a") is None
    assert normalised_url("http://www.Example.org/a/index.html?utm_source=x&b=1#top") == "example.org/a?b=1"


def test_the_same_work_merges_and_different_works_sharing_an_id_are_reported():
    plan = DuplicatePlan()
    assert not plan.add((0, 0), ref("Attention Is All You Need", doi="10.1/x", year=2017))
    assert plan.add((1, 0), ref("Attention is all you need: transformers", doi="10.1/x", source="b.ris:3"))
    assert plan.add((1, 1), ref("ATTENTION IS ALL YOU NEED.", year=2017, source="b.ris:9"))  # title + year
    assert not plan.add((1, 2), ref("Proceedings of NeurIPS", doi="10.1/x", source="b.ris:20"))  # same DOI, other title
    assert [(c.key, c.first, c.second) for c in plan.conflicts] == [("doi:10.1/x", "a.bib:1", "b.ris:20")]
    assert not plan.add((2, 0), ref("Introduction", year=2019, authors=("Ann Lee",)))
    assert not plan.add((2, 1), ref("Introduction", year=2019, authors=("Bo Chen",)))  # another author: another work
    assert not plan.conflicts[1:]  # title keys never report


def test_merged_reference_keeps_the_richest_fields_and_says_where_they_came_from(tmp_path):
    write(tmp_path / "a.bib", "@article{vaswani2017, title = {Attention Is All You Need}, year = 2017,"
                              " doi = {10.5555/ABC}}\n")
    write(tmp_path / "b.ris", "TY  - JOUR\nTI  - Attention is all you need\nDO  - 10.5555/abc\nAU  - Vaswani, Ashish\n"
                              "AB  - The abstract.\nN1  - My own note.\nER  - \n")
    write(tmp_path / "c.bib", "@article{dup, title = {Attention Is All You Need}, doi = {10.5555/abc}}\n"
                              "@article{dup2, title = {Attention Is All You Need}, doi = {10.5555/abc}}\n")
    (merged,) = read_sources([tmp_path]).references
    assert merged.id == "a/attention-is-all-you-need" and merged.cite_key == "vaswani2017"
    assert (merged.authors, merged.abstract, merged.note) == (("Ashish Vaswani",), "The abstract.", "My own note.")
    assert merged.extra["from"] == {"authors": f"{tmp_path / 'b.ris'}:1", "abstract": f"{tmp_path / 'b.ris'}:1",
                                    "note": f"{tmp_path / 'b.ris'}:1"}
    assert merged.also_in == (f"{tmp_path / 'b.ris'}:1", f"{tmp_path / 'c.bib'}:1", f"{tmp_path / 'c.bib'}:2")


def test_two_exports_with_one_name_build_together(tmp_path):
    for browser in ("chrome", "firefox"):
        write(tmp_path / browser / "bookmarks.html", "<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n"
              f'<DT><A HREF="https://{browser}.example/">GitHub</A>\n'
              '<DT><A HREF="https://shared.example/x">Shared page</A>\n</DL>\n')
    plan = plan_sources([tmp_path])
    assert sorted(r.id for r in plan.references()) == ["chrome-bookmarks/github", "chrome-bookmarks/shared-page",
                                                        "firefox-bookmarks/github"]


@pytest.fixture
def library(tmp_path, fake_encoder):
    import refsearch

    write(tmp_path / "src" / "lib.bib", """\
@article{vaswani2017attention, title = {Attention Is All You Need}, year = 2017, doi = {10.48550/arXiv.1706.03762},
  author = {Vaswani, Ashish and Shazeer, Noam}}
@inproceedings{kwon2023vllm, title = {Efficient Memory Management for Large Language Model Serving with PagedAttention},
  year = 2023, url = {https://arxiv.org/abs/2309.06180}}
@misc{flash1, title = {FlashAttention: Fast and Memory-Efficient Exact Attention}, year = 2022}
@misc{flash2, title = {FlashAttention-2: Faster Attention with Better Parallelism}, year = 2023}
""")
    refsearch.build([tmp_path / "src"], tmp_path / "index")
    return refsearch.open(tmp_path / "index")


def test_show_and_related_take_the_names_people_use(library):
    for name in ("vaswani2017attention", "10.48550/arxiv.1706.03762", "https://doi.org/10.48550/ARXIV.1706.03762",
                 "attention-is-all-you-need", "Attention is all", "lib/attention-is-all-you-need"):
        assert library.resolve(name).cite_key == "vaswani2017attention", name
    assert library.resolve("http://arxiv.org/abs/2309.06180/").cite_key == "kwon2023vllm"
    assert library.resolve("efficient memory").cite_key == "kwon2023vllm"  # a unique title start
    with pytest.raises(AmbiguousReference, match="2 references match: flash1 .*; flash2"):
        library.resolve("flashattention")
    with pytest.raises(UnknownReference, match="no reference matches 'nothing like it'"):
        library.resolve("nothing like it")
    assert [s.ref.cite_key for s in library.related("kwon2023vllm", k=3)]  # related takes a key too


def test_a_filter_that_matches_nothing_says_what_exists(library):
    from refsearch import Filters

    assert library.search("attention", filters=Filters(kind="papers"))  # the vocabulary's plural
    with pytest.raises(NoMatch, match=r"no kind 'thesis'; kinds here: paper 2, web 0|no kind 'thesis'; kinds here: "):
        library.search("attention", filters=Filters(kind="thesis"))
    with pytest.raises(NoMatch, match=r"no reference from 1990; years here run 2017-2023\."):
        library.search("attention", filters=Filters(years=(1990, 1990)))
    with pytest.raises(NoMatch, match=r"no author contains 'Vaswany'; close: Ashish Vaswani"):
        library.search("attention", filters=Filters(author="Vaswany"))


def test_a_table_of_contents_is_never_references():
    from refsearch.sources.markdown import parse_markdown

    text = ("# Papers of the week\n\n"
            "- [Week 3 (July 17 - July 23)](https://github.com/o/papers#week-3-july-17---july-23)\n"
            "- [Week 2](./#week-2)\n- [Week 1](README.md#week-1)\n\n"
            "## Week 3 (July 17 - July 23)\n- [Llama 2](https://arxiv.org/abs/2307.09288#abs) - LLMs.\n"
            "## Week 2\n| **Paper** | **Links** |\n|---|---|\n"
            "| 1) **CM3leon** - images from text. | [Paper](https://ai.meta.com/x), [Tweet](https://x.com/y) |\n")
    refs = parse_markdown(text, Path("README.md"))
    assert [(r.title, r.url, r.note) for r in refs] == [
        ("Llama 2", "https://arxiv.org/abs/2307.09288#abs", "LLMs."),
        ("CM3leon", "https://ai.meta.com/x", "images from text.")]
    assert refs[1].extra["links"] == [{"text": "Tweet", "url": "https://x.com/y"}]


def test_a_query_that_is_a_title_finds_that_title_first():
    from types import SimpleNamespace

    from refsearch.search import _exact_title_first

    refs = [Reference(id=f"p/{n}", title=title, page="p", extra=extra) for n, (title, extra) in enumerate([
        ("The Law and Society Reader II", {}), ("Law and society", {}), ("Other", {"titles": ["The law and society reader."]})])]
    index = SimpleNamespace(reference=lambda row: refs[row])
    ranked = [(0, 0.9), (1, 0.8), (2, 0.5)]
    assert _exact_title_first(ranked, "The Law and Society Reader", index) == [(2, 0.9), (0, 0.9), (1, 0.8)]
    assert _exact_title_first(ranked, "law and SOCIETY", index) == [(1, 0.9), (0, 0.9), (2, 0.5)]
    assert _exact_title_first(ranked, "the law", index) == ranked  # a title's start is not its title
