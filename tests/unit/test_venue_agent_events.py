"""What the venue agent logs of the program it receives, without a server: the frames handed
to its keyframe-only reader as aiortc's receiver would hand them."""

from __future__ import annotations

import io
import json

from aiortc.jitterbuffer import JitterFrame

from venues.agent import VenueAgent
from venues.synthetic import MarkedVideo


def test_the_program_starts_at_its_first_frame_even_when_that_is_not_a_keyframe():
    """A media server may forward a program's frames before its first keyframe (Janus does, to
    a new subscriber): the program started then, and the keyframe still shows whose it is."""
    log = io.StringIO()
    agent = VenueAgent("http://127.0.0.1:9/join#token", log_file=log, decode_all=False)
    agent.venues = ["main", "pinghu"]
    video = MarkedVideo(1, 160, 96, fps=15, loop_frames=3, bitrate=300_000)
    on_frame = agent._keyframes_only(agent._saw)
    on_frame(None, JitterFrame(video.frames[1], 3000))  # a delta frame first
    on_frame(None, JitterFrame(video.frames[0], 6000))  # then the keyframe
    events = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [(e["event"], e.get("venue")) for e in events] == [("program_started", None), ("on_air_seen", "pinghu")]
    assert agent.stats.program_frames == 2
