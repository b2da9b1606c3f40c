"""The one module that touches aiortc internals fails loudly when they move."""

from __future__ import annotations

import aiortc
import pytest
from aiortc import RTCCertificate, RTCDtlsTransport, RTCIceGatherer, RTCIceTransport, RTCRtpReceiver, RTCRtpSender
from aiortc.codecs import depayload
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from orchestrator.media import aiortc_tap
from orchestrator.media.aiortc_tap import (
    EncodedPacker,
    InternalsChanged,
    SrtpCalls,
    check_internals,
    guard_vp8_chain,
    tap_packets,
)
from orchestrator.media.codec import make_packet

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


def test_pinned_aiortc_has_every_internal_the_tap_uses():
    assert aiortc.__version__ == "1.16.0", "aiortc is pinned: re-check aiortc_tap before moving the pin"
    check_internals()


@pytest.mark.parametrize(
    "owner,name,complaint",
    [
        (RTCRtpReceiver, "_send_rtcp_pli", "_send_rtcp_pli is gone"),
        (aiortc_tap.vpx.Vp8Encoder, "_packetize", "_packetize is gone"),
        (aiortc_tap.RTCDtlsTransport, "_send_rtp", "_send_rtp is gone"),
    ],
)
def test_a_moved_internal_is_reported(monkeypatch, owner, name, complaint):
    monkeypatch.delattr(owner, name)
    with pytest.raises(InternalsChanged, match=complaint):
        check_internals()


def test_changed_sender_source_is_reported(monkeypatch):
    real = aiortc_tap.inspect.getsource

    def source(obj):
        text = real(obj)
        return text.replace("self.__encoder.pack(data)", "self.__encoder.encode(data)") if obj is RTCRtpSender else text

    monkeypatch.setattr(aiortc_tap.inspect, "getsource", source)
    with pytest.raises(InternalsChanged, match=r"no longer calls __encoder\.pack"):
        check_internals()


def test_packer_packetizes_vp8_and_passes_opus_through():
    frame = bytes(range(256)) * 10  # larger than one RTP payload
    payloads, timestamp = EncodedPacker("video").pack(make_packet(frame, 12345, "video"))
    assert timestamp == 12345
    assert len(payloads) > 1
    # the VP8 payload descriptor marks the first packet as the start of the partition
    assert payloads[0][0] & 0x10 and not payloads[1][0] & 0x10
    opus = EncodedPacker("audio").pack(make_packet(b"\x01\x02", 960, "audio"))
    assert opus == ([b"\x01\x02"], 960)
    with pytest.raises(RuntimeError, match="never encodes"):
        EncodedPacker("video").encode(None)


@pytest.mark.parametrize(
    "owner,text,complaint",
    [
        (RTCRtpReceiver, "self.__jitter_buffer.add(packet)", "no longer hands packets to __jitter_buffer.add"),
        (RTCRtpReceiver, "await self._send_rtcp_pli(packet.ssrc)", "no longer sends a PLI when __jitter_buffer.add"),
        (RTCRtpSender._run_rtcp, "self.__rtp_timestamp", r"no longer reports self\.__rtp_timestamp"),
        (RTCRtpSender, "await self._retransmit(seq)", "no longer answers NACK through _retransmit"),
        (aiortc_tap.RTCDtlsTransport, "self._tx_srtp.protect(data)", "no longer protects with _tx_srtp"),
        (aiortc_tap.aioice.ice.Connection.data_received, "self._queue.put_nowait((data, component))",
         "data_received no longer queues the datagram"),
        (aiortc_tap.RTCDtlsTransport._recv_next, "data = self._rx_srtp.unprotect(data)",
         "_recv_next no longer has: data = self._rx_srtp.unprotect"),
        (RTCRtpReceiver._handle_rtp_packet, "self.__remote_streams[packet.ssrc].add(packet)",
         r"no longer does, in this order: self\.__remote_streams\[packet\.ssrc\]\.add"),
    ],
)
def test_a_changed_packet_path_internal_is_reported(monkeypatch, owner, text, complaint):
    real = aiortc_tap.inspect.getsource

    def source(obj):
        found = real(obj)
        return found.replace(text, "something_else()") if obj is owner else found

    monkeypatch.setattr(aiortc_tap.inspect, "getsource", source)
    with pytest.raises(InternalsChanged, match=complaint):
        check_internals()


def test_a_router_or_statistic_reading_more_of_a_packet_is_reported(monkeypatch):
    """The fast path hands aiortc an `RtpHeader`, not an `RtpPacket`: only the fields it has may be read."""
    real = aiortc_tap.inspect.getsource

    def source(obj):
        text = real(obj)
        return text + "        packet.extensions\n" if obj is aiortc_tap.rtcrtpreceiver.NackGenerator.add else text

    monkeypatch.setattr(aiortc_tap.inspect, "getsource", source)
    with pytest.raises(InternalsChanged, match=r"NackGenerator\.add reads more of a packet"):
        check_internals()


def vp8_packet(sequence: int, picture_id: int, key: bool) -> RtpPacket:
    """One packet, a whole VP8 frame (3000 ticks apart), as aiortc's receiver hands it to the jitter buffer."""
    payload = bytes([0x90, 0x80, 0x80 | picture_id >> 8, picture_id & 0xFF, 0x10 if key else 0x11, 0x02, 0x00])
    packet = RtpPacket(payload_type=96, sequence_number=sequence, timestamp=3000 * sequence, payload=payload)
    packet._data = depayload(VP8, payload)  # type: ignore[attr-defined]
    return packet


def receiver() -> RTCRtpReceiver:
    return RTCRtpReceiver("video", RTCDtlsTransport(RTCIceTransport(RTCIceGatherer()),
                                                    [RTCCertificate.generateCertificate()]))


def test_the_chain_guard_wraps_the_jitter_buffer_and_asks_for_a_keyframe_when_it_holds_frames():
    video = receiver()
    jitter_buffer = getattr(video, aiortc_tap._RECEIVER_JITTER_BUFFER)
    assert isinstance(jitter_buffer, JitterBuffer)
    held: list[bool] = []
    guard_vp8_chain(video, held.append)
    guard = getattr(video, aiortc_tap._RECEIVER_JITTER_BUFFER)
    assert guard.jitter_buffer is jitter_buffer
    # key 1, delta 2, then another feed's deltas 50 and 51, its keyframe 52, delta 53
    stream = [(1, True), (2, False), (50, False), (51, False), (52, True), (53, False), (54, False)]
    results = [guard.add(vp8_packet(sequence, picture_id, key)) for sequence, (picture_id, key) in enumerate(stream)]
    # the jitter buffer hands a frame on when the next one starts: each add returns the frame before
    passed = [frame.timestamp // 3000 for _pli, frame in results if frame is not None]
    assert passed == [0, 1, 4, 5]
    assert [pli for pli, _frame in results] == [False, False, False, True, False, False, False]
    assert held == [True, False]


def test_the_chain_guard_never_hands_on_a_frame_of_empty_packets():
    # an empty packet carrying an older timestamp (a forwarder's filler) between two frames
    # makes a frame of its own; decoded, it would flush aiortc's decoder for good
    video = receiver()
    guard_vp8_chain(video, lambda first: None)
    guard = getattr(video, aiortc_tap._RECEIVER_JITTER_BUFFER)
    filler = RtpPacket(payload_type=96, sequence_number=1, timestamp=1000, payload=b"")
    filler._data = b""  # type: ignore[attr-defined]
    packets = [vp8_packet(0, 1, True), filler, vp8_packet(2, 2, False), vp8_packet(3, 3, False)]
    frames = [frame for _pli, frame in map(guard.add, packets) if frame is not None]
    assert [(frame.timestamp, bool(frame.data)) for frame in frames] == [(0, True), (6000, True)]


def test_the_chain_guard_wants_aiortcs_own_jitter_buffer():
    video = receiver()
    tap_packets(video, lambda packet: None)
    with pytest.raises(InternalsChanged, match="not aiortc's JitterBuffer"):
        guard_vp8_chain(video, lambda first: None)


def test_srtp_calls_protect_and_unprotect_as_pylibsrtp_does():
    import struct

    import pylibsrtp

    key = bytes(range(30))

    def session(direction: int) -> pylibsrtp.Session:
        return pylibsrtp.Session(policy=pylibsrtp.Policy(key=key, ssrc_type=direction))

    theirs, ours = session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND), SrtpCalls(session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    inbound = SrtpCalls(session(pylibsrtp.Policy.SSRC_ANY_INBOUND))
    for sequence in range(5):
        packet = struct.pack("!BBHII", 0x80, 96, sequence, 3000 * sequence, 1234) + bytes([sequence]) * 900
        protected = ours.protect(packet)
        assert protected == theirs.protect(packet) and protected != packet
        assert inbound.unprotect(protected) == packet
    packet = struct.pack("!BBHII", 0x80, 96, 5, 15000, 1234) + b"late"
    protected = ours.protect(packet)
    assert inbound.unprotect(protected[:-1] + bytes([protected[-1] ^ 1])) is None, "a forged packet is dropped"
    assert inbound.unprotect(protected) == packet
    assert inbound.unprotect(protected) is None, "a replayed packet is dropped"
    assert ours.protect(bytes(1500)) is None, "no room for the trailer"
