"""Hostile source files, one family per format, each a function of a size `n`: what a second
hostile pass (issue 24) found, recreated from its descriptions, and the shapes around them that make
a parser's time or memory grow faster than its input (deep nesting, unclosed openers, long runs of
one delimiter, macros and crossref that copy text).

`GROWING` is grown by the linearity tests (tests/test_hostile_sources.py); `FILES` are the files of
the pass at the size it used, built once each through the CLI."""

from __future__ import annotations

import json

ENTRY = "- [KServe](https://kserve.io) - Kubernetes model serving\n"


def _md(line: str) -> str:
    """A Markdown list with one good entry and `line` as another item's note."""
    return f"# Hostile\n\n{ENTRY}- [Title](https://example.org) - {line}\n"


def bibtex_string_bomb(levels: int) -> str:
    """`@string{a0 = "GPUs"}`, then each macro twice the one before, used as a title: 2^levels."""
    lines = ['@string{a0 = "GPUs"}', *(f"@string{{a{i} = a{i - 1} # a{i - 1}}}" for i in range(1, levels + 1))]
    return "\n".join([*lines, f"@article{{bomb, title = a{levels}, year = 2020}}", ""])


def bibtex_wide_macro(n: int) -> str:
    """One macro of n characters used by n/10 entries: each entry copies it."""
    return f'@string{{big = "{"x" * n}"}}\n' + "".join(f"@misc{{e{i}, title = big}}\n" for i in range(n // 10))


def bibtex_crossref_fan(n: int) -> str:
    """A parent with a long abstract and many children that crossref it: each inherits a copy."""
    parent = f"@proceedings{{p, title = {{Proc}}, abstract = {{{'word ' * 19_000}}}}}\n"
    return parent + "".join(f"@inproceedings{{c{i}, title = {{T{i}}}, crossref = {{p}}}}\n" for i in range(n // 20))


def bibtex_braces(n: int) -> str:
    return "@article{x, title = {" + "{" * n + "a" + "}" * n + "}}\n"


def bibtex_unclosed(n: int) -> str:
    return "".join(f"@article{{k{i}, title = {{unclosed\n" for i in range(n // 25)) + "@article{ok, title={Fine}}\n"


def bibtex_latex(n: int) -> str:
    return "@article{x, title = {" + "\\'e\\textbf{" * (n // 12) + "}" * (n // 12) + "}}\n"


def markdown_backticks(n: int) -> str:
    """A note of n backticks (the pass: 500,000 hung a build for over 100 s)."""
    return _md("`" * n)


def markdown_backtick_runs(n: int) -> str:
    """Runs of growing length, none closed: `` ` `` `` `` `` ``` ``` ..."""
    runs, size, length = [], 0, 1
    while size < n:
        runs.append("`" * length + "a")
        size, length = size + length + 1, length + 1
    return _md("".join(runs))


def markdown_nested_links(n: int) -> str:
    """`[a](` repeated: links nested n deep (the pass: 50,000 deep peaked at 6 GB)."""
    return _md("[a](" * n)


def markdown_open_brackets(n: int) -> str:
    return _md("[" * n + "x" + "]" * n)


def markdown_emphasis(n: int) -> str:
    return _md("*a_" * (n // 3))


def markdown_images(n: int) -> str:
    return _md("![" * (n // 2))


def markdown_angle(n: int) -> str:
    return _md("<a" * (n // 2))


def markdown_html_links(n: int) -> str:
    return _md('<a href="x">' * (n // 12))


def markdown_reference_links(n: int) -> str:
    return _md("[a][b]" * (n // 6)) + "\n[b]: https://example.org\n"


def markdown_quotes(n: int) -> str:
    return "# Q\n\n" + ">" * n + " [T](https://example.org) - x\n"


def markdown_lists(n: int) -> str:
    return "# L\n\n" + "".join("  " * depth + "- [T](https://example.org)\n" for depth in range(n // 40))


def markdown_table(n: int) -> str:
    return "# T\n\n| a | b |\n|---|---|\n" + "|[T](https://x.org)" * (n // 18) + "|\n"


def markdown_seed_parens(n: int) -> str:
    return _md("(" * n + " —— note")


def ris_long(n: int) -> str:
    return "TY  - JOUR\n" + "".join(f"AU  - Author {i}\n" for i in range(n // 16)) + "TI  - x\nER  - \n"


def ris_many(n: int) -> str:
    return "".join("TY  - JOUR\nTI  - x\n" for _ in range(n // 20)) + "ER  - \n"


def csl_nested(n: int) -> str:
    return '[{"title": "x", "type": "article", "note": ' + "[" * n + "]" * n + "}]"


def csl_wide(n: int) -> str:
    return json.dumps([{"id": f"i{i}", "title": f"T{i}", "type": "article", "author": [{"family": "A"}] * 3}
                       for i in range(n // 80)])


def yaml_nested(n: int) -> str:
    return "format: refsearch/references@1\npage: P\ntopics:\n  - name: T\n    references:\n" \
           "      - {title: x, note: " + "[" * n + "]" * n + "}\n"


def bookmarks_nested(n: int) -> str:
    return "<!DOCTYPE NETSCAPE-Bookmark-file-1>\n" + "<DL><p><DT><H3>f</H3>\n" * (n // 23) + \
           '<DT><A HREF="https://example.org">x</A>\n'


def bookmarks_unclosed(n: int) -> str:
    return "<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n" + '<DT><A HREF="https://e.org/' * (n // 30) + "\n"


def jsonl_nested(n: int) -> str:
    return '{"title": "x", "note": ' + "[" * n + "]" * n + "}\n"


def jsonl_rows(n: int) -> str:
    return "".join(json.dumps({"title": f"T{i}", "year": 2020, "tags": ["a", "b"]}) + "\n" for i in range(n // 50))


GROWING = {  # name -> (suffix, text of size about n)
    "bibtex-wide-macro": (".bib", bibtex_wide_macro),
    "bibtex-crossref-fan": (".bib", bibtex_crossref_fan),
    "bibtex-braces": (".bib", bibtex_braces),
    "bibtex-unclosed": (".bib", bibtex_unclosed),
    "bibtex-latex": (".bib", bibtex_latex),
    "markdown-backticks": (".md", markdown_backticks),
    "markdown-backtick-runs": (".md", markdown_backtick_runs),
    "markdown-nested-links": (".md", lambda n: markdown_nested_links(n // 4)),
    "markdown-open-brackets": (".md", lambda n: markdown_open_brackets(n // 2)),
    "markdown-emphasis": (".md", markdown_emphasis),
    "markdown-images": (".md", markdown_images),
    "markdown-angle": (".md", markdown_angle),
    "markdown-html-links": (".md", markdown_html_links),
    "markdown-reference-links": (".md", markdown_reference_links),
    "markdown-quotes": (".md", markdown_quotes),
    "markdown-lists": (".md", markdown_lists),
    "markdown-table": (".md", markdown_table),
    "markdown-seed-parens": (".md", markdown_seed_parens),
    "ris-long": (".ris", ris_long),
    "ris-many": (".ris", ris_many),
    "csl-nested": (".json", lambda n: csl_nested(n // 2)),
    "csl-wide": (".json", csl_wide),
    "yaml-nested": (".yaml", lambda n: yaml_nested(n // 2)),
    "bookmarks-nested": (".html", bookmarks_nested),
    "bookmarks-unclosed": (".html", bookmarks_unclosed),
    "jsonl-nested": (".jsonl", lambda n: jsonl_nested(n // 2)),
    "jsonl-rows": (".jsonl", jsonl_rows),
}


def csl_lone_surrogate(_: int = 0) -> str:
    return '[{"id": "a", "type": "article", "title": "GPU \\ud800 slicing"}]\n'


def jsonl_long_year(digits: int = 5000) -> str:
    return '{"title": "GPU slicing", "year": ' + "9" * digits + "}\n"


def bibtex_unbalanced(_: int = 0) -> str:
    return ("@article{good, title={Good one}, year=2020}\n@article{bad, title={Unbalanced {brace}, year=2021}\n"
            "@article{good2, title={Fine}, year=2022}\n")


FILES = {  # name -> (file name, text): the files of the pass, at the sizes it used
    "bibtex-string-bomb-30": ("bomb30.bib", bibtex_string_bomb(30)),
    "bibtex-string-bomb-60": ("bomb60.bib", bibtex_string_bomb(60)),
    "bibtex-crossref-fan": ("fan.bib", bibtex_crossref_fan(1_000_000)),
    "bibtex-unbalanced": ("unbalanced.bib", bibtex_unbalanced()),
    "markdown-backticks-500k": ("backticks.md", markdown_backticks(500_000)),
    "markdown-nested-links-50k": ("links.md", markdown_nested_links(50_000)),
    "markdown-nested-links-1mb": ("links1mb.md", markdown_nested_links(1_000_000 // 4)),
    "markdown-open-brackets-1mb": ("brackets.md", markdown_open_brackets(500_000)),
    "csl-lone-surrogate": ("surrogate.json", csl_lone_surrogate()),
    "jsonl-5000-digit-year": ("year.jsonl", jsonl_long_year()),
}
