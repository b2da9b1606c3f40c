"""The durable event log: one SQLite file per conference, append-only, replayable.

A command's events are appended in one transaction *before* the command is acknowledged,
so a process killed at any moment loses at most the command it had not acknowledged yet.
WAL with synchronous=NORMAL: a commit reaches the operating system at once (a killed
process loses nothing committed) without waiting for the disk on every command — the
append runs on the event loop that also forwards media, and a slow disk must not freeze
every venue's picture. Only a power cut can cost the last commits. On start the log is replayed into a new Session.
A file written for another conference, or that is not a readable log, is refused and
never overwritten.

While a log is open, its process holds an exclusive advisory lock (`flock`) on the
companion file `<log>.lock`: a second server on the same log, or `orchestrator archive`,
is refused while the first runs. The kernel drops the lock when the process ends, even
killed, so a crash never leaves the log locked. A log opened `read_only` (to write the
minutes, even of a running session) takes no lock: SQLite's WAL lets it read what is
committed while the server writes.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from .config import Conference
from .core import ReplayError, Session
from .core.events import Event, event_adapter
from .logs import get_logger

SCHEMA_VERSION = 1

log = get_logger(component="event_log")

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY,
    at         REAL    NOT NULL,
    type       TEXT    NOT NULL,
    command_id TEXT,
    payload    TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS events_command_id ON events (command_id) WHERE command_id IS NOT NULL;
"""


class LogError(Exception):
    """The event log cannot be used (wrong conference, corrupt, unreadable)."""


def log_path(data_dir: str | Path, conference_id: str) -> Path:
    return Path(data_dir) / f"{conference_id}.events.sqlite3"


def lock_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".lock")


def _lock(path: Path) -> int:
    """Take the log's exclusive lock, or raise LogError when another process holds it."""
    try:
        fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise LogError(f"{path}: cannot open the event log: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LogError(f"{path}: the event log is in use by another process (a server running on this "
                       "data folder?)") from None
    return fd


class EventLog:
    """Append-only event log of one conference.

    `read_only`: to read a log, perhaps one a running server writes (the minutes): no lock
    is taken, nothing is created or written, and the same checks refuse a foreign or
    damaged file with the same words. A missing log raises LogError.
    """

    def __init__(self, path: str | Path, conference_id: str, *, read_only: bool = False):
        self.path = Path(path)
        self.conference_id = conference_id
        self.read_only = read_only
        self.on_append: Callable[[int, float], None] = lambda events, seconds: None
        """Called after each append with the number of events and the seconds it took."""
        if read_only:
            self._lock_fd: int | None = None
            if not self.path.is_file():
                raise LogError(f"{self.path}: there is no event log here")
            existed = True
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _lock(self.path)
            existed = self.path.exists() and self.path.stat().st_size > 0
        try:
            if read_only:
                self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                                           check_same_thread=False)
            else:
                self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            self._unlock()
            raise LogError(f"{self.path}: cannot open the event log: {exc}") from None
        try:
            self._open(existed)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise LogError(f"{self.path}: not a readable event log ({exc}); it was left untouched") from None
        except LogError:
            self.close()
            raise

    def _open(self, existed: bool) -> None:
        db = self._db
        if existed:
            # Read before writing anything: a foreign or corrupt file must stay as it is.
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not {"meta", "events"} <= tables:
                raise LogError(f"{self.path}: this file is not an orchestrator event log; it was left untouched")
            meta = dict(db.execute("SELECT key, value FROM meta"))
            if meta.get("conference") != self.conference_id:
                raise LogError(
                    f"{self.path}: this log belongs to conference '{meta.get('conference')}', "
                    f"not '{self.conference_id}'; it was left untouched (use another data folder)"
                )
            if meta.get("schema") != str(SCHEMA_VERSION):
                raise LogError(f"{self.path}: log schema {meta.get('schema')} is not supported (expected {SCHEMA_VERSION})")
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise LogError(f"{self.path}: the event log is damaged ({check}); it was left untouched")
        if self.read_only:
            return
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        if not existed:
            with self._transaction():
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                db.execute("INSERT INTO meta VALUES ('conference', ?), ('schema', ?)", (self.conference_id, str(SCHEMA_VERSION)))

    def _transaction(self):
        return _Tx(self._db)

    def append(self, events: Sequence[Event], command_id: str | None = None) -> int:
        """Append a command's events in one transaction; returns the last sequence number."""
        started = time.perf_counter()
        with self._transaction():
            cur = None
            for event in events:
                cur = self._db.execute(
                    "INSERT INTO events (at, type, command_id, payload) VALUES (?, ?, ?, ?)",
                    (event.at, event.type, command_id, event.model_dump_json()),
                )
        try:
            self.on_append(len(events), time.perf_counter() - started)
        except Exception:  # the events are committed: an observer cannot undo that
            log.exception("event_log_observer_failed")
        return cur.lastrowid if cur is not None and cur.lastrowid is not None else self.last_seq()

    def last_seq(self) -> int:
        return self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]

    def has_command(self, command_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM events WHERE command_id = ? LIMIT 1", (command_id,)).fetchone() is not None

    def read(self) -> Iterator[tuple[int, Event]]:
        for seq, payload in self._db.execute("SELECT seq, payload FROM events ORDER BY seq"):
            try:
                yield seq, event_adapter.validate_python(json.loads(payload))
            except (ValueError, ValidationError) as exc:
                raise LogError(f"{self.path}: event #{seq} cannot be read: {exc}") from None

    def replay(self, conference: Conference) -> Session:
        """Rebuild the session from the log (through `Session.replay`, the one replay path)."""
        return self.replay_with(lambda events: Session.replay(conference, events))

    def replay_with(self, build: Callable[[Iterator[Event]], T]) -> T:
        """`build(events)` over the log's events, in order; a ReplayError it raises becomes a
        LogError that names the event that does not fit."""
        at: list[tuple[int, str]] = []

        def events() -> Iterator[Event]:
            for seq, event in self.read():
                at[:] = [(seq, event.type)]
                yield event

        try:
            return build(events())
        except ReplayError as exc:
            seq, kind = at[0]
            raise LogError(
                f"{self.path}: event #{seq} ({kind}) does not fit the conference file: {exc}. "
                "Was the agenda or the venue list changed during the session?"
            ) from None

    def first_at(self) -> float | None:
        """When the first event was written (None: the log is empty)."""
        row = self._db.execute("SELECT at FROM events ORDER BY seq LIMIT 1").fetchone()
        return row[0] if row else None

    def ended_at(self) -> float | None:
        """When the session in this log ended (None: it has not)."""
        row = self._db.execute(
            "SELECT at FROM events WHERE type = 'session_ended' ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    def seal(self) -> None:
        """Make the file stand alone, to be moved: the WAL checkpointed into it and switched
        off (no -wal/-shm companions), the connection closed. The lock is kept until close()."""
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            mode = self._db.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        except sqlite3.Error as exc:
            raise LogError(f"{self.path}: cannot write the event log out as one file: {exc}") from None
        if mode != "delete":
            raise LogError(f"{self.path}: another connection still reads the event log; it was left as it was")
        self._db.close()

    def close(self) -> None:
        self._db.close()
        self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Tx:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, *exc) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
