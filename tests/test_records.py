"""The Reference record: the agreed additions (authors, abstract, venue, doi, also_in) and JSON round trips."""

from __future__ import annotations

import numpy as np
from hypothesis import given, strategies as st

from refsearch.catalog import HASH_PREFIX, StoredLines, split_hash, with_hash
from refsearch.records import Reference


def test_json_round_trip_with_every_field():
    ref = Reference(id="p/x", title="X", page="p", topic=("A", "B"), authors=("Ada Lovelace", "Charles Babbage"),
                    abstract="An abstract.", venue="Journal", doi="10.1/x", tags=("t",),
                    also_in=("b.ris:3",), extra={"key": "k"}, source="a.bib:1")
    data = ref.to_json()
    assert data["authors"] == ["Ada Lovelace", "Charles Babbage"] and data["also_in"] == ["b.ris:3"]
    assert Reference.from_json(data) == ref


def test_author_property_joins_the_authors():
    assert Reference(id="i", title="t", page="p", authors=("A", "B")).author == "A; B"
    assert Reference(id="i", title="t", page="p").author is None


@given(st.lists(st.one_of(
    st.builds(lambda digest, rest: with_hash(b"{" + rest, digest), st.text("0123456789abcdef", min_size=32, max_size=32),
              st.binary(max_size=20)),
    st.binary(max_size=60),
    st.builds(lambda digest: HASH_PREFIX + digest + b'", x\n', st.binary(min_size=32, max_size=32))), max_size=30))
def test_stored_hashes_read_all_at_once_are_what_each_line_holds(lines):
    stored = StoredLines(b"".join(lines), np.cumsum([0, *map(len, lines)], dtype=np.int64))
    assert list(stored) == lines
    assert [digest.decode() or None for digest in stored.hashes()] == [split[1] if (split := split_hash(line)) else None for line in lines]


@given(st.lists(st.binary(min_size=1, max_size=8), min_size=1, max_size=12), st.data())
def test_stored_lines_joined_are_the_lines_one_after_another(lines, data):
    stored = StoredLines(b"".join(lines), np.cumsum([0, *map(len, lines)], dtype=np.int64))
    rows = data.draw(st.lists(st.integers(0, len(lines) - 1), max_size=20))
    replaced = data.draw(st.dictionaries(st.integers(0, max(len(rows) - 1, 0)), st.binary(max_size=5))) if rows else {}
    want = [replaced.get(at, lines[row]) for at, row in enumerate(rows)]
    pieces, lengths = stored.joined(np.array(rows, dtype=np.int64), replaced)
    assert b"".join(pieces) == b"".join(want) and lengths.tolist() == [len(line) for line in want]
    assert stored.rows_with(b"\x00").tolist() == [b"\x00" in line for line in lines]


@given(st.lists(st.sampled_from(["0" * 32, "1" * 32, "abc" * 10 + "de"]), max_size=20),
       st.lists(st.sampled_from(["0" * 32, "1" * 32, "abc" * 10 + "de", "f" * 32, "short"]), max_size=5))
def test_rows_of_content_hashes_are_found_by_bisection_in_row_order(row_hashes, wanted):
    from refsearch.takeover import Previous

    lines = [with_hash(b'{"row": %d}' % row, digest) for row, digest in enumerate(row_hashes)]
    previous = object.__new__(Previous)
    previous.stored = StoredLines(b"".join(lines), np.cumsum([0, *map(len, lines)], dtype=np.int64))
    expected = [[row for row, digest in enumerate(row_hashes) if digest == want] for want in wanted]
    assert previous.rows_of_hashes(wanted) == expected
    assert previous.first_rows_of_hashes(wanted).tolist() == [rows[0] if rows else -1 for rows in expected]
    assert [previous.hash_of_row(row) for row in range(len(row_hashes))] == row_hashes
