"""The recording's writer: the program's encoded frames into file parts, on a thread of its own.

Frames arrive on the event loop (from the recorder's receivers) with their RTP timestamp
and are stamped there with their arrival time; everything that touches the disk happens
on the writer's thread, so a slow disk never stalls the media. The thread reports a
failure once (`on_failure(reason, detail)`, called on the event loop) and then drops
frames until the next part starts.

Timestamps: the recording has one timeline, in seconds since it first started. A part
starts at its offset on that timeline; within a part, each track's frames are placed by
their RTP timestamps (which the router keeps continuous across takes) plus the track's
transit offset (`TrackClock`). A new connection starts with a burst of the frames the
server queued while it was being made, so the first `SETTLE_S` of every connection are
held until the offset is known, then written where they belong.

A part's file is opened at the program's first key frame (the picture's size goes into
its header); frames before it are dropped.
"""

from __future__ import annotations

import asyncio
import queue
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..logs import get_logger
from ..media.codec import clock_rate, is_vp8_keyframe, vp8_picture_size
from .matroska import Chapter, Failure, MatroskaPart, Track, failure_of

log = get_logger(component="recording")

RESYNC_S = 3.0  # a frame this much later than its RTP time says: the sender paused; re-anchor
WINDOW_S = 2.0  # the transit offset is the smallest of the frames that arrived this recently
SETTLE_S = 1.0  # the first frames of a connection are held this long, until the transit offset is known
MAX_QUEUED = 3000  # frames waiting for the disk (about a minute of the program) before giving up
SPACE_CHECK_S = 2.0  # how often the free space of the folder is checked
JOIN_TIMEOUT_S = 10.0

PartOpener = Callable[[Path, int, int, str], MatroskaPart]
"""Opens a part's file: (path, width, height, title). The seam tests replace."""


class TrackClock:
    """One track's RTP timestamps as seconds on the recording's timeline.

    A frame goes at its RTP time plus the track's transit offset: the smallest (arrival
    minus RTP time) of the frames that arrived in the last `WINDOW_S`, from the frame that
    came soonest after it was sent. Frames that waited (queued while the connection was
    made, retransmitted) keep their RTP spacing, not their arrival's; a sender whose RTP
    clock falls behind the wall clock is followed within the window. A frame arriving more
    than `RESYNC_S` later than the offset says (its sender paused and its RTP clock did not
    run on) re-anchors the track at once.
    """

    def __init__(self, rate: int):
        self.rate = rate
        self._last: int | None = None  # the last unwrapped RTP timestamp
        self._offset: float | None = None  # seconds to add to the RTP time
        self._recent: deque[tuple[float, float]] = deque()  # (arrival, offset), offsets increasing

    def reset(self) -> None:
        """The next frame comes over a new connection: its timestamps start afresh."""
        self._last = self._offset = None
        self._recent.clear()

    def observe(self, rtp: int, arrival: float) -> int:
        """Take in a frame (RTP timestamp, arrival on the timeline); its RTP time unwrapped past 32 bits."""
        if self._last is None:
            unwrapped = rtp
        else:
            step = (rtp - self._last) & 0xFFFFFFFF
            unwrapped = self._last + (step if step < 0x80000000 else step - 0x100000000)
        self._last = unwrapped
        offset = arrival - unwrapped / self.rate
        recent = self._recent
        if self._offset is not None and offset - self._offset > RESYNC_S:
            recent.clear()
        while recent and recent[-1][1] >= offset:  # a sliding minimum: only smaller offsets can be it
            recent.pop()
        recent.append((arrival, offset))
        while recent[0][0] < arrival - WINDOW_S:
            recent.popleft()
        self._offset = recent[0][1]
        return unwrapped

    def seconds(self, unwrapped: int) -> float:
        """Where a frame observed with this (unwrapped) RTP time goes."""
        assert self._offset is not None, "observe a frame first"
        return unwrapped / self.rate + self._offset


@dataclass(frozen=True)
class PartStart:
    path: Path
    title: str
    offset_s: float  # where the part starts on the recording's timeline
    started: float  # time.monotonic() at that point


@dataclass(frozen=True)
class PartWritten:
    """What a closed (or failed) part holds: its first and last frame on the timeline (None: no frame)."""

    path: Path
    first_s: float | None
    last_s: float | None
    complete: bool  # closed with its index, duration and chapters


@dataclass(frozen=True)
class _Frame:
    track: Track
    data: bytes
    rtp: int
    arrival: float  # time.monotonic()


@dataclass(frozen=True)
class _Close:
    chapters: Sequence[Chapter]  # cut to what the part holds when it is closed
    done: Callable[[PartWritten | None], None]


@dataclass(frozen=True)
class _EndAt:
    seconds: float


_RESET = object()
_STOP = object()


class ProgramWriter:
    """Writes the program's frames into one part at a time, on its own thread."""

    def __init__(self, on_failure: Callable[[Failure, str], None], *, min_free_bytes: int = 0,
                 open_part: PartOpener = MatroskaPart):
        self._on_failure = on_failure
        self._min_free = min_free_bytes
        self._open_part = open_part
        self._loop = asyncio.get_running_loop()
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="recording-writer", daemon=True)
        self._thread.start()
        self._overflowed = False
        # the thread's own state
        self._start: PartStart | None = None
        self._part: MatroskaPart | None = None
        self._failed = False
        self._clocks = {track: TrackClock(clock_rate("video" if track is Track.VIDEO else "audio")) for track in Track}
        self._held: list[_Frame] | None = []  # the connection's first frames, until its offsets are known
        self._end_at: float | None = None
        self._next_space_check = 0.0

    # ------------------------------------------------------------ the event loop's side

    def start_part(self, start: PartStart) -> None:
        """Write from now on into a new part (the previous one must have been closed)."""
        self._overflowed = False
        self._queue.put(start)

    def frame(self, track: Track, data: bytes, rtp: int) -> None:
        """One encoded frame of `track`, as it arrives."""
        if self._queue.qsize() >= MAX_QUEUED:
            if not self._overflowed:
                self._overflowed = True
                self._on_failure("error", f"the disk does not keep up: {MAX_QUEUED} frames wait to be written")
            return
        self._queue.put(_Frame(track, data, rtp, time.monotonic()))

    def end_at(self, seconds: float) -> None:
        """Frames placed after `seconds` on the timeline are not written (the recording stopped then)."""
        self._queue.put(_EndAt(seconds))

    def new_connection(self) -> None:
        """The frames that follow come over a new connection (new RTP clocks)."""
        self._queue.put(_RESET)

    def close_part(self, chapters: Sequence[Chapter]) -> asyncio.Future[PartWritten | None]:
        """Close the current part with `chapters` (cut to what it holds). The future gets what
        the part holds (None: no part was open); frames that come after it are not written."""
        done: asyncio.Future[PartWritten | None] = self._loop.create_future()

        def resolve(result: PartWritten | None) -> None:
            if not done.done():
                done.set_result(result)

        def finished(result: PartWritten | None) -> None:
            self._loop.call_soon_threadsafe(resolve, result)

        self._queue.put(_Close(tuple(chapters), finished))
        return done

    async def stop(self) -> None:
        """End the thread (close the current part first)."""
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join, JOIN_TIMEOUT_S)

    # ------------------------------------------------------------ the writer's thread

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                self._handle(item)
            except Exception as exc:  # reported, and the thread goes on
                self._fail(exc)

    def _handle(self, item: object) -> None:
        if isinstance(item, PartStart):
            self._start, self._part, self._failed, self._end_at = item, None, False, None
            self._new_connection()
        elif isinstance(item, _EndAt):
            self._end_at = item.seconds
        elif item is _RESET:
            self._flush_held()
            self._new_connection()
        elif isinstance(item, _Frame):
            self._frame(item)
        elif isinstance(item, _Close):
            result = None
            try:
                self._flush_held()
                result = self._close(item)
            finally:
                item.done(result)

    def _new_connection(self) -> None:
        for clock in self._clocks.values():
            clock.reset()
        self._held = []

    def _frame(self, frame: _Frame) -> None:
        if self._held is None:
            clock = self._clocks[frame.track]
            self._write(frame, clock.seconds(clock.observe(frame.rtp, self._timeline(frame))))
            return
        self._held.append(frame)
        if frame.arrival - self._held[0].arrival >= SETTLE_S:
            self._flush_held()

    def _flush_held(self) -> None:
        """Write the held frames, now that each track's transit offset is known."""
        held, self._held = self._held or [], None
        placed = [(frame, self._clocks[frame.track].observe(frame.rtp, self._timeline(frame))) for frame in held]
        for frame, unwrapped in placed:
            self._write(frame, self._clocks[frame.track].seconds(unwrapped))

    def _timeline(self, frame: _Frame) -> float:
        """Where on the recording's timeline `frame` arrived."""
        start = self._start
        return start.offset_s + frame.arrival - start.started if start is not None else 0.0

    def _write(self, frame: _Frame, seconds: float) -> None:
        start = self._start
        if start is None or self._failed or (self._end_at is not None and seconds > self._end_at):
            return
        keyframe = frame.track is not Track.VIDEO or is_vp8_keyframe(frame.data)
        try:
            if self._part is None:
                size = vp8_picture_size(frame.data) if frame.track is Track.VIDEO else None
                if size is None:
                    return  # the part starts with the program's first key frame
                start.path.parent.mkdir(parents=True, exist_ok=True)
                self._part = self._open_part(start.path, *size, start.title)
                log.info("recording_file_opened", file=str(start.path), width=size[0], height=size[1],
                         offset_s=round(start.offset_s, 3))
            # frames queued before the part began go at its start
            self._part.write(frame.track, frame.data, max(seconds, start.offset_s), keyframe)
            self._check_space(start.path.parent)
        except Exception as exc:  # reported once; the frames that follow are dropped
            self._fail(exc)

    def _check_space(self, folder: Path) -> None:
        now = time.monotonic()
        if not self._min_free or now < self._next_space_check:
            return
        self._next_space_check = now + SPACE_CHECK_S
        free = shutil.disk_usage(folder).free
        if free < self._min_free:
            self._report("disk_full", f"only {free // 2**20} MB are free in {folder}; "
                                      f"the recording keeps at least {self._min_free // 2**20} MB free")

    def _close(self, item: _Close) -> PartWritten | None:
        part, start = self._part, self._start
        self._part = self._start = None
        if start is None:
            return None
        if part is None:
            return PartWritten(start.path, None, None, complete=False)
        if self._failed:
            part.abandon()
            return PartWritten(start.path, part.first_s, part.last_s, complete=False)
        first, last = start.offset_s, part.last_s or start.offset_s  # the part's span on the timeline
        chapters = [Chapter(max(ch.start_s, first), min(ch.end_s, last), ch.title) for ch in item.chapters]
        try:
            part.close([ch for ch in chapters if ch.end_s > ch.start_s])
        except Exception as exc:  # reported; the clusters written stay readable
            part.abandon()
            self._fail(exc)
            return PartWritten(start.path, part.first_s, part.last_s, complete=False)
        log.info("recording_part_closed", file=str(start.path), first_s=part.first_s, last_s=part.last_s)
        return PartWritten(start.path, part.first_s, part.last_s, complete=True)

    def _fail(self, exc: Exception) -> None:
        if isinstance(exc, OSError):
            self._report(failure_of(exc), f"{exc.strerror or exc}: {exc.filename or self._where()}")
        else:
            log.exception("recording_write_failed")
            self._report("error", f"{type(exc).__name__}: {exc}")

    def _where(self) -> str:
        return str(self._start.path) if self._start is not None else "the recording"

    def _report(self, reason: Failure, detail: str) -> None:
        if self._failed:
            return
        self._failed = True
        if self._part is not None:
            self._part.abandon()
        try:
            self._loop.call_soon_threadsafe(self._on_failure, reason, detail)
        except RuntimeError:  # the event loop has closed (the server stopped): the log says it
            log.warning("recording_failed", reason=reason, detail=detail)
