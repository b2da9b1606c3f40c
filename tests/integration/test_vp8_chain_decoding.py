"""A venue decodes VP8 as a browser does, between real aiortc peers on loopback.

A sender splices two pre-encoded feeds (venue 1's mark, then venue 2's) the way Janus
switches a subscriber: the second feed comes in with delta frames whose picture IDs do not
follow the first feed's, and its keyframe only a few frames later. The receiver, guarded by
`guard_vp8_chain`, must decode none of those delta frames (aiortc alone decodes them against
the first feed's picture), count them as held, and ask the sender for a keyframe.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Iterator

import av
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from orchestrator.media import aiortc_tap
from orchestrator.media.aiortc_tap import EncodedPacker, guard_vp8_chain, install_packer, restrict_host_addresses
from orchestrator.media.codec import VIDEO_CLOCK, make_packet, prefer_codec
from tests.support.live import wait_for
from venues.synthetic import MarkedVideo, read_mark

FPS = 30
STEP = VIDEO_CLOCK // FPS
FIRST, SPLICED = 10, 5  # frames of the first feed; delta frames of the second before its keyframe


class SplicedTrack(MediaStreamTrack):
    """Pre-encoded frames in the order of `frames`, paced; `on_frame(n)` is called before frame n goes out."""

    kind = "video"

    def __init__(self, frames: Iterator[bytes], on_frame: Callable[[int], None]):
        super().__init__()
        self.frames, self.on_frame, self.n = frames, on_frame, 0

    async def recv(self) -> av.Packet:
        await asyncio.sleep(1 / FPS)
        self.on_frame(self.n)
        packet = make_packet(next(self.frames), self.n * STEP, "video")
        self.n += 1
        return packet


async def connect(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> None:
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)


async def test_frames_of_a_new_feed_wait_for_its_keyframe():
    restrict_host_addresses(["127.0.0.1"])
    first, second = MarkedVideo(1, fps=FPS, loop_frames=FIRST), MarkedVideo(2, fps=FPS, loop_frames=10)
    frames = itertools.chain(first.frames, second.frames[3:3 + SPLICED], itertools.cycle(second.frames))
    keyframe_requests: list[int] = []
    track = SplicedTrack(frames, lambda n: None)
    sender_pc, receiver_pc = RTCPeerConnection(), RTCPeerConnection()
    transceiver = sender_pc.addTransceiver(track, direction="sendonly")
    prefer_codec(transceiver)
    install_packer(transceiver.sender, lambda: keyframe_requests.append(track.n))
    packer = getattr(transceiver.sender, aiortc_tap._SENDER_ENCODER)
    assert isinstance(packer, EncodedPacker)

    def splice(n: int) -> None:
        if n == FIRST:  # the second feed's picture IDs: not the first feed's plus one
            packer.picture_id = (packer.picture_id + 1000) % (1 << 15)

    track.on_frame = splice
    held: list[bool] = []
    decoded: list[tuple[int | None, int]] = []  # (mark, pts)
    watchers: list[asyncio.Task] = []

    @receiver_pc.on("track")
    def on_track(remote: MediaStreamTrack) -> None:
        receiver = next(t for t in receiver_pc.getTransceivers() if t.receiver.track is remote).receiver
        guard_vp8_chain(receiver, held.append)

        async def watch() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    frame = await remote.recv()
                    decoded.append((read_mark(frame), frame.pts))

        watchers.append(asyncio.ensure_future(watch()))

    try:
        await connect(sender_pc, receiver_pc)
        await wait_for(lambda: sum(1 for mark, _ in decoded if mark == 2) >= 10, 20, "the second feed decoded")
    finally:
        await sender_pc.close()
        await receiver_pc.close()
        for watcher in watchers:
            await watcher

    assert held == [True] + [False] * (SPLICED - 1), "every delta frame of the new feed is held, reported once"
    assert [n for n in keyframe_requests if FIRST <= n <= FIRST + SPLICED + 5], f"asked at {keyframe_requests}"
    marks = [mark for mark, _ in decoded]
    assert None not in marks
    assert marks == sorted(marks), "the first feed, then the second, nothing between"
    spliced = range(FIRST * STEP, (FIRST + SPLICED) * STEP)
    assert not [pts for _, pts in decoded if pts in spliced], "no frame of the new feed before its keyframe"
