"""BibTeX and BibLaTeX libraries (Zotero/Better BibTeX, JabRef, Mendeley, Papers, hand-written).

Parser choice, measured on the 16 files in ../shared/formats/bibtex (14,904 entries):
- bibtexparser 2.x splits every file; of the 988 entries PROVENANCE.txt counts in the planning
  bibliography it finds all 988 (15 with a repeated key, which it hands back as
  DuplicateBlockKeyBlock and we keep: a repeated or empty key is the exporter's slip, not a reason
  to lose the entry), all 512 of the Mendeley export and all 323 of the empty-key list; in the
  Papers3 export it refuses 23 of 3,725 entries whose braces do not balance (`{{\\&} Sons`), which
  we skip with a warning naming each line. Splitting the 7,166-entry file takes 0.9 s.
- pybtex (non-strict) loses 321 of the 988 planning entries and 16 of the 7,166, keeps the
  unbalanced Papers3 entries only by swallowing the text up to the next entry, and takes 2.3 s on
  the 7,166-entry file.
So bibtexparser splits. Its default middleware is not used: string resolution there replaces only
whole values, not `#` concatenations, and its LaTeX decoding runs on every field (file paths and
URLs included) at 13 s for the Papers3 file. Instead `_expand` resolves `@string` macros and `#`
on the fields we keep, and pylatexenc turns the LaTeX in them into Unicode (values without a
backslash or `$` only lose their case-protecting braces, which is all pylatexenc would do).

Field mapping (docs/schema.md): annotation from `annote`, `annotation`, `note` (every distinct one,
in that order; Zotero's "ZSCC: 0000023" citation counts are not annotations and are dropped);
`abstract` apart; `keywords` and `mendeley-tags` are tags; `crossref` fills missing fields from the
parent (its title becomes the child's `booktitle`). Topics: JabRef groups where the file has them
(the first group's path is the topic, further groups become tags). Otherwise no topic: the entry
type is already the `kind` and keywords are already tags, and a library sorted by neither has no
headings to invent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from refsearch.errors import SourceError
from refsearch.records import IdAllocator, Reference, doi_of, page_key
from refsearch.sources.common import clean, is_et_al, kind_for, person, raw_type, stand_in_title, warn, year_in
from refsearch.sources.tidy import latex_text

KINDS = {
    "article": "paper", "inproceedings": "paper", "conference": "paper", "unpublished": "paper",
    "conference_proceedings": "paper", "journal_article": "paper",
    "book": "book", "mvbook": "book", "collection": "book", "mvcollection": "book", "proceedings": "book",
    "mvproceedings": "book", "reference": "book", "mvreference": "book",
    "inbook": "chapter", "bookinbook": "chapter", "suppbook": "chapter", "incollection": "chapter",
    "suppcollection": "chapter", "inreference": "chapter", "book_section": "chapter",
    "thesis": "thesis", "phdthesis": "thesis", "mastersthesis": "thesis",
    "report": "report", "techreport": "report",
    "software": "software", "codefragment": "software", "computer_program": "software",
    "dataset": "dataset", "manual": "official-doc", "standard": "official-doc",
    "video": "video", "movie": "video", "film": "video", "television_broadcast": "video", "audio": "audio",
    "music": "audio", "presentation": "talk", "web_page": "web", "newspaper_article": "news",
    "magazine_article": "news", "patent": "patent",
    "jurisdiction": "legal", "legislation": "legal", "legal": "legal", "legmaterial": "legal",
    "legadminmaterial": "legal", "case": "legal", "hearing": "legal", "statute": "legal", "bill": "legal",
}
_ANNOTATION_FIELDS = ("annote", "annotation", "note")
_VENUE_FIELDS = ("journaltitle", "journal", "booktitle", "eventtitle", "school", "institution")
_CITATION_COUNT = re.compile(r"ZSCC:\s*\S+")
_QUIET = logging.NullHandler()
_MONTHS = {name[:3]: name for name in ("january", "february", "march", "april", "may", "june", "july",
                                        "august", "september", "october", "november", "december")}


def parse_bibtex(text: str, path: Path, key: str | None = None) -> list[Reference]:
    import bibtexparser
    from bibtexparser.model import Entry, ExplicitComment

    path = Path(path)
    logging.getLogger("bibtexparser").addHandler(_QUIET)  # its complaints reach the user as our warnings
    library = bibtexparser.parse_string(text, parse_stack=[])
    entries = list(library.entries)
    for failed in library.failed_blocks:
        if isinstance(failed.ignore_error_block, Entry):  # a repeated key or field: the entry is fine
            entries.append(failed.ignore_error_block)
        else:
            warn(path, _line(failed), f"skipped an entry bibtexparser cannot read ({_reason(failed)}); "
                                      "check its braces and quotes")
    entries.sort(key=lambda entry: entry.start_line or 0)
    budget = _Budget(path, len(text))
    strings = _strings(library.strings, budget)
    fields = {id(entry): {f.key.lower(): _expand(f.value, strings, budget.spender(entry)) for f in entry.fields}
              for entry in entries}
    by_key = {entry.key.lower(): fields[id(entry)] for entry in entries if entry.key}
    groups = _Groups([block.comment for block in library.blocks if isinstance(block, ExplicitComment)])
    key, ids, references = key or page_key(path), IdAllocator(), []
    for entry in entries:
        values = _inherit(entry.entry_type, fields[id(entry)], by_key, budget.spender(entry))
        reference = _reference(entry, values, groups, path, key, ids)
        if reference is not None:
            references.append(reference)
    return references


def _reference(entry, values: dict[str, str], groups: "_Groups", path: Path, key: str,
               ids: IdAllocator) -> Reference | None:
    latex = _Latex()
    authors = tuple(latex.names(values.get("author") or values.get("editor")))
    year = year_in(values.get("year") or values.get("date"))
    venue = next((v for name in _VENUE_FIELDS if (v := latex.text(values.get(name)))), None)
    title = ": ".join(filter(None, (latex.text(values.get("title")), latex.text(values.get("subtitle")))))
    title = title or stand_in_title(authors, year, venue)
    if not title:
        warn(path, _line(entry), f"skipped @{entry.entry_type}{{{entry.key}}}: no title, author or venue")
        return None
    url = clean(values.get("url")) or _arxiv_url(values)
    topic, other_groups = groups.placement(entry.key, values.get("groups"))
    notes = [latex.text(values.get(name)) for name in _ANNOTATION_FIELDS]
    notes = [note for note in dict.fromkeys(notes) if note and not _CITATION_COUNT.fullmatch(note)]
    return Reference(
        id=ids.new(key, title),
        title=title,
        page=key,
        topic=topic,
        url=url,
        year=year,
        kind=kind_for(entry.entry_type, url, KINDS),
        authors=authors,
        note=" · ".join(notes) or None,
        abstract=latex.text(values.get("abstract")),
        venue=venue,
        doi=doi_of(values.get("doi")),
        tags=tuple(dict.fromkeys((*latex.tags(values.get("keywords")), *latex.tags(values.get("mendeley-tags")),
                                  *other_groups))),
        extra=_identifiers(entry, values),
        source=f"{path}:{_line(entry)}",
    )


def _identifiers(entry, values: dict[str, str]) -> dict[str, str]:
    """What `extra` keeps of an entry: its citation key, its raw type, and the ids that name the work."""
    found = {"key": entry.key} if entry.key else {}
    found.update(raw_type(entry.entry_type))
    found.update({name: value for name in ("isbn", "pmid") if (value := clean(values.get(name)))})
    eprint = clean(values.get("eprint"))
    if eprint and (values.get("eprinttype") or values.get("archiveprefix") or "").lower() == "arxiv":
        found["arxiv"] = eprint
    return found


def _line(block) -> int:
    return (block.start_line or 0) + 1


def _reason(block) -> str:
    error = getattr(block, "error", None)
    return " ".join(str(error).split())[:120] or type(error).__name__ if error else "syntax error"


def _arxiv_url(values: dict[str, str]) -> str | None:
    eprint = clean(values.get("eprint"))
    kind = (values.get("eprinttype") or values.get("archiveprefix") or "").lower()
    return f"https://arxiv.org/abs/{eprint}" if eprint and kind == "arxiv" else None


def _inherit(entry_type: str, values: dict[str, str], by_key: dict[str, dict[str, str]],
             spend: Callable[[int], None]) -> dict[str, str]:
    """BibLaTeX `crossref`: missing fields come from the parent; a part of a whole (`@inproceedings`,
    `@incollection`, `@inbook`) takes the parent's title as its `booktitle`, not as its own title.
    What a child takes is spent from the file's budget: every child of a parent with a long abstract
    gets its own copy of it."""
    parent = by_key.get((values.get("crossref") or "").strip().lower())
    if not parent or parent is values:
        return values
    inherited = {name: value for name, value in parent.items() if name not in ("crossref", "ids", "groups")}
    if "title" in parent and entry_type.lower().startswith("in"):
        inherited.setdefault("booktitle", parent["title"])
        del inherited["title"]
    spend(sum(len(value) for name, value in inherited.items() if name not in values))
    return {**inherited, **values}


# --- values: @string macros, '#' concatenation --------------------------------------------------


class _Budget:
    """How many characters the values of one file may expand to. `@string` macros and `crossref`
    copy text, so a 1.5 kB file (a macro doubling another, 60 deep) asks for 2^62 characters. Real
    libraries expand to less than their own size (0.24-0.89 of it in the 16 shared files), so a file
    may expand to 4 times its size and a megabyte more; past that it is refused at the block that
    crosses the line, before the text is built."""

    def __init__(self, path: Path, size: int):
        self.path, self.limit = path, 4 * size + 1_000_000
        self.left = self.limit

    def spender(self, block) -> Callable[[int], None]:
        """What `_expand` and `_inherit` call with the characters they are about to build for `block`."""
        def spend(characters: int) -> None:
            self.left -= characters
            if self.left < 0:
                name = f"@{getattr(block, 'entry_type', 'string')}{{{block.key}}}"
                raise SourceError(self.path, _line(block),
                                  f"{name} expands the file's values past {self.limit:,} characters (4 times the "
                                  "file's size and 1,000,000 more); check the @string macros and crossref it uses")
        return spend


def _strings(blocks, budget: _Budget) -> dict[str, str]:
    """@string macros, each expanded with the ones defined before it (case-insensitive names)."""
    strings: dict[str, str] = {}
    for block in blocks:
        strings[block.key.lower()] = _expand(block.value, strings, budget.spender(block))
    return strings


def _expand(raw: str, strings: dict[str, str], spend: Callable[[int], None]) -> str:
    """A field's raw value as written (`{..}`, `".."`, a number, a macro, joined by `#`) as text; its
    length is spent before it is joined.

    An undefined macro (the 7k-entry file has hundreds: journal abbreviations) stays as its name;
    `jan`…`dec` are the month names BibTeX predefines.
    """
    parts = []
    for part in _concatenated(raw):
        if part[:1] in "{\"" and len(part) >= 2 and part[-1] in "}\"":
            parts.append(part[1:-1])
        else:
            name = part.strip()
            parts.append(strings.get(name.lower(), _MONTHS.get(name.lower(), name)))
    spend(sum(map(len, parts)))
    return "".join(parts)


def _concatenated(raw: str) -> list[str]:
    """Split a raw value on the `#` that sit outside braces and quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for position, char in enumerate(raw):
        if char == "{":
            depth += 1
        elif char == "}":
            depth = max(depth - 1, 0)
        elif char == '"' and depth == 0:
            quoted = not quoted
        elif char == "#" and depth == 0 and not quoted:
            parts.append(raw[start:position].strip())
            start = position + 1
    parts.append(raw[start:].strip())
    return [part for part in parts if part]


# --- LaTeX to text ---------------------------------------------------------------------------------


class _Latex:
    """LaTeX markup to Unicode text (tidy.latex_text: pylatexenc, one converter per process)."""

    def text(self, value: str | None) -> str | None:
        if not value:
            return None
        if "\\" in value or "$" in value:
            value = latex_text(value)
        else:
            value = value.replace("{", "").replace("}", "").replace("~", " ")
        return clean(value)

    def names(self, value: str | None) -> list[str]:
        """`Last, First and First Last and {Org Name}` -> display names, first name first."""
        from bibtexparser.middlewares.names import split_multiple_persons_names

        if not value:
            return []
        names = []
        for raw in split_multiple_persons_names(value):
            last, comma, first = raw.partition(",") if raw.count(",") == 1 and not raw.startswith("{") else (raw, "", "")
            name = person(self.text(last), self.text(first)) if comma else self.text(raw)
            if name and not is_et_al(name):
                names.append(name)
        return names

    def tags(self, value: str | None) -> list[str]:
        text = self.text(value)
        return [tag for part in re.split(r"[,;]", text or "") if (tag := part.strip())]


# --- JabRef groups -------------------------------------------------------------------------------


class _Groups:
    """JabRef's group tree (`jabref-meta: groupstree:` in 3.x, `grouping:` in 4+).

    3.x lists each group's members by key; 4+ puts the group names in each entry's `groups` field.
    """

    def __init__(self, comments: list[str]):
        self.paths: dict[str, tuple[str, ...]] = {}  # group name -> path from the top group
        self.members: dict[str, list[str]] = {}  # entry key (lower) -> group names, tree order
        for comment in comments:
            head, _, body = comment.partition(":")
            if head.strip() == "jabref-meta" and body.strip().startswith(("groupstree:", "grouping:")):
                self._read_tree(body.split(":", 1)[1])

    def _read_tree(self, body: str) -> None:
        stack: list[str] = []
        for record in re.split(r"(?<!\\);", body.replace("\r", "").replace("\n", "")):
            match = re.match(r"\s*(\d+)\s+\w+:(.*)", record)
            if not match or int(match[1]) == 0:
                continue
            level, fields = int(match[1]), [field.replace("\\", "") for field in re.split(r"\\;", match[2])]
            name = fields[0].strip()
            if not name:
                continue
            stack = [*stack[: level - 1], name]
            self.paths.setdefault(name, tuple(stack))
            for key in fields[2:] if record.split(":", 1)[0].strip().endswith("ExplicitGroup") else ():
                if key.strip():
                    self.members.setdefault(key.strip().lower(), []).append(name)

    def placement(self, key: str, field: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(topic path, other group names) for one entry."""
        names = self.members.get((key or "").lower(), [])
        names += [name.strip() for name in (field or "").split(",") if name.strip()]
        names = list(dict.fromkeys(names))
        if not names:
            return (), ()
        return self.paths.get(names[0], (names[0],)), tuple(names[1:])

