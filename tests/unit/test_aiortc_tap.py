"""The one module that touches aiortc internals fails loudly when they move."""

from __future__ import annotations

import aiortc
import pytest
from aiortc import RTCRtpReceiver, RTCRtpSender

from orchestrator.media import aiortc_tap
from orchestrator.media.aiortc_tap import EncodedPacker, InternalsChanged, check_internals
from orchestrator.media.codec import make_packet


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
        (RTCRtpSender._run_rtcp, "self.__rtp_timestamp", r"no longer reports self\.__rtp_timestamp"),
        (RTCRtpSender, "await self._retransmit(seq)", "no longer answers NACK through _retransmit"),
        (aiortc_tap.RTCDtlsTransport, "self._tx_srtp.protect(data)", "no longer protects with _tx_srtp"),
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
