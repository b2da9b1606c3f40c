"""The program's recording in real sessions: real venue agents over WebRTC on loopback, the
recorder a client peer of the server's media plane, the files read back with ffprobe and
decoded with PyAV (the tests decode; the server never does)."""

from __future__ import annotations

import asyncio
import errno
import itertools
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import av
import pytest
from aiortc import RTCPeerConnection

from orchestrator.config import Conference
from orchestrator.media.aiortc_tap import restrict_host_addresses
from orchestrator.media.plane import OfferRejected, RecorderPeer
from orchestrator.operator_client import wait_healthy
from orchestrator.recording.matroska import MatroskaPart
from tests.conftest import SAMPLE
from tests.integration.test_no_transcoding import PRELUDE
from tests.support.live import (
    Live,
    embedded_media,
    free_port,
    running_live,
    server_process,
    start_live,
    stop_processes,
    wait_for,
)
from venues.synthetic import read_mark

SWITCH_S = 1.0  # a take shows in the program within this (the router cuts at the new venue's next key frame)


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                          "-show_chapters", str(path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def decoded_marks(path: Path, conference: Conference) -> list[tuple[float, str | None]]:
    """(time, venue whose mark the picture shows) for every decoded picture of the program."""
    venues = [v.id for v in conference.venues]
    with av.open(str(path)) as container:
        return [(float(frame.time), venues[m] if (m := read_mark(frame)) is not None else None)
                for frame in container.decode(video=0)]


def recording_files(folder: Path) -> tuple[list[Path], dict]:
    """The recording's parts (in order) and its sidecar."""
    (sidecar,) = folder.glob("*.json")
    doc = json.loads(sidecar.read_text(encoding="utf-8"))
    return [folder / part["file"] for part in doc["parts"]], doc


@pytest.fixture
def mounted(tmp_path) -> Iterator[callable]:
    """mount(options) -> a fresh tmpfs mounted with those options, or None where mounting is not allowed."""
    points: list[Path] = []

    def mount(options: str) -> Path | None:
        point = tmp_path / f"mount{len(points)}"
        point.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True).returncode:
            return None
        points.append(point)
        return point

    yield mount
    for point in points:
        subprocess.run(["umount", "-l", str(point)], check=False)


@pytest.fixture
async def recorded(tmp_path, sample_conf):
    """A live server on the sample conference, recording into tmp_path/rec from the session's start."""
    async with running_live(sample_conf, tmp_path / "data", record_dir=tmp_path / "rec") as live:
        yield live


# ------------------------------------------------------------------ a session, recorded


@pytest.mark.slow
async def test_a_recorded_session_with_five_takes(recorded, sample_conf, tmp_path):
    live = recorded
    await live.join(["main", "nanhu", "pinghu", "xiuzhou", "haiyan", "development-zone"])
    await live.command({"type": "start_session"})
    state = await live.wait_for_state(lambda s: s["recording"] and s["recording"]["active"], 3, "the recording to start")
    await asyncio.sleep(3)
    for command in ({"type": "take", "venue": "nanhu"},
                    {"type": "goto_segment", "segment": "exchange-pinghu"},
                    {"type": "goto_segment", "segment": "exchange-xiuzhou"},
                    {"type": "take", "venue": "haiyan"},
                    {"type": "goto_segment", "segment": "exchange-development-zone"}):
        await live.command(command)
        await asyncio.sleep(3)
    await live.command({"type": "end_session"})
    state = await live.state()
    assert state["recording"]["active"] is False and state["recording"]["stop_reason"] == "session_ended"
    session_s = state["ended_at"] - state["started_at"]
    origin = state["recording"]["started_at"]
    await wait_for(lambda: (tmp_path / "rec").exists() and any((tmp_path / "rec").glob("*.json")), 5, "the sidecar")

    # the files: one part, its sidecar
    await wait_for(lambda: recording_files(tmp_path / "rec")[1]["parts"][0]["complete"], 5, "the part to be closed")
    (part,), doc = recording_files(tmp_path / "rec")
    assert part.name == f"{sample_conf.conference.id}.{time.strftime('%Y-%m-%d-%H%M%S', time.gmtime(origin + 8 * 3600))}.webm"
    probe = ffprobe(part)
    assert [(s["codec_type"], s["codec_name"]) for s in probe["streams"]] == [
        ("video", "vp8"), ("audio", "opus"), ("audio", "opus")]
    assert abs(float(probe["format"]["duration"]) - session_s) < 1.0, (probe["format"]["duration"], session_s)

    # the takes, and every taken venue's mark in its own time span
    takes = [(t["venue"], t["at_s"]) for t in doc["takes"]]
    assert [venue for venue, _ in takes] == ["nanhu", "pinghu", "xiuzhou", "haiyan", "development-zone"]
    spans = [("main", 0.0), *takes]
    ends = [at for _, at in takes] + [session_s]
    marks = decoded_marks(part, sample_conf)
    for (venue, start), end in zip(spans, ends):
        shown = [seen for t, seen in marks if start + SWITCH_S <= t < end]
        assert len(shown) > 15 and set(shown) == {venue}, (venue, start, end, sorted(set(shown), key=str))
    # a continuous timeline: no gap in the picture across the takes
    times = [t for t, _ in marks]
    assert max(b - a for a, b in itertools.pairwise(times)) < 0.5

    # a chapter per segment, where the segment ran
    segments = [s for s in state["segments"] if s["status"] == "done"]
    assert [s["id"] for s in segments] == ["opening", "exchange-pinghu", "exchange-xiuzhou", "exchange-development-zone"]
    chapters = probe["chapters"]
    assert [c["tags"]["title"] for c in chapters] == [
        "Opening of the meeting · Jiaxing Grand Theatre", "Exchange speech: Pinghu City",
        "Exchange speech: Xiuzhou District",
        "Exchange speech: Jiaxing Economic and Technological Development Zone (Humin Sub-district)",
    ]
    for chapter, segment in zip(chapters, segments):
        assert abs(float(chapter["start_time"]) - max(segment["started_at"] - origin, 0)) < 0.01
        assert abs(float(chapter["end_time"]) - min(segment["ended_at"] - origin, float(probe["format"]["duration"]))) < 0.05
    assert [s["chapter"] for s in doc["segments"]] == [c["tags"]["title"] for c in chapters]
    # captions with their times, relative and in the conference's time zone
    assert doc["captions"][0]["text"].startswith("Li Jun") and doc["captions"][0]["at_s"] == 0.0
    assert all(c["wall"].endswith("+08:00") for c in doc["captions"])
    assert "Leader of Pinghu City" in [c["text"] for c in doc["captions"]]


# ------------------------------------------------------------------ the recorder in its own server process


@pytest.mark.slow
async def test_a_killed_recorder_leaves_a_readable_file_and_the_next_part_follows_on_with_no_codec(
    tmp_path, sample_conf
):
    restrict_host_addresses(["127.0.0.1"])
    port, data, folder = free_port(), tmp_path / "data", tmp_path / "rec"
    count_file = tmp_path / "codecs.json"
    base = f"http://127.0.0.1:{port}"
    procs = [server_process(SAMPLE, data, port, "--record", str(folder))]
    async with aiohttp.ClientSession() as http:
        live = Live(sample_conf, base, None, http)
        try:
            await wait_for_server(base, procs[-1])
            async with http.get(base + "/api/links", headers=live.auth) as r:
                live.link = (await r.json()).__getitem__
            await live.join(["main", "pinghu", "nanhu"])
            await live.command({"type": "start_session"})
            await live.command({"type": "take", "venue": "pinghu"})
            await asyncio.sleep(5)
            state = await live.state()
            assert state["recording"]["active"]
            killed_at = time.time() - state["recording"]["started_at"]
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait()

            (part1,), doc = recording_files(folder)
            probe = ffprobe(part1)  # no index, no duration, no chapters: still a file ffprobe reads
            assert [s["codec_name"] for s in probe["streams"]] == ["vp8", "opus", "opus"]
            marks = decoded_marks(part1, sample_conf)
            print(f"\nrecording killed {killed_at:.2f} s in; its file ends at {marks[-1][0]:.2f} s")
            assert marks[-1][0] >= killed_at - 2.5, f"killed at {killed_at:.1f} s, the file ends at {marks[-1][0]:.1f} s"
            assert {seen for t, seen in marks if t > killed_at - 3} == {"pinghu"}
            assert doc["parts"][0]["complete"] is False

            # started again (counting codecs): the recording goes on in a new part, on the same timeline
            procs.append(server_process(SAMPLE, data, port, "--record", str(folder),
                                        python_prelude=f"COUNT_FILE = {str(count_file)!r}\n" + PRELUDE))
            await wait_for_server(base, procs[-1])
            await live.wait_for_state(lambda s: s["venues"]["nanhu"]["connected"] and s["venues"]["pinghu"]["connected"],
                                      20, "the venues to rejoin")
            await live.command({"type": "take", "venue": "nanhu"})
            await asyncio.sleep(4)
            await live.command({"type": "end_session"})
            await wait_for(lambda: len(recording_files(folder)[1]["parts"]) == 2
                           and recording_files(folder)[1]["parts"][1]["complete"], 10, "the second part to be closed")
            procs[1].send_signal(signal.SIGTERM)
            await wait_for(lambda: procs[1].poll() is not None, 10, "the server to stop")
            assert procs[1].returncode == 0, procs[1].stderr.read()
        finally:
            await live.stop_agents()
            stop_processes(procs)

    assert json.loads(count_file.read_text()) == {"decoders": 0, "encoders": 0}, "recording decodes and encodes nothing"
    (part1, part2), doc = recording_files(folder)
    assert part2.name == part1.name.replace(".webm", ".part2.webm")
    probe = ffprobe(part2)
    start = float(probe["format"]["start_time"])
    assert start > marks[-1][0], "the second part's timestamps follow on from the first part's"
    assert doc["parts"][1]["start_s"] <= start, "the part holds nothing from before it began"
    marks2 = decoded_marks(part2, sample_conf)
    nanhu_at = next(t["at_s"] for t in doc["takes"] if t["venue"] == "nanhu")
    assert {seen for t, seen in marks2 if t > nanhu_at + SWITCH_S} == {"nanhu"}
    assert [c["tags"]["title"] for c in probe["chapters"]] == ["Opening of the meeting · Jiaxing Grand Theatre"]
    assert float(probe["chapters"][0]["start_time"]) == pytest.approx(doc["parts"][1]["start_s"], abs=0.002)


async def wait_for_server(base: str, proc: subprocess.Popen) -> None:
    await wait_healthy(base, 15, interval=0.1, give_up=lambda: proc.stderr.read() if proc.poll() is not None else None)


# ------------------------------------------------------------------ when the disk cannot take it


@pytest.mark.slow
async def test_a_full_disk_stops_the_recording_and_the_session_goes_on(tmp_path, sample_conf, mounted, monkeypatch):
    folder = mounted("size=160k")
    if folder is None:  # no mounting here: the disk fills up at the writer's seam after 100 kB
        folder = tmp_path / "rec"
        write = MatroskaPart.write

        def filling_write(self, track, data, seconds, keyframe):
            self.bytes = getattr(self, "bytes", 0) + len(data)
            if self.bytes > 100_000:
                raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
            write(self, track, data, seconds, keyframe)

        monkeypatch.setattr(MatroskaPart, "write", filling_write)
    live, server = await start_live(sample_conf, tmp_path / "data", record_dir=folder, record_min_free_mb=0)
    try:
        await live.join(["main", "pinghu"])
        await live.command({"type": "start_session"})
        await live.command({"type": "take", "venue": "pinghu"})
        state = await live.wait_for_state(lambda s: s["recording"] and not s["recording"]["active"], 30,
                                          "the recording to stop")
        assert state["recording"]["stop_reason"] == "disk_full"
        assert "No space left on device" in state["recording"]["detail"]
        # the session goes on: a take still reaches the venues
        assert state["phase"] == "running"
        await live.command({"type": "take", "venue": "main"})
        await wait_for(lambda: live.agents["pinghu"].agent.stats.seen == "main", 3, "the take after the full disk")
        refused = await live.command({"type": "stop_recording"}, expect=409)
        assert refused.error == "cannot stop recording the program: the program is not being recorded"
    finally:
        await live.stop_agents()
        await live.http.close()
        await server.close()
    (part,), _ = recording_files(folder)  # the sidecar as it was before the disk filled up
    assert ffprobe(part)["streams"], "what was written before the disk filled up stays readable"


async def test_an_unwritable_folder_stops_the_recording_at_once_and_the_session_goes_on(tmp_path, sample_conf, mounted):
    folder = mounted("ro,size=64k")
    if folder is None:  # no mounting here: a folder that cannot be made (its parent is a file)
        (tmp_path / "file").write_text("")
        folder = tmp_path / "file" / "rec"
    live, server = await start_live(sample_conf, tmp_path / "data", record_dir=folder)
    try:
        await live.join(["main", "pinghu"])
        await live.command({"type": "start_session"})
        state = await live.wait_for_state(lambda s: s["recording"] and not s["recording"]["active"], 5,
                                          "the recording to stop")
        assert state["recording"]["stop_reason"] == "unwritable"
        assert str(folder) in state["recording"]["detail"]
        await live.command({"type": "take", "venue": "pinghu"})
        await wait_for(lambda: live.agents["main"].agent.stats.seen == "pinghu", 3, "a take after the failure")
        # the operator starts it again: it stops again, with the same reason
        await live.command({"type": "start_recording"})
        state = await live.wait_for_state(lambda s: not s["recording"]["active"], 5, "the recording to stop again")
        assert state["recording"]["stop_reason"] == "unwritable"
    finally:
        await live.stop_agents()
        await live.http.close()
        await server.close()
    assert not any(folder.iterdir()) if folder.is_dir() else not folder.exists()


# ------------------------------------------------------------------ the operator's switch


async def test_the_operator_records_into_the_data_folder_and_a_restart_goes_on_in_a_new_part(tmp_path, sample_conf):
    data = tmp_path / "data"
    live, server = await start_live(sample_conf, data)  # no --record: nothing is recorded by itself
    try:
        await live.join(["main", "pinghu"])
        await live.command({"type": "start_session"})
        state = await live.state()
        assert state["recording"] is None
        await live.command({"type": "start_recording"})
        await live.command({"type": "take", "venue": "pinghu"})
        await asyncio.sleep(2.5)
        await live.command({"type": "stop_recording"})
        await asyncio.sleep(1)
        refused = await live.command({"type": "stop_recording"}, expect=409)
        assert refused.error == "cannot stop recording the program: the program is not being recorded"
        await live.command({"type": "start_recording"})
        await asyncio.sleep(2.5)
    finally:
        await live.stop_agents()
        await live.http.close()
        await server.close()  # the server stops while recording: the part is closed, the recording goes on
    (first, second), doc = recording_files(data / "recordings")
    assert [p["complete"] for p in doc["parts"]] == [True, True]
    assert [r["stop_reason"] for r in doc["runs"]] == ["operator", None]
    one, two = ffprobe(first), ffprobe(second)
    assert float(two["format"]["start_time"]) >= float(one["format"]["duration"]) + 0.9, "the pause is on the timeline"

    # started again with --record: the log says the recording runs, so it goes on in a third part
    live, server = await start_live(sample_conf, data, record_dir=data / "recordings")
    try:
        await live.join(["main", "pinghu"])
        await wait_for(lambda: len(recording_files(data / "recordings")[1]["parts"]) == 3, 5, "a third part")
        await live.command({"type": "stop_recording"})
    finally:
        await live.stop_agents()
        await live.http.close()
        await server.close()
    # stopped by the operator: a restart with --record leaves it stopped
    live, server = await start_live(sample_conf, data, record_dir=data / "recordings")
    try:
        await asyncio.sleep(0.5)
        state = await live.state()
        assert state["phase"] == "running" and state["recording"]["active"] is False
        assert state["recording"]["stop_reason"] == "operator"
    finally:
        await live.http.close()
        await server.close()


async def test_with_record_the_recording_starts_when_the_server_starts_on_a_running_session(tmp_path, sample_conf):
    data = tmp_path / "data"
    live, server = await start_live(sample_conf, data)
    try:
        await live.command({"type": "start_session"})
    finally:
        await live.http.close()
        await server.close()
    live, server = await start_live(sample_conf, data, record_dir=tmp_path / "rec")
    try:
        state = await live.wait_for_state(lambda s: s["recording"] is not None, 3, "the recording to start")
        assert state["recording"]["active"] and state["recording"]["started_at"] > state["started_at"]
    finally:
        await live.http.close()
        await server.close()


async def test_the_media_plane_answers_only_a_receive_only_recorder_offer(live):
    media = embedded_media(live.server_app)
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("video", direction="sendrecv")
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        with pytest.raises(OfferRejected, match="a recorder offer has one receive-only video section"):
            await media.answer_recorder(RecorderPeer(), pc.localDescription.sdp)
    finally:
        await pc.close()
    assert RecorderPeer() not in media.peer_ids
