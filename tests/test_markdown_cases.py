"""Markdown beyond `* [Title](url) - text`: the shapes hand-written reading lists take."""

from __future__ import annotations

import textwrap
from pathlib import Path

from refsearch.sources.markdown import parse_markdown


def md(text: str):
    return parse_markdown(textwrap.dedent(text), Path("list.md"))


def test_hard_wrapped_annotation_keeps_its_second_line():
    (ref,) = md("- [Alpha](https://a.example) - The first line of a note\n  that goes on here.\n")
    assert ref.note == "The first line of a note that goes on here."


def test_setext_headings_are_topics():
    refs = md("Reading List\n============\n\nPapers\n------\n- [A](https://a.example) - a\n")
    assert (refs[0].page, refs[0].topic) == ("Reading List", ("Papers",))


def test_a_heading_s_back_link_to_the_contents_is_not_its_name():  # book-of-secret-knowledge
    refs = md("# Book\n\n#### CLI Tools &nbsp;[<sup>[TOC]</sup>](#toc)\n\n- [A](https://a.example) - a\n\n"
              "## :black_small_square: Shells [toc]\n\n- [B](https://b.example) - b\n")
    assert [ref.topic for ref in refs] == [("CLI Tools",), ("Shells",)]


def test_reference_style_links():
    refs = md(
        """\
        ## Tools
        - [Docker Cheat Sheet][cheat] by [@wsargent][ws] - Everything in one page.
        - [Compose][] - Multi-container apps.
        - [shortcut] - Resolved too.

        [cheat]: https://github.com/wsargent/docker-cheat-sheet
        [ws]: https://github.com/wsargent
        [compose]: https://docs.docker.com/compose/
        [Shortcut]: https://short.example
        """
    )
    assert [(r.title, r.url, r.authors, r.note) for r in refs] == [
        ("Docker Cheat Sheet", "https://github.com/wsargent/docker-cheat-sheet", ("@wsargent",), "Everything in one page."),
        ("Compose", "https://docs.docker.com/compose/", (), "Multi-container apps."),
        ("shortcut", "https://short.example", (), "Resolved too."),
    ]


def test_html_anchor_items():
    refs = md(
        """\
        ## Shells
        <p>
        &nbsp;&nbsp;:small_orange_diamond: <a href="https://www.gnu.org/software/bash/"><b>GNU Bash</b></a> - is an sh-compatible shell.<br>
        &nbsp;&nbsp; <a href="https://x.example">no description</a><br>
        </p>

        - <a href="https://zsh.example">Zsh</a> - a shell for interactive use.
        """
    )
    assert [(r.title, r.url, r.note, r.topic) for r in refs] == [
        ("GNU Bash", "https://www.gnu.org/software/bash/", "is an sh-compatible shell.", ("Shells",)),
        ("Zsh", "https://zsh.example", "a shell for interactive use.", ("Shells",)),
    ]


def test_indented_code_blocks_are_not_indexed():
    refs = md("## A\n\nSome text.\n\n    - [In code](https://code.example) - hidden\n\n- [Real](https://r.example)\n")
    assert [r.title for r in refs] == ["Real"]


def test_table_cell_with_title_and_annotation():
    refs = md(
        """\
        | Resource | Level |
        |---|---|
        | [Deep Learning Book](https://dl.example) - The standard textbook. | advanced |
        | **[Dive into DL](https://d2l.example)**<br>Interactive, with code. | beginner |
        """
    )
    assert [(r.title, r.note) for r in refs] == [
        ("Deep Learning Book", "The standard textbook. · advanced"),
        ("Dive into DL", "Interactive, with code. · beginner"),
    ]


def test_numbered_reference_list_with_quoted_titles():
    refs = md(
        """\
        ## References

        **[1]** A. Vaswani, N. Shazeer and N. Parmar, "Attention Is All You Need," in NeurIPS, 2017. [[pdf](https://arxiv.org/abs/1706.03762)]
        **[2]** J. Devlin and M. Chang, “BERT: Pre-training of Deep Bidirectional Transformers,”
        in NAACL, 2019.
        """
    )
    assert [(r.title, r.authors, r.year, r.url) for r in refs] == [
        ("Attention Is All You Need", ("A. Vaswani", "N. Shazeer", "N. Parmar"), 2017, "https://arxiv.org/abs/1706.03762"),
        ("BERT: Pre-training of Deep Bidirectional Transformers", ("J. Devlin", "M. Chang"), 2019, None),
    ]
    assert refs[1].source == "list.md:4" and refs[1].note == "in NAACL, 2019"


def test_annotation_on_a_sub_bullet():
    refs = md(
        """\
        - [AFL](http://afl.example) by [Michal Zalewski](http://mz.example)
          + The original fuzzer, with genetic algorithms
        to increase coverage (http://paper.example).
        - [Angora](https://angora.example)
          + [Angora paper](https://paper.example)
        """
    )
    assert [(r.title, r.authors, r.note) for r in refs] == [
        ("AFL", ("Michal Zalewski",), "The original fuzzer, with genetic algorithms to increase coverage (http://paper.example)."),
        ("Angora", (), None),
        ("Angora paper", (), None),  # a linked sub-item is an entry of its own
    ]


def test_text_is_what_markdown_it_reads_not_a_guess_at_markup():
    """Unpaired `*` and `_` are text ("A*", "*nix", `Hyper_`), code keeps its underscores, and
    `<b>*</b>` shows a star: the entry rules read markdown-it's tokens, not the raw line."""
    refs = md(
        """\
        ## *nix & Network
        - [Hyper_](https://hyper.example) - Go implementation of the A* path finding algorithm.
        - [attrs](https://attrs.example) - Replacement for `__init__`, `__eq__`, etc.
        <p>
        &nbsp; <a href="https://c.example"><b>cipherli.st</b></a> - strong ciphers, and more.<b>*</b><br>
        </p>
        """
    )
    assert [(r.title, r.note, r.topic) for r in refs] == [
        ("Hyper_", "Go implementation of the A* path finding algorithm.", ("*nix & Network",)),
        ("attrs", "Replacement for __init__, __eq__, etc.", ("*nix & Network",)),
        ("cipherli.st", "strong ciphers, and more.*", ("*nix & Network",)),
    ]


def test_a_link_inside_code_is_not_a_link():
    refs = md(
        """\
        | Format | Styles |
        |---|---|
        | markdown | lists beyond `* [Title](url) - text` |
        | bibtex | [BibTeX](https://bibtex.example) |
        - Write items as `[Title](url) - note`.
        """
    )
    assert [(r.title, r.url) for r in refs] == [("BibTeX", "https://bibtex.example")]


def test_an_autolink_ends_at_its_angle_bracket():
    (ref,) = md("- <https://q.example>*draft*\n")
    assert (ref.title, ref.url, ref.note) == ("q.example", "https://q.example", "draft")


def test_reference_and_html_links_keep_their_url_as_written():
    refs = md(
        """\
        - [Wiki][zh] - 中文
        - <a href="https://a.example/?x=1&amp;y=2">A</a> - amp decoded

        [zh]: https://zh.wikipedia.org/wiki/中文
        """
    )
    assert [r.url for r in refs] == ["https://zh.wikipedia.org/wiki/中文", "https://a.example/?x=1&y=2"]


def test_lone_carriage_returns_are_line_breaks():
    refs = md("# P\r- a\r-  \n-\t- [B](https://b.example)\r")
    assert [(r.title, r.source) for r in refs] == [("B", "list.md:4")]
