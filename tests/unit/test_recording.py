"""The recording's pieces on their own: timestamps, the timeline, a WebM part (real files, read back with PyAV)."""

from __future__ import annotations

import asyncio
import errno
import shutil
import time
from pathlib import Path

import av
import pytest

from orchestrator.core import Session
from orchestrator.core import commands as c
from orchestrator.media.codec import vp8_picture_size
from orchestrator.recording.matroska import Chapter, MatroskaPart, Track, failure_of
from orchestrator.recording.timeline import RecordingTimeline
from orchestrator.recording.writer import PartStart, ProgramWriter, TrackClock
from venues.synthetic import MarkedVideo, ToneAudio, read_mark

FPS = 15


@pytest.fixture(scope="module")
def video() -> MarkedVideo:
    return MarkedVideo(3, fps=FPS)


@pytest.fixture(scope="module")
def audio() -> ToneAudio:
    return ToneAudio(3)


def write_program(part: MatroskaPart, video: MarkedVideo, audio: ToneAudio, seconds: float, start: float,
                  on_frame=lambda t: None) -> None:
    """`seconds` of the program into `part` from `start`: video at 15 fps, 20 ms Opus frames."""
    for i in range(round(seconds * FPS)):
        t = start + i / FPS
        part.write(Track.VIDEO, video.frames[i % len(video.frames)], t, video.keyframe[i % len(video.frames)])
        for k in range(3):
            part.write(Track.PROGRAM_AUDIO, audio.frames[(3 * i + k) % len(audio.frames)], t + k * 0.02, True)
        on_frame(t)


# ------------------------------------------------------------------ timestamps


def place(clock: TrackClock, rtp: int, arrival: float) -> float:
    return clock.seconds(clock.observe(rtp, arrival))


def test_track_clock_places_frames_by_rtp_time_across_the_wrap():
    clock = TrackClock(90_000)
    first = 0xFFFF_FF00
    assert place(clock, first, 10.0) == 10.0, "the first frame goes where it arrived"
    # later frames, past the 32-bit wrap, one arriving late: placed by their RTP time
    assert place(clock, (first + 6000) & 0xFFFFFFFF, 10.2) == pytest.approx(10.0 + 6000 / 90_000)
    assert place(clock, (first + 12000) & 0xFFFFFFFF, 10.14) == pytest.approx(10.0 + 12000 / 90_000)


def test_track_clock_takes_the_soonest_arrival_as_the_transit_time():
    """A burst of frames queued while the connection was made: they keep their RTP spacing,
    placed by the frame that came soonest after it was sent."""
    clock = TrackClock(90_000)
    burst = [clock.observe(i * 6000, 12.0 + i * 0.001) for i in range(30)]  # 2 s of frames within 30 ms
    steady = clock.observe(30 * 6000, 12.04)  # then one in real time
    assert clock.seconds(steady) == pytest.approx(12.04)
    assert clock.seconds(burst[0]) == pytest.approx(12.04 - 2.0), "the burst goes back to when it was sent"
    assert clock.seconds(burst[29]) - clock.seconds(burst[0]) == pytest.approx(29 / 15)


def test_track_clock_follows_a_sender_whose_rtp_clock_falls_behind():
    """A sender that fell behind skips ahead in time but not in RTP time: within the
    window, its frames are placed where they arrive again."""
    clock = TrackClock(90_000)
    for i in range(30):  # 2 s in step
        place(clock, i * 6000, i / 15)
    lag = 1.5  # then its frames arrive 1.5 s later than their RTP time says
    placed = [place(clock, i * 6000, i / 15 + lag) for i in range(30, 90)]
    assert placed[0] == pytest.approx(2.0), "at first it is placed by the transit time it had"
    assert placed[-1] == pytest.approx(89 / 15 + lag), "after the window, where it arrives"


def test_track_clock_re_anchors_after_a_pause_and_a_new_connection():
    clock = TrackClock(48_000)
    place(clock, 1000, 5.0)
    assert place(clock, 1960, 5.02) == pytest.approx(5.02)
    # the sender paused 4 s and its RTP time did not run on: the frame goes where it arrived
    assert place(clock, 2920, 9.0) == 9.0
    assert place(clock, 3880, 9.03) == pytest.approx(9.02)
    clock.reset()  # a new connection: a new RTP origin
    assert place(clock, 123, 12.5) == 12.5


# ------------------------------------------------------------------ the timeline


def test_timeline_makes_a_chapter_per_segment_and_the_sidecar_in_the_conference_time_zone(small_conf, clock):
    session = Session(small_conf)
    log = []

    def run(command, at: float) -> None:
        log.extend(session.handle(command, at))

    start = clock.now  # 14:30:00 in Shanghai
    for venue in ("main", "pinghu"):
        run(c.JoinVenue(venue=venue), start)
    run(c.StartSession(), start)
    run(c.StartRecording(), start + 5)  # the recording starts 5 s into the first segment
    run(c.GotoSegment(segment="speech-pinghu"), start + 20)  # pinghu on air (the segment's venue)
    run(c.Take(venue="main"), start + 30)
    run(c.NextSegment(), start + 40)  # haiyan is not connected: the program falls back
    run(c.EndSession(), start + 50)

    timeline = RecordingTimeline(small_conf)
    for event in log:
        timeline.add(event)
    assert timeline.origin == start + 5
    assert timeline.chapters(0.0, 45.0) == [
        Chapter(0.0, 15.0, "Opening · Theatre"),
        Chapter(15.0, 35.0, "Pinghu speaks · Pinghu City"),
        Chapter(35.0, 45.0, "Haiyan speaks · Theatre"),
    ]
    assert timeline.chapters(20.0, 30.0) == [Chapter(20.0, 30.0, "Pinghu speaks · Pinghu City")]

    doc = timeline.document([{"file": "x.webm", "start_s": 0.0, "end_s": 45.0, "complete": True}])
    assert doc["started"] == {"unix": start + 5, "at_s": 0.0, "time": "14:30:05", "wall": "2025-02-05T14:30:05+08:00"}
    assert [(s["segment"], s["venue"], s["start"]["at_s"], s["end"]["at_s"]) for s in doc["segments"]] == [
        ("opening", "main", 0.0, 15.0), ("speech-pinghu", "pinghu", 15.0, 35.0), ("speech-haiyan", "main", 35.0, 45.0),
    ]
    assert [(t["at_s"], t["time"], t["venue_name"], t["reason"], t["segment"]) for t in doc["takes"]] == [
        (15.0, "14:30:20", "Pinghu City", "segment", "speech-pinghu"),
        (25.0, "14:30:30", "Theatre", "take", "speech-pinghu"),
        (35.0, "14:30:40", "Theatre", "fallback", "speech-haiyan"),
    ]
    assert "haiyan" in doc["takes"][-1]["note"]
    assert [(x["at_s"], x["text"]) for x in doc["captions"]] == [
        (0.0, "The Mayor"), (15.0, "Leader of Pinghu"), (35.0, None),
    ], "the caption shown when the recording started comes first"
    assert doc["runs"] == [{"start": {"at_s": 0.0, "time": "14:30:05", "wall": "2025-02-05T14:30:05+08:00"},
                            "stop": {"at_s": 45.0, "time": "14:30:50", "wall": "2025-02-05T14:30:50+08:00"},
                            "stop_reason": "session_ended"}]


# ------------------------------------------------------------------ a part of the recording


def test_vp8_picture_size_is_read_from_key_frames_only(video):
    assert vp8_picture_size(video.frames[0]) == (video.width, video.height)
    assert vp8_picture_size(video.frames[1]) is None
    assert vp8_picture_size(b"\x00\x01") is None


def test_a_part_is_readable_while_it_is_written_and_closes_with_its_chapters(tmp_path, video, audio):
    path, killed = tmp_path / "part.webm", tmp_path / "killed.webm"

    def copy_at_four_seconds(t: float) -> None:
        if abs(t - 5.0) < 1e-9:  # what a kill at 4 s into the part would leave
            shutil.copy(path, killed)

    part = MatroskaPart(path, video.width, video.height, "A meeting")
    write_program(part, video, audio, 6.0, start=1.0, on_frame=copy_at_four_seconds)
    part.close([Chapter(1.0, 3.5, "Opening"), Chapter(3.5, 7.0, "Exchange speech: Pinghu City")])

    with av.open(str(path)) as container:
        assert [s.codec.name for s in container.streams] == ["vp8", "opus", "opus"]
        assert container.metadata["title"] == "A meeting"
        assert [(ch["start"] * ch["time_base"], ch["metadata"]["title"]) for ch in container.chapters()] == [
            (1, "Opening"), (3.5, "Exchange speech: Pinghu City")]
        marks, times = set(), []
        for frame in container.decode(video=0):
            marks.add(read_mark(frame))
            times.append(float(frame.time))
        assert marks == {3}
        assert times[0] == 1.0 and times[-1] == pytest.approx(1.0 + 89 / FPS, abs=0.001) and len(times) == 90

    with av.open(str(killed)) as container:  # no index, no duration: still read up to the last cluster
        last = max(float(p.pts * p.time_base) for p in container.demux(video=0) if p.pts is not None)
    assert last >= 5.0 - 1.5, f"a kill at 5.0 s lost the frames from {last} s on"


def test_write_errors_say_what_they_mean():
    assert failure_of(OSError(errno.ENOSPC, "No space left on device")) == "disk_full"
    assert failure_of(OSError(errno.EDQUOT, "Disk quota exceeded")) == "disk_full"
    assert failure_of(OSError(errno.EROFS, "Read-only file system")) == "unwritable"
    assert failure_of(OSError(errno.EACCES, "Permission denied")) == "unwritable"
    assert failure_of(OSError(errno.EIO, "Input/output error")) == "error"


# ------------------------------------------------------------------ the writer's thread


class FullDiskPart:
    """A part whose disk is full after `room` frames (the writer's seam)."""

    def __init__(self, path: Path, width: int, height: int, title: str, room: int = 3):
        self.written, self.room, self.abandoned = 0, room, False
        self.first_s: float | None = None
        self.last_s: float | None = None

    def write(self, track, data, seconds, keyframe) -> None:
        if self.written >= self.room:
            raise OSError(errno.ENOSPC, "No space left on device", "/recordings/part.webm")
        self.written += 1
        self.first_s, self.last_s = self.first_s if self.first_s is not None else seconds, seconds

    def abandon(self) -> None:
        self.abandoned = True


async def test_the_writer_reports_a_full_disk_once_and_drops_what_follows(tmp_path, video):
    failures: list[tuple[str, str]] = []
    parts: list[FullDiskPart] = []

    def open_part(*args) -> FullDiskPart:
        parts.append(FullDiskPart(*args))
        return parts[-1]

    writer = ProgramWriter(lambda reason, detail: failures.append((reason, detail)), open_part=open_part)
    writer.start_part(PartStart(tmp_path / "part.webm", "t", 0.0, time.monotonic()))
    writer.frame(Track.PROGRAM_AUDIO, b"\xfc", 0)  # before the first key frame: dropped
    for i in range(10):
        writer.frame(Track.VIDEO, video.frames[i % len(video.frames)], i * 6000)
    written = await writer.close_part([])
    await writer.stop()
    assert failures == [("disk_full", "No space left on device: /recordings/part.webm")]
    assert parts[0].written == 3 and parts[0].abandoned
    assert written is not None and not written.complete


async def test_the_writer_stops_before_the_disk_is_full(tmp_path, video):
    failures: list[tuple[str, str]] = []
    writer = ProgramWriter(lambda reason, detail: failures.append((reason, detail)), min_free_bytes=2**62)
    writer.start_part(PartStart(tmp_path / "part.webm", "t", 0.0, time.monotonic()))
    writer.frame(Track.VIDEO, video.frames[0], 0)
    for _ in range(100):
        if failures:
            break
        await asyncio.sleep(0.01)
    await writer.close_part([])
    await writer.stop()
    assert [reason for reason, _ in failures] == ["disk_full"]
    assert f"are free in {tmp_path}" in failures[0][1]


async def test_the_writer_writes_a_part_on_the_recording_timeline(tmp_path, video):
    writer = ProgramWriter(lambda reason, detail: pytest.fail(f"{reason}: {detail}"))
    started = time.monotonic()
    writer.start_part(PartStart(tmp_path / "sub" / "part2.webm", "t", 60.0, started))
    for i in range(20):  # 15 fps, in real time, stamped in the 90 kHz clock
        writer.frame(Track.VIDEO, video.frames[i], 1_000 + i * 6000)
        await asyncio.sleep(1 / 15)
    written = await writer.close_part([Chapter(0.0, 90.0, "Mobilisation speech")])
    await writer.stop()
    assert written is not None and written.complete
    assert 60.0 <= written.first_s < 60.2 and written.last_s == pytest.approx(written.first_s + 19 / 15, abs=0.002)
    with av.open(str(written.path)) as container:
        (chapter,) = container.chapters()
        assert chapter["start"] * chapter["time_base"] == 60, "a later part's chapters start where the part does"
        assert chapter["metadata"]["title"] == "Mobilisation speech"
