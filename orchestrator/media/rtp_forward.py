"""Forwarding RTP packets as they came: one receiver's header rewriting, continuous across source switches.

Pure: no sockets, no aiortc, time passed in. The router hands every packet of a source
to the `RtpRewriter` of each output that forwards it; the rewriter returns the packet as
that output's receiver must get it (or None: drop it), and keeps what a retransmission
needs.

Per output, a packet keeps its payload and marker bit; the header gets the output's
SSRC, payload type and RTP header extension (its mid), and sequence number, timestamp
and (VP8) picture ID shifted by offsets. The offsets are fixed when the output starts
forwarding a source (`restart`, then the next packet anchors them): the first packet
of the new source follows the last packet sent (sequence number and picture ID plus
one, timestamp plus the wall-clock time between them), so the receiver sees one
continuous stream whatever the source. A packet older than the anchor (a frame that
started before the switch, or a late one) is dropped. The router cuts video over only
at a packet that starts a keyframe (`vp8_starts_keyframe`).

VP8 in RTP, RFC 7741 section 4.2: the payload descriptor's first byte is
`X R N S R PID(3)`; S=1 with partition index 0 starts a frame. With X, a second byte
`I L T K` says which optional fields follow: I a 7- or 15-bit picture ID (first bit M
says which), L a TL0PICIDX byte, T or K one more byte. After the descriptor the VP8
payload header starts: bit 0 of its first byte (P) is 0 in a key frame (RFC 6386
section 9.1).
"""

from __future__ import annotations

import struct

from .codec import clock_rate

_HEADER = struct.Struct("!BBHII")
MAX_GAP_S = 5.0  # a source's timestamp jumping further than this is re-anchored on the wall clock
MAX_HOLES = 64  # a jump further than this is a new start, not lost packets
HOLE_TIMEOUT_S = 0.3  # a packet the source has not sent again by then is given up
VIDEO_HISTORY = 128  # packets kept per video output to answer its receiver's NACKs (as aiortc's sender keeps)


def vp8_descriptor_length(payload: bytes) -> int:
    """Bytes of the VP8 payload descriptor at the start of `payload` (0 if it is truncated)."""
    size = len(payload)
    if size < 1:
        return 0
    if not payload[0] & 0x80:
        return 1
    if size < 2:
        return 0
    flags = payload[1]
    length = 2
    if flags & 0x80:  # I: picture ID
        if size <= length:
            return 0
        length += 2 if payload[length] & 0x80 else 1
    if flags & 0x40:  # L: TL0PICIDX
        length += 1
    if flags & 0x30:  # T or K: TID/KEYIDX
        length += 1
    return length if length <= size else 0


def vp8_starts_frame(payload: bytes) -> bool:
    """Whether the packet carries the start of partition 0: the first packet of a frame."""
    return bool(payload) and payload[0] & 0x17 == 0x10


def vp8_starts_keyframe(payload: bytes) -> bool:
    """Whether the packet is the first packet of a VP8 key frame."""
    if not vp8_starts_frame(payload):
        return False
    start = vp8_descriptor_length(payload)
    return 0 < start < len(payload) and not payload[start] & 0x01


def vp8_picture_id(payload: bytes) -> tuple[int, int] | None:
    """The packet's VP8 picture ID as (bits, value), bits 7 or 15; None when it carries none."""
    if len(payload) < 4 or not payload[0] & 0x80 or not payload[1] & 0x80:
        return None
    if payload[2] & 0x80:
        return 15, (payload[2] & 0x7F) << 8 | payload[3]
    return 7, payload[2]


class RtpHeader:
    """What forwarding needs of one unprotected RTP packet (attribute names as aiortc's `RtpPacket`)."""

    __slots__ = ("marker", "payload", "payload_type", "sequence_number", "ssrc", "timestamp")

    def __init__(self, marker: int, payload_type: int, sequence_number: int, timestamp: int, ssrc: int, payload: bytes):
        self.marker = marker
        self.payload_type = payload_type
        self.sequence_number = sequence_number
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.payload = payload


def parse_rtp(data: bytes) -> RtpHeader | None:
    """The header fields and payload of an unprotected RTP packet (RFC 3550 section 5.1: CSRCs,
    header extension and padding skipped, the extension not parsed); None if it is malformed
    (as aiortc's `RtpPacket.parse` would refuse it)."""
    size = len(data)
    if size < 12:
        return None
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != 2:
        return None
    start = 12 + 4 * (first & 0x0F)  # after the CSRCs
    if first & 0x10:  # X: a header extension (profile, length in 32-bit words, elements)
        if size < start + 4:
            return None
        start += 4 + 4 * (data[start + 2] << 8 | data[start + 3])
    if size < start:
        return None
    if first & 0x20:  # P: the last byte says how many bytes of padding end the packet
        padding = data[-1]
        if not padding or padding > size - start:
            return None
        payload = data[start:size - padding]
    else:
        payload = data[start:]
    return RtpHeader(second >> 7, second & 0x7F, sequence, timestamp, ssrc, payload)


class InboundPacket:
    """One packet of a source, parsed once for every output that forwards it."""

    __slots__ = ("head", "marker", "payload", "picture_bits", "picture_id", "sequence", "tail", "timestamp")

    def __init__(self, sequence: int, timestamp: int, marker: bool, payload: bytes, video: bool = True):
        self.sequence = sequence
        self.timestamp = timestamp
        self.marker = marker
        self.payload = payload
        # a VP8 picture ID (at byte 2, 7 or 15 bits): the payload is head + picture ID + tail
        self.picture_bits = 0
        self.picture_id = 0
        self.head = self.tail = b""
        picture = vp8_picture_id(payload) if video else None
        if picture is not None:
            self.head = payload[:2]
            self.picture_bits, self.picture_id = picture
            self.tail = payload[4:] if self.picture_bits == 15 else payload[3:]


class RtpRewriter:
    """One output's packets: rewrites each forwarded packet's header for its receiver."""

    def __init__(self, kind: str, ssrc: int = 0, payload_type: int = 0, extension: bytes = b"",
                 first_sequence: int = 0, first_timestamp: int = 0):
        self.kind = kind
        self.video = kind == "video"
        self.rate = clock_rate(kind)
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.extension = extension  # the whole header extension block (profile, length, elements)
        # counters for the output's sender reports: packets, payload octets, last timestamp and when
        self.packets = 0
        self.octets = 0
        self.last_timestamp = first_timestamp
        self.last_sent_at = 0.0
        self._first_byte = 0x90 if extension else 0x80
        self._anchored = False
        self._seq = (first_sequence - 1) & 0xFFFF  # the last sequence number sent
        self._seq_offset = 0
        self._ts_offset = 0
        self._last_in_ts = 0
        self._floor = 0  # source sequence numbers before this are dropped (older than the anchor)
        self._picture_id = 0x7FFF  # the last picture ID sent
        self._picture_offset: int | None = None
        self._history: list[bytes | None] = [None] * (VIDEO_HISTORY if self.video else 0)
        # sequence numbers skipped (lost before the server) and not filled yet: (since, timestamp before)
        self.holes: dict[int, tuple[float, int]] = {}
        self._max_jump = int(MAX_GAP_S * self.rate)
        self._set_prefixes()

    def _set_prefixes(self) -> None:
        """The structs that pack a rewritten packet's start in one call: the fixed header and the
        extension block, then (VP8 with a picture ID) the descriptor's first two bytes and the picture ID."""
        extension = f"{len(self.extension)}s" if self.extension else ""
        self._prefix = struct.Struct(f"!BBHII{extension}")
        self._prefix_picture = {7: struct.Struct(f"!BBHII{extension}2sB"), 15: struct.Struct(f"!BBHII{extension}2sH")}

    def configure(self, ssrc: int, payload_type: int, extension: bytes = b"") -> None:
        """The output's negotiated SSRC, payload type and header extension block."""
        self.ssrc, self.payload_type, self.extension = ssrc, payload_type, extension
        self._first_byte = 0x90 if extension else 0x80
        self._set_prefixes()

    def restart(self) -> None:
        """The next packet comes from another source (or after a gap): anchor the offsets on it."""
        self._anchored = False

    def rewrite(self, packet: InboundPacket, now: float) -> bytes | None:
        """The packet as this output sends it (unprotected), or None to drop it."""
        sequence, timestamp = packet.sequence, packet.timestamp
        if not self._anchored:
            self._anchor(sequence, timestamp, now)
        else:
            if (sequence - self._floor) & 0xFFFF >= 0x8000:
                return None  # older than the anchor: part of a frame that started before the switch
            if (sequence - self._floor) & 0xFFFF > 0x4000:
                self._floor = (sequence - 0x2000) & 0xFFFF
            jump = (timestamp - self._last_in_ts) & 0xFFFFFFFF
            if self._max_jump < jump < 0x100000000 - self._max_jump:  # the source's clock jumped: follow the wall clock
                gap = max(1, round((now - self.last_sent_at) * self.rate))
                self._ts_offset = (self.last_timestamp + gap - timestamp) & 0xFFFFFFFF
        out_seq = (sequence + self._seq_offset) & 0xFFFF
        out_ts = (timestamp + self._ts_offset) & 0xFFFFFFFF
        second = self.payload_type | 0x80 if packet.marker else self.payload_type
        bits = packet.picture_bits
        if bits and self.video:
            picture = self._next_picture_id(packet)
            if bits == 15:
                picture |= 0x8000
            prefix = self._prefix_picture[bits]
            if self.extension:
                data = prefix.pack(self._first_byte, second, out_seq, out_ts, self.ssrc, self.extension, packet.head,
                                   picture) + packet.tail
            else:
                data = prefix.pack(self._first_byte, second, out_seq, out_ts, self.ssrc, packet.head, picture) + packet.tail
        elif self.extension:
            data = self._prefix.pack(self._first_byte, second, out_seq, out_ts, self.ssrc, self.extension) + packet.payload
        else:
            data = self._prefix.pack(self._first_byte, second, out_seq, out_ts, self.ssrc) + packet.payload
        ahead = (out_seq - self._seq) & 0xFFFF
        if ahead < 0x8000:
            if 1 < ahead <= MAX_HOLES and self.packets:  # the source lost packets on the way here
                for missing in range(self._seq + 1, self._seq + ahead):
                    self.holes[missing & 0xFFFF] = (now, self.last_timestamp)
            self._seq = out_seq
            self._last_in_ts = timestamp
            self.last_timestamp = out_ts
            self.last_sent_at = now
        elif self.holes:
            self.holes.pop(out_seq, None)  # a late packet (the source sent it again)
        self.packets += 1
        self.octets += len(packet.payload)
        if self.video:
            self._history[out_seq % VIDEO_HISTORY] = data
        return data

    def fillers(self, now: float, everything: bool = False) -> list[bytes]:
        """Empty packets for the sequence numbers left unsent for `HOLE_TIMEOUT_S` (all of them
        with `everything`): a receiver that waits for every packet in order (aiortc's jitter
        buffer) would otherwise wait for them for good. Each carries the timestamp of the packet
        sent before it, so it adds nothing to any frame and makes no frame of its own."""
        if not self.holes:
            return []
        due = [seq for seq, (since, _ts) in self.holes.items() if everything or now - since >= HOLE_TIMEOUT_S]
        fillers = []
        for seq in due:
            _since, noted = self.holes.pop(seq)
            timestamp = self._timestamp_before(seq, noted)
            fillers.append(_HEADER.pack(self._first_byte, self.payload_type, seq, timestamp, self.ssrc) + self.extension)
        return fillers

    def _timestamp_before(self, sequence: int, noted: int) -> int:
        """The timestamp of the nearest packet sent before `sequence`: a packet the source sent again
        may have filled part of the gap since it was `noted` (the timestamp before the gap), and a
        filler with an older timestamp than its neighbours would make an empty frame of its own."""
        for back in range(1, MAX_HOLES + 1):
            before = (sequence - back) & 0xFFFF
            data = self._history[before % VIDEO_HISTORY] if self._history else None
            if data is not None and int.from_bytes(data[2:4], "big") == before:
                return int.from_bytes(data[4:8], "big")
        return noted

    def retransmission(self, sequence: int) -> bytes | None:
        """The packet this output sent with `sequence` (a receiver's NACK), if it is still kept."""
        if not self._history:
            return None
        data = self._history[sequence % VIDEO_HISTORY]
        if data is None or int.from_bytes(data[2:4], "big") != sequence:
            return None
        return data

    def _anchor(self, sequence: int, timestamp: int, now: float) -> None:
        self._anchored = True
        first = self.packets == 0
        gap = 0 if first else max(1, round((now - self.last_sent_at) * self.rate))
        self._seq_offset = (self._seq + 1 - sequence) & 0xFFFF
        self._ts_offset = (self.last_timestamp + gap - timestamp) & 0xFFFFFFFF
        self._floor = sequence
        self._last_in_ts = timestamp
        self._picture_offset = None

    def _next_picture_id(self, packet: InboundPacket) -> int:
        """The packet's picture ID shifted to continue this output's (15 bits; the packet's own width
        keeps the low 7 when it has 7)."""
        if self._picture_offset is None:
            self._picture_offset = (self._picture_id + 1 - packet.picture_id) & 0x7FFF
        out = (packet.picture_id + self._picture_offset) & 0x7FFF
        if (out - self._picture_id) & 0x7FFF < 0x4000:
            self._picture_id = out
        return out if packet.picture_bits == 15 else out & 0x7F
