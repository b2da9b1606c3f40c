"""Forwarding RTP packets, one receiver's header rewriting: pure, fake packets and a fake clock."""

from __future__ import annotations

import itertools
import struct

import pytest

from orchestrator.media.rtp_forward import (
    HOLE_TIMEOUT_S,
    MAX_HOLES,
    VIDEO_HISTORY,
    InboundPacket,
    RtpRewriter,
    parse_rtp,
    vp8_descriptor_length,
    vp8_picture_id,
    vp8_starts_frame,
    vp8_starts_keyframe,
)

KEY, INTER = b"\x10\x02\x00\x9d\x01\x2a", b"\x11\x02\x00"  # VP8 payload headers: P bit 0 (key) or 1


def descriptor(start: bool = True, partition: int = 0, picture_id: int | None = None, tl0: bool = False,
               tid: bool = False) -> bytes:
    """A VP8 payload descriptor (RFC 7741 section 4.2)."""
    extended = picture_id is not None or tl0 or tid
    first = (0x80 if extended else 0) | (0x10 if start else 0) | partition
    if not extended:
        return bytes([first])
    flags = (0x80 if picture_id is not None else 0) | (0x40 if tl0 else 0) | (0x20 if tid else 0)
    out = bytes([first, flags])
    if picture_id is not None:
        out += bytes([picture_id]) if picture_id < 128 else struct.pack("!H", 0x8000 | picture_id)
    if tl0:
        out += b"\x07"
    if tid:
        out += b"\x40"
    return out


def send(rewriter: RtpRewriter, sequence: int, timestamp: int, marker: bool, payload: bytes, now: float) -> bytes | None:
    """What `rewriter` makes of one packet of its source."""
    return rewriter.rewrite(InboundPacket(sequence, timestamp, marker, payload, rewriter.video), now)


def header(packet: bytes) -> tuple[int, int, int, int, int, int]:
    """(first byte, marker, payload type, sequence number, timestamp, ssrc)."""
    first, second, sequence, timestamp, ssrc = struct.unpack("!BBHII", packet[:12])
    return first, second >> 7, second & 0x7F, sequence, timestamp, ssrc


def picture_id(packet: bytes, offset: int = 12) -> int:
    payload = packet[offset:]
    return ((payload[2] & 0x7F) << 8 | payload[3]) if payload[2] & 0x80 else payload[2]


# ------------------------------------------------------------------ keyframe detection


@pytest.mark.parametrize("fields", [{}, {"picture_id": 5}, {"picture_id": 300}, {"picture_id": 300, "tl0": True},
                                    {"picture_id": 9, "tl0": True, "tid": True}, {"tid": True}])
def test_a_keyframe_is_told_by_its_first_packet_whatever_the_descriptor(fields):
    first = descriptor(**fields)
    assert vp8_descriptor_length(first + KEY) == len(first)
    assert vp8_starts_frame(first + KEY) and vp8_starts_frame(first + INTER)
    assert vp8_starts_keyframe(first + KEY)
    assert not vp8_starts_keyframe(first + INTER)


def test_the_picture_id_is_read_in_either_width():
    assert vp8_picture_id(descriptor(picture_id=0x1234) + INTER) == (15, 0x1234)
    assert vp8_picture_id(descriptor(picture_id=0x55) + INTER) == (7, 0x55)
    assert vp8_picture_id(descriptor(tl0=True) + INTER) is None  # I bit absent
    assert vp8_picture_id(descriptor() + INTER) is None  # no extension at all
    packet = InboundPacket(1, 2, False, descriptor(picture_id=0x1234) + INTER)
    assert (packet.picture_bits, packet.picture_id, packet.tail) == (15, 0x1234, INTER)


def test_only_the_start_of_partition_0_starts_a_frame():
    assert not vp8_starts_keyframe(descriptor(start=False) + KEY), "a later packet of the frame"
    assert not vp8_starts_keyframe(descriptor(partition=1) + KEY), "the start of another partition"
    assert not vp8_starts_frame(b"")


def test_a_truncated_descriptor_is_no_keyframe():
    assert not vp8_starts_keyframe(b"\x90")  # extended, but the flags byte is missing
    assert not vp8_starts_keyframe(b"\x90\x80")  # a picture ID announced, not there
    assert not vp8_starts_keyframe(descriptor(picture_id=300))  # descriptor only, no VP8 header
    assert vp8_descriptor_length(b"\x90\x80") == 0


# ------------------------------------------------------------------ the rewritten header


def test_only_the_header_changes_marker_kept():
    rewriter = RtpRewriter("audio", ssrc=0xDEADBEEF, payload_type=111, first_sequence=7, first_timestamp=1000)
    packet = send(rewriter, 50_000, 123_456, True, b"opus", now=0.0)
    assert packet is not None
    assert header(packet) == (0x80, 1, 111, 7, 1000, 0xDEADBEEF)
    assert packet[12:] == b"opus"
    unmarked = send(rewriter, 50_001, 124_416, False, b"more", now=0.02)
    assert unmarked is not None and header(unmarked)[1:5] == (0, 111, 8, 1960)


def test_the_outputs_header_extension_follows_the_fixed_header():
    extension = b"\xbe\xde\x00\x01\x10\x30\x00\x00"  # one-byte form: mid "0"
    rewriter = RtpRewriter("audio", first_sequence=1)
    rewriter.configure(ssrc=1, payload_type=111, extension=extension)
    packet = send(rewriter, 9, 0, True, b"opus", now=0.0)
    assert packet is not None
    assert packet[0] == 0x90, "the X bit says an extension follows"
    assert packet[12:20] == extension and packet[20:] == b"opus"


def test_sequence_numbers_and_timestamps_continue_across_a_restart_and_wrap():
    rewriter = RtpRewriter("video", first_sequence=65534, first_timestamp=2**32 - 3000)
    sent = [send(rewriter, 100 + n, 5000 + 3000 * n, True, descriptor() + INTER, now=n / 30) for n in range(2)]
    rewriter.restart()  # another source, numbered its own way
    sent += [send(rewriter, 30_000 + n, 777 + 3000 * n, True, descriptor() + INTER, now=(2 + n) / 30)
             for n in range(2)]
    headers = [header(p) for p in sent if p is not None]
    assert [h[3] for h in headers] == [65534, 65535, 0, 1]
    assert [h[4] for h in headers] == [2**32 - 3000, 0, 3000, 6000]


def test_a_restart_without_time_passing_still_moves_the_timestamp_forward():
    rewriter = RtpRewriter("video")
    send(rewriter, 1, 90_000, True, descriptor() + KEY, now=5.0)
    rewriter.restart()
    packet = send(rewriter, 1, 0, True, descriptor() + KEY, now=5.0)
    assert packet is not None and header(packet)[4] == 1


def test_a_long_pause_wraps_the_timestamp_modulo_2_to_the_32():
    rewriter = RtpRewriter("video")
    send(rewriter, 0, 0, True, descriptor() + KEY, now=0.0)
    rewriter.restart()
    pause = (2**32 - 1000) / 90_000  # the next timestamp lands 1000 ticks below the wrap
    stamps = [send(rewriter, 5, 0, True, descriptor() + KEY, now=pause),
              send(rewriter, 6, 3000, True, descriptor() + INTER, now=pause + 1 / 30)]
    assert [header(p)[4] for p in stamps if p is not None] == [2**32 - 1000, 2000]


def test_packets_older_than_the_anchor_are_dropped_and_the_floor_follows_a_long_stream():
    rewriter = RtpRewriter("video")
    assert send(rewriter, 1000, 0, True, descriptor() + KEY, now=0.0) is not None
    assert send(rewriter, 999, 0, False, descriptor(start=False) + KEY, now=0.0) is None, "before the cut"
    sent = [send(rewriter, 1000 + n, 3000 * n, True, descriptor() + INTER, now=n / 30) for n in range(1, 70_000)]
    assert all(p is not None for p in sent), "40 000 packets later the stream is still forwarded"
    numbers = [header(p)[3] for p in sent if p is not None]
    assert all((later - earlier) & 0xFFFF == 1 for earlier, later in itertools.pairwise(numbers))


# ------------------------------------------------------------------ picture IDs


@pytest.mark.parametrize("first_width,second_width", [(15, 15), (7, 15), (15, 7)])
def test_picture_ids_continue_across_a_restart(first_width, second_width):
    rewriter = RtpRewriter("video")
    start_a = 20 if first_width == 7 else 20_000
    start_b = 3 if second_width == 7 else 9_000
    ids = []
    for n in range(3):
        packet = send(rewriter, n, 3000 * n, True, descriptor(picture_id=start_a + n) + INTER, now=n / 30)
        assert packet is not None
        ids.append(picture_id(packet))
    rewriter.restart()
    for n in range(3):
        packet = send(rewriter, 500 + n, 3000 * n, n == 2, descriptor(picture_id=start_b) + INTER,
                                  now=(3 + n) / 30)  # one frame in three packets: one picture ID
        assert packet is not None
        ids.append(picture_id(packet))
        assert len(packet) == 12 + len(descriptor(picture_id=start_b) + INTER), "the descriptor keeps its size"
    mask = 0x7F if 7 in (first_width, second_width) else 0x7FFF
    assert [i & mask for i in ids[:4]] == [(ids[0] + n) & mask for n in range(4)]
    assert ids[3] == ids[4] == ids[5]


def test_a_packet_without_picture_id_passes_unchanged():
    rewriter = RtpRewriter("video")
    payload = descriptor(tid=True) + INTER
    packet = send(rewriter, 3, 0, True, payload, now=0.0)
    assert packet is not None and packet[12:] == payload


# ------------------------------------------------------------------ retransmissions and reports


def test_a_nacked_packet_is_sent_again_as_it_went_out():
    rewriter = RtpRewriter("video", first_sequence=100)
    sent = [send(rewriter, n, 0, True, descriptor() + INTER + bytes([n]), now=0.0) for n in range(5)]
    assert rewriter.retransmission(102) == sent[2]
    assert rewriter.retransmission(100 + VIDEO_HISTORY) is None, "never sent"
    for n in range(5, VIDEO_HISTORY + 5):
        send(rewriter, n, 0, True, descriptor() + INTER, now=0.0)
    assert rewriter.retransmission(102) is None, "too old: its slot holds a newer packet"
    assert RtpRewriter("audio").retransmission(0) is None


def test_counters_for_the_sender_reports():
    rewriter = RtpRewriter("audio")
    send(rewriter, 1, 960, True, b"abc", now=1.0)
    send(rewriter, 2, 1920, True, b"de", now=1.02)
    assert (rewriter.packets, rewriter.octets, rewriter.last_timestamp, rewriter.last_sent_at) == (2, 5, 960, 1.02)


# ------------------------------------------------------------------ packets lost before the server


def test_a_gap_the_source_never_fills_is_filled_with_empty_packets_after_a_while():
    rewriter = RtpRewriter("video", ssrc=9, payload_type=96, first_sequence=10)
    send(rewriter, 100, 0, True, descriptor() + KEY, now=0.0)
    send(rewriter, 103, 3000, True, descriptor() + INTER, now=0.01)  # 101 and 102 were lost on the way here
    assert rewriter.holes and rewriter.fillers(now=0.01 + HOLE_TIMEOUT_S / 2) == []
    fillers = rewriter.fillers(now=0.01 + HOLE_TIMEOUT_S)
    assert [header(f) for f in fillers] == [(0x80, 0, 96, 11, 0, 9), (0x80, 0, 96, 12, 0, 9)]
    assert all(len(f) == 12 for f in fillers), "no payload: they add nothing to the frame before them"
    assert not rewriter.holes


def test_a_late_packet_fills_its_gap_and_a_restart_gives_up_the_rest():
    rewriter = RtpRewriter("video", first_sequence=10)
    send(rewriter, 100, 0, True, descriptor() + KEY, now=0.0)
    send(rewriter, 104, 3000, True, descriptor() + INTER, now=0.01)  # 101 to 103 lost
    send(rewriter, 102, 0, False, descriptor(start=False) + KEY, now=0.02)  # sent again by the source
    rewriter.restart()
    assert [header(f)[3] for f in rewriter.fillers(now=0.03, everything=True)] == [11, 13]
    assert rewriter.fillers(now=10.0, everything=True) == []


def test_a_filler_after_a_packet_sent_again_takes_that_packet_s_timestamp():
    """The gap opened after frame 0; the source sent again the first packet of frame 3000: the
    filler after it belongs to frame 3000, not to an empty frame 0 between two halves of it."""
    rewriter = RtpRewriter("video", first_sequence=10)
    send(rewriter, 100, 0, True, descriptor() + KEY, now=0.0)
    send(rewriter, 103, 3000, True, descriptor(start=False) + INTER, now=0.01)  # 101 and 102 lost
    send(rewriter, 101, 3000, False, descriptor() + INTER, now=0.02)  # sent again
    (filler,) = rewriter.fillers(now=0.03, everything=True)
    assert header(filler)[3:5] == (12, 3000)


def test_a_far_jump_is_no_loss():
    rewriter = RtpRewriter("video")
    send(rewriter, 100, 0, True, descriptor() + KEY, now=0.0)
    send(rewriter, 100 + MAX_HOLES + 1, 3000, True, descriptor() + INTER, now=0.01)
    assert not rewriter.holes


def _aiortc_packet(marker: int, sequence: int, timestamp: int, ssrc: int, payload: bytes, csrc: int = 0,
                   padding: int = 0, extension: bool = False) -> bytes:
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
    from aiortc.rtp import HeaderExtensionsMap, RtpPacket

    packet = RtpPacket(payload_type=96, marker=marker, sequence_number=sequence, timestamp=timestamp, ssrc=ssrc)
    packet.csrc = list(range(1000, 1000 + csrc))
    packet.payload = payload
    packet.padding_size = padding
    extensions = HeaderExtensionsMap()
    if extension:
        extensions.configure(RTCRtpParameters(headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
            RTCRtpHeaderExtensionParameters(id=3, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time")]))
        packet.extensions.mid = "video-0"
        packet.extensions.abs_send_time = 0x123456
    return packet.serialize(extensions)


@pytest.mark.parametrize("csrc,padding,extension", [(0, 0, False), (2, 0, False), (0, 7, False), (0, 0, True),
                                                    (3, 1, True), (15, 255, True)])
@pytest.mark.parametrize("payload", [b"", b"\x90\x80\x81\x23" + KEY, bytes(range(256)) * 4])
def test_parse_rtp_reads_what_aiortc_reads(csrc, padding, extension, payload):
    from aiortc.rtp import RtpPacket

    data = _aiortc_packet(1, 65535, 0xFFFFFFF0, 0xDEADBEEF, payload, csrc, padding, extension)
    theirs, ours = RtpPacket.parse(data), parse_rtp(data)
    assert ours is not None
    assert (ours.marker, ours.payload_type, ours.sequence_number, ours.timestamp, ours.ssrc, ours.payload) == \
        (theirs.marker, theirs.payload_type, theirs.sequence_number, theirs.timestamp, theirs.ssrc, theirs.payload)
    assert ours.payload == payload


def test_parse_rtp_refuses_what_aiortc_refuses():
    from aiortc.rtp import RtpPacket

    good = _aiortc_packet(0, 1, 2, 3, b"payload", csrc=2, padding=4, extension=True)
    bad = [
        good[:11],  # shorter than the fixed header
        bytes([good[0] & 0x3F | 0x40]) + good[1:],  # version 1
        bytes([0x8F]) + good[1:12] + b"\x00" * 8,  # 15 CSRCs announced, 2 there
        bytes([0x90]) + good[1:12] + b"\xbe\xde",  # the extension's profile and length cut
        bytes([0x90]) + good[1:12] + b"\xbe\xde\x00\x09" + b"\x00" * 8,  # an extension longer than the packet
        bytes([0xA0]) + good[1:12] + b"abc\x00",  # padding of 0 bytes
        bytes([0xA0]) + good[1:12] + b"abc\x09",  # more padding than payload
    ]
    for data in bad:
        with pytest.raises(ValueError):
            RtpPacket.parse(data)
        assert parse_rtp(data) is None, data.hex()
