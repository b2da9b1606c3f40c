"""The embedded SFU: one aiortc peer connection per venue (and per console monitor), media forwarded encoded.

A venue offers, in any order: one video m-line it sends and receives (camera up,
program down), one audio m-line it sends and receives (microphone up, program audio
down) and optionally a second audio m-line it only receives (the main venue's audio).
The main venue may also offer up to `MAX_WALL_SLOTS` receive-only video m-lines: the
slots of its wall, numbered in the offer's order, each showing one venue's camera as
`set_main_return` says. The server answers with VP8 and Opus only, taps the uplinks into
the `ProgramRouter` packet by packet (below aiortc's jitter buffer), and the router's
outputs send the rewritten packets on the venue's transport, beside the venue's
senders (which keep their RTCP). Nothing is decoded, encoded or re-packetized.

The operator's monitor peer offers up to `MAX_MONITOR_SLOTS` receive-only video
m-lines; each slot shows one venue's camera, chosen with `set_monitor`. The recorder's
peer offers receive-only m-lines (program video, program audio, the main venue's audio)
and is routed like a venue that is never on air: one more receiver, nothing decoded.

`MediaServer` implements `plane.MediaPlane`. The transcoding baseline (`baseline.py`)
is the same server with other tracks: it overrides the three hooks that make a venue's
downlink tracks and attach its uplinks.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription
from aiortc import sdp as aiortc_sdp
from aiortc.rtp import RtpPacket

from ..i18n import N_, phrase
from ..logs import get_logger
from .aiortc_tap import PacketCallback, forward_packets, request_keyframe, restricted_host_addresses, tap_packets
from .codec import CODEC, prefer_codec
from .plane import (
    MAX_MONITOR_SLOTS,
    MAX_WALL_SLOTS,
    Downlink,
    LinkStats,
    MediaPresence,
    MonitorPeer,
    OfferRejected,
    PeerId,
    ProgramSnapshot,
    RecorderPeer,
    VenuePeer,
)
from .router import Output, ProgramRouter, Role
from .rtp_forward import RtpHeader
from .rtp_stats import LinkMeter, inbound_rtp, round_trip_ms

MAX_OFFER_BYTES = 64 * 1024
MAX_MEDIA_SECTIONS = 3
MAX_CANDIDATES = 40
CONNECT_TIMEOUT_S = 30.0  # an offer whose peer never connects is cleaned up after this

log = get_logger(component="sfu")


@dataclass(eq=False)
class _Peer:
    id: PeerId
    pc: RTCPeerConnection
    outputs: list[Output] = field(default_factory=list)
    uplinks: dict[str, RTCRtpTransceiver] = field(default_factory=dict)  # kind -> a venue's camera / microphone
    connected: bool = False
    created: float = field(default_factory=time.monotonic)
    meter: LinkMeter = field(default_factory=lambda: LinkMeter(at=time.monotonic()))
    link: LinkStats = field(default_factory=LinkStats)
    watchdog: asyncio.Task[None] | None = None


def _send_packets(transceiver: RTCRtpTransceiver, output: Output) -> None:
    """`output` sends its rewritten packets on the transceiver's transport, its sender reports
    them; its PLI/FIR go to `output` (the router routes them once the output is added to it)."""

    def keyframe_request() -> None:
        output.on_keyframe_request()

    output.wait_until_started()
    output.send = forward_packets(transceiver.sender, output.rewriter, keyframe_request, output.started)


def _peer_fields(peer: PeerId) -> dict[str, Any]:
    """Log context naming a peer."""
    if isinstance(peer, VenuePeer):
        return {"venue": peer.venue}
    return {"monitor": peer.number} if isinstance(peer, MonitorPeer) else {"recorder": peer.number}


def check_offer(text: str, *, monitor: bool = False, recorder: bool = False,
                wall: bool = False, publish: bool = False) -> aiortc_sdp.SessionDescription:
    """Parse and vet an offer before aiortc sees it (`wall`: the main venue's, which may
    have wall slots; `publish`: a venue's camera and microphone only, where the program
    comes down on a peer of its own). Raises OfferRejected with the reason."""
    if not isinstance(text, str) or not text.strip():
        raise OfferRejected(phrase(N_('the offer is empty')))
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise OfferRejected(phrase(N_('the offer is not valid Unicode text'))) from None
    if size > MAX_OFFER_BYTES:
        raise OfferRejected(phrase(N_('the offer is {size} bytes; the limit is {limit}'), size=size, limit=MAX_OFFER_BYTES))
    try:
        description = aiortc_sdp.SessionDescription.parse(text)
    except Exception as exc:  # aiortc's parser raises many kinds on bad input
        raise OfferRejected(phrase(N_('the offer is not valid SDP ({error})'), error=f"{type(exc).__name__}: {exc}")) from None
    media = description.media
    limit = MAX_MONITOR_SLOTS if monitor else MAX_MEDIA_SECTIONS + (MAX_WALL_SLOTS if wall else 0)
    if not media:
        raise OfferRejected(phrase(N_('the offer has no media sections')))
    if len(media) > limit:
        raise OfferRejected(phrase(N_('the offer has {count} media sections; at most {limit} are allowed'), count=len(media), limit=limit))
    candidates = sum(len(m.ice_candidates) for m in media)
    # browsers repeat their candidates in every bundled section: the main venue's wall slots get their share
    allowed = max(MAX_CANDIDATES, math.ceil(MAX_CANDIDATES * len(media) / MAX_MEDIA_SECTIONS))
    if candidates > allowed:
        raise OfferRejected(phrase(N_('the offer has {count} ICE candidates; at most {limit} are allowed'), count=candidates, limit=allowed))
    for i, m in enumerate(media):
        if m.kind not in ("audio", "video"):
            raise OfferRejected(phrase(N_("media section {index} is '{kind}'; only audio and video are served"), index=i, kind=m.kind))
        if not m.ice or not m.ice.usernameFragment or not m.ice.password:
            raise OfferRejected(phrase(N_('media section {index} has no ICE credentials'), index=i))
        if not m.dtls or not m.dtls.fingerprints:
            raise OfferRejected(phrase(N_('media section {index} has no DTLS fingerprint'), index=i))
        wanted = CODEC[m.kind]
        if not any(c.name.lower() == wanted for c in m.rtp.codecs):
            raise OfferRejected(phrase(N_('media section {index} ({kind}) does not offer {codec}'), index=i, kind=m.kind, codec=wanted.upper()))
    mids = [m.rtp.muxId for m in media]
    for group in description.group:
        unknown = [mid for mid in group.items if mid not in mids]
        if unknown:
            raise OfferRejected(phrase(N_("the {group} group names media '{mid}', which the offer does not have"), group=group.semantic, mid=unknown[0]))
    if len(set(mids)) != len(mids):
        raise OfferRejected(phrase(N_('two media sections have the same mid')))
    if monitor:
        if any(m.kind != "video" or m.direction != "recvonly" for m in media):
            raise OfferRejected(phrase(N_('a monitor offer has receive-only video sections only')))
        return description
    if recorder:
        videos, audios = sum(m.kind == "video" for m in media), sum(m.kind == "audio" for m in media)
        if any(m.direction != "recvonly" for m in media) or videos != 1 or not 1 <= audios <= 2:
            raise OfferRejected(phrase(N_("a recorder offer has one receive-only video section and one or two receive-only audio sections (the program's audio, the main venue's)")))
        return description
    kinds = [(m.kind, m.direction or "sendrecv") for m in media]
    if publish:
        if sorted(kinds) != [("audio", "sendonly"), ("video", "sendonly")]:
            raise OfferRejected(phrase(N_('the offer needs exactly one video and one audio section, both send-only (camera and microphone up; the program comes down on a peer the server offers)')))
        return description
    video = [d for k, d in kinds if k == "video"]
    audio = [d for k, d in kinds if k == "audio"]
    if video.count("sendrecv") == 1 and set(video) == {"sendrecv", "recvonly"}:
        slots = len(video) - 1
        if not wall:
            raise OfferRejected(phrase(N_("only the main venue's offer has wall slots (receive-only video sections)")))
        if slots > MAX_WALL_SLOTS:
            raise OfferRejected(phrase(N_('the offer has {count} wall slots; at most {limit} are allowed'), count=slots, limit=MAX_WALL_SLOTS))
        video = ["sendrecv"]
    if video != ["sendrecv"]:
        raise OfferRejected(phrase(N_('the offer needs exactly one video section that sends and receives (camera up, program down)')))
    if audio.count("sendrecv") != 1 or len(audio) > 2 or (len(audio) == 2 and "recvonly" not in audio):
        raise OfferRejected(phrase(N_('the offer needs one audio section that sends and receives (microphone up, program down) and at most one more that only receives (the main venue)')))
    return description


def drop_unreachable_candidates(sdp: str) -> str:
    """When this server offers loopback candidates only, a peer's other candidates can
    never pair with them: drop them (and never resolve mDNS names on the network)."""
    local = restricted_host_addresses()
    if not local or not all(ipaddress.ip_address(a).is_loopback for a in local):
        return sdp
    lines = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            address = parts[4] if len(parts) > 4 else ""
            try:
                if not ipaddress.ip_address(address).is_loopback:
                    continue
            except ValueError:  # a hostname (e.g. an mDNS .local name)
                continue
        lines.append(line)
    return "\r\n".join(lines) + "\r\n"


async def close_quietly(pc: RTCPeerConnection) -> None:
    """Close a peer that failed half-way; aiortc may trip over its own half-made state."""
    try:
        await pc.close()
    except Exception as exc:
        log.warning("peer_close_failed", error=f"{type(exc).__name__}: {exc}")


class MediaServer:
    """Owns the venues' and monitors' peer connections; routes media through the `ProgramRouter`."""

    downlink: Downlink = "same_peer"

    def __init__(self, router: ProgramRouter, presence: MediaPresence, ice_servers: Sequence[RTCIceServer] = ()):
        self.router = router
        self.presence = presence
        self.ice_servers = list(ice_servers)
        self._peers: dict[PeerId, _Peer] = {}
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def peer_ids(self) -> list[PeerId]:
        return list(self._peers)

    def is_connected(self, peer: PeerId) -> bool:
        found = self._peers.get(peer)
        return bool(found and found.connected)

    def _new_pc(self) -> RTCPeerConnection:
        return RTCPeerConnection(RTCConfiguration(iceServers=self.ice_servers))

    # ------------------------------------------------------------ venues

    async def answer_venue(self, peer: VenuePeer, offer: str) -> str:
        """Answer a venue's offer. A venue that already has a peer gets a new one (no ICE restart)."""
        offer = drop_unreachable_candidates(offer)
        description = check_offer(offer, wall=peer.venue == self.router.main)
        await self.close_peer(peer, "replaced by a new connection")
        venue = _Peer(peer, self._new_pc())
        roles = {("video", "sendrecv"): Role.PROGRAM_VIDEO, ("video", "recvonly"): Role.WALL_VIDEO,
                 ("audio", "sendrecv"): Role.PROGRAM_AUDIO, ("audio", "recvonly"): Role.MAIN_AUDIO}
        slots = 0
        # transceivers in the offer's order, so aiortc pairs each m-line with the right one
        for m in description.media:
            direction = m.direction or "sendrecv"
            role = roles[(m.kind, direction)]
            slot = slots if role is Role.WALL_VIDEO else None
            slots += role is Role.WALL_VIDEO
            output = self._venue_output(m.kind, role, peer, slot)
            transceiver = venue.pc.addTransceiver(output, direction="sendrecv" if direction == "sendrecv" else "sendonly")
            prefer_codec(transceiver)
            self._attach_output(transceiver, output)
            venue.outputs.append(output)
            if direction == "sendrecv":
                venue.uplinks[m.kind] = transceiver
        return await self._negotiate(venue, offer)

    def _venue_output(self, kind: str, role: Role, receiver: VenuePeer, slot: int | None = None) -> Output:
        """The downlink track of one of a venue's m-lines (`slot`: which wall slot it is)."""
        return Output(kind, role, receiver, slot=slot)

    def _attach_output(self, transceiver: RTCRtpTransceiver, output: Output) -> None:
        """Make `output` send the packets routed to it on the transceiver's transport, header rewritten only."""
        _send_packets(transceiver, output)

    def _attach_uplink(self, venue: str, kind: str, transceiver: RTCRtpTransceiver) -> None:
        """Feed a venue's camera or microphone to the router, RTP packet by packet."""
        receiver = transceiver.receiver

        def ask_for_keyframe() -> None:
            request_keyframe(receiver)

        tap_packets(receiver, self._packet_handler(venue, kind))
        self.router.add_source(venue, kind, ask_for_keyframe)

    def _packet_handler(self, venue: str, kind: str) -> PacketCallback:
        on_packet = self.router.on_packet

        def handle(packet: RtpPacket | RtpHeader) -> None:
            on_packet(venue, kind, packet.sequence_number, packet.timestamp, bool(packet.marker), packet.payload)

        return handle

    async def open_downlink(self, peer: PeerId, send_offer: Callable[[str], None], slots: int = 0) -> None:
        raise OfferRejected(phrase(N_("this media plane sends the program on the venue's own peer")))

    async def answer_downlink(self, peer: PeerId, answer: str) -> None:
        raise OfferRejected(phrase(N_("this media plane sends the program on the venue's own peer: there is no downlink offer")))

    # ------------------------------------------------------------ monitors

    async def answer_monitor(self, peer: MonitorPeer, offer: str) -> str:
        """Answer an operator's monitor offer: one video slot per m-line, all blank until set_monitor."""
        offer = drop_unreachable_candidates(offer)
        description = check_offer(offer, monitor=True)
        await self.close_peer(peer, "replaced by a new connection")
        monitor = _Peer(peer, self._new_pc())
        for _ in description.media:
            output = Output("video", Role.MONITOR_VIDEO, peer)
            transceiver = monitor.pc.addTransceiver(output, direction="sendonly")
            prefer_codec(transceiver)
            _send_packets(transceiver, output)
            monitor.outputs.append(output)
        return await self._negotiate(monitor, offer)

    def set_monitor(self, peer: MonitorPeer, slot: int, venue: str | None) -> None:
        outputs = self.router.outputs(peer)
        if not 0 <= slot < len(outputs):
            raise ValueError(f"there is no monitor slot {slot} (this monitor has {len(outputs)})")
        outputs[slot].fixed_source = venue
        self.router.reroute()

    # ------------------------------------------------------------ recorder

    async def answer_recorder(self, peer: RecorderPeer, offer: str) -> str:
        """Answer the recorder's offer: the program video, the program audio and the main venue's audio."""
        offer = drop_unreachable_candidates(offer)
        description = check_offer(offer, recorder=True)
        await self.close_peer(peer, "replaced by a new connection")
        recorder = _Peer(peer, self._new_pc())
        audio_roles = iter((Role.PROGRAM_AUDIO, Role.MAIN_AUDIO))
        for m in description.media:
            output = Output(m.kind, Role.PROGRAM_VIDEO if m.kind == "video" else next(audio_roles), peer)
            transceiver = recorder.pc.addTransceiver(output, direction="sendonly")
            prefer_codec(transceiver)
            _send_packets(transceiver, output)
            recorder.outputs.append(output)
        return await self._negotiate(recorder, offer)

    # ------------------------------------------------------------ program

    def set_program(self, on_air: str, muted: Set[str]) -> None:
        self.router.set_program(on_air, muted)

    def set_main_return(self, video: str | None, wall: Sequence[str]) -> None:
        self.router.set_main_return(video, wall)

    def program_snapshot(self) -> ProgramSnapshot:
        return self.router.program_snapshot()

    # ------------------------------------------------------------ peers

    async def _negotiate(self, peer: _Peer, offer: str) -> str:
        pc = peer.pc
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            if isinstance(peer.id, VenuePeer):
                for kind, transceiver in peer.uplinks.items():
                    self._attach_uplink(peer.id.venue, kind, transceiver)
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            self.router.remove_peer(peer.id)
            await close_quietly(pc)
            raise OfferRejected(phrase(N_('the offer could not be answered ({error})'), error=f"{type(exc).__name__}: {exc}")) from None
        return await self._register(peer)

    async def _register(self, peer: _Peer) -> str:
        """Keep a negotiated peer: route its outputs, follow its state, watch that it connects."""
        pc = peer.pc
        self._peers[peer.id] = peer
        self.router.add_outputs(peer.id, peer.outputs)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            state = pc.connectionState
            if self._peers.get(peer.id) is not peer:
                return
            if state == "connected" and not peer.connected:
                peer.connected = True
                log.info("peer_connected", **_peer_fields(peer.id))
                if isinstance(peer.id, VenuePeer):
                    self.presence.media_connected(peer.id.venue)
            elif state in ("failed", "closed"):
                self._close_soon(peer, f"connection {state}")

        peer.watchdog = asyncio.ensure_future(self._connect_watchdog(peer))
        return pc.localDescription.sdp

    async def _connect_watchdog(self, peer: _Peer) -> None:
        await asyncio.sleep(CONNECT_TIMEOUT_S)
        if not peer.connected and self._peers.get(peer.id) is peer:
            log.warning("peer_never_connected", **_peer_fields(peer.id), after_s=CONNECT_TIMEOUT_S)
            await self._close(peer.id, "never connected")

    def _close_soon(self, peer: _Peer, reason: str) -> None:
        task = asyncio.ensure_future(self._close(peer.id, reason, only=peer))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close_peer(self, peer: PeerId, reason: str) -> None:
        await self._close(peer, reason)

    async def _close(self, peer_id: PeerId, reason: str, only: _Peer | None = None) -> None:
        peer = self._peers.get(peer_id)
        if peer is None or (only is not None and peer is not only):
            return
        del self._peers[peer_id]
        self.router.remove_peer(peer_id)
        if peer.watchdog is not None and peer.watchdog is not asyncio.current_task():
            peer.watchdog.cancel()
        await peer.pc.close()
        log.info("peer_closed", **_peer_fields(peer_id), reason=reason)
        if peer.connected and isinstance(peer_id, VenuePeer):
            self.presence.media_disconnected(peer_id.venue, reason)

    async def close(self) -> None:
        """Close every peer and the router (shutdown)."""
        for peer_id in list(self._peers):
            await self._close(peer_id, "server stopping")
        await asyncio.gather(*self._closing, return_exceptions=True)
        await self.router.close()

    # ------------------------------------------------------------ links

    async def sample_links(self) -> dict[str, LinkStats]:
        """Measure every connected venue's link since the last sample."""
        now = time.monotonic()
        for peer in list(self._peers.values()):
            if not peer.connected or not peer.uplinks or not isinstance(peer.id, VenuePeer):
                continue
            uplinks = list(peer.uplinks.values())
            bytes_in, frames_in = self.router.source_counters(peer.id.venue)
            peer.link = peer.meter.sample(
                now,
                bytes_in=bytes_in,
                bytes_out=sum(o.stats.bytes for o in peer.outputs),
                frames_in=frames_in,
                inbound=inbound_rtp(t.receiver for t in uplinks),
                rtt_ms=await round_trip_ms(t.sender for t in uplinks),
            )
        # the peers connected now (one may have gone while the statistics were read)
        return {p.id.venue: p.link for p in self._peers.values() if p.connected and isinstance(p.id, VenuePeer)}
