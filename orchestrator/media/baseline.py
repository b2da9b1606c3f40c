"""The transcoding baseline, for `orchestrator bench --baseline transcode` only.

It serves venues the way aiortc does out of the box: every uplink is decoded once, and
`MediaRelay` hands the decoded frames to every receiver's sender, which encodes them
again, one encoder per receiver. Same signalling, same program rules (it reuses the
router's `wanted_source`), so the benchmark compares only the media path.
"""

from __future__ import annotations

import asyncio
import fractions

from aiortc import RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .aiortc_tap import force_keyframe
from .router import Output, ProgramRouter, Role
from .sfu import MediaServer, OfferRejected, _Peer, _prefer, check_offer, close_quietly, drop_unreachable_candidates

CLOCK = {"video": 90_000, "audio": 48_000}


class DecodedProgram(Output):
    """A receiver's program track that passes decoded frames from whichever source is current."""

    def __init__(self, kind: str, role: Role, receiver: str):
        super().__init__(kind, role, receiver)
        self.proxy: MediaStreamTrack | None = None
        self.changed = asyncio.Event()
        self.sender = None
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
            step = frame.samples if self.kind == "audio" else CLOCK["video"] // 30
            frame.pts, frame.time_base = self._pts, fractions.Fraction(1, CLOCK[self.kind])
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
                wanted = self.wanted_source(output)
                if wanted != output.current:
                    output.current = wanted
                    track = self.tracks.get((wanted, output.kind)) if wanted else None
                    output.follow(self.relay.subscribe(track, buffered=False) if track else None)

    def on_frame(self, venue, kind, data, timestamp) -> None:  # pragma: no cover - never tapped
        raise RuntimeError("the transcoding baseline does not forward encoded frames")

    def source_counters(self, venue: str) -> tuple[int, int]:
        return 0, 0

    def remove_venue(self, venue: str) -> None:
        for kind in ("video", "audio"):
            self.tracks.pop((venue, kind), None)
        super().remove_venue(venue)


class TranscodingMediaServer(MediaServer):
    """MediaServer whose peers decode and re-encode (aiortc's default media path)."""

    async def answer_venue(self, venue: str, offer: str) -> str:
        offer = drop_unreachable_candidates(offer)
        description = check_offer(offer)
        await self.close_peer(venue, "replaced by a new connection")
        pc = self._new_pc()
        peer = _Peer(venue, pc, [])
        audio_roles = {"sendrecv": Role.PROGRAM_AUDIO, "recvonly": Role.MAIN_AUDIO}
        for m in description.media:
            direction = m.direction or "sendrecv"
            role = Role.PROGRAM_VIDEO if m.kind == "video" else audio_roles[direction]
            output = DecodedProgram(m.kind, role, venue)
            transceiver = pc.addTransceiver(output, direction="sendrecv" if direction == "sendrecv" else "sendonly")
            output.sender = transceiver.sender
            _prefer(transceiver, "vp8" if m.kind == "video" else "opus")
            peer.outputs.append(output)
            if direction == "sendrecv":
                peer.uplinks[m.kind] = transceiver
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            for kind, transceiver in peer.uplinks.items():
                self.router.tracks[(venue, kind)] = transceiver.receiver.track
                self.router.add_source(venue, kind, lambda: None)
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            self.router.remove_venue(venue)
            await close_quietly(pc)
            raise OfferRejected(f"the offer could not be answered ({type(exc).__name__}: {exc})") from None
        return await self._register(peer)
