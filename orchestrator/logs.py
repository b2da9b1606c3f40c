"""structlog set-up: fixed event names, bound context, JSON when not on a terminal.

Secrets never reach a log line: values under secret-looking keys are redacted.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import queue
import sys
import threading
import weakref
from collections.abc import MutableMapping
from typing import Any, TextIO, cast

import structlog

SECRET_WORDS = frozenset({"token", "secret", "password", "authorization", "cookie", "key", "credential", "sdp"})


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for name in list(event_dict):
        if SECRET_WORDS.intersection(name.lower().split("_")):
            event_dict[name] = "[redacted]"
    return event_dict


_writers: weakref.WeakSet[BackgroundWriter] = weakref.WeakSet()


class BackgroundWriter:
    """A stream written by its own thread, so that a reader of the log that stalls (a
    pipe nobody drains, a busy journal, a slow disk) never blocks the event loop, and
    with it the session and the media. Up to `limit` lines wait; past that, lines are
    dropped and counted, and a `log_lines_dropped` line says how many as soon as the
    reader takes lines again."""

    def __init__(self, stream: TextIO, limit: int = 10_000):
        self.stream = stream
        self._queue: queue.Queue[str | None] = queue.Queue(limit)
        self._lock = threading.Lock()
        self._dropped = 0
        self.dropped_total = 0  # every line dropped since the start (the metrics)
        _writers.add(self)
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def write(self, text: str) -> None:
        try:
            self._queue.put_nowait(text)
        except queue.Full:
            with self._lock:
                self._dropped += 1
                self.dropped_total += 1

    def flush(self) -> None:
        """Nothing to do: the thread flushes after each line."""

    def isatty(self) -> bool:
        return self.stream.isatty()

    def close(self, timeout: float = 5.0) -> None:
        """Write out what is queued, waiting at most `timeout` for a stalled reader."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def _run(self) -> None:
        while (text := self._queue.get()) is not None:
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):
                continue  # the reader is gone: keep draining, so that nothing waits
            with self._lock:
                dropped, self._dropped = self._dropped, 0
            if dropped:  # straight to the stream: this line itself is never dropped
                note = structlog.wrap_logger(structlog.WriteLogger(self.stream), component="logs")
                with contextlib.suppress(OSError, ValueError):
                    note.warning("log_lines_dropped", count=dropped)


def configure(level: str = "info", json: bool | None = None, file: TextIO | None = None,
              background: bool = False) -> None:
    """Log to `file` (default: standard error), as JSON unless it is a terminal.

    `background`: written by a thread (see BackgroundWriter); for the server."""
    file = file or sys.stderr
    if json is None:
        json = not file.isatty()
    if background:
        file = cast(TextIO, BackgroundWriter(file))  # it writes and flushes, all a logger asks of a file
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info if json else structlog.processors.StackInfoRenderer(),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.WriteLoggerFactory(file=file),
        cache_logger_on_first_use=False,
    )


def dropped_log_lines() -> int:
    """Log lines this process dropped since it started because their reader stalled."""
    return sum(writer.dropped_total for writer in list(_writers))


def get_logger(**context):
    """A lazy logger: it picks up `configure()` even when created at import time."""
    return structlog.get_logger("orchestrator", **context)
