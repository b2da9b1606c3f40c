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
  callback and never assembles a frame.
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
- Keyframes: `_send_rtcp_pli(ssrc)` asks the remote sender for one.
- Sending: `RTCRtpSender._next_encoded_frame` calls `encoder.pack(data)` for anything
  that is not an `av.Frame`. `install_packer` puts our own packer in the sender's
  name-mangled `__encoder` slot, so aiortc never creates a codec context (its Opus
  "encoder" opens libopus in its constructor), and replaces `_send_keyframe` (which the
  sender calls on an incoming PLI/FIR) with our callback.
- ICE: aioice gathers host candidates from every interface; `restrict_host_addresses`
  limits them (tests and rehearsals stay on loopback).
- Fault drills: `drop_outgoing_rtp` wraps a DTLS transport's `_send_rtp` to lose a
  fraction of outgoing RTP (never RTCP) packets, like a lossy uplink.
- Light venues (benchmarks): `take_rtp_by_ssrc` hands the RTP packets of chosen SSRCs
  straight from aioice's `Connection.data_received`, unprotected with the DTLS transport's
  `_rx_srtp`, past aiortc's queue, parser and receivers.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import aioice.ice
import av
import pylibsrtp
from aiortc import RTCRtpReceiver, RTCRtpSender, clock
from aiortc.codecs import vpx
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtcicetransport import RTCIceTransport
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters
from aiortc.rtp import RtpPacket, is_rtcp

from .rtp_forward import RtpRewriter
from .vp8_chain import Vp8Chain

_RECEIVER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_RECEIVER_THREAD = "_RTCRtpReceiver__decoder_thread"
_RECEIVER_REMB = "_RTCRtpReceiver__remote_bitrate_estimator"
_RECEIVER_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_SENDER_ENCODER = "_RTCRtpSender__encoder"
_SENDER_HEADER_EXTENSIONS = "_RTCRtpSender__rtp_header_extensions_map"
_SENDER_REPORT_COUNTERS = ("__packet_count", "__octet_count", "__rtp_timestamp", "__ntp_timestamp")

FrameCallback = Callable[[RTCRtpCodecParameters, JitterFrame], None]
PacketCallback = Callable[[RtpPacket], None]


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
    """Stands in for the receiver's jitter buffer: hands every packet on, assembles nothing."""

    def __init__(self, on_packet: PacketCallback):
        self.on_packet = on_packet

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        self.on_packet(packet)
        return False, None


def tap_packets(receiver: RTCRtpReceiver, on_packet: PacketCallback) -> None:
    """Hand every RTP packet of `receiver` to `on_packet` (no jitter buffer, no frames, no
    decoder); aiortc still keeps its statistics and NACKs lost packets. Call before `receive()`."""
    tap_receiver(receiver, lambda codec, frame: None)
    setattr(receiver, _RECEIVER_JITTER_BUFFER, _PacketTap(on_packet))


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


def _socket_sender(sender: RTCRtpSender) -> Callable[[bytes], None]:
    """SRTP-protect an RTP packet and send it on the nominated ICE pair of `sender`'s transport
    (bundling may change it until negotiation ends), now; dropped when not connected."""
    pending: set[asyncio.Task[None]] = set()

    def send(data: bytes) -> None:
        dtls = sender.transport
        if dtls._state is not State.CONNECTED:
            return
        try:
            data = dtls._tx_srtp.protect(data)
        except pylibsrtp.Error:
            return
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None:
            return
        protocol = pair.protocol
        if type(protocol) is aioice.ice.StunProtocol:
            if protocol.transport is not None:
                protocol.transport.sendto(data, pair.remote_addr)
        else:  # a relayed (TURN) pair sends through a coroutine
            task = asyncio.ensure_future(protocol.send_data(data, pair.remote_addr))
            pending.add(task)
            task.add_done_callback(pending.discard)

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
    problems += _direct_rtp_problems()
    if problems:
        raise InternalsChanged("; ".join(problems))


# ------------------------------------------------------------------------------------------
# Light venues (the benchmark's simulated venues): RTP taken straight from the ICE socket.
#
# aioice hands every datagram that is not STUN to its `Connection.data_received`, which
# queues it for aiortc's DTLS transport; that transport unprotects it, parses an `RtpPacket`
# and routes it to a receiver (statistics, NACKs, jitter buffer). `take_rtp_by_ssrc` puts a
# function in front of that queue (an attribute of the `Connection` instance): an SRTP packet
# whose SSRC is in the caller's table is unprotected with the transport's `_rx_srtp` and
# handed over at once; anything else (RTCP, DTLS, other SSRCs) takes aiortc's path as before.

DirectRtpTable = dict[int, Callable[[bytes], None]]
_DIRECT_TABLE = "_orchestrator_direct_rtp"


def take_rtp_by_ssrc(transport: RTCDtlsTransport) -> DirectRtpTable:
    """The table (SSRC -> function) of the RTP streams `transport` hands straight from its ICE
    socket, unprotected, to the functions the caller puts in it (one table per transport, made
    at the first call). Those packets never reach aiortc's receivers: no receiver statistics,
    NACKs or receiver reports for those streams. A packet that fails to unprotect is dropped."""
    connection = transport.transport._connection
    table: DirectRtpTable | None = getattr(connection, _DIRECT_TABLE, None)
    if table is not None:
        return table
    table = {}
    queue_datagram = connection.data_received

    def data_received(data: bytes, component: int) -> None:
        srtp = transport._rx_srtp
        # RTP (RFC 5761 demultiplexing: version 2, and not an RTCP packet type)
        if srtp is not None and len(data) > 12 and 127 < data[0] < 192 and not 191 < data[1] < 209:
            handle = table.get(int.from_bytes(data[8:12], "big"))
            if handle is not None:
                try:
                    handle(srtp.unprotect(data))
                except pylibsrtp.Error:
                    pass
                return
        queue_datagram(data, component)

    connection.data_received = data_received  # type: ignore[method-assign]
    setattr(connection, _DIRECT_TABLE, table)
    return table


def _direct_rtp_problems() -> list[str]:
    """What `take_rtp_by_ssrc` relies on and no longer finds."""
    problems = []
    if "self.receiver.data_received(data, self.local_candidate.component)" not in inspect.getsource(
            aioice.ice.StunProtocol.datagram_received):
        problems.append("aioice.ice.StunProtocol no longer hands non-STUN datagrams to receiver.data_received")
    if "self._queue.put_nowait((data, component))" not in inspect.getsource(aioice.ice.Connection.data_received):
        problems.append("aioice.ice.Connection.data_received no longer queues datagrams for recv()")
    if "data = self._rx_srtp.unprotect(data)" not in inspect.getsource(RTCDtlsTransport):
        problems.append("RTCDtlsTransport no longer unprotects RTP with _rx_srtp")
    return problems
