"""Sources: find reference files (`discover`, cheap, no parser imported) and read them (`reader`).

The parsers are imported only when a file is read, so the index-freshness check on the query path
(which only discovers and stats) costs no parser import.
"""

from __future__ import annotations

_READER = ("read_file", "read_sources", "PARSERS", "SUFFIXES")


def __getattr__(name: str):
    if name in _READER:
        from refsearch.sources import reader

        return getattr(reader, name)
    raise AttributeError(name)
