"""Unit tests for the sources layer: each format, the seed page, file discovery and error messages."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from refsearch.errors import SourceError
from refsearch.sources import read_file, read_sources
from refsearch.discover import candidate_files
from refsearch.sources.jsonl import parse_jsonl
from refsearch.sources.markdown import parse_markdown
from refsearch.sources.yaml_source import parse_yaml

ROOT = Path(__file__).resolve().parents[1]
SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / "mlops-references.md"
BUNDLED_YAML = ROOT / "src" / "refsearch" / "bundled" / "mlops-references.yaml"


def md(text: str, name: str = "page.md"):
    return parse_markdown(textwrap.dedent(text), Path(name))


def by_title(refs):
    return {ref.title: ref for ref in refs}


def line_of(ref) -> int:
    return int(ref.source.rsplit(":", 1)[1])


# --- the seed page -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_refs():
    if not SEED.exists():
        pytest.skip("../shared/seed is not available")
    return read_file(SEED)


def test_seed_page_has_27_references_in_8_topics(seed_refs):
    assert len(seed_refs) == 27
    assert len({ref.topic for ref in seed_refs}) == 8
    assert all(len(ref.topic) == 1 for ref in seed_refs)
    assert {ref.page for ref in seed_refs} == {"参考资料 · ML 平台 / MLOps"}
    assert "Reference · 速查" not in by_title(seed_refs)


def test_seed_page_fields(seed_refs):
    refs = by_title(seed_refs)
    mig = refs["NVIDIA - Multi-Instance GPU (MIG)"]
    assert (mig.kind, mig.year, mig.topic, mig.note) == ("official-doc", None, ("训练编排 + GPU",), "GPU 切片调度。")
    debt = refs["Hidden Technical Debt in Machine Learning Systems"]
    assert (debt.year, debt.kind, debt.author) == (2015, "paper", "Google")
    assert "Continuous Delivery for Machine Learning (CD4ML)" in refs
    assert refs["Continuous Delivery for Machine Learning (CD4ML)"].author == "Martin Fowler"
    google = refs["Google MLOps: Continuous delivery and automation pipelines in machine learning"]
    assert (google.year, google.kind) == (2020, "official-doc")  # "2020+"
    tecton = refs["The Feature Store Architecture"]
    assert (tecton.kind, tecton.author) == ("blog", "Tecton")
    assert (refs["Made With ML"].kind, refs["Made With ML"].author) == ("blog/course", "Goku Mohandas")
    assert refs["Machine Learning Engineering for Production"].author == "Andrew Ng"
    assert mig.source.endswith("mlops-references.md:25")


def test_seed_page_matches_the_bundled_yaml(seed_refs):
    """The curated YAML is the same page: same ids, titles, notes, topics, years and kinds."""
    bundled = read_file(BUNDLED_YAML)
    keys = ("id", "title", "note", "topic", "year", "kind", "page")
    assert [[getattr(r, k) for k in keys] for r in seed_refs] == [[getattr(r, k) for k in keys] for r in bundled]


# --- Markdown: awesome-list shapes -------------------------------------------------------------


def test_awesome_item_styles():
    refs = md(
        """\
        # My List

        ## Tools
        * [Alpha](https://a.example) - Dash annotation.
        - [Beta](https://b.example): colon annotation
        - [Gamma](https://g.example)：全角冒号注释
        - [Delta](https://d.example) ![](https://img.shields.io/github/stars/x/y.svg) - Starred tool.
        - [Epsilon](https://e.example) - Uses [another tool](https://other.example) inside.
        - [Pending Review] [Zeta](./zeta.md)：待审核
        - 【Not finished】[Eta](./eta.md)：未完成
        """
    )
    refs = by_title(refs)
    assert set(refs) == {"Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta", "Eta"}
    assert (refs["Alpha"].url, refs["Alpha"].note) == ("https://a.example", "Dash annotation.")
    assert refs["Beta"].note == "colon annotation"
    assert refs["Gamma"].note == "全角冒号注释"
    assert refs["Delta"].note == "Starred tool."
    assert refs["Epsilon"].note == "Uses another tool inside."
    assert (refs["Zeta"].url, refs["Zeta"].note) == ("./zeta.md", "待审核")
    assert refs["Eta"].note == "未完成"
    assert all(ref.page == "My List" and ref.topic == ("Tools",) for ref in refs.values())


def test_numbered_items_with_backtick_tags():
    refs = md(
        """\
        ## Feature Stores
        1. [Zipline: Airbnb's ML Data Platform](https://youtu.be/x) `Airbnb` `2018`
        2. [Feast](https://feast.example) ([Code](https://github.com/feast-dev/feast)) `Gojek` `2019`
        3. [Photon](https://p.example) ([Paper](https://p.pdf), [Demo](https://demo)) `Salesforce`, `Intuit`\t`2020`
        """
    )
    zipline, feast, photon = refs
    assert (zipline.title, zipline.author, zipline.year, zipline.tags, zipline.note) == (
        "Zipline: Airbnb's ML Data Platform", "Airbnb", 2018, ("Airbnb",), None,
    )
    assert (feast.url, feast.author, feast.year, feast.note) == ("https://feast.example", "Gojek", 2019, None)
    assert (photon.tags, photon.year, photon.note) == (("Salesforce", "Intuit"), 2020, None)


def test_backticks_inside_an_annotation_are_not_tags():
    (ref,) = md("- [x](https://x.example) - wraps `context` for you `fast`\n")
    assert (ref.note, ref.tags, ref.author) == ("wraps context for you fast", (), None)


def test_nested_link_text_and_prefix_words():
    refs = md(
        """\
        - [[原创][深度][PyTorch] DDP系列第一篇：入门教程](https://zhuanlan.zhihu.com/p/1)：GIL 与 ring all reduce
        - More in [awful-ai](https://github.com/daviddao/awful-ai)
        """
    )
    assert [ref.title for ref in refs] == ["[原创][深度][PyTorch] DDP系列第一篇：入门教程", "More in awful-ai"]
    assert refs[0].note == "GIL 与 ring all reduce"


def test_table_of_contents_back_to_top_html_and_code_are_skipped():
    refs = md(
        """\
        # Awesome Thing [![Awesome](https://awesome.re/badge.svg)](https://awesome.re)

        <div align="center">
        - [Not an entry either? it is a list line inside HTML](https://html.example)
        </div>

        ## Contents
        - [Section](#section)
          - [Sub](#sub)

        <!-- a comment
        - [Commented](https://c.example) - hidden
        -->
        ## Section
        ```
        - [In code](https://code.example) - hidden
        ```
        $$
        - [In math](https://math.example)
        $$
        > - [Quoted](https://q.example) - hidden
        - [Real](https://real.example) - shown <!-- inline comment -->

        **[⬆ back to top](#contents)**
        <p align="center"><a href="https://x">[在线阅读]</a></p>
        """
    )
    titles = [ref.title for ref in refs]
    assert titles == ["Not an entry either? it is a list line inside HTML", "Real"]
    assert refs[0].page == "Awesome Thing"
    assert refs[1].note == "shown"
    assert refs[1].topic == ("Section",)


def test_heading_levels_and_link_less_items_as_sub_headings():
    refs = md(
        """\
        # [Awesome Python](https://awesome-python.com/)

        ## Projects

        **AI & ML**

        ### AI and Agents

        - Orchestration
          - [langchain](https://github.com/langchain-ai/langchain) - Building applications with LLMs.
          - [crewai](https://github.com/crewAIInc/crewAI) - Role-playing agents.
        - Speech
        \t- [whisper](https://github.com/openai/whisper) - Speech recognition.
        - [Linked parent](https://parent.example) - A parent with children.
          - [child](https://child.example) - A nested reference.
        - A lone link-less line

        ### Deep Learning
        - [pytorch](https://github.com/pytorch/pytorch) - Tensors.
        """
    )
    topics = {ref.title: ref.topic for ref in refs}
    assert topics == {
        "langchain": ("Projects", "AI and Agents", "Orchestration"),
        "crewai": ("Projects", "AI and Agents", "Orchestration"),
        "whisper": ("Projects", "AI and Agents", "Speech"),
        "Linked parent": ("Projects", "AI and Agents"),
        "child": ("Projects", "AI and Agents"),
        "pytorch": ("Projects", "Deep Learning"),
    }
    assert refs[0].page == "Awesome Python"


def test_table_rows_with_links():
    refs = md(
        """\
        ## Milestone Papers
        |   Date  |  keywords  |  Institute  | Paper |
        |:-------:|:----------:|:-----------:|-------|
        | 2017-06 | Transformers | Google | [Attention Is All You Need](https://arxiv.org/pdf/1706.03762.pdf) |
        | 2018-10 |    BERT    | Google | [BERT](https://aclanthology.org/N19-1423.pdf)   |
        | 2019-01 | no link    | Nobody | nothing here |

        | | |
        |-|-|
        | [🔧 AutoML](#automl) | [Data](#data) |
        """
    )
    assert [(r.title, r.year, r.authors, r.tags, r.note, r.topic) for r in refs] == [
        ("Attention Is All You Need", 2017, ("Google",), ("Transformers",), None, ("Milestone Papers",)),
        ("BERT", 2018, ("Google",), ("BERT",), None, ("Milestone Papers",)),
    ]
    assert refs[0].url == "https://arxiv.org/pdf/1706.03762.pdf"


def test_bare_url_items():
    refs = md(
        """\
        ## Open o1
        1. https://github.com/atfortes/Awesome-LLM-Reasoning
        2. Mini-R1: https://www.philschmid.de/mini-deepseek-r1
        3. Virgo：https://arxiv.org/abs/2501.01904
        """
    )
    assert [(r.title, r.url) for r in refs] == [
        ("github.com/atfortes/Awesome-LLM-Reasoning", "https://github.com/atfortes/Awesome-LLM-Reasoning"),
        ("Mini-R1", "https://www.philschmid.de/mini-deepseek-r1"),
        ("Virgo", "https://arxiv.org/abs/2501.01904"),
    ]


def test_pilcrow_headings_and_stem_fallback():
    refs = md(
        """\
        Page Title¶
        Reference · 速查
        First topic¶
        - A Paper (2023, paper - Org) —— note one
        Second topic¶
        - A Blog (blog) —— note two
        - Plain item without metadata
        """,
        name="wiki-export.md",
    )
    assert [(r.title, r.topic, r.page, r.kind) for r in refs] == [
        ("A Paper", ("First topic",), "Page Title", "paper"),
        ("A Blog", ("Second topic",), "Page Title", "blog"),
    ]
    (ref,) = md("## Only a section\n- [x](https://x.example)\n", name="my-notes.md")
    assert (ref.page, ref.topic, ref.id) == ("my-notes", ("Only a section",), "my-notes/x")


def test_ids_sources_and_repeated_titles():
    refs = md("# T\n\n- [Same](https://a)\n- [Same](https://b)\n- [Other](https://c)\n", name="list.md")
    assert [r.id for r in refs] == ["list/same", "list/same-2", "list/other"]
    assert [line_of(r) for r in refs] == [3, 4, 5]
    assert refs[0].source == "list.md:3"


def test_markdown_never_raises_on_odd_input():
    odd = "\n".join(
        [
            "```", "unclosed fence", "<!-- unclosed comment", "[[[[[[", "- [", "- [](", "- [a](", "| | |",
            "|-|", "#", "####### seven", "- (2020, paper) ——", "- ——", "1. <https://", "- ![](x)", "¶",
        ]
    )
    for text in (odd, odd.replace("```", "~~~"), "- [a](b) " * 500, "[" * 5000 + "](" * 5000):
        assert isinstance(md(text), list)


# --- YAML --------------------------------------------------------------------------------------

GOOD_YAML = """\
format: refsearch/references@1
page: 参考资料
page_en: References
notes:
  - text: 速查
    text_en: quick lookup
topics:
  - name: 训练
    name_en: Training
    references:
      - title: 1984
        year: 1949
        kind: Book
        tags: [classic, fiction]
        note: 笔记
        note_en: a note
      - title: Taken Title
        id: refs/taken-title
    topics:
      - name: GPU
        references:
          - title: Taken Title
            url: https://example.com
  - name: English only
    references:
      - title: yes
"""


def test_yaml_reads_every_field():
    refs = parse_yaml(GOOD_YAML, Path("data/refs.yaml"))
    assert [r.id for r in refs] == ["refs/1984", "refs/taken-title", "refs/taken-title-2", "refs/yes"]
    first = refs[0]
    assert (first.title, first.year, first.kind, first.tags, first.note, first.note_en) == (
        "1984", 1949, "book", ("classic", "fiction"), "笔记", "a note",
    )
    assert (first.page, first.topic, first.topic_en) == ("参考资料", ("训练",), ("Training",))
    assert first.source == "data/refs.yaml:11"
    assert (refs[2].topic, refs[2].topic_en, refs[2].url) == (("训练", "GPU"), ("Training", "GPU"), "https://example.com")
    assert (refs[3].title, refs[3].topic, refs[3].topic_en) == ("yes", ("English only",), ())


def test_yaml_key_sets_the_id_prefix_and_bundled_file_reads():
    refs = parse_yaml(GOOD_YAML.replace("page_en:", "key: my-key\npage_en:"), Path("x.yaml"))
    assert refs[0].id == "my-key/1984"
    bundled = read_file(BUNDLED_YAML)
    assert len(bundled) == 27 and len({r.id for r in bundled}) == 27


HEADER = "format: refsearch/references@1\npage: P\ntopics:\n  - name: T\n    references:\n"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("", 1, "empty file"),
        ("page: P\n", 1, "missing 'format"),
        ("format: refsearch/references@2\npage: P\n", 1, "unsupported format"),
        ("queries: []\nformat: refsearch/queries@1\n", 2, "unsupported format 'refsearch/queries@1'"),
        ("format: refsearch/references@1\n", 1, "no 'page'"),
        (HEADER + "      - title: t\n        yaer: 2015\n", 7, "unknown key 'yaer'"),
        (HEADER + "      - year: 2015\n", 6, "no 'title'"),
        (HEADER + "      - title: t\n        year: 2020+\n", 7, "'year' must be a whole number"),
        (HEADER + "      - title: t\n        year: true\n", 7, "'year' must be a whole number"),
        (HEADER + "      - title: t\n        tags: foo\n", 7, "'tags' must be a list"),
        (HEADER + "      - title: [a, b]\n", 6, "'title' must be text"),
        (HEADER + "      - title: t\n     bad: [\n", 7, "invalid YAML"),
        ("format: refsearch/references@1\npage: P\npage: Q\n", 3, "duplicate key 'page'"),
        ("format: refsearch/references@1\npage: P\ntopics: &t\n  - name: a\n    topics: *t\n", 3, "YAML alias"),
        ("- a\n- b\n", 1, "must be a mapping"),
        ("format: refsearch/references@1\npage: P\ntopics: {name: x}\n", 3, "'topics' must be a list"),
        ("a: 1\n---\nb: 2\n", 2, "single document"),
        ("format: refsearch/references@1\npage: \x07\n", 2, "special characters"),
    ],
)
def test_yaml_errors_name_file_and_line(text, line, words):
    with pytest.raises(SourceError) as caught:
        parse_yaml(text, Path("refs/bad.yaml"))
    message = str(caught.value)
    assert message.startswith(f"refs/bad.yaml:{line}: "), message
    assert words in message
    assert "\n" not in message


def test_yaml_deep_nesting_is_a_source_error():
    with pytest.raises(SourceError, match="nested too deeply"):
        parse_yaml("format: refsearch/references@1\npage: P\ntopics: " + "[" * 3000 + "]" * 3000, Path("deep.yaml"))


# --- JSON Lines --------------------------------------------------------------------------------


def test_jsonl_fields_and_extra():
    text = "\n".join(
        [
            '{"_id": "4983", "title": "Microstructural development", "text": "Abstract.", "metadata": {"a": 1}}',
            "",
            '{"title": "Second", "note": "n", "text": "t", "year": "2019", "kind": "Paper", "topic": "ML",'
            ' "tags": ["x"], "url": "https://s.example", "author": "A"}',
            '{"title": "Second", "id": 7}',
        ]
    )
    first, second, third = parse_jsonl(text, Path("corpus.jsonl"))
    assert (first.id, first.page, first.note, first.extra, first.source) == (
        "4983", "corpus", "Abstract.", {"metadata": {"a": 1}}, "corpus.jsonl:1",
    )
    assert (second.id, second.note, second.year, second.kind, second.topic, second.tags, second.extra) == (
        "corpus/second", "n", 2019, "paper", ("ML",), ("x",), {"text": "t"},
    )
    assert (second.url, second.author, second.source) == ("https://s.example", "A", "corpus.jsonl:3")
    assert (third.id, third.title) == ("7", "Second")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('{"title": "ok"}\n{"title": "x",\n', 2, "not valid JSON"),
        ('{"title": "ok"}\n\n[1, 2]\n', 3, "expected a JSON object"),
        ('{"title": "ok"}\n{"text": "no title"}\n', 2, 'missing "title"'),
        ('{"title": "   ", "note": "n"}\n', 1, 'missing "title"'),
        ('{"title": "x", "year": "soon"}\n', 1, '"year" must be a whole number'),
        ('{"title": "x", "tags": "a", "topic": [1]}\n', 1, '"topic" must be a string or a list'),
        ('{"title": ["x"]}\n', 1, '"title" must be a string'),
        ('{"title": "\\ud800"}\n', 1, "lone surrogate"),
    ],
)
def test_jsonl_errors_name_file_and_line(text, line, words):
    with pytest.raises(SourceError) as caught:
        parse_jsonl(text, Path("d/refs.jsonl"))
    assert str(caught.value).startswith(f"d/refs.jsonl:{line}: ")
    assert words in str(caught.value)


# --- files: discovery, decoding, duplicates ----------------------------------------------------


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_candidate_files_walks_directories(tmp_path):
    for name in ("b/list.md", "a/refs.yaml", "a/x.yml", "c.jsonl", "d.markdown", "notes.txt", ".git/x.md",
                 "b/.hidden/y.md", "b/.draft.md", "e/README.MD", "f/logo.png", "LICENSE"):
        write(tmp_path / name, "")
    found = candidate_files([tmp_path, tmp_path / "c.jsonl"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a/refs.yaml", "a/x.yml", "b/list.md", "c.jsonl", "d.markdown", "e/README.MD", "notes.txt",
    ]


def test_candidate_files_errors(tmp_path):
    write(tmp_path / "notes.docx", "x")
    write(tmp_path / "notes.txt", "just some notes\n")
    with pytest.raises(SourceError, match=r"notes\.docx: unsupported file type '\.docx'"):
        candidate_files([tmp_path / "notes.docx"])
    with pytest.raises(SourceError, match=r"missing\.md: no such file"):
        candidate_files([tmp_path / "missing.md"])
    with pytest.raises(SourceError, match=r"notes\.txt: text that is not a RIS export"):
        read_file(tmp_path / "notes.txt")


def test_read_file_decoding(tmp_path):
    bom = write(tmp_path / "bom.md", "\ufeff# Title\n- [x](https://x.example)\n".encode("utf-8"))
    assert [(r.page, r.title) for r in read_file(bom)] == [("Title", "x")]
    latin = write(tmp_path / "latin.md", "# ok\n- fine\n- caf\xe9\n".encode("latin-1"))
    with pytest.raises(SourceError, match=r"latin\.md:3: not valid UTF-8"):
        read_file(latin)
    binary = write(tmp_path / "image.jsonl", b'{"title": "x"}\n\x89PNG\x00\x00')
    with pytest.raises(SourceError, match=r"image\.jsonl:2: binary file"):
        read_file(binary)
    crlf = write(tmp_path / "crlf.jsonl", b'{"title": "a"}\r\n\r\n{"title": "b"}\r\n')
    assert [line_of(r) for r in read_file(crlf)] == [1, 3]


def test_read_sources_order_and_duplicates(tmp_path):
    write(tmp_path / "b.jsonl", '{"title": "From B", "id": "shared"}\n')
    write(tmp_path / "a.md", "# A\n- [From A](https://a.example)\n")
    assert [r.title for r in read_sources([tmp_path]).references] == ["From A", "From B"]
    write(tmp_path / "c.yaml", HEADER + "      - title: t\n      - title: again\n        id: shared\n")
    with pytest.raises(SourceError) as caught:
        read_sources([tmp_path])
    message = str(caught.value)
    assert "duplicate id 'shared'" in message
    assert f"{tmp_path / 'c.yaml'}:7" in message and f"{tmp_path / 'b.jsonl'}:1" in message


def test_read_sources_refuses_a_recognised_file_it_cannot_read(tmp_path):
    write(tmp_path / "a.md", "- [fine](https://a.example)\n")
    write(tmp_path / "b.jsonl", "not json\n")
    with pytest.raises(SourceError, match=r"b\.jsonl:1"):
        read_sources([tmp_path])


def test_repeated_titles_get_numbered_ids_around_explicit_ones():
    lines = ['{"title": "Same"}', '{"id": "notes/same-2", "title": "Other"}'] + ['{"title": "Same"}'] * 3000
    ids = [ref.id for ref in parse_jsonl("\n".join(lines), Path("notes.jsonl"))]
    assert ids[:4] == ["notes/same", "notes/same-2", "notes/same-3", "notes/same-4"]
    assert len(set(ids)) == len(ids) and ids[-1] == "notes/same-3002"


def test_awesome_lists_side_by_side_get_distinct_ids(tmp_path):
    for name, url in (("awesome-a", "https://tensorflow.org"), ("awesome-b", "https://github.com/tensorflow")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "README.md").write_text(f"## Tools\n\n* [TensorFlow]({url}) - ML.\n", encoding="utf-8")
    refs = read_sources([tmp_path]).references
    assert sorted(ref.id for ref in refs) == ["awesome-a/tensorflow", "awesome-b/tensorflow"]
    assert {ref.page for ref in refs} == {"awesome-a", "awesome-b"}
