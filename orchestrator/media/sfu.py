"""The embedded SFU: one aiortc peer connection per venue, media forwarded encoded.

A venue offers, in any order: one video m-line it sends and receives (camera up,
program down), one audio m-line it sends and receives (microphone up, program audio
down) and optionally a second audio m-line it only receives (the main venue's audio).
The server answers with VP8 and Opus only, taps the uplinks into the `ProgramRouter`,
and feeds the router's outputs to the venue's senders. Nothing is decoded or encoded.

The operator's monitor peer offers up to `MAX_MONITOR_SLOTS` receive-only video
m-lines; each slot shows one venue's camera, chosen with `set_monitor`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription
from aiortc import sdp as aiortc_sdp
from aiortc.rtcrtpsender import RTCRtpSender

from ..logs import get_logger
from .aiortc_tap import install_packer, request_keyframe, restricted_host_addresses, tap_receiver
from .router import Output, ProgramRouter, Role

MAX_OFFER_BYTES = 64 * 1024
MAX_MEDIA_SECTIONS = 3
MAX_MONITOR_SLOTS = 16
MAX_CANDIDATES = 40
CONNECT_TIMEOUT_S = 30.0  # an offer whose peer never connects is cleaned up after this

log = get_logger(component="sfu")


class OfferRejected(ValueError):
    """An SDP offer the server will not answer; the message says why."""


@dataclass
class LinkStats:
    """One venue's link as the server measures it."""

    bitrate_in_kbps: float = 0.0
    bitrate_out_kbps: float = 0.0
    loss_pct: float = 0.0
    rtt_ms: float | None = None
    fps_in: float = 0.0
    packets_received: int = 0
    packets_lost: int = 0


@dataclass
class _Peer:
    id: str
    pc: RTCPeerConnection
    outputs: list[Output]
    is_venue: bool = True
    uplinks: dict[str, RTCRtpTransceiver] = field(default_factory=dict)
    connected: bool = False
    created: float = field(default_factory=time.monotonic)
    # counters at the last stats sample, for rates
    sample_at: float = field(default_factory=time.monotonic)
    bytes_in: int = 0
    bytes_out: int = 0
    frames_in: int = 0
    received: int = 0
    lost: int = 0
    link: LinkStats = field(default_factory=LinkStats)
    watchdog: asyncio.Task | None = None


def check_offer(text: str, *, monitor: bool = False) -> aiortc_sdp.SessionDescription:
    """Parse and vet an offer before aiortc sees it. Raises OfferRejected with the reason."""
    if not isinstance(text, str) or not text.strip():
        raise OfferRejected("the offer is empty")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise OfferRejected("the offer is not valid Unicode text") from None
    if size > MAX_OFFER_BYTES:
        raise OfferRejected(f"the offer is {size} bytes; the limit is {MAX_OFFER_BYTES}")
    try:
        description = aiortc_sdp.SessionDescription.parse(text)
    except Exception as exc:  # aiortc's parser raises many kinds on bad input
        raise OfferRejected(f"the offer is not valid SDP ({type(exc).__name__}: {exc})") from None
    media = description.media
    limit = MAX_MONITOR_SLOTS if monitor else MAX_MEDIA_SECTIONS
    if not media:
        raise OfferRejected("the offer has no media sections")
    if len(media) > limit:
        raise OfferRejected(f"the offer has {len(media)} media sections; at most {limit} are allowed")
    candidates = sum(len(m.ice_candidates) for m in media)
    if candidates > MAX_CANDIDATES:
        raise OfferRejected(f"the offer has {candidates} ICE candidates; at most {MAX_CANDIDATES} are allowed")
    for i, m in enumerate(media):
        if m.kind not in ("audio", "video"):
            raise OfferRejected(f"media section {i} is '{m.kind}'; only audio and video are served")
        if not m.ice.usernameFragment or not m.ice.password:
            raise OfferRejected(f"media section {i} has no ICE credentials")
        if not m.dtls or not m.dtls.fingerprints:
            raise OfferRejected(f"media section {i} has no DTLS fingerprint")
        wanted = "vp8" if m.kind == "video" else "opus"
        if not any(c.name.lower() == wanted for c in m.rtp.codecs):
            raise OfferRejected(f"media section {i} ({m.kind}) does not offer {wanted.upper()}")
    mids = [m.rtp.muxId for m in media]
    for group in description.group:
        unknown = [mid for mid in group.items if mid not in mids]
        if unknown:
            raise OfferRejected(f"the {group.semantic} group names media {unknown[0]!r}, which the offer does not have")
    if len(set(mids)) != len(mids):
        raise OfferRejected("two media sections have the same mid")
    if monitor:
        if any(m.kind != "video" or m.direction != "recvonly" for m in media):
            raise OfferRejected("a monitor offer has receive-only video sections only")
        return description
    kinds = [(m.kind, m.direction or "sendrecv") for m in media]
    video = [d for k, d in kinds if k == "video"]
    audio = [d for k, d in kinds if k == "audio"]
    if video != ["sendrecv"]:
        raise OfferRejected("the offer needs exactly one video section that sends and receives (camera up, program down)")
    if audio.count("sendrecv") != 1 or len(audio) > 2 or (len(audio) == 2 and "recvonly" not in audio):
        raise OfferRejected(
            "the offer needs one audio section that sends and receives (microphone up, program down) "
            "and at most one more that only receives (the main venue)"
        )
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
    except Exception as exc:  # noqa: BLE001 - the offer is refused either way
        log.warning("peer_close_failed", error=f"{type(exc).__name__}: {exc}")


def _prefer(transceiver: RTCRtpTransceiver, codec: str) -> None:
    caps = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    chosen = [c for c in caps if c.mimeType.lower() == f"{transceiver.kind}/{codec}"]
    rtx = [c for c in caps if c.mimeType.lower() == f"{transceiver.kind}/rtx"]
    transceiver.setCodecPreferences(chosen + rtx)


class MediaServer:
    """Owns the venues' peer connections; routes their media through the `ProgramRouter`."""

    def __init__(
        self,
        router: ProgramRouter,
        ice_servers: list[RTCIceServer] | None = None,
        on_connection: Callable[[str, bool, str], None] = lambda venue, up, why: None,
    ):
        self.router = router
        self.ice_servers = list(ice_servers or [])
        self.on_connection = on_connection
        self._peers: dict[str, _Peer] = {}
        self._closing: set[asyncio.Task] = set()

    @property
    def peer_ids(self) -> list[str]:
        return list(self._peers)

    def is_connected(self, peer_id: str) -> bool:
        peer = self._peers.get(peer_id)
        return bool(peer and peer.connected)

    def _new_pc(self) -> RTCPeerConnection:
        return RTCPeerConnection(RTCConfiguration(iceServers=self.ice_servers))

    async def answer_venue(self, venue: str, offer: str) -> str:
        """Answer a venue's offer. A venue that already has a peer gets a new one (no ICE restart)."""
        offer = drop_unreachable_candidates(offer)
        description = check_offer(offer)
        await self.close_peer(venue, "replaced by a new connection")
        pc = self._new_pc()
        outputs: list[Output] = []
        peer = _Peer(venue, pc, outputs)
        video_out = Output("video", Role.PROGRAM_VIDEO, venue)
        audio_outs = {"sendrecv": Output("audio", Role.PROGRAM_AUDIO, venue), "recvonly": Output("audio", Role.MAIN_AUDIO, venue)}
        # transceivers in the offer's order, so aiortc pairs each m-line with the right one
        for m in description.media:
            direction = m.direction or "sendrecv"
            output = video_out if m.kind == "video" else audio_outs[direction]
            transceiver = pc.addTransceiver(output, direction="sendrecv" if direction == "sendrecv" else "sendonly")
            _prefer(transceiver, "vp8" if m.kind == "video" else "opus")
            install_packer(transceiver.sender, lambda o=output: o.on_keyframe_request())
            outputs.append(output)
            if direction == "sendrecv":
                peer.uplinks[m.kind] = transceiver
        return await self._negotiate(peer, offer)

    async def answer_monitor(self, receiver: str, offer: str) -> str:
        """Answer an operator's monitor offer: one video slot per m-line, all blank until set_monitor."""
        offer = drop_unreachable_candidates(offer)
        description = check_offer(offer, monitor=True)
        await self.close_peer(receiver, "replaced by a new connection")
        pc = self._new_pc()
        outputs = []
        for _ in description.media:
            output = Output("video", Role.MONITOR_VIDEO, receiver)
            transceiver = pc.addTransceiver(output, direction="sendonly")
            _prefer(transceiver, "vp8")
            install_packer(transceiver.sender, lambda o=output: o.on_keyframe_request())
            outputs.append(output)
        return await self._negotiate(_Peer(receiver, pc, outputs, is_venue=False), offer)

    def set_monitor(self, receiver: str, slot: int, venue: str | None) -> None:
        outputs = self.router.outputs(receiver)
        if not 0 <= slot < len(outputs):
            raise ValueError(f"there is no monitor slot {slot} (this monitor has {len(outputs)})")
        outputs[slot].fixed_source = venue
        self.router.reroute()

    async def _negotiate(self, peer: _Peer, offer: str) -> str:
        pc = peer.pc
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            for kind, transceiver in peer.uplinks.items():
                tap_receiver(transceiver.receiver, self._frame_handler(peer.id, kind))
                self.router.add_source(peer.id, kind, lambda r=transceiver.receiver: request_keyframe(r))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            self.router.remove_venue(peer.id)
            await close_quietly(pc)
            raise OfferRejected(f"the offer could not be answered ({type(exc).__name__}: {exc})") from None
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
                log.info("peer_connected", venue=peer.id)
                if peer.is_venue:
                    self.on_connection(peer.id, True, "connected")
            elif state in ("failed", "closed"):
                self._close_soon(peer, f"connection {state}")

        peer.watchdog = asyncio.ensure_future(self._connect_watchdog(peer))
        return pc.localDescription.sdp

    def _frame_handler(self, venue: str, kind: str):
        on_frame = self.router.on_frame

        def handle(codec, frame) -> None:
            on_frame(venue, kind, frame.data, frame.timestamp)

        return handle

    async def _connect_watchdog(self, peer: _Peer) -> None:
        await asyncio.sleep(CONNECT_TIMEOUT_S)
        if not peer.connected and self._peers.get(peer.id) is peer:
            log.warning("peer_never_connected", venue=peer.id, after_s=CONNECT_TIMEOUT_S)
            await self.close_peer(peer.id, "never connected")

    def _close_soon(self, peer: _Peer, reason: str) -> None:
        task = asyncio.ensure_future(self.close_peer(peer.id, reason, only=peer))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close_peer(self, peer_id: str, reason: str, only: _Peer | None = None) -> None:
        peer = self._peers.get(peer_id)
        if peer is None or (only is not None and peer is not only):
            return
        del self._peers[peer_id]
        self.router.remove_venue(peer_id)
        if peer.watchdog is not None and peer.watchdog is not asyncio.current_task():
            peer.watchdog.cancel()
        await peer.pc.close()
        log.info("peer_closed", venue=peer_id, reason=reason)
        if peer.connected and peer.is_venue:
            self.on_connection(peer_id, False, reason)

    async def close(self) -> None:
        """Close every peer (shutdown)."""
        for peer_id in list(self._peers):
            await self.close_peer(peer_id, "server stopping")
        await asyncio.gather(*self._closing, return_exceptions=True)

    async def sample_links(self) -> dict[str, LinkStats]:
        """Measure every connected venue's link since the last sample."""
        now = time.monotonic()
        for peer in list(self._peers.values()):
            if not peer.connected or not peer.uplinks:
                continue
            received = lost = 0
            rtts = []
            for transceiver in peer.uplinks.values():
                for stat in (await transceiver.receiver.getStats()).values():
                    if stat.type == "inbound-rtp":
                        received += stat.packetsReceived
                        lost += max(stat.packetsLost, 0)
                for stat in (await transceiver.sender.getStats()).values():
                    if stat.type == "remote-inbound-rtp" and stat.roundTripTime is not None:
                        rtts.append(stat.roundTripTime * 1000)
            bytes_in, frames_in = self.router.source_counters(peer.id)
            bytes_out = sum(o.stats.bytes for o in peer.outputs)
            dt = max(now - peer.sample_at, 1e-3)
            d_received, d_lost = received - peer.received, lost - peer.lost
            expected = d_received + d_lost
            peer.link = LinkStats(
                bitrate_in_kbps=round((bytes_in - peer.bytes_in) * 8 / dt / 1000, 1),
                bitrate_out_kbps=round((bytes_out - peer.bytes_out) * 8 / dt / 1000, 1),
                loss_pct=round(100 * d_lost / expected, 2) if expected > 0 else 0.0,
                rtt_ms=round(max(rtts), 1) if rtts else None,
                fps_in=round((frames_in - peer.frames_in) / dt, 1),
                packets_received=received,
                packets_lost=lost,
            )
            peer.sample_at, peer.bytes_in, peer.bytes_out, peer.frames_in = now, bytes_in, bytes_out, frames_in
            peer.received, peer.lost = received, lost
        return {p.id: p.link for p in self._peers.values() if p.connected}
