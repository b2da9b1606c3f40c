"""Archived sessions: the event log moved aside, so the next server starts a new session.

After a rehearsal on the real server the meeting itself must start from "scheduled"
again. `archive_log` moves `<id>.events.sqlite3` to `archive/<id>.<YYYY-MM-DD-HHMMSS>.events.sqlite3`
(named after its first event, in the conference's time zone): it takes the log's lock (so
it refuses while a server runs on it), writes the WAL into the file (one self-contained
file, no -wal/-shm companions) and moves it. Nothing is deleted or overwritten.
Archived logs are read-only here: `summarise` reads one without changing it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from .conference import Conference
from .event_log import EventLog, LogError, log_path
from .wording import Clock, count

ARCHIVE_DIR = "archive"
SUFFIX = ".events.sqlite3"


class ArchiveError(Exception):
    """The log cannot be archived, or an archive cannot be read; the message says why."""


@dataclass
class SessionSummary:
    """What one event log holds, read from its rows."""

    path: Path
    events: int = 0
    first_at: float | None = None
    last_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    segments: list[tuple[str, float]] = field(default_factory=list)  # (segment id, started at), in order
    roll_calls: list[tuple[str, int, int]] = field(default_factory=list)  # (segment, present, absent)
    awards: list[tuple[str, str, str | None]] = field(default_factory=list)  # (award id, recipient, venue)

    @property
    def name(self) -> str:
        return self.path.name


def archive_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / ARCHIVE_DIR


def summarise(path: Path) -> SessionSummary:
    """Read a log without changing it (read-only; a log in use is read as committed)."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ArchiveError(f"{path}: cannot open it: {exc}") from None
    summary = SessionSummary(path)
    try:
        rows = db.execute("SELECT at, type, payload FROM events ORDER BY seq").fetchall()
    except sqlite3.DatabaseError as exc:
        raise ArchiveError(f"{path}: not a readable event log ({exc})") from None
    finally:
        db.close()
    for at, kind, payload in rows:
        summary.events += 1
        summary.first_at = at if summary.first_at is None else summary.first_at
        summary.last_at = at
        if kind == "session_started":
            summary.started_at = at
        elif kind == "session_ended":
            summary.ended_at = at
        elif kind == "segment_started":
            summary.segments.append((json.loads(payload)["segment"], at))
        elif kind == "roll_call_finished":
            event = json.loads(payload)
            summary.roll_calls.append((event["segment"], event["present"], event["absent"]))
        elif kind == "award_presented":
            event = json.loads(payload)
            summary.awards.append((event["award"], event["recipient"], event.get("venue")))
    return summary


def archive_log(data_dir: str | Path, conference: Conference) -> tuple[Path, SessionSummary]:
    """Move the conference's event log into the archive folder; returns its new path and summary."""
    conference_id = conference.conference.id
    path = log_path(data_dir, conference_id)
    if not path.exists():
        raise ArchiveError(f"there is no event log of conference '{conference_id}' in {data_dir}: nothing to archive")
    clock = Clock(conference.conference.timezone)
    try:
        log = EventLog(path, conference_id)  # the lock: refused while a server holds the log
    except LogError as exc:
        raise ArchiveError(f"{exc}; nothing was archived") from None
    try:
        first = log.first_at()
        if first is None:
            raise ArchiveError(f"{path} holds no events: the session has not begun, there is nothing to archive")
        stamp = clock.at(first).strftime("%Y-%m-%d-%H%M%S")
        target = archive_dir(data_dir) / f"{conference_id}.{stamp}{SUFFIX}"
        taken = ArchiveError(f"{target} already exists; {path} was left where it is")
        if target.exists():
            raise taken
        log.seal()
        target.parent.mkdir(exist_ok=True)
        try:
            os.link(path, target)  # fails, rather than overwrite, if the name was taken meanwhile
        except FileExistsError:
            raise taken from None
        os.unlink(path)
    except LogError as exc:
        raise ArchiveError(str(exc)) from None
    finally:
        log.close()
    return target, summarise(target)


def archived(data_dir: str | Path, conference: Conference) -> list[Path]:
    """The conference's archived logs, oldest first."""
    return sorted(archive_dir(data_dir).glob(f"{conference.conference.id}.*{SUFFIX}"))


def find_archive(data_dir: str | Path, conference: Conference, name: str) -> Path:
    """An archive by its file name or its date stamp (YYYY-MM-DD-HHMMSS)."""
    paths = archived(data_dir, conference)
    for path in paths:
        if name in (path.name, path.name.removeprefix(f"{conference.conference.id}.").removesuffix(SUFFIX)):
            return path
    known = ", ".join(p.name for p in paths) or "none yet"
    raise ArchiveError(f"there is no archived session '{name}' in {archive_dir(data_dir)} (archived: {known})")


def listing(data_dir: str | Path, conference: Conference) -> str:
    """One line per archived session: date, events, first and last event, segments run."""
    paths = archived(data_dir, conference)
    clock = Clock(conference.conference.timezone)
    if not paths:
        return f"No archived sessions of '{conference.conference.id}' in {archive_dir(data_dir)}."
    rows = [("name", "date", "events", "first", "last", "segments run")]
    for path in paths:
        try:
            s = summarise(path)
        except ArchiveError as exc:
            rows.append((path.name, "-", "-", "-", "-", f"unreadable: {exc}"))
            continue
        rows.append((
            path.name, clock.date(s.first_at) if s.first_at else "-", str(s.events),
            clock.time(s.first_at) if s.first_at else "-", clock.time(s.last_at) if s.last_at else "-",
            _segments_run(s, conference),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [f"Archived sessions of '{conference.conference.id}' in {archive_dir(data_dir)} "
             f"(times in {conference.conference.timezone}):"]
    lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows]
    lines.append(f"Show one: orchestrator archive CONFIG --data {data_dir} --show NAME")
    return "\n".join(lines)


def _segments_run(s: SessionSummary, conference: Conference) -> str:
    run = len({segment for segment, _ in s.segments})
    said = f"{run} of {count(len(conference.agenda), 'segment')}"
    if s.ended_at is not None:
        return said + ", ended"
    return said + (", not ended" if s.started_at is not None else ", not started")


def describe(s: SessionSummary, conference: Conference) -> str:
    """The summary of one archived session, as `--show` prints it."""
    clock = Clock(conference.conference.timezone)
    if s.first_at is None or s.last_at is None:
        return f"{s.path}: no events"
    day = clock.date(s.first_at)

    def when(t: float) -> str:
        return clock.time(t) if clock.date(t) == day else clock.stamp(t)

    titles = {seg.id: seg.title for seg in conference.agenda}
    lines = [
        f"{s.path}",
        f"  date          {day} (times in {clock.zone_label(s.first_at)})",
        f"  events        {s.events}, from {when(s.first_at)} to {when(s.last_at)}",
        "  session       " + ("not started" if s.started_at is None else f"started {when(s.started_at)}, "
                             + (f"ended {when(s.ended_at)}" if s.ended_at is not None else "not ended")),
        f"  segments run  {_segments_run(s, conference)}",
    ]
    lines += [f"    {when(at)}  {segment}: {titles.get(segment, '(not in this conference file)')}"
              for segment, at in s.segments]
    for segment, present, absent in s.roll_calls:
        lines.append(f"  roll call     {segment}: {present} present, {absent} absent")
    if s.awards:
        awards = {award for award, _, _ in s.awards}
        lines.append(f"  awards        {count(len(s.awards), 'presentation')} of {count(len(awards), 'award')}")
        names = {v.id: v.name for v in conference.venues}
        award_titles = {a.id: a.title for a in conference.awards}
        lines += [f"    {award_titles.get(award, award)}: {recipient}"
                  + (f" ({names.get(venue, venue)})" if venue else "") for award, recipient, venue in s.awards]
    return "\n".join(lines)
