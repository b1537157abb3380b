"""The Reference record: the agreed additions (authors, abstract, venue, doi, also_in) and JSON round trips."""

from __future__ import annotations

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
