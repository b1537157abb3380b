"""refsearch: offline hybrid search over annotated reading lists (Chinese and English).

    import refsearch

    index = refsearch.open()                       # default index; built from the bundled list on first use
    for hit in index.search("GPU slicing", k=3):   # Hit: rank, score, ref (a Reference), matched terms
        print(hit.rank, hit.ref.title, " › ".join(hit.ref.topic))
    index.related("vllm", k=5)                     # Suggestion: ref, score, reasons
    refsearch.build(["~/notes"], index="~/.refsearch/notes")

Names are imported on first use, so `import refsearch` costs nothing on the query path.
"""

from __future__ import annotations

__version__ = "0.2.0"

_PUBLIC = {
    "open": "api", "build": "api", "status": "api",
    "Index": "index", "Hit": "search", "Filters": "search", "Reference": "records",
    "Suggestion": "related", "Topic": "topics", "BuildReport": "builder",
    "RefsearchError": "errors", "SourceError": "errors", "IndexProblem": "errors",
    "UnknownReference": "errors",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'refsearch' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"refsearch.{module}"), name)
    globals()[name] = value
    return value
