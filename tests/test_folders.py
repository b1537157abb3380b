"""Folders as people have them: what is skipped (and said), what is refused, duplicates merged, limits."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from refsearch.errors import SourceError
from refsearch.sources import read_file, read_sources, skipped_summary
from refsearch.discover import candidate_files
from refsearch.sources.markdown import parse_markdown


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_awesome_list_repository_builds_with_a_skip_summary(tmp_path):
    repo = tmp_path / "awesome-x"
    write(repo / "README.md", "# Awesome X\n\n## Tools\n- [Alpha](https://a.example) - The first tool.\n")
    write(repo / "mkdocs.yml", "site_name: Awesome X\nnav:\n  - Home: index.md\n")
    write(repo / ".github" / "workflows" / "x.yml", "on: push\njobs: {}\n")
    write(repo / "LICENSE", "MIT License\n")
    write(repo / "CONTRIBUTING.md", "# Contributing\n\nPlease read the guidelines before opening a pull request.\n")
    write(repo / "logo.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    read = read_sources([repo])
    assert [ref.title for ref in read.references] == ["Alpha"]
    skipped = {path.name: reason for path, reason in read.skipped}
    assert set(skipped) == {"mkdocs.yml", "LICENSE", "CONTRIBUTING.md", "logo.png"}  # .github is hidden
    assert "format: refsearch/references@1" in skipped["mkdocs.yml"]
    assert skipped["CONTRIBUTING.md"] == "no entries found in it"
    assert skipped_summary(read) == "skipped 4 files that are not reference lists; --verbose lists them"


def test_awesome_list_repository_build_reports_the_skip_line(tmp_path, fake_encoder):
    import refsearch

    write(tmp_path / "repo" / "README.md", "## Tools\n- [Alpha](https://a.example) - The first tool.\n")
    write(tmp_path / "repo" / "mkdocs.yml", "site_name: X\n")
    write(tmp_path / "repo" / "LICENSE", "MIT\n")
    report = refsearch.build([tmp_path / "repo"], tmp_path / "index")
    assert report.total == 1
    assert report.notes == ["skipped 2 files that are not reference lists; --verbose lists them"]
    assert sorted(path.name for path, _ in report.skipped) == ["LICENSE", "mkdocs.yml"]


def test_recognised_file_that_cannot_be_read_is_still_an_error(tmp_path):
    write(tmp_path / "README.md", "- [A](https://a.example)\n")
    write(tmp_path / "refs.yaml", "format: refsearch/references@1\npage: P\ntopics: [\n")
    with pytest.raises(SourceError, match=r"refs\.yaml:\d+: invalid YAML"):
        read_sources([tmp_path])


def test_gitignored_hidden_and_index_directories_are_not_sources(tmp_path):
    write(tmp_path / ".gitignore", "drafts/\n*.tmp.md\n")
    write(tmp_path / "list.md", "- [A](https://a.example)\n")
    write(tmp_path / "drafts" / "x.md", "- [B](https://b.example)\n")
    write(tmp_path / "scratch.tmp.md", "- [C](https://c.example)\n")
    write(tmp_path / "index" / "CURRENT", "gen-1")
    write(tmp_path / "index" / "gen-1" / "records.md", "- [D](https://d.example)\n")
    write(tmp_path / "old-index" / "gen-3" / "notes.md", "- [E](https://e.example)\n")
    assert [p.name for p in candidate_files([tmp_path])] == ["list.md"]
    with pytest.raises(SourceError, match="is a refsearch index"):
        candidate_files([tmp_path / "index"])


def test_discover_imports_no_parser():
    """The freshness check runs before every query: finding the files must not import a reader."""
    import subprocess
    import sys

    code = ("import sys, refsearch.discover; "
            "print(sorted(m for m in sys.modules if m.startswith(('yaml', 'bibtexparser', 'rispy', 'markdown_it', "
            "'refsearch.sources'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_same_work_in_two_files_is_one_reference(tmp_path):
    write(tmp_path / "a.bib", "@article{k, title = {Attention Is All You Need}, year = 2017, doi = {10.5555/ABC}}\n")
    write(tmp_path / "b.ris", "TY  - JOUR\nTI  - Attention is all you need.\nPY  - 2017\nAB  - The abstract.\nER  - \n")
    write(tmp_path / "c.md", "- [Other paper](https://x.example) `2017`\n- [TensorFlow](https://tf.example)\n"
                             "- [TensorFlow](https://tf.other.example) - another page: not the same work\n")
    write(tmp_path / "d.md", "- [TensorFlow](http://www.tf.example/) - the same page: merged\n")
    refs = read_sources([tmp_path]).references
    attention = [ref for ref in refs if ref.title.lower().startswith("attention")]
    assert len(attention) == 1
    (merged,) = attention
    assert merged.id == "a/attention-is-all-you-need" and merged.doi == "10.5555/abc"
    assert merged.also_in == (f"{tmp_path / 'b.ris'}:1",) and merged.abstract == "The abstract."
    tensorflow = [ref for ref in refs if ref.title == "TensorFlow"]
    assert sorted((ref.url, ref.note) for ref in tensorflow) == [
        ("https://tf.example", "the same page: merged"), ("https://tf.other.example", "another page: not the same work")]
    assert read_sources([tmp_path]).references == refs  # same sources, same ids


def test_year_limits_and_field_types(tmp_path):
    with pytest.raises(SourceError, match=r"y\.jsonl:1: year 20199 is outside 1000\.\.2100"):
        read_file(write(tmp_path / "y.jsonl", '{"title": "x", "year": 20199}\n'))
    with pytest.raises(SourceError, match=r't\.jsonl:2: "title" must be a string, found a number'):
        read_file(write(tmp_path / "t.jsonl", '{"title": "ok"}\n{"title": 42}\n'))
    (ref,) = read_file(write(tmp_path / "b.bib", "@book{k, title = {Old}, year = {0999}}\n"))
    assert ref.year is None  # imported formats drop an impossible year instead of refusing the file
    refs = parse_markdown("- []()\n- [](https://x.example/a)\n- [ok]()\n", Path("e.md"))
    assert [(ref.title, ref.url) for ref in refs] == [("x.example/a", "https://x.example/a"), ("ok", None)]


def test_limits_fail_fast_with_a_clear_message(tmp_path):
    with pytest.raises(SourceError, match=r"t\.jsonl:1: title is 1,001 characters long \(limit 1,000\)"):
        read_file(write(tmp_path / "t.jsonl", '{"title": "%s"}\n' % ("x" * 1001)))
    with pytest.raises(SourceError, match=r"n\.jsonl:1: note is 20,001 characters"):
        read_file(write(tmp_path / "n.jsonl", '{"title": "t", "note": "%s"}\n' % ("x" * 20_001)))
    big = write(tmp_path / "big.md", "[" * (50 * 1024 * 1024 - 10))
    started = time.perf_counter()
    with pytest.raises(SourceError, match=r"big\.md:1: line is 52,428,790 characters long"):
        read_file(big)
    assert time.perf_counter() - started < 5
    huge = write(tmp_path / "huge.md", b"")
    with huge.open("r+b") as handle:
        handle.truncate(50 * 1024 * 1024 + 1)
    with pytest.raises(SourceError, match=r"huge\.md: file is 50 MB \(limit 50 MB\)"):
        read_file(huge)
