"""The last step of reading any source: text a reader can show, the user's words apart from the database's.

Every parser hands its references through `tidy`, so one rule holds for every format:
- display text: the HTML, JATS and MathML tags exporters write (`<i>`, `<jats:p>`, `<mml:mi>`)
  become their text and entities are decoded (the standard library's html.unescape); LaTeX markup
  outside BibTeX (```quotes''`, `\\emph{}`) goes through pylatexenc as BibTeX's does; soft hyphens
  and zero-width spaces go, as do GitHub's `:star:` shortcodes and `[TOC]` markers. The raw value of
  a field that changed stays in `extra["raw"]`, so nothing a source said is lost;
- an export's note loses what databases and reference managers wrote into it (boilerplate.py): that
  goes to `extra["database_notes"]`, with what is useful mined from it (a citation key, PubMed and
  arXiv ids, a DOI, author keywords as tags); an abstract loses "Not Available" and a closing
  rights line;
- kinds are read through the vocabulary's synonyms (records.kind_name).
The patterns are gated by cheap character tests, so plain text (nearly all of it) costs a few
membership checks.
"""
from __future__ import annotations

import dataclasses
import html
import re

from refsearch.records import Reference, doi_of, kind_name
from refsearch.sources.boilerplate import SplitNote, split_abstract, split_note
from refsearch.sources.common import clean

_MARKUP_TAG = re.compile(
    r"</?(?:[a-z]+:)?(?:i|b|u|em|strong|sub|sup|sc|scp|br|p|div|span|a|font|small|big|tt|code|inf|title|sec|"
    r"list|list-item|italic|bold|math|m(?:i|o|n|row|sub|sup|frac|text|style|space|over|under|sqrt)|label)\b[^<>]*>",
    re.IGNORECASE)
_BLOCK_TAGS = {"br", "p", "div", "sec", "title", "list-item", "li", "label"}
_LATEX = re.compile(r"\\[A-Za-z]+\s*\{|\\[`'^\"~=.]|``|\{\\(?:em|it|bf|sc)\b")
_SHORTCODE = re.compile(r":[a-z][a-z0-9_+-]*:")  # its boundaries are checked by _no_shortcode
TOC_MARKER = re.compile(r"\[TOC\]", re.IGNORECASE)  # a back-link to the contents (markdown.py's headings too)
_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]+")
_ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


def tidy(ref: Reference, exported: bool = True) -> Reference:
    """`ref` with display text cleaned, boilerplate moved to `extra`, identifiers mined, kind named.
    `exported`: it comes from a reference manager's or database's export, whose notes may hold their
    boilerplate; a list's or the user's own file (Markdown, YAML, JSON Lines, bookmarks) says only
    what its author wrote, so its note and abstract are left whole (and a BEIR abstract costs no
    boilerplate scan)."""
    extra = dict(ref.extra)
    raw: dict[str, str] = {}

    def shown(name: str, value: str | None, lines: bool = False) -> str | None:
        text = display_text(value, lines)
        if value and (clean(text) if lines else text) != clean(value):
            raw[name] = value
        return text

    title, note_en, venue = shown("title", ref.title), shown("note_en", ref.note_en), shown("venue", ref.venue)
    note = shown("note", ref.note, lines=exported)
    split = split_note(note) if exported else SplitNote(note)
    abstract, cut = split_abstract(shown("abstract", ref.abstract)) if exported else (shown("abstract", ref.abstract), None)
    boilerplate = [*split.boilerplate, *([cut] if cut else [])]
    if boilerplate:
        extra["database_notes"] = [*extra.get("database_notes", ()), *boilerplate]
    for name, value in split.mined.items():
        if name != "doi":
            extra.setdefault(name, value)
    if raw:
        extra["raw"] = {**extra.get("raw", {}), **raw}
    return dataclasses.replace(
        ref,
        title=title or ref.title,
        note=clean(split.note),
        note_en=note_en,
        abstract=clean(abstract),
        venue=venue,
        doi=ref.doi or doi_of(split.mined.get("doi")),
        kind=kind_name(ref.kind),
        tags=tuple(dict.fromkeys((*ref.tags, *split.keywords))),
        extra=extra,
    )


def display_text(text: str | None, lines: bool = False) -> str | None:
    """`text` as a reader should see it (see the module docstring); `lines` keeps line breaks (a
    note's, which boilerplate.py splits on), else all whitespace becomes single spaces."""
    if not text:
        return None
    if "<" in text and _MARKUP_TAG.search(text):
        text = _without_tags(text)
    if "&" in text and _ENTITY.search(text):
        text = html.unescape(text)
    text = _INVISIBLE.sub("", text)  # before LaTeX: a soft hyphen inside a macro ("\\\u00ad`") hides it
    if ("\\" in text or "``" in text) and _LATEX.search(text):
        text = _INVISIBLE.sub("", latex_text(text))  # LaTeX's \- becomes a soft hyphen
    if ":" in text:
        text = _SHORTCODE.sub(_no_shortcode, text)
    if "[" in text:
        text = TOC_MARKER.sub("", text)
    if lines:
        return "\n".join(line for part in text.split("\n") if (line := _SPACES.sub(" ", part).strip())) or None
    return clean(text)


def _no_shortcode(found: re.Match[str]) -> str:
    """`:star:` standing alone goes; `std::vector::push` or `10:30:45` stay. (The boundaries are
    checked here, not in the pattern, so that the pattern starts with a literal the regex engine
    can skip to: a lookbehind first made it test every character of every abstract.)"""
    text, start, end = found.string, found.start(), found.end()
    alone = (start == 0 or not (text[start - 1].isalnum() or text[start - 1] in "_:/")) and (
        end == len(text) or not (text[end].isalnum() or text[end] in "_:/"))
    return "" if alone else found[0]


_latex_converter = None


def latex_text(value: str) -> str:
    """LaTeX markup to Unicode through pylatexenc (one converter per process, made on first use);
    BibTeX's reader uses it for every field with a backslash."""
    global _latex_converter
    if _latex_converter is None:
        import logging

        from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db

        # a macro short of its arguments (`\frac` at the end of an abstract) is logged to the
        # user's terminal, mid-build; it is handled below
        logging.getLogger("pylatexenc").setLevel(logging.CRITICAL)
        context = get_default_latex_context_db()  # it drops \texttt{x} and \textsc{x}: keep their text
        context.add_context_category("refsearch", prepend=True, macros=[
            MacroTextSpec(name, simplify_repl="%s") for name in _TEXT_MACROS])
        _latex_converter = LatexNodes2Text(latex_context=context, math_mode="text", strict_latex_spaces=True)
    try:
        text = _latex_converter.latex_to_text(value)
    except Exception:  # pylatexenc is tolerant by design; anything it still trips on stays as written
        return value.replace("{", "").replace("}", "")
    return text if "%s" in value else text.replace("%s", "")  # a bare \frac's template is "%s/%s"


_TEXT_MACROS = ("texttt", "textsc", "textsf", "textsl", "textup", "textmd", "textnormal")


def _without_tags(text: str) -> str:
    """HTML, JATS and MathML tags out (block tags become line breaks; entities are decoded after).
    Only an allow-list of the tags exporters write is removed: a tolerant HTML parser would also eat
    BibTeX's `<cit.>` placeholders and any `<name>` a user typed."""
    def replaced(tag: re.Match[str]) -> str:
        name = tag[0].strip("</>").split()[0].rpartition(":")[2].lower() if tag[0].strip("</>") else ""
        return "\n" if name in _BLOCK_TAGS else ""

    return _MARKUP_TAG.sub(replaced, text)
