"""The server's RTP fast path (`aiortc_tap._fast_rtp`), between real aiortc peers on loopback.

A camera (aiortc encoding VP8) sends to a peer that taps its packets (`tap_packets`). Once
packets flow, they must reach the tap without aiortc's queue and coroutines (as `RtpHeader`s),
and the receiver must still do what aiortc's own path does for it: count the packets and the
lost ones (its statistics feed the link guard), know its source (keyframe requests go there),
and NACK what the camera lost on the way, whose retransmissions (RTX) still come through.
"""

from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection, RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtp import RtpPacket

from orchestrator.media.aiortc_tap import drop_outgoing_rtp, restrict_host_addresses, tap_packets
from orchestrator.media.codec import prefer_codec
from orchestrator.media.rtp_forward import RtpHeader
from orchestrator.media.rtp_stats import inbound_rtp
from tests.integration.test_packet_forwarding import Camera, connect
from tests.support.live import wait_for


@dataclass
class Tapped:
    fast: list[int] = field(default_factory=list)  # sequence numbers that came by the fast path
    slow: list[int] = field(default_factory=list)  # and by aiortc's own (the first ones, retransmissions)
    uplink: RTCRtpTransceiver | None = None

    def on_packet(self, packet: RtpPacket | RtpHeader) -> None:
        (self.fast if isinstance(packet, RtpHeader) else self.slow).append(packet.sequence_number)


@contextlib.asynccontextmanager
async def camera_to_tap(loss: float = 0.0) -> AsyncIterator[Tapped]:
    restrict_host_addresses(["127.0.0.1"])
    camera, server = RTCPeerConnection(), RTCPeerConnection()
    tapped = Tapped()
    prefer_codec(camera.addTransceiver(Camera(160, 120), direction="sendonly"))

    @server.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        transceiver = next(t for t in server.getTransceivers() if t.receiver.track is track)
        tap_packets(transceiver.receiver, tapped.on_packet)
        tapped.uplink = transceiver

    try:
        await connect(camera, server)
        if loss:
            drop_outgoing_rtp(camera.getTransceivers()[0].sender.transport, loss, random.Random(7))
        yield tapped
    finally:
        await camera.close()
        await server.close()


async def test_packets_take_the_fast_path_and_the_receiver_still_counts_them():
    async with camera_to_tap() as tapped:
        await wait_for(lambda: len(tapped.fast) > 100, 10, "a hundred packets by the fast path")
        assert tapped.uplink is not None
        receiver = tapped.uplink.receiver
        assert len(tapped.slow) <= 3, "only the first packets take aiortc's own path"
        counts = inbound_rtp([receiver])
        assert counts.received >= len(tapped.fast) and counts.lost == 0
        assert [s.source for s in receiver.getSynchronizationSources()], "the source is known (PLIs go to it)"
        sequences = tapped.slow + tapped.fast
        assert all((later - earlier) & 0xFFFF == 1 for earlier, later in itertools.pairwise(sequences))


async def test_a_packet_lost_on_the_way_is_nacked_and_its_retransmission_comes_through():
    async with camera_to_tap(loss=0.05) as tapped:
        await wait_for(lambda: len(tapped.fast) > 150, 10, "packets by the fast path")
        assert tapped.uplink is not None

        def filled() -> bool:
            seen = set(tapped.fast) | set(tapped.slow)
            first, last = tapped.fast[0], tapped.fast[-1]
            return all((first + i) & 0xFFFF in seen for i in range((last - first) & 0xFFFF))

        lost = len({(tapped.fast[0] + i) & 0xFFFF for i in range(len(tapped.fast))} - set(tapped.fast))
        assert lost > 0, "the camera lost packets on the way"
        await wait_for(filled, 5, "every lost packet sent again (RTX, after a NACK) and tapped")


async def test_the_counts_are_the_media_stream_s_after_retransmissions():
    """aiortc's getStats gives every stream of a receiver one id, so the retransmission (RTX)
    stream's counts would stand for the media stream's once a retransmission came: the link
    guard would read a few packets received and none lost. They are the media stream's."""
    async with camera_to_tap(loss=0.2) as tapped:
        await wait_for(lambda: len(tapped.fast) > 200 and len(tapped.slow) > 10, 15, "packets, and retransmissions")
        assert tapped.uplink is not None
        counts = inbound_rtp([tapped.uplink.receiver])
        assert counts.received >= len(tapped.fast), (counts, len(tapped.fast), len(tapped.slow))
        assert 0.1 < counts.lost / (counts.received + counts.lost) < 0.3, counts
