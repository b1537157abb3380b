"""A Markdown page read again in the sections that changed (markdown.read_markdown) gives exactly
what reading the whole page gives: ids, topics, places and all."""

import dataclasses
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refsearch.sources.markdown import Kept, _prepared, read_markdown

SHARED = Path(__file__).resolve().parents[2] / "shared"
PATH = Path("list.md")


def again(text: str, earlier, path: Path = PATH, memo=None):
    """`text` read with the memo and ids of `earlier` (the memo through JSON, as an index keeps it),
    the kept sections' entries taken from `earlier` and moved as the read says."""
    memo = json.loads(json.dumps(earlier.memo)) if memo is None else memo
    read = read_markdown(text, path, None, memo, [ref.id for ref in earlier.references])
    fresh = iter(read.references)
    resolved = []
    for part in read.parts:
        if not isinstance(part, Kept):
            resolved += [next(fresh) for _ in range(part)]
            continue
        for ref in earlier.references[part.first:part.first + part.count]:
            file, _, line = ref.source.rpartition(":")
            resolved.append(dataclasses.replace(ref, source=f"{file}:{int(line) + part.shift}"))
    return read, resolved


@pytest.mark.parametrize("text, starts", [
    ("# A\n\ntext\n\n## B\n- x\n", [0, 4]),
    ("# A\n- x\n## B\n", [0]),  # no blank line before it: the split is left to markdown-it
    ("# A\n\n```\n\n# code\n```\n\n## B\n", [0, 7]),
    ("# A\n\n<!--\n\n# commented out\n-->\n\n## B\n", [0, 7]),
    ("# A\n\n<pre>\n\n# preformatted\n</pre>\n", [0]),
    ("# A\n\n#hashtag\n\n## B\n", [0, 4]),
    ("# A\n\n## B\n- [x][ref]\n\n[ref]: https://x.example\n", [0]),  # a definition serves every section
    ("Topic¶\n- x\n\nOther¶\n- y\n", [0, 3]),  # the seed's ¶ topics are headings
])
def test_sections_start_where_no_block_can_continue(text, starts):
    assert _prepared(text)[1] == starts


PAGE = """# Reading list

- [Contents](#serving)
- [Serving](https://github.com/o/r#serving)

## Serving

- [Triton](https://triton.io) - GPU inference server
- [KServe](https://kserve.io) - Kubernetes serving
  - annotated below

## Training

```
# not a heading
- [Not](https://not.example) - in code
```

- [Triton](https://triton-lang.org) - a language for GPU kernels
- [Ray](https://ray.io) - 分布式 Python

<!--
## commented
-->

## 数据

| Name | Note |
|---|---|
| [Dask](https://dask.org) | parallel arrays |

1. [Triton](https://t.example) `2021`
"""

LINES = PAGE.split("\n")
EDITS = st.lists(st.tuples(st.sampled_from(["insert", "delete", "edit", "copy", "heading", "blank", "title"]),
                           st.integers(0, len(LINES) - 1), st.integers(0, len(LINES) - 1)), min_size=1, max_size=4)


def edited(lines: list[str], edits) -> str:
    lines = list(lines)
    for kind, at, other in edits:
        at, other = min(at, len(lines)), min(other, max(len(lines) - 1, 0))
        new = {"insert": ["- [Seldon](https://seldon.io) - inference graphs"], "heading": ["## Serving"],
               "blank": [""], "copy": lines[other:other + 1], "title": ["- [Triton](https://x.example) - again"]}
        if kind == "delete":
            del lines[at:at + 1]
        elif kind == "edit":
            lines[at:at + 1] = [line + " edited" for line in lines[at:at + 1]]
        else:
            lines[at:at] = new[kind]
    return "\n".join(lines)


@settings(max_examples=300, deadline=None)
@given(EDITS)
def test_a_page_read_again_in_part_is_the_page_read_whole(edits):
    earlier = read_markdown(PAGE, PATH)
    text = edited(LINES, edits)
    assert again(text, earlier)[1] == read_markdown(text, PATH).references


def test_an_entry_added_keeps_every_other_section():
    earlier = read_markdown(PAGE, PATH)
    text = PAGE.replace("- [Ray]", "- [Seldon](https://seldon.io) - inference graphs\n- [Ray]")
    read, resolved = again(text, earlier)
    assert [part.count if isinstance(part, Kept) else f"read {part}" for part in read.parts] == [0, 2, "read 3", 2]
    assert read.parts[3].shift == 1 and resolved == read_markdown(text, PATH).references


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(JSON, st.sampled_from(["sections", "page", "end", None]))
def test_a_damaged_memo_reads_the_page_whole(garbage, field):
    earlier = read_markdown(PAGE, PATH)
    memo = json.loads(json.dumps(earlier.memo))
    if field is None:
        memo = garbage
    else:
        memo[field] = garbage
    text = PAGE.replace("Kubernetes", "k8s")
    assert again(text, earlier, memo=memo)[1] == read_markdown(text, PATH).references


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "corpora").is_dir(), reason="needs ../shared (the real awesome lists)")
@pytest.mark.parametrize("name", ["awesome-go.md", "llm-resources-zh.md", "awesome-python.md"])
def test_real_lists_read_again_in_part_are_the_lists_read_whole(name):
    path = SHARED / "corpora" / name
    page = path.read_text("utf-8")
    earlier, lines, rng = read_markdown(page, path), page.split("\n"), random.Random(name)
    kept = 0
    for _ in range(25):
        kind = rng.choice(["insert", "delete", "edit", "copy", "blank"])
        text = edited(lines, [(kind, rng.randrange(len(lines)), rng.randrange(len(lines)))])
        read, resolved = again(text, earlier, path)
        assert resolved == read_markdown(text, path).references
        kept += any(isinstance(part, Kept) for part in read.parts)
    assert kept >= 15  # most edits keep most of the page
