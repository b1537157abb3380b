"""What one client may hold of `refsearch serve`: time to send a request, connections, and log lines.

uvicorn bounds none of them: a connection that sends nothing, or a request's headers a byte at a
time, is kept forever (its keep-alive timer starts only after a first response), a client that
stops reading its answer holds the writing task, and past the process's descriptor limit (1,100
idle connections against 1,024) every normal request timed out while asyncio logged a "Too many open
files" traceback per attempt (~8 MB/s). `GuardedProtocol` is uvicorn's httptools protocol with those
limits, and `BoundedLog` keeps the log loud but bounded. The request body's time limit is the
application's (http.py reads the body).
"""

from __future__ import annotations

import logging
import resource
import time

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_SECONDS = 10.0  # from the connection (or the previous answer) to a request's last header
HEADER_BYTES = 64 * 1024  # the request line and headers
WRITE_SECONDS = 30.0  # an answer the client does not read for this long is dropped with its connection
MAX_CONNECTIONS = 1000  # beyond it (or near the descriptor limit) the connection idle longest is closed
BACKLOG = 64  # asyncio accepts up to this many connections at a time, before any of them can be closed
DESCRIPTORS_KEPT = 100 + 3 * BACKLOG  # index files, the model, logs; a dropped connection's closes 2 bursts later


def connection_limit() -> int:
    """MAX_CONNECTIONS, or fewer when the process may not open that many descriptors."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return MAX_CONNECTIONS if soft == resource.RLIM_INFINITY else max(16, min(MAX_CONNECTIONS, soft - DESCRIPTORS_KEPT))


class GuardedProtocol(HttpToolsProtocol):
    """A connection waiting for a request's headers (just opened, or idle after an answer) is
    `waiting` since a time: closed when HEADER_SECONDS pass or its headers exceed HEADER_BYTES, and
    the first to go when a new connection would exceed the limit, so idle connections cannot keep
    a normal request out. An answer the client stops reading is dropped after WRITE_SECONDS."""

    limit = MAX_CONNECTIONS  # set by http.run from connection_limit()

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._write_timer = None
        self._wait_for_headers()
        if len(self.connections) > self.limit:
            idle = [c for c in self.connections if getattr(c, "waiting", None) is not None and c is not self]
            if idle:
                min(idle, key=lambda c: c.waiting)._drop()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.waiting is not None and self.parser is not None:
            self._header_bytes += len(data)
            if self._header_bytes > HEADER_BYTES:
                self._drop()

    def on_headers_complete(self) -> None:
        self._stop_waiting()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:  # a pipelined request's headers are in
            self._wait_for_headers()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(WRITE_SECONDS, self._drop)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def connection_lost(self, exc) -> None:
        self._stop_waiting()
        if self._write_timer is not None:
            self._write_timer.cancel()
        super().connection_lost(exc)

    def _wait_for_headers(self) -> None:
        self._stop_waiting()
        self.waiting, self._header_bytes = time.monotonic(), 0
        self._header_timer = self.loop.call_later(HEADER_SECONDS, self._drop)

    def _stop_waiting(self) -> None:
        if getattr(self, "_header_timer", None) is not None:
            self._header_timer.cancel()
        self.waiting, self._header_timer = None, None

    def _drop(self) -> None:
        self._stop_waiting()
        self.connections.discard(self)
        if not self.transport.is_closing():
            self.transport.abort()


class BoundedLog(logging.Filter):
    """One line per kind of message per `seconds`: a repeat is counted, and said with the next one
    printed; a traceback becomes its last line (the exception), so a flood of failing accepts or
    bad requests costs a line every few seconds, not megabytes."""

    KINDS = 1000

    def __init__(self, seconds: float = 10.0):
        super().__init__()
        self.seconds = seconds
        self.seen: dict[str, tuple[float, int]] = {}  # kind -> (when last printed, repeats since)

    def filter(self, record: logging.LogRecord) -> bool:
        kind = f"{record.name}:{record.msg}"[:300]
        now = time.monotonic()
        printed, repeats = self.seen.get(kind, (None, 0))
        if printed is not None and now - printed < self.seconds:
            self.seen[kind] = (printed, repeats + 1)
            return False
        if len(self.seen) >= self.KINDS:
            self.seen.clear()
        self.seen[kind] = (now, 0)
        message = " ".join(record.getMessage().split())
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            message += f" ({type(error).__name__}: {' '.join(str(error).split())})"
        if repeats:
            message += f" [{repeats} more like it in the last {now - printed:.0f} s]"
        record.msg, record.args, record.exc_info, record.exc_text, record.stack_info = message, None, None, None, None
        return True


def bound_logs() -> None:
    """Put `BoundedLog` on the loggers a flood writes to: asyncio (failing accepts) and uvicorn's."""
    for name in ("asyncio", "uvicorn.error"):
        logging.getLogger(name).addFilter(BoundedLog())
