"""Where people search besides the terminal: an MCP server for assistants (`refsearch mcp`) and a
JSON API with a search page (`refsearch serve`).

Both answer through the public API (`refsearch.open` -> `Index`) and render.py's JSON functions, so
their answers have the fields the CLI's `--json` prints. Their dependencies are optional extras
(`pip install 'refsearch[serve]'`, `'refsearch[mcp]'`), imported only by these commands.
"""

from __future__ import annotations


def one_blas_thread() -> None:
    """Give each search one BLAS thread: a server runs searches side by side, and OpenBLAS's own
    threads then wait on each other. Measured on the busy 2-core machine: the flat store's
    matrix-vector product over 6,426 vectors took 9-13 ms with OpenBLAS's threads, 1 ms with one."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
