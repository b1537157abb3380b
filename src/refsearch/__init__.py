"""refsearch: offline hybrid search over annotated reading lists."""

__version__ = "0.1.0"
