"""One file of the recording: encoded VP8 and Opus frames remuxed into WebM (Matroska) by PyAV.

Nothing is decoded or encoded: every frame becomes an `av.Packet` on a stream made with
`add_mux_stream` (a stream without a codec context), and libavformat's Matroska muxer
writes it as it is.

The file can be read while it is written and after the process is killed: the muxer
closes a cluster at least every second (`cluster_time_limit`), every packet is flushed to
the file (`flush_packets`), and its interleaving queue holds at most half a second
(`max_interleave_delta`, so a silent audio track does not hold the picture back). A
killed file lacks only what is written at the end (the index, the duration, the
chapters); ffprobe and players read it. Closed normally, it has all three.

Timestamps are milliseconds on the recording's timeline (Matroska's own unit), strictly
increasing within each track.
"""

from __future__ import annotations

import errno
import fractions
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Literal

import av

MUXER_OPTIONS = {"cluster_time_limit": "1000", "flush_packets": "1", "max_interleave_delta": "500000"}
FORMAT = "webm"
MILLISECOND = fractions.Fraction(1, 1000)

Failure = Literal["disk_full", "unwritable", "error"]

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR, errno.EISDIR}


class Track(str, Enum):
    """The recording's tracks, in the file's order: what a venue off air receives."""

    VIDEO = "video"  # the program's picture
    PROGRAM_AUDIO = "program_audio"  # the on-air venue's sound
    MAIN_AUDIO = "main_audio"  # the main venue's sound while another venue is on air


TRACK_TITLES = {
    Track.VIDEO: "Program",
    Track.PROGRAM_AUDIO: "Program sound (the venue on air)",
    Track.MAIN_AUDIO: "Main venue sound (while another venue is on air)",
}


@dataclass(frozen=True)
class Chapter:
    start_s: float
    end_s: float
    title: str


def failure_of(exc: OSError) -> Failure:
    """What an error writing the recording means for the operator."""
    if exc.errno in _DISK_FULL:
        return "disk_full"
    if exc.errno in _UNWRITABLE:
        return "unwritable"
    return "error"


class MatroskaPart:
    """One WebM file being written: a VP8 track and two Opus tracks, remuxed, never transcoded."""

    def __init__(self, path: Path, width: int, height: int, title: str):
        self.path = path
        self._container = av.open(str(path), "w", format=FORMAT, container_options=MUXER_OPTIONS)
        self._closed = False
        try:
            self._container.metadata["title"] = title
            self._streams = {
                Track.VIDEO: self._container.add_mux_stream("vp8", width=width, height=height),
                Track.PROGRAM_AUDIO: self._container.add_mux_stream("opus", rate=48_000),
                Track.MAIN_AUDIO: self._container.add_mux_stream("opus", rate=48_000),
            }
            for track, stream in self._streams.items():
                stream.metadata["title"] = TRACK_TITLES[track]
                stream.time_base = MILLISECOND
        except BaseException:
            self.abandon()
            raise
        self._last_ms: dict[Track, int] = {}
        self.first_s: float | None = None
        self.last_s: float | None = None

    def write(self, track: Track, data: bytes, seconds: float, keyframe: bool) -> None:
        """Add one encoded frame at `seconds` on the recording's timeline. Raises OSError."""
        ms = max(round(seconds * 1000), self._last_ms.get(track, -1) + 1)
        self._last_ms[track] = ms
        packet = av.Packet(data)
        packet.pts = packet.dts = ms
        packet.time_base = MILLISECOND
        packet.stream = self._streams[track]
        packet.is_keyframe = keyframe
        self._container.mux(packet)
        self.first_s = ms / 1000 if self.first_s is None else min(self.first_s, ms / 1000)
        self.last_s = ms / 1000 if self.last_s is None else max(self.last_s, ms / 1000)

    def close(self, chapters: Sequence[Chapter]) -> None:
        """Write the chapters, the index and the duration, and close the file. Raises OSError."""
        self._container.set_chapters([
            {"id": i, "start": round(ch.start_s * 1000), "end": round(ch.end_s * 1000), "time_base": MILLISECOND,
             "metadata": {"title": ch.title}}
            for i, ch in enumerate(chapters, start=1)
        ])
        self._closed = True
        self._container.close()

    def abandon(self) -> None:
        """Close after a failure, as far as that goes (the clusters written so far stay readable)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._container.close()
        except Exception:  # the disk that failed may fail the trailer too
            pass
