"""structlog set-up: fixed event names, bound context, JSON when not on a terminal.

Secrets never reach a log line: values under secret-looking keys are redacted.
"""

from __future__ import annotations

import logging
import sys
from typing import IO

import structlog

SECRET_WORDS = frozenset({"token", "secret", "password", "authorization", "cookie", "key", "credential", "sdp"})


def _redact(_, __, event_dict: dict) -> dict:
    for name in list(event_dict):
        if SECRET_WORDS.intersection(name.lower().split("_")):
            event_dict[name] = "[redacted]"
    return event_dict


def configure(level: str = "info", json: bool | None = None, file: IO[str] | None = None) -> None:
    """Log to `file` (default: standard error), as JSON unless it is a terminal."""
    file = file or sys.stderr
    if json is None:
        json = not file.isatty()
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
        logger_factory=structlog.PrintLoggerFactory(file=file),
        cache_logger_on_first_use=False,
    )


def get_logger(**context):
    """A lazy logger: it picks up `configure()` even when created at import time."""
    return structlog.get_logger("orchestrator", **context)
