"""The codecs the orchestrator speaks (VP8 video, Opus audio), shared by the server and the venues.

RTP timestamps run in the codec's clock: 90 kHz for video (RFC 7741 for VP8), 48 kHz for
Opus (RFC 7587, whatever the sampling rate). An encoded frame travels inside aiortc as an
`av.Packet` whose pts is that RTP timestamp.
"""

from __future__ import annotations

import fractions

import av
from aiortc import RTCRtpSender, RTCRtpTransceiver

VIDEO_CLOCK = 90_000
AUDIO_CLOCK = 48_000
CODEC: dict[str, str] = {"video": "vp8", "audio": "opus"}  # the one codec of each kind


def clock_rate(kind: str) -> int:
    """The RTP clock of `kind` ("video" or "audio"), in ticks per second."""
    return VIDEO_CLOCK if kind == "video" else AUDIO_CLOCK


def is_vp8_keyframe(frame: bytes) -> bool:
    """RFC 6386 section 9.1: bit 0 of the frame tag is 0 for a key frame."""
    return bool(frame) and not frame[0] & 0x01


def vp8_picture_size(frame: bytes) -> tuple[int, int] | None:
    """(width, height) from a VP8 key frame's header (RFC 6386 section 9.1); None for any other frame."""
    if len(frame) < 10 or not is_vp8_keyframe(frame) or frame[3:6] != b"\x9d\x01\x2a":
        return None
    return int.from_bytes(frame[6:8], "little") & 0x3FFF, int.from_bytes(frame[8:10], "little") & 0x3FFF


def make_packet(data: bytes, timestamp: int, kind: str) -> av.Packet:
    """An `av.Packet` whose pts is the RTP timestamp in the codec clock."""
    packet = av.Packet(data)
    packet.pts = timestamp
    packet.time_base = fractions.Fraction(1, clock_rate(kind))
    return packet


def prefer_codec(transceiver: RTCRtpTransceiver) -> None:
    """Negotiate only the kind's one codec on `transceiver` (with RTX for video)."""
    kind = transceiver.kind
    caps = RTCRtpSender.getCapabilities(kind).codecs
    chosen = [c for c in caps if c.mimeType.lower() == f"{kind}/{CODEC[kind]}"]
    rtx = [c for c in caps if c.mimeType.lower() == f"{kind}/rtx"]
    transceiver.setCodecPreferences(chosen + rtx)
