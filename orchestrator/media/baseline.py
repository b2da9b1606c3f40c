"""The transcoding baseline, for `orchestrator bench --baseline transcode` only.

It serves venues the way aiortc does out of the box: every uplink is decoded once, and
`MediaRelay` hands the decoded frames to every receiver's sender, which encodes them
again, one encoder per receiver. Same signalling, same program rules (it reuses the
router's `wanted_source`), so the benchmark compares only the media path. It serves no
monitor peers and no recorder.
"""

from __future__ import annotations

import asyncio
import fractions
from collections.abc import Sequence

import av
from aiortc import RTCIceServer, RTCRtpSender, RTCRtpTransceiver
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..i18n import N_, phrase
from .aiortc_tap import force_keyframe
from .codec import VIDEO_CLOCK, clock_rate
from .plane import MediaPresence, MonitorPeer, OfferRejected, PeerId, RecorderPeer, VenuePeer
from .router import Output, ProgramRouter, Role
from .sfu import MediaServer


class DecodedProgram(Output):
    """A receiver's program track that passes decoded frames from whichever source is current."""

    def __init__(self, kind: str, role: Role, receiver: VenuePeer, slot: int | None = None):
        super().__init__(kind, role, receiver, slot=slot)
        self.proxy: MediaStreamTrack | None = None
        self.changed = asyncio.Event()
        self.sender: RTCRtpSender | None = None
        self._pts = 0

    def follow(self, proxy: MediaStreamTrack | None) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        self.proxy = proxy
        self.changed.set()
        if proxy is not None and self.kind == "video" and self.sender is not None:
            force_keyframe(self.sender)

    async def recv(self):
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            proxy = self.proxy
            if proxy is None:
                self.changed.clear()
                await self.changed.wait()
                continue
            self.changed.clear()
            receiving = asyncio.ensure_future(proxy.recv())
            switching = asyncio.ensure_future(self.changed.wait())
            await asyncio.wait({receiving, switching}, return_when=asyncio.FIRST_COMPLETED)
            switching.cancel()
            if not receiving.done():  # switched while waiting: a stopped proxy never answers
                receiving.cancel()
                continue
            try:
                frame = receiving.result()
            except MediaStreamError:
                if proxy is self.proxy:
                    self.proxy = None
                continue
            if proxy is not self.proxy:
                continue
            # re-stamp: one continuous timeline per receiver, whatever the source
            step = frame.samples if isinstance(frame, av.AudioFrame) else VIDEO_CLOCK // 30
            frame.pts, frame.time_base = self._pts, fractions.Fraction(1, clock_rate(self.kind))
            self._pts += step
            self.stats.frames += 1
            return frame

    def stop(self) -> None:
        self.follow(None)
        super().stop()


class TranscodingRouter(ProgramRouter):
    def __init__(self, main_venue: str):
        super().__init__(main_venue)
        self.relay = MediaRelay()
        self.tracks: dict[tuple[str, str], MediaStreamTrack] = {}

    def reroute(self) -> None:
        for outputs in self._outputs.values():
            for output in outputs:
                if not isinstance(output, DecodedProgram):
                    continue
                wanted = self.wanted_source(output)
                if wanted != output.current:
                    output.current = wanted
                    track = self.tracks.get((wanted, output.kind)) if wanted else None
                    output.follow(self.relay.subscribe(track, buffered=False) if track else None)

    def on_packet(self, venue: str, kind: str, sequence: int, timestamp: int, marker: bool,
                  payload: bytes) -> None:  # pragma: no cover - never tapped
        raise RuntimeError("the transcoding baseline does not forward RTP packets")

    def source_counters(self, venue: str) -> tuple[int, int]:
        return 0, 0

    def remove_peer(self, peer: PeerId) -> None:
        if isinstance(peer, VenuePeer):
            for kind in ("video", "audio"):
                self.tracks.pop((peer.venue, kind), None)
        super().remove_peer(peer)


class TranscodingMediaServer(MediaServer):
    """MediaServer whose peers decode and re-encode (aiortc's default media path)."""

    router: TranscodingRouter

    def __init__(self, router: TranscodingRouter, presence: MediaPresence, ice_servers: Sequence[RTCIceServer] = ()):
        super().__init__(router, presence, ice_servers)

    def _venue_output(self, kind: str, role: Role, receiver: VenuePeer, slot: int | None = None) -> Output:
        return DecodedProgram(kind, role, receiver, slot)

    def _attach_output(self, transceiver: RTCRtpTransceiver, output: Output) -> None:
        if isinstance(output, DecodedProgram):
            output.sender = transceiver.sender  # its encoder is asked for a keyframe on a switch

    def _attach_uplink(self, venue: str, kind: str, transceiver: RTCRtpTransceiver) -> None:
        self.router.tracks[(venue, kind)] = transceiver.receiver.track
        self.router.add_source(venue, kind, lambda: None)

    async def answer_monitor(self, peer: MonitorPeer, offer: str) -> str:
        raise OfferRejected(phrase(N_('the transcoding baseline serves no monitors')))

    async def answer_recorder(self, peer: RecorderPeer, offer: str) -> str:
        raise OfferRejected(phrase(N_('the transcoding baseline serves no recorder')))
