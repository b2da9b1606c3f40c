"""The pure parts of a light venue: its loop packetized once, keyframe requests answered at most
every KEYFRAME_INTERVAL_S, and losses counted from sequence numbers."""

from __future__ import annotations

import itertools

from aiortc import RTCPeerConnection

from orchestrator.media.codec import is_vp8_keyframe
from orchestrator.media.rtp_forward import vp8_picture_id, vp8_starts_frame, vp8_starts_keyframe
from venues.light import LoopSender, PacketLoop, SequenceCount
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


async def test_keyframe_requests_are_answered_once_per_interval():
    """A burst of requests (Janus asks once for each receiver a take switches) makes one keyframe
    jump, and one more when KEYFRAME_INTERVAL_S has passed, not one per request."""
    pc = RTCPeerConnection()
    sender = LoopSender(PacketLoop("video", [[] for _ in range(60)], keyframes=[0, 30]), pc.addTransceiver("video"))
    sender._on_started()
    sent: list[int] = []  # the frame each tick sent (a jump shows as the frame after the keyframe)

    def tick(now: float) -> None:
        sender.tick(now)
        sent.append(sender._next - 1)

    tick(100.0)
    for _ in range(5):
        sender.request_keyframe()
    tick(100.033)  # the burst: the next keyframe (frame 30)
    for _ in range(5):
        sender.request_keyframe()
    tick(100.066)  # within the interval: the loop goes on
    tick(100.099)
    tick(100.14)  # past it: the requests made meanwhile get one keyframe (the loop's next: frame 0)
    tick(100.17)
    assert sender.keyframe_requests == 10
    assert sent == [0, 30, 31, 32, 0, 1], sent
    await pc.close()
