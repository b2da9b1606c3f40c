"""RTP packets forwarded as they came, between real aiortc peers on loopback.

Two cameras (aiortc encoding VP8, 320x240 and 160x120 so a decoded picture says whose
it is) send to a forwarding peer that taps their packets (`tap_packets`); one output
(`forward_packets` and an `RtpRewriter`) sends to a viewer that decodes. The output
switches between the cameras at the first packet of a keyframe, the way the router
does. The viewer must decode every picture, see each switch, and receive one stream:
no sequence gap (aiortc counts a gap as lost packets) and timestamps that only go forward.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import av
import numpy
from aiortc import RTCPeerConnection, RTCRtpSender, RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket

from orchestrator.media.aiortc_tap import forward_packets, request_keyframe, restrict_host_addresses, tap_packets
from orchestrator.media.codec import prefer_codec
from orchestrator.media.plane import VenuePeer
from orchestrator.media.router import Output
from orchestrator.media.routing import Role
from orchestrator.media.rtp_forward import InboundPacket, vp8_starts_keyframe
from tests.support.live import wait_for


class Camera(MediaStreamTrack):
    """Synthetic video of one size, 30 frames a second, a moving bar so frames differ."""

    kind = "video"

    def __init__(self, width: int, height: int):
        super().__init__()
        self.width, self.height, self.n = width, height, 0

    async def recv(self) -> av.VideoFrame:
        await asyncio.sleep(1 / 30)
        picture = numpy.zeros((self.height, self.width, 3), numpy.uint8)
        picture[:, (self.n * 4) % self.width] = 255
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts, frame.time_base = self.n * 3000, fractions.Fraction(1, 90_000)
        self.n += 1
        return frame


async def connect(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> None:
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)


@dataclass
class Switcher:
    """One output, switching sources at a keyframe like the router."""

    output: Output
    current: str | None = None
    pending: str | None = None
    left: str | None = None  # the source whose last frame may still be completing
    switches: list[str] = field(default_factory=list)

    def on_packet(self, venue: str, packet: RtpPacket) -> None:
        now = asyncio.get_running_loop().time()
        if venue == self.pending and self.output.ready and vp8_starts_keyframe(packet.payload):
            self.left, self.current, self.pending = self.current, venue, None
            self.output.source_changed(now)
            self.switches.append(venue)
        inbound = InboundPacket(packet.sequence_number, packet.timestamp, bool(packet.marker), packet.payload)
        if venue == self.left:
            self.output.complete_frame(inbound, now)
        elif venue == self.current:
            self.output.forward(inbound, now)


@dataclass
class Rig:
    switcher: Switcher
    uplinks: dict[str, RTCRtpTransceiver]
    viewer: RTCPeerConnection
    sender: RTCRtpSender
    frames: list[tuple[tuple[int, int], int]] = field(default_factory=list)  # (size, pts) the viewer decoded
    keyframe_requests: int = 0
    watcher: asyncio.Task[None] | None = None


@contextlib.asynccontextmanager
async def forwarding_rig() -> AsyncIterator[Rig]:
    restrict_host_addresses(["127.0.0.1"])
    pcs: list[RTCPeerConnection] = []
    output = Output("video", Role.PROGRAM_VIDEO, VenuePeer("viewer"))
    switcher = Switcher(output)
    uplinks: dict[str, RTCRtpTransceiver] = {}
    for venue, size in (("a", (320, 240)), ("b", (160, 120))):
        camera, forwarder = RTCPeerConnection(), RTCPeerConnection()
        pcs += [camera, forwarder]
        prefer_codec(camera.addTransceiver(Camera(*size), direction="sendonly"))

        @forwarder.on("track")
        def on_track(track: MediaStreamTrack, forwarder: RTCPeerConnection = forwarder, venue: str = venue) -> None:
            transceiver = next(t for t in forwarder.getTransceivers() if t.receiver.track is track)
            tap_packets(transceiver.receiver, lambda packet, venue=venue: switcher.on_packet(venue, packet))
            uplinks[venue] = transceiver

        await connect(camera, forwarder)
    sender_pc, viewer = RTCPeerConnection(), RTCPeerConnection()
    pcs += [sender_pc, viewer]
    transceiver = sender_pc.addTransceiver(output, direction="sendonly")
    prefer_codec(transceiver)
    rig = Rig(switcher, uplinks, viewer, transceiver.sender)

    def keyframe_request() -> None:
        rig.keyframe_requests += 1

    output.wait_until_started()
    output.send = forward_packets(transceiver.sender, output.rewriter, keyframe_request, output.started)

    @viewer.on("track")
    def on_viewer_track(track: MediaStreamTrack) -> None:
        async def watch() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    frame = await track.recv()
                    rig.frames.append(((frame.width, frame.height), frame.pts))

        rig.watcher = asyncio.ensure_future(watch())

    await connect(sender_pc, viewer)
    try:
        yield rig
    finally:
        output.stop()
        for pc in pcs:
            await pc.close()
        if rig.watcher is not None:
            await rig.watcher


async def switch(rig: Rig, venue: str) -> None:
    rig.switcher.pending = venue
    task = request_keyframe(rig.uplinks[venue].receiver)
    if task is not None:
        await task


async def stats(pc_or_sender, kind: str):
    report = await pc_or_sender.getStats()
    return next(s for s in report.values() if s.type == kind)


async def test_the_viewer_decodes_forwarded_packets_and_each_switch_lands_on_a_keyframe(caplog):
    caplog.set_level(logging.WARNING, logger="aiortc")
    async with forwarding_rig() as rig:
        await wait_for(lambda: set(rig.uplinks) == {"a", "b"} and rig.switcher.output.ready, 10, "both cameras")
        for venue in ("a", "b", "a", "b"):
            before = len(rig.frames)
            await switch(rig, venue)
            want = (320, 240) if venue == "a" else (160, 120)
            await wait_for(lambda want=want, before=before: want in [size for size, _ in rig.frames[before:]], 5,
                           f"the viewer to show {venue}")
            await wait_for(lambda before=before: len(rig.frames) > before + 10, 5, "ten more pictures")
        assert rig.switcher.switches == ["a", "b", "a", "b"]
        # one stream for the viewer: no sequence gap, timestamps only forward
        inbound = await stats(rig.viewer.getTransceivers()[0].receiver, "inbound-rtp")
        assert inbound.packetsReceived > 40 and inbound.packetsLost == 0
        stamps = [pts for _size, pts in rig.frames]
        assert all(earlier < later for earlier, later in itertools.pairwise(stamps))
        outbound = await stats(rig.sender, "outbound-rtp")
        assert outbound.packetsSent == rig.switcher.output.rewriter.packets > 40, "the sender reports what went out"
    assert not [r for r in caplog.records if "failed to decode" in r.getMessage()]


async def test_a_receivers_nack_is_answered_from_the_packets_the_output_sent(caplog):
    caplog.set_level(logging.WARNING, logger="aiortc")
    async with forwarding_rig() as rig:
        output = rig.switcher.output
        await wait_for(lambda: set(rig.uplinks) == {"a", "b"} and output.ready, 10, "both cameras")
        send, dropped = output.send, set()

        def lossy(data: bytes) -> None:
            sequence = int.from_bytes(data[2:4], "big")
            if len(dropped) < 5 and sequence % 7 == 3:
                dropped.add(sequence)  # lost on the way (a retransmission does not come through here)
                return
            send(data)

        output.send = lossy
        await switch(rig, "a")
        await wait_for(lambda: len(dropped) == 5, 5, "five packets lost")
        before = len(rig.frames)
        await wait_for(lambda: len(rig.frames) > before + 10, 5, "ten more pictures")
        inbound = await stats(rig.viewer.getTransceivers()[0].receiver, "inbound-rtp")
        assert inbound.packetsLost == 0, "every gap was filled by a retransmission"
    assert not [r for r in caplog.records if "failed to decode" in r.getMessage()]
