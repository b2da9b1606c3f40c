"""Every touch of aiortc's (and aioice's) private internals, in one place.

The orchestrator forwards encoded media without decoding or encoding it. aiortc has no
public API for that, so this module reaches into aiortc 1.16.0 (pinned in
pyproject.toml). `check_internals()` verifies each name used here exists and is shaped as
expected; a test calls it, so an aiortc upgrade that moves them fails loudly.

- Receiving frames (the venues' agent, the recorder): `RTCRtpReceiver._handle_rtp_packet`
  puts `(codec, JitterFrame)` on its name-mangled `__decoder_queue`; a decoder thread
  started in `receive()` reads it. `tap_receiver` swaps that queue for a `_Tap` whose
  `put` hands each depayloaded frame to a callback on the event loop, and whose `get`
  returns None at once, so aiortc's decoder thread exits without ever creating a decoder.
- Receiving packets (the server): `tap_packets` also swaps the receiver's name-mangled
  `__jitter_buffer` for a `_PacketTap` whose `add(packet)` hands each RTP packet (SRTP
  removed, RTX unwrapped, after aiortc's statistics and NACKs to the sender) to a
  callback and never assembles a frame. Once packets flow, the peer's RTP skips aiortc's
  per-packet coroutines (`_fast_rtp`): the ICE connection's `data_received` (aioice's
  `Connection`, which queues every datagram for the DTLS transport's receive loop) is
  replaced on that connection (and its `StunProtocol`s' `datagram_received` no longer try
  to parse RTP as STUN first) by a function that SRTP-unprotects an RTP packet at once,
  parses its fixed header only (`rtp_forward.parse_rtp`), routes it with the DTLS
  transport's `_rtp_router` and does for a tapped receiver what
  `RTCRtpReceiver._handle_rtp_packet` does for it: the receiver's `__active_ssrc` (at most
  once a second), `__remote_streams` statistics and `__nack_generator` (a NACK still goes
  out through `_send_rtcp_nack`), then the callback. Everything else (DTLS, RTCP, RTX, an
  untapped receiver) takes aiortc's own path.
- Decoding as a browser does (the venues' agent): `guard_vp8_chain` wraps the receiver's
  jitter buffer in a `_ChainGuard`: every packet still goes to the real buffer (which
  waits for missing packets and keeps them in order), but a frame it assembles goes on to
  aiortc's decoder only if it has data and a `Vp8Chain` finds it decodable; the `(pli_flag, frame)` that
  `add` returns is how the receiver is told to send a PLI.
- Forwarding packets (the server): `forward_packets` turns an `RTCRtpSender` into a
  `_ForwardingSender` (its class swapped): the sender keeps its RTCP (sender reports,
  receiver reports, NACK, PLI), but its report counters (`__packet_count`,
  `__octet_count`, `__rtp_timestamp`, `__ntp_timestamp`) are read from the output's
  `RtpRewriter`, a NACK is answered from the rewriter's history and a PLI/FIR goes to a
  callback. The returned `send` SRTP-protects a packet with the DTLS transport's
  `_tx_srtp` and writes it to the nominated ICE pair's socket at once.
- SRTP on the packet paths (`SrtpCalls`): libsrtp's `srtp_protect`/`srtp_unprotect` called
  on a pylibsrtp `Session`'s own context (`_srtp`) and buffer (`_cdata`, `_buffer`) as
  `Session.protect`/`unprotect` do, without the `int *` they allocate on every call.
- Keyframes: `_send_rtcp_pli(ssrc)` asks the remote sender for one.
- Link statistics: `media_stream_counts` reads a receiver's `__remote_streams` without the
  SSRCs in `__rtx_ssrc` (`getStats()` reports every stream under one id, the last one winning).
- Sending: `RTCRtpSender._next_encoded_frame` calls `encoder.pack(data)` for anything
  that is not an `av.Frame`. `install_packer` puts our own packer in the sender's
  name-mangled `__encoder` slot, so aiortc never creates a codec context (its Opus
  "encoder" opens libopus in its constructor), and replaces `_send_keyframe` (which the
  sender calls on an incoming PLI/FIR) with our callback.
- ICE: aioice gathers host candidates from every interface; `restrict_host_addresses`
  limits them (tests and rehearsals stay on loopback).
- Fault drills: `drop_outgoing_rtp` wraps a DTLS transport's `_send_rtp` to lose a
  fraction of outgoing RTP (never RTCP) packets, like a lossy uplink.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import aioice.ice
import av
import pylibsrtp
from aiortc import RTCRtpReceiver, RTCRtpSender, clock, rtcdtlstransport, rtcrtpreceiver
from aiortc.codecs import vpx
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtcicetransport import RTCIceTransport
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters
from aiortc.rtp import RtpPacket, is_rtcp
from pylibsrtp._binding import ffi as srtp_ffi
from pylibsrtp._binding import lib as srtp_lib

from .rtp_forward import RtpHeader, RtpRewriter, parse_rtp
from .vp8_chain import Vp8Chain

_RECEIVER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_RECEIVER_THREAD = "_RTCRtpReceiver__decoder_thread"
_RECEIVER_REMB = "_RTCRtpReceiver__remote_bitrate_estimator"
_RECEIVER_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_RECEIVER_CODECS = "_RTCRtpReceiver__codecs"
_RECEIVER_ACTIVE_SSRC = "_RTCRtpReceiver__active_ssrc"
_RECEIVER_REMOTE_STREAMS = "_RTCRtpReceiver__remote_streams"
_RECEIVER_NACK = "_RTCRtpReceiver__nack_generator"
_RECEIVER_RTX_SSRC = "_RTCRtpReceiver__rtx_ssrc"
_RECEIVER_PACKET_STATE = (_RECEIVER_CODECS, _RECEIVER_ACTIVE_SSRC, _RECEIVER_REMOTE_STREAMS, _RECEIVER_NACK)
_DTLS_RX_BYTES = "_RTCDtlsTransport__rx_bytes"
_DTLS_RX_PACKETS = "_RTCDtlsTransport__rx_packets"
_FAST_RTP_MARK = "_orchestrator_fast_rtp"  # on an aioice Connection: the DTLS transport its fast path serves
_SENDER_ENCODER = "_RTCRtpSender__encoder"
_SENDER_HEADER_EXTENSIONS = "_RTCRtpSender__rtp_header_extensions_map"
_SENDER_REPORT_COUNTERS = ("__packet_count", "__octet_count", "__rtp_timestamp", "__ntp_timestamp")

FrameCallback = Callable[[RTCRtpCodecParameters, JitterFrame], None]
PacketCallback = Callable[[RtpPacket | RtpHeader], None]  # both have marker, sequence_number, timestamp, payload
ACTIVE_SOURCE_REFRESH_S = 1.0  # how often the fast path re-stamps a source as active (aiortc keeps 10 s)


class InternalsChanged(RuntimeError):
    """aiortc no longer looks like the version this module was written for."""


class _Tap:
    """Stands in for the receiver's decoder queue (a `queue.Queue`)."""

    def __init__(self, on_frame: FrameCallback):
        self.on_frame = on_frame

    def put(self, item: tuple[RTCRtpCodecParameters, JitterFrame] | None) -> None:
        if item is not None:
            self.on_frame(*item)

    def get(self) -> None:
        # aiortc's decoder thread: told at once that there is nothing to decode.
        return None


def tap_receiver(receiver: RTCRtpReceiver, on_frame: FrameCallback) -> None:
    """Hand every depayloaded frame of `receiver` to `on_frame`; never decode. Call before `receive()`."""
    if getattr(receiver, _RECEIVER_THREAD, "missing") is not None:
        raise InternalsChanged("tap_receiver must be called before the receiver starts")
    setattr(receiver, _RECEIVER_QUEUE, _Tap(on_frame))
    # A forwarder needs no receive-side bandwidth estimate (REMB): it was 11 % of the
    # server's time at 100 venues, spent on every video packet.
    setattr(receiver, _RECEIVER_REMB, None)


class _PacketTap:
    """Stands in for the receiver's jitter buffer: hands every packet on, assembles nothing.

    aiortc's own path calls `add`; the fast path (`_fast_rtp`), installed on the receiver's
    ICE connection when the first packet comes that way, calls `handle`."""

    def __init__(self, on_packet: PacketCallback, receiver: RTCRtpReceiver):
        self.on_packet = on_packet
        self.receiver = receiver
        missing = [name for name in _RECEIVER_PACKET_STATE if not hasattr(receiver, name)]
        if missing:
            raise InternalsChanged(f"RTCRtpReceiver has no {', '.join(missing)}")
        self._codecs: dict[int, RTCRtpCodecParameters] = getattr(receiver, _RECEIVER_CODECS)
        self._active: dict[int, Any] = getattr(receiver, _RECEIVER_ACTIVE_SSRC)
        self._streams: dict[int, rtcrtpreceiver.StreamStatistics] = getattr(receiver, _RECEIVER_REMOTE_STREAMS)
        self._nack: rtcrtpreceiver.NackGenerator | None = getattr(receiver, _RECEIVER_NACK)
        self._active_until: dict[int, float] = {}  # by SSRC: when to stamp it active again
        self._pending: set[asyncio.Task[None]] = set()

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        transport = self.receiver.transport
        if transport is not None:
            _fast_rtp(transport)
        self.on_packet(packet)
        return False, None

    def handle(self, packet: RtpHeader, dtls: RTCDtlsTransport, data: bytes) -> None:
        """A packet the fast path routed to this receiver (unprotected `data`, parsed `packet`)."""
        receiver = self.receiver
        if not receiver._enabled:
            return
        ssrc = packet.ssrc
        now = time.monotonic()
        if now >= self._active_until.get(ssrc, 0.0):
            self._active[ssrc] = clock.current_datetime()
            self._active_until[ssrc] = now + ACTIVE_SOURCE_REFRESH_S
        codec = self._codecs.get(packet.payload_type)
        if codec is None:
            return
        if codec.mimeType[-4:].lower() == "/rtx":  # a retransmission: aiortc unwraps it
            self._spawn(dtls._handle_rtp_data(data, arrival_time_ms=clock.current_ms()))
            return
        stream = self._streams.get(ssrc)
        if stream is None:
            stream = self._streams[ssrc] = rtcrtpreceiver.StreamStatistics(codec.clockRate)
        stream.add(packet)  # type: ignore[arg-type]  # reads sequence_number and timestamp
        nack = self._nack
        if nack is not None and nack.add(packet):  # type: ignore[arg-type]  # reads sequence_number
            self._spawn(receiver._send_rtcp_nack(ssrc, sorted(nack.missing)))
        self.on_packet(packet)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)


def media_stream_counts(receiver: RTCRtpReceiver) -> list[tuple[int, int]]:
    """(packets received, packets lost) of each media stream `receiver` gets, its retransmission
    (RTX) streams left out. aiortc's `getStats()` gives every stream of a receiver the same id,
    so its report keeps only the last one, which once a retransmission came is the RTX stream's."""
    rtx: dict[int, int] = getattr(receiver, _RECEIVER_RTX_SSRC)
    streams: dict[int, rtcrtpreceiver.StreamStatistics] = getattr(receiver, _RECEIVER_REMOTE_STREAMS)
    return [(stream.packets_received, stream.packets_lost) for ssrc, stream in list(streams.items())
            if ssrc not in rtx]


def tap_packets(receiver: RTCRtpReceiver, on_packet: PacketCallback) -> None:
    """Hand every RTP packet of `receiver` to `on_packet` (no jitter buffer, no frames, no
    decoder); aiortc's statistics are still kept and lost packets NACKed. Call before `receive()`."""
    tap_receiver(receiver, lambda codec, frame: None)
    setattr(receiver, _RECEIVER_JITTER_BUFFER, _PacketTap(on_packet, receiver))


def _fast_rtp(dtls: RTCDtlsTransport) -> None:
    """Handle the RTP packets arriving on `dtls`'s ICE connection as they arrive (see the module
    docstring); idempotent."""
    connection = dtls.transport._connection
    if getattr(connection, _FAST_RTP_MARK, None) is dtls:
        return
    queue_datagram = connection.data_received
    router = dtls._rtp_router
    rx = SrtpCalls(dtls._rx_srtp)
    connected = State.CONNECTED

    def data_received(data: bytes, component: int) -> None:
        if len(data) < 12 or not 127 < data[0] < 192 or is_rtcp(data) or dtls._state is not connected:
            queue_datagram(data, component)  # DTLS, RTCP, or the transport closing: aiortc's own path
            return
        clear = rx.unprotect(data)
        if clear is None:
            return
        setattr(dtls, _DTLS_RX_BYTES, getattr(dtls, _DTLS_RX_BYTES) + len(data))
        setattr(dtls, _DTLS_RX_PACKETS, getattr(dtls, _DTLS_RX_PACKETS) + 1)
        packet = parse_rtp(clear)
        if packet is None:
            return
        receiver = router.route_rtp(packet)  # type: ignore[arg-type]  # reads ssrc and payload_type
        if receiver is None:
            return
        tap = getattr(receiver, _RECEIVER_JITTER_BUFFER, None)
        if type(tap) is _PacketTap:
            tap.handle(packet, dtls, clear)
        else:
            task = asyncio.ensure_future(dtls._handle_rtp_data(clear, arrival_time_ms=clock.current_ms()))
            _untapped.add(task)
            task.add_done_callback(_untapped.discard)

    connection.data_received = data_received  # type: ignore[method-assign]
    setattr(connection, _FAST_RTP_MARK, dtls)
    for protocol in connection._protocols:
        if type(protocol) is aioice.ice.StunProtocol:
            protocol.datagram_received = _skip_stun_parsing(protocol, data_received)  # type: ignore[method-assign,assignment]


def _skip_stun_parsing(protocol: aioice.ice.StunProtocol,
                       data_received: Callable[[bytes, int], None]) -> Callable[[bytes, Any], None]:
    """`protocol.datagram_received` that hands RTP and RTCP (first byte 128 to 191, never STUN's)
    straight to `data_received` instead of trying to parse them as STUN first."""
    stun_or_dtls = protocol.datagram_received
    component = protocol.local_candidate.component

    def datagram_received(data: bytes, addr: Any) -> None:
        if data and 127 < data[0] < 192:
            data_received(data, component)
        else:
            stun_or_dtls(data, addr)

    return datagram_received


_untapped: set[asyncio.Task[None]] = set()  # packets of untapped receivers, on aiortc's path


class _ChainGuard:
    """Wraps the receiver's jitter buffer: passes on only the frames a browser could decode."""

    def __init__(self, jitter_buffer: JitterBuffer, on_held: Callable[[bool], None]):
        self.jitter_buffer = jitter_buffer
        self.chain = Vp8Chain()
        self.on_held = on_held

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        self.chain.note(packet.payload, packet.timestamp)
        pli_flag, frame = self.jitter_buffer.add(packet)
        if frame is None or not frame.data:
            # empty packets alone (padding, a forwarder's fillers) make no picture, and an empty
            # frame would flush aiortc's decoder, which then never decodes again
            return pli_flag, None
        verdict = self.chain.admit(frame.timestamp, time.monotonic())
        if verdict.decodable:
            return pli_flag, frame
        self.on_held(verdict.first_held)
        return pli_flag or verdict.ask_keyframe, None


def guard_vp8_chain(receiver: RTCRtpReceiver, on_held: Callable[[bool], None]) -> None:
    """Decode only the VP8 frames of `receiver` that a browser would (see `vp8_chain`); every
    frame held back is reported to `on_held(first)`, `first` for the first since the chain
    broke, and a keyframe is asked for (throttled). Call before the receiver gets packets."""
    jitter_buffer = getattr(receiver, _RECEIVER_JITTER_BUFFER, None)
    if not isinstance(jitter_buffer, JitterBuffer):
        raise InternalsChanged(f"the receiver's jitter buffer is {type(jitter_buffer).__name__}, not aiortc's JitterBuffer")
    setattr(receiver, _RECEIVER_JITTER_BUFFER, _ChainGuard(jitter_buffer, on_held))


def request_keyframe(receiver: RTCRtpReceiver) -> asyncio.Task | None:
    """Ask the remote sender of `receiver` for a keyframe (RTCP PLI to every active source)."""
    sources = receiver.getSynchronizationSources()
    if not sources:
        return None

    async def send() -> None:
        for source in sources:
            await receiver._send_rtcp_pli(source.source)

    return asyncio.ensure_future(send())


class EncodedPacker:
    """What the sender calls `encoder.pack(packet)` on: packetize, never encode.

    VP8 is split into RTP payloads with aiortc's own payload descriptor code; Opus
    frames go out as they are. The RTP timestamp is the packet's pts in the codec clock.
    """

    def __init__(self, kind: str):
        self.kind = kind
        # VP8 picture IDs start anywhere, as aiortc's encoder and browsers start them: two venues'
        # streams a media server switches between then do not look like one chain of pictures
        self.picture_id = random.randrange(1 << 15)

    def pack(self, packet: av.Packet) -> tuple[list[bytes], int]:
        data = bytes(packet)
        if self.kind == "video":
            payloads = vpx.Vp8Encoder._packetize(data, self.picture_id)
            self.picture_id = (self.picture_id + 1) % (1 << 15)
        else:
            payloads = [data]
        assert packet.pts is not None, "forwarded packets are stamped by the router"
        return payloads, int(packet.pts)

    def encode(self, frame: Any, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        raise RuntimeError("the orchestrator never encodes media")


def install_packer(sender: RTCRtpSender, on_keyframe_request: Callable[[], None]) -> None:
    """Make `sender` packetize pre-encoded packets and route its PLI/FIR to `on_keyframe_request`."""
    if not hasattr(sender, _SENDER_ENCODER):
        raise InternalsChanged(f"RTCRtpSender has no {_SENDER_ENCODER}")
    setattr(sender, _SENDER_ENCODER, EncodedPacker(sender.kind))
    sender._send_keyframe = on_keyframe_request  # type: ignore[method-assign]


class _ForwardingSender(RTCRtpSender):
    """An `RTCRtpSender` whose packets are sent by the output that forwards them (see the module docstring)."""

    _rewriter: RtpRewriter
    _on_keyframe_request: Callable[[], None]
    _on_started: Callable[[], None]
    _forward_send: Callable[[bytes], None]
    _ntp_offset: int  # NTP time (64-bit fixed point) minus the monotonic clock, when the sender was made

    async def send(self, parameters: RTCRtpSendParameters) -> None:
        await super().send(parameters)
        extensions = getattr(self, _SENDER_HEADER_EXTENSIONS)
        probe = RtpPacket(payload_type=0)
        probe.extensions.mid = parameters.muxId
        payload_type = parameters.codecs[0].payloadType
        assert payload_type is not None, "a negotiated codec has a payload type"
        self._rewriter.configure(self._ssrc, payload_type, probe.serialize(extensions)[12:])
        self._on_started()

    async def _retransmit(self, sequence_number: int) -> None:
        data = self._rewriter.retransmission(sequence_number)
        if data is not None:
            self._forward_send(data)

    def _send_keyframe(self) -> None:
        self._on_keyframe_request()


def _report_counter(name: str) -> property:
    def read(sender: _ForwardingSender) -> int:
        rewriter = sender._rewriter
        if name == "__packet_count":
            return rewriter.packets
        if name == "__octet_count":
            return rewriter.octets
        if name == "__rtp_timestamp":
            return rewriter.last_timestamp
        return sender._ntp_offset + int(rewriter.last_sent_at * (1 << 32)) if rewriter.packets else 0

    def ignore(sender: _ForwardingSender, value: int) -> None:
        pass

    return property(read, ignore)


for _name in _SENDER_REPORT_COUNTERS:
    setattr(_ForwardingSender, "_RTCRtpSender" + _name, _report_counter(_name))


class SrtpCalls:
    """A pylibsrtp `Session`'s protect and unprotect for RTP, as `Session.protect`/`unprotect`
    do them but with one length cell for every call; None instead of `pylibsrtp.Error`.
    `protect` and `unprotect` are closures over the context (called per packet), which they keep alive."""

    def __init__(self, session: pylibsrtp.Session):
        self.protect = _srtp_call(session, srtp_lib.srtp_protect, pylibsrtp.SRTP_MAX_TRAILER_LEN)
        self.unprotect = _srtp_call(session, srtp_lib.srtp_unprotect, 0)


def _srtp_call(session: pylibsrtp.Session, function: Any, trailer: int) -> Callable[[bytes], bytes | None]:
    srtp, cdata, buffer = session._srtp, session._cdata, session._buffer  # `srtp` owns the context
    room = len(cdata) - trailer
    length = srtp_ffi.new("int *")
    ok = srtp_lib.srtp_err_status_ok

    def call(data: bytes) -> bytes | None:
        size = len(data)
        if size > room:
            return None
        length[0] = size
        buffer[0:size] = data
        if function(srtp[0], cdata, length) != ok:
            return None
        return buffer[0:length[0]]

    return call


def _socket_sender(sender: RTCRtpSender) -> Callable[[bytes], None]:
    """SRTP-protect an RTP packet and send it on the nominated ICE pair of `sender`'s transport
    (bundling may change it until negotiation ends), now; dropped when not connected.

    Called once per packet per receiver: the route (transport, pair, SRTP context, socket) is
    looked up once, and kept while its transport stays connected on the same pair."""
    pending: set[asyncio.Task[None]] = set()
    connected = State.CONNECTED
    Route = tuple[RTCDtlsTransport, dict[int, Any], Any, Callable[[bytes], bytes | None], Callable[[bytes], None]]
    route: Route | None = None  # (DTLS transport, its ICE connection's nominated pairs, the pair, protect, write)

    def find_route() -> Route | None:
        dtls = sender.transport
        if dtls._state is not connected:
            return None
        nominated = dtls.transport._connection._nominated
        pair = nominated.get(1)
        if pair is None:
            return None
        protocol, address = pair.protocol, pair.remote_addr
        if type(protocol) is aioice.ice.StunProtocol:
            transport = protocol.transport
            if transport is None:
                return None
            sendto = transport.sendto

            def write(protected: bytes) -> None:
                if protocol.transport is transport:  # not lost since (ICE closes before DTLS notices)
                    sendto(protected, address)
        else:  # a relayed (TURN) pair sends through a coroutine

            def write(protected: bytes) -> None:
                task = asyncio.ensure_future(protocol.send_data(protected, address))
                pending.add(task)
                task.add_done_callback(pending.discard)

        return dtls, nominated, pair, SrtpCalls(dtls._tx_srtp).protect, write

    def send(data: bytes) -> None:
        nonlocal route
        known = route
        # (bundling gives the sender another transport once, and stops the one it had: a
        # route on a stopped transport is no longer connected)
        if known is None or known[0]._state is not connected or known[1].get(1) is not known[2]:
            known = route = find_route()
            if known is None:
                return
        protected = known[3](data)
        if protected is not None:
            known[4](protected)

    return send


def forward_packets(sender: RTCRtpSender, rewriter: RtpRewriter, on_keyframe_request: Callable[[], None],
                    on_started: Callable[[], None] = lambda: None) -> Callable[[bytes], None]:
    """Make `sender` send nothing itself but report `rewriter`'s packets, answer NACKs from its
    history and route PLI/FIR to `on_keyframe_request`; `on_started` is called once the sender
    starts (its transport connected). Returns the function that sends a rewritten packet on the
    sender's transport. Call before the sender starts."""
    for name in _SENDER_REPORT_COUNTERS:
        if not hasattr(sender, "_RTCRtpSender" + name):
            raise InternalsChanged(f"RTCRtpSender has no {name}")
    sender.__class__ = _ForwardingSender
    assert isinstance(sender, _ForwardingSender)
    sender._rewriter = rewriter
    sender._on_keyframe_request = on_keyframe_request
    sender._on_started = on_started
    sender._ntp_offset = clock.current_ntp_time() - int(time.monotonic() * (1 << 32))
    send = _socket_sender(sender)
    sender._forward_send = send
    return send


def force_keyframe(sender: RTCRtpSender) -> None:
    """Make an encoding sender's next frame a keyframe (the transcoding baseline only)."""
    RTCRtpSender._send_keyframe(sender)


_original_host_addresses = aioice.ice.get_host_addresses
_restricted: list[str] | None = None
_restrict_lock = threading.Lock()


def restrict_host_addresses(addresses: list[str] | None) -> None:
    """Offer ICE host candidates only on `addresses` (None: every interface, aioice's default)."""
    global _restricted
    with _restrict_lock:
        _restricted = list(addresses) if addresses else None

        def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
            if _restricted is None:
                return _original_host_addresses(use_ipv4, use_ipv6)
            return [a for a in _restricted if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

        aioice.ice.get_host_addresses = host_addresses


def drop_outgoing_rtp(transport: RTCDtlsTransport, fraction: float, rng: random.Random) -> None:
    """Lose `fraction` (0..1) of the RTP packets sent on `transport`; RTCP always goes out."""
    send = transport._send_rtp

    async def lossy_send(data: bytes) -> None:
        if not is_rtcp(data) and rng.random() < fraction:
            return
        await send(data)

    transport._send_rtp = lossy_send  # type: ignore[method-assign]


def restricted_host_addresses() -> list[str] | None:
    return list(_restricted) if _restricted is not None else None


def check_internals() -> None:
    """Raise InternalsChanged if any private name this module relies on has moved."""
    problems = []
    receiver_src = inspect.getsource(RTCRtpReceiver)
    if "self.__decoder_queue.put((codec, encoded_frame))" not in receiver_src:
        problems.append("RTCRtpReceiver._handle_rtp_packet no longer puts (codec, frame) on __decoder_queue")
    if "input_q.get()" not in inspect.getsource(__import__("aiortc.rtcrtpreceiver").rtcrtpreceiver.decoder_worker):
        problems.append("aiortc's decoder_worker no longer reads its queue with get()")
    if "if self.__remote_bitrate_estimator is not None:" not in receiver_src:
        problems.append("RTCRtpReceiver no longer skips the bitrate estimator when it is None")
    if "self.__jitter_buffer.add(packet)" not in receiver_src:
        problems.append("RTCRtpReceiver._handle_rtp_packet no longer hands packets to __jitter_buffer.add")
    if "pli_flag, encoded_frame = self.__jitter_buffer.add(packet)" not in receiver_src \
            or "await self._send_rtcp_pli(packet.ssrc)" not in receiver_src:
        problems.append("RTCRtpReceiver._handle_rtp_packet no longer sends a PLI when __jitter_buffer.add says so")
    if not hasattr(RTCRtpReceiver, "_send_rtcp_pli"):
        problems.append("RTCRtpReceiver._send_rtcp_pli is gone")
    sender_src = inspect.getsource(RTCRtpSender)
    if "self.__encoder.pack(data)" not in sender_src:
        problems.append("RTCRtpSender._next_encoded_frame no longer calls __encoder.pack for packets")
    if "self.__encoder is None" not in sender_src:
        problems.append("RTCRtpSender no longer creates its encoder lazily")
    if "self._send_keyframe()" not in sender_src:
        problems.append("RTCRtpSender no longer answers PLI/FIR through _send_keyframe")
    run_rtcp = inspect.getsource(RTCRtpSender._run_rtcp)
    for name in _SENDER_REPORT_COUNTERS:
        if f"self.{name}" not in run_rtcp:
            problems.append(f"RTCRtpSender._run_rtcp no longer reports self.{name}")
    if "await self._retransmit(seq)" not in sender_src:
        problems.append("RTCRtpSender no longer answers NACK through _retransmit")
    if "self.__rtp_header_extensions_map.configure(parameters)" not in sender_src:
        problems.append("RTCRtpSender.send no longer configures __rtp_header_extensions_map")
    dtls_src = inspect.getsource(RTCDtlsTransport)
    if "self._tx_srtp.protect(data)" not in dtls_src or "self._state != State.CONNECTED" not in dtls_src:
        problems.append("RTCDtlsTransport._send_rtp no longer protects with _tx_srtp once CONNECTED")
    if "active_pair = self._nominated.get(component)" not in inspect.getsource(aioice.ice.Connection):
        problems.append("aioice.ice.Connection no longer sends on self._nominated[component]")
    if "self._connection = gatherer._connection" not in inspect.getsource(RTCIceTransport):
        problems.append("RTCIceTransport no longer keeps its aioice Connection in _connection")
    if "self.transport.sendto(data, addr)" not in inspect.getsource(aioice.ice.StunProtocol.send_data):
        problems.append("aioice.ice.StunProtocol.send_data no longer writes to its transport at once")
    if not hasattr(vpx.Vp8Encoder, "_packetize"):
        problems.append("aiortc.codecs.vpx.Vp8Encoder._packetize is gone")
    if not hasattr(RTCDtlsTransport, "_send_rtp"):
        problems.append("RTCDtlsTransport._send_rtp is gone")
    if "get_host_addresses(" not in inspect.getsource(aioice.ice.Connection):
        problems.append("aioice.ice.Connection no longer gathers through get_host_addresses")
    problems += _fast_path_problems(receiver_src, dtls_src)
    process = inspect.getsource(pylibsrtp.Session._Session__process)  # type: ignore[attr-defined]
    for text in ('len_p = ffi.new("int *")', "self._buffer[0 : len(data)] = data",
                 "_srtp_assert(func(self._srtp[0], self._cdata, len_p))", "return self._buffer[0 : len_p[0]]"):
        if text not in process:
            problems.append(f"pylibsrtp's Session.__process no longer does: {text}")
    if "return self.__process(packet, lib.srtp_protect, SRTP_MAX_TRAILER_LEN)" not in inspect.getsource(
            pylibsrtp.Session.protect):
        problems.append("pylibsrtp's Session.protect no longer calls srtp_protect with SRTP_MAX_TRAILER_LEN")
    if problems:
        raise InternalsChanged("; ".join(problems))


def _packet_fields(function: Any) -> set[str]:
    """The attributes of `packet` that a function's source reads."""
    return set(re.findall(r"\bpacket\.(\w+)", inspect.getsource(function)))


def _fast_path_problems(receiver_src: str, dtls_src: str) -> list[str]:
    """What the fast RTP path (`_fast_rtp`, `_PacketTap.handle`) relies on and no longer finds."""
    problems = []
    if "self.receiver.data_received(data, self.local_candidate.component)" not in inspect.getsource(
            aioice.ice.StunProtocol.datagram_received):
        problems.append("aioice.ice.StunProtocol no longer hands data to its Connection's data_received")
    if "self._queue.put_nowait((data, component))" not in inspect.getsource(aioice.ice.Connection.data_received):
        problems.append("aioice.ice.Connection.data_received no longer queues the datagram")
    if "self._protocols: list[StunProtocol] = []" not in inspect.getsource(aioice.ice.Connection):
        problems.append("aioice.ice.Connection no longer keeps its protocols in _protocols")
    if "message = stun.parse_message(data)" not in inspect.getsource(aioice.ice.StunProtocol.datagram_received):
        problems.append("aioice.ice.StunProtocol.datagram_received no longer tries STUN first")
    recv_next = inspect.getsource(RTCDtlsTransport._recv_next)
    for text in ("data = await self.transport._recv()", "first_byte > 127 and first_byte < 192 and self._rx_srtp",
                 "if is_rtcp(data):", "data = self._rx_srtp.unprotect(data)", "self.__rx_bytes += len(data)",
                 "self.__rx_packets += 1", "await self._handle_rtp_data(data, arrival_time_ms=arrival_time_ms)"):
        if text not in recv_next:
            problems.append(f"RTCDtlsTransport._recv_next no longer has: {text}")
    if "receiver = self._rtp_router.route_rtp(packet)" not in inspect.getsource(RTCDtlsTransport._handle_rtp_data) \
            or "self._rtp_router = RtpRouter()" not in dtls_src:
        problems.append("RTCDtlsTransport._handle_rtp_data no longer routes with _rtp_router.route_rtp")
    if _packet_fields(rtcdtlstransport.RtpRouter.route_rtp) - {"ssrc", "payload_type"}:
        problems.append("RtpRouter.route_rtp reads more of a packet than its ssrc and payload_type")
    for cls in (rtcrtpreceiver.StreamStatistics, rtcrtpreceiver.NackGenerator):
        if _packet_fields(cls.add) - {"sequence_number", "timestamp"}:
            problems.append(f"{cls.__name__}.add reads more of a packet than its sequence_number and timestamp")
    handle = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    steps = ("if not self._enabled:", "if self.__remote_bitrate_estimator is not None:",
             "self.__active_ssrc[packet.ssrc] = clock.current_datetime()",
             "codec = self.__codecs.get(packet.payload_type)",
             "self.__remote_streams[packet.ssrc] = StreamStatistics(codec.clockRate)",
             "self.__remote_streams[packet.ssrc].add(packet)", "if is_rtx(codec):",
             "if self.__nack_generator is not None and self.__nack_generator.add(packet):",
             "await self._send_rtcp_nack(", "packet._data = depayload(codec, packet.payload)",
             "pli_flag, encoded_frame = self.__jitter_buffer.add(packet)", "if self.__decoder_error.is_set():",
             "if pli_flag:", "if encoded_frame is not None and self.__decoder_thread:")
    at = 0
    for step in steps:
        found = handle.find(step, at)
        if found < 0:
            problems.append(f"RTCRtpReceiver._handle_rtp_packet no longer does, in this order: {step}")
        else:
            at = found
    for name in ("__active_ssrc: dict", "__codecs: dict", "__remote_streams: dict", "__nack_generator = NackGenerator()",
                 "__rtx_ssrc: dict"):
        if f"self.{name}" not in receiver_src:
            problems.append(f"RTCRtpReceiver no longer keeps self.{name}")
    return problems
