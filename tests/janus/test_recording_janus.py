"""The recorder on the Janus media plane: a downlink Janus offers, like a venue's, recorded
without transcoding; the file shows each taken venue in turn."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.integration.test_recording import decoded_marks, ffprobe, recording_files
from tests.support.janus_node import join
from tests.support.live import Live, wait_for

SWITCH_S = 1.0


async def test_a_session_recorded_through_janus(recorded_janus_live: Live, small_conf, tmp_path: Path) -> None:
    live = recorded_janus_live
    await join(live, ["main", "pinghu", "haiyan"])
    await live.command({"type": "start_session"})
    await live.wait_for_state(lambda s: s["recording"] and s["recording"]["active"], 5, "the recording to start")
    await asyncio.sleep(3)
    for venue in ("pinghu", "haiyan"):
        await live.command({"type": "take", "venue": venue})
        await asyncio.sleep(3)
    await live.command({"type": "end_session"})
    folder = tmp_path / "rec"
    await wait_for(lambda: folder.exists() and any(folder.glob("*.json")), 5, "the sidecar")
    await wait_for(lambda: recording_files(folder)[1]["parts"][0]["complete"], 10, "the part to be closed")
    (part,), doc = recording_files(folder)
    probe = ffprobe(part)
    assert [(s["codec_type"], s["codec_name"]) for s in probe["streams"]] == [
        ("video", "vp8"), ("audio", "opus"), ("audio", "opus")]
    takes = [(t["venue"], t["at_s"]) for t in doc["takes"]]
    assert [venue for venue, _ in takes] == ["pinghu", "haiyan"]
    spans, ends = [("main", 0.0), *takes], [at for _, at in takes] + [float(probe["format"]["duration"])]
    marks = decoded_marks(part, small_conf)
    for (venue, start), end in zip(spans, ends, strict=True):
        shown = [seen for t, seen in marks if start + SWITCH_S <= t < end]
        assert len(shown) > 10 and set(shown) == {venue}, (venue, start, end, sorted(set(shown), key=str))
