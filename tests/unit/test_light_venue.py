"""The pure parts of a light venue: its loop packetized once, and losses counted from sequence numbers."""

from __future__ import annotations

import itertools

from orchestrator.media.codec import is_vp8_keyframe
from orchestrator.media.rtp_forward import vp8_picture_id, vp8_starts_frame, vp8_starts_keyframe
from venues.light import PacketLoop, SequenceCount
from venues.synthetic import MarkedVideo


def test_a_loop_is_packetized_once_as_a_sender_would():
    video = MarkedVideo(3, 640, 360, fps=15, loop_frames=6, bitrate=2_000_000, noise=True)
    loop = PacketLoop.packetize("video", video.frames, fps=15)
    assert loop.keyframes == [0] and is_vp8_keyframe(video.frames[0])
    assert len(loop.frames) == 6
    assert len(loop.frames[0]) > 1, "a keyframe at this bitrate takes more than one packet"
    sequences = [p.sequence for frame in loop.frames for p in frame]
    assert sequences == list(range(len(sequences)))
    pictures = []
    for number, frame in enumerate(loop.frames):
        assert [p.marker for p in frame] == [False] * (len(frame) - 1) + [True]
        assert {p.timestamp for p in frame} == {number * 6000}
        assert vp8_starts_frame(frame[0].payload) and not any(vp8_starts_frame(p.payload) for p in frame[1:])
        assert vp8_starts_keyframe(frame[0].payload) == (number == 0)
        ids = {vp8_picture_id(p.payload) for p in frame}
        assert len(ids) == 1
        pictures.append(ids.pop()[1])
    assert all((b - a) & 0x7FFF == 1 for a, b in itertools.pairwise(pictures))


def test_audio_goes_out_a_frame_a_packet():
    loop = PacketLoop.packetize("audio", [b"\x01" * 40, b"\x02" * 40], fps=50)
    assert [[(p.sequence, p.timestamp, p.marker, p.payload) for p in f] for f in loop.frames] == [
        [(0, 0, True, b"\x01" * 40)], [(1, 960, True, b"\x02" * 40)]]
    assert loop.keyframes == []


def test_losses_are_counted_from_sequence_numbers_across_a_wrap():
    count = SequenceCount()
    for sequence in (65533, 65534, 1, 2, 0, 5):  # 65535 lost, 0 late, 3 and 4 lost
        count.note(sequence)
    assert (count.received, count.lost) == (6, 3)
    assert SequenceCount().lost == 0
