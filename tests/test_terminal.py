"""Result lists in the terminal: wrapping by display columns (a Chinese character is two), and
colour only for a terminal that wants it."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings, strategies as st

from refsearch.terminal import Writer, cell_width, wrap

TEXT = st.text(st.sampled_from(list("ab xyz-.GPU") + ["特", "征", "存", "储", "，", "ガ", "é", "\u0301", "ｘ"]),
               max_size=120)


def test_cell_width_counts_wide_characters_twice_and_combining_marks_not_at_all():
    assert cell_width("GPU") == 3
    assert cell_width("特征存储") == 8
    assert cell_width("e\u0301") == 1
    assert cell_width("ＡＢ") == 4


@settings(max_examples=300, deadline=None)
@given(TEXT, st.integers(min_value=4, max_value=40))
def test_wrap_keeps_every_character_and_fits_the_width(text, width):
    lines = wrap(text, width)
    assert "".join("".join(lines).split()) == "".join(text.split())
    for line in lines:
        # only a single unbreakable word may be wider than the line
        assert cell_width(line) <= width or " " not in line and not any(cell_width(c) == 2 for c in line)


def test_wrap_breaks_chinese_between_characters_and_english_at_spaces():
    assert wrap("特征存储的开山之作", 8) == ["特征存储", "的开山之", "作"]
    assert wrap("GPU slicing and scheduling", 12) == ["GPU slicing", "and", "scheduling"]
    assert wrap("see https://example.org/a/very/long/path now", 10) == ["see", "https://example.org/a/very/long/path", "now"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_escape_codes_in_a_pipe_or_with_no_color(monkeypatch):
    assert Writer(io.StringIO()).highlight("GPU slicing", ["gpu"], "bold") == "GPU slicing"
    monkeypatch.setenv("NO_COLOR", "1")
    assert Writer(Terminal()).highlight("GPU slicing", ["gpu"], "bold") == "GPU slicing"


def test_a_terminal_gets_the_matched_terms_highlighted(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    out = Writer(Terminal(), width=40)
    assert out.color
    assert out.highlight("GPU slicing", ["slic", "gpu"]) == "\x1b[1;33mGPU\x1b[0m \x1b[1;33mslic\x1b[0ming"
    out.block("特征存储 feature store", 4, "italic", terms=["存储"], lead="1.  ")
    assert out.stream.getvalue() == "1.  \x1b[3m特征\x1b[0m\x1b[3;1;33m存储\x1b[0m\x1b[3m feature store\x1b[0m\n"


@pytest.mark.parametrize("width", [30, 80])
def test_a_block_wraps_with_a_hanging_indent(width):
    out = Writer(io.StringIO(), width=width)
    out.block("word " * 30, 4, lead=" 1. ")
    lines = out.stream.getvalue().splitlines()
    assert lines[0].startswith(" 1. word") and all(line.startswith("    word") for line in lines[1:])
    assert all(len(line) <= width for line in lines)


def test_an_abstract_preview_shows_the_words_around_a_late_match():
    from refsearch.render import snippet

    words = " ".join(f"w{n}" for n in range(200))
    assert snippet("short abstract") == "short abstract"
    assert snippet(words).startswith("w0 w1") and snippet(words).endswith(" …") and len(snippet(words)) <= 242
    late = snippet(words + " GPU slicing here " + words, ["slicing"])
    assert late.startswith("… ") and "GPU slicing here" in late and late.endswith(" …")
    assert snippet("Slicing early. " + words, ["slicing"]).startswith("Slicing early.")


def test_a_paper_without_a_note_shows_its_abstract_in_the_list_and_the_json():
    from refsearch.records import Reference
    from refsearch.render import hit_json, print_hits
    from refsearch.search import Hit

    abstract = "We study attention. " * 20 + "Slicing a GPU into instances isolates jobs. " + "More text. " * 20
    paper = Hit(1, Reference("lib/p", "A paper", "lib", abstract=abstract), 1.0, matched=["slicing"])
    noted = Hit(2, Reference("lib/q", "Noted", "lib", note="my note", abstract=abstract), 0.5, matched=["slicing"])
    out = Writer(io.StringIO(), width=100)
    print_hits(out, "gpu slicing", [paper, noted])
    shown = out.stream.getvalue()
    assert "… " in shown and "Slicing a GPU into instances" in shown
    assert shown.count("Slicing a GPU") == 1  # a note of the user's own comes first: no abstract then
    assert "Slicing a GPU into instances" in hit_json(paper)["snippet"]
    assert hit_json(Hit(1, Reference("lib/r", "No abstract", "lib"), 1.0))["snippet"] is None
