"""The recorder: follows the session's recording state and keeps the program's files.

The session core decides whether the program is being recorded (`RecordingStarted`,
`RecordingStopped`); the recorder acts on it:

- while the recording runs, a `ProgramReceiver` receives the program from the media plane
  and a `ProgramWriter` writes it into the current part, `FOLDER/<stem>.webm`, then
  `<stem>.part2.webm`, ... (`<stem>` is the conference id and the recording's start in the
  conference's time zone, `jiaxing-2025-six-initiatives.2025-02-05-143012`). Every part
  is on the recording's one timeline: a part made after a stop or a server restart starts
  at its offset from the recording's start, so its timestamps follow on from the previous
  part's;
- `<stem>.json` (the sidecar) lists the parts, the runs, the segments, the takes and the
  captions (`RecordingTimeline.document`); it is rewritten (atomically) as they happen;
- a part is closed with its chapters (one per agenda segment) when the recording stops
  or the server stops; a server restarted on a running recording starts a new part;
- a writer that fails (disk full, folder not writable, any other error) is reported to
  the core (`RecordingFailed`): the recording stops with that reason, the session goes on;
- with `automatic` (`serve --record DIR`) the recording starts when the session starts, or
  when the server starts on a running session, unless the operator stopped it (or it
  stopped with the session).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..conference import Conference
from ..core import CommandRejected
from ..core import commands as c
from ..core import events as e
from ..core.state import SessionPhase, SessionState
from ..live_session import LiveSession
from ..logs import get_logger
from ..media.plane import MediaPlane
from ..text import shown
from ..wording import Clock
from .matroska import Chapter, Failure, MatroskaPart, Track, failure_of
from .receiver import ProgramReceiver
from .timeline import RecordingTimeline
from .writer import PartOpener, PartStart, PartWritten, ProgramWriter

log = get_logger(component="recording")

EXTENSION = ".webm"
DRAIN_S = 1.5  # after a stop, frames still on their way (sent before it) are written for this long
_NO_AUTOMATIC_START = ("operator", "session_ended")  # stop reasons the automatic start respects


@dataclass(frozen=True)
class RecordingOptions:
    folder: Path
    automatic: bool = False  # start with the session (and on a server start during the session)
    min_free_bytes: int = 0  # stop (disk_full) when the folder's disk has less free than this


class Recorder:
    def __init__(self, live: LiveSession, media: MediaPlane, options: RecordingOptions,
                 open_part: PartOpener = MatroskaPart):
        self.live = live
        self.options = options
        self.timeline = RecordingTimeline(live.conference)
        for _, event in live.log.read():  # the session so far; `follow` adds what comes next
            self.timeline.add(event)
        self.receiver = ProgramReceiver(media, self._frame, self._new_connection)
        self._open_part = open_part
        self._writer: ProgramWriter | None = None
        self._parts: list[dict[str, Any]] = []
        self._part: PartStart | None = None
        self._stem: str | None = None
        self._closing: set[asyncio.Task[None]] = set()
        # a stopped part taking the frames still on their way: its closing timer and chapters
        self._draining: tuple[asyncio.TimerHandle, list[Chapter]] | None = None
        self._closed = False

    @property
    def conference(self) -> Conference:
        return self.live.conference

    @property
    def writing(self) -> bool:
        return self._part is not None

    # ------------------------------------------------------------ the runtime's side

    def start(self) -> None:
        """At server start: resume a running recording (in a new part), or start it automatically."""
        state = self.live.state
        if state.recording is not None and state.recording.active:
            self._begin(state)
        elif self._starts_automatically(state):
            self._execute_soon(c.StartRecording())

    def follow(self, events: list[e.Event], state: SessionState) -> None:
        """The listener: after every applied command."""
        for event in events:
            self.timeline.add(event)
        kinds = {type(event) for event in events}
        if e.RecordingStopped in kinds:
            self._end()
        if e.RecordingStarted in kinds:
            self._begin(state)
        elif e.SessionStarted in kinds and self._starts_automatically(state):
            self._execute_soon(c.StartRecording())
        elif self.writing and kinds & {e.SegmentStarted, e.SegmentEnded, e.VenueTookAir, e.ProgramFellBack,
                                       e.CaptionChanged}:
            self._write_sidecar()

    async def close(self) -> None:
        """At server stop: close the current part (the recording itself goes on at the next start)."""
        self._closed = True
        self._end()
        self._drained()
        self.receiver.stop()
        await self.receiver.stopped()
        await asyncio.gather(*self._closing)
        if self._writer is not None:
            await self._writer.stop()

    # ------------------------------------------------------------ starting and stopping

    def _starts_automatically(self, state: SessionState) -> bool:
        recording = state.recording
        return (self.options.automatic and state.phase is SessionPhase.RUNNING
                and (recording is None or (not recording.active and recording.stop_reason not in _NO_AUTOMATIC_START)))

    def _execute_soon(self, command: c.Command) -> None:
        """Run `command` after the current one (its listeners see its events in order)."""
        asyncio.get_running_loop().call_soon(self._execute, command)

    def _execute(self, command: c.Command) -> None:
        try:
            self.live.execute(command)
        except CommandRejected as exc:
            log.info("recording_command_ignored", command=command.type, reason=str(exc))

    def _begin(self, state: SessionState) -> None:
        assert state.recording is not None
        if self._part is not None or self._closed:
            return
        self._drained()
        origin = state.recording.started_at
        folder = self.options.folder
        self._stem = f"{self.conference.conference.id}.{Clock(self.conference.conference.timezone).at(origin):%Y-%m-%d-%H%M%S}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._parts = self._read_parts()
            path = folder / self._part_name(self._next_part_number())
        except OSError as exc:
            self._failed(failure_of(exc), f"{exc.strerror or exc}: {exc.filename or folder}")
            return
        if self._writer is None:
            self._writer = ProgramWriter(self._failed, min_free_bytes=self.options.min_free_bytes,
                                         open_part=self._open_part)
        wall, started = time.time(), time.monotonic()
        self._part = PartStart(path, self._title(origin), max(wall - origin, 0.0), started)
        self._parts.append({"file": path.name, "start_s": round(self._part.offset_s, 3), "end_s": None,
                            "complete": False})
        self._writer.start_part(self._part)
        self.receiver.start()
        log.info("recording_part_started", file=str(path), offset_s=round(self._part.offset_s, 3))
        self._write_sidecar()

    def _end(self) -> None:
        """The recording stopped now: the frames sent before it still come in for `DRAIN_S`,
        then the part is closed (with the chapters up to now) and the receiver stopped."""
        part, self._part = self._part, None
        if part is None or self._writer is None:
            return
        stop_s = part.offset_s + time.monotonic() - part.started
        self._writer.end_at(stop_s)
        timer = asyncio.get_running_loop().call_later(DRAIN_S, self._drained)
        self._draining = (timer, self.timeline.chapters(part.offset_s, stop_s))

    def _drained(self) -> None:
        """Close the stopped part now (if one is still taking frames)."""
        draining, self._draining = self._draining, None
        if draining is None or self._writer is None:
            return
        timer, chapters = draining
        timer.cancel()
        self.receiver.stop()
        task = asyncio.ensure_future(self._part_closed(self._writer.close_part(chapters)))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _part_closed(self, written: asyncio.Future[PartWritten | None]) -> None:
        result = await written
        if result is not None:
            self._record_part(result)
        self._write_sidecar()

    def _record_part(self, written: PartWritten) -> None:
        entry = next((p for p in self._parts if p["file"] == written.path.name), None)
        if entry is None:
            return
        entry["end_s"] = written.last_s
        entry["complete"] = written.complete
        if written.first_s is None:  # nothing was received: no file was made
            self._parts.remove(entry)

    def _failed(self, reason: Failure, detail: str) -> None:
        """The recording cannot go on: the core is told (after the command being handled, if any)."""
        log.warning("recording_failed", reason=reason, detail=detail)
        self._execute_soon(c.RecordingFailed(failure=reason, detail=shown(detail, limit=400)))

    # ------------------------------------------------------------ frames

    def _frame(self, track: Track, data: bytes, rtp: int) -> None:
        if (self._part is not None or self._draining is not None) and self._writer is not None:
            self._writer.frame(track, data, rtp)

    def _new_connection(self) -> None:
        if self._writer is not None:
            self._writer.new_connection()

    # ------------------------------------------------------------ files

    def _title(self, origin: float) -> str:
        clock = Clock(self.conference.conference.timezone)
        return f"{self.conference.conference.title} ({clock.date(origin)})"

    def _part_name(self, number: int) -> str:
        assert self._stem is not None
        return f"{self._stem}{'' if number == 1 else f'.part{number}'}{EXTENSION}"

    def _next_part_number(self) -> int:
        assert self._stem is not None
        pattern = re.compile(re.escape(self._stem) + r"(?:\.part(\d+))?" + re.escape(EXTENSION))
        taken = [int(m.group(1) or 1) for p in self.options.folder.iterdir() if (m := pattern.fullmatch(p.name))]
        taken += [int(m.group(1) or 1) for p in self._parts if (m := pattern.fullmatch(p["file"]))]
        return max(taken, default=0) + 1

    def _sidecar_path(self) -> Path:
        assert self._stem is not None
        return self.options.folder / f"{self._stem}.json"

    def _read_parts(self) -> list[dict[str, Any]]:
        """The parts an earlier run of the server wrote, from the sidecar it left."""
        if self._parts:
            return self._parts
        try:
            parts = json.loads(self._sidecar_path().read_text(encoding="utf-8"))["parts"]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("recording_sidecar_unreadable", file=str(self._sidecar_path()), error=str(exc))
            return []
        return [p for p in parts if isinstance(p, dict) and isinstance(p.get("file"), str)]

    def _write_sidecar(self) -> None:
        if self._stem is None or self.timeline.origin is None:
            return
        path = self._sidecar_path()
        text = json.dumps(self.timeline.document(self._parts), ensure_ascii=False, indent=1)
        temporary = path.with_name(path.name + ".tmp")
        try:
            temporary.write_text(text + "\n", encoding="utf-8")
            os.replace(temporary, path)
        except OSError as exc:
            if self._part is not None:
                self._failed(failure_of(exc), f"{exc.strerror or exc}: {exc.filename or path}")
