"""Which received VP8 frames can be decoded, judged as a browser judges them.

Pure: no sockets, no aiortc, time passed in. A browser (libwebrtc's RtpVp8RefFinder)
takes a VP8 delta frame to reference the picture before it (picture ID minus one) and
decodes it only once that picture was decoded; a frame whose reference is missing waits,
and the receiver asks the sender for a keyframe. So when a media server switches a
receiver to another publisher's feed without rewriting picture IDs (Janus VideoRoom
does), or a whole frame is lost, nothing is decoded until the next keyframe: a short
freeze, never garbage.

`Vp8Chain` does the same for one receiver. `note` reads each packet's payload descriptor
(picture ID, whether it starts the frame, whether that start is a keyframe) by the
packet's RTP timestamp; `admit` then judges each frame the jitter buffer assembled, in
order: a keyframe passes; a delta frame passes only when its first packet arrived and
its picture ID follows (modulo 2^7 or 2^15, the ID's width) the last frame passed;
anything else breaks the chain, and every frame is held until a keyframe. A stream whose
descriptors carry no picture ID cannot be judged, and passes. While frames are held a
keyframe is asked for at most once per `keyframe_interval_s` (as browsers throttle PLI).
"""

from __future__ import annotations

from dataclasses import dataclass

from .rtp_forward import vp8_picture_id, vp8_starts_frame, vp8_starts_keyframe

KEYFRAME_REQUEST_INTERVAL_S = 0.5
PENDING_FRAMES = 64  # frames noted and not judged yet, at most (older ones are forgotten)


@dataclass(frozen=True)
class Verdict:
    """What to do with one assembled frame."""

    decodable: bool
    first_held: bool = False  # the first frame held since the chain broke
    ask_keyframe: bool = False  # send the sender a keyframe request (PLI) now


PASS = Verdict(decodable=True)


@dataclass
class _Frame:
    bits: int  # width of the picture ID: 7 or 15
    picture_id: int
    started: bool = False  # its first packet (S bit, partition 0) arrived
    keyframe: bool = False


class Vp8Chain:
    """One receiver's chain of decodable VP8 frames (see the module docstring)."""

    def __init__(self, keyframe_interval_s: float = KEYFRAME_REQUEST_INTERVAL_S):
        self.keyframe_interval_s = keyframe_interval_s
        self._frames: dict[int, _Frame] = {}  # RTP timestamp -> what its packets said
        self._last: int | None = None  # picture ID of the last frame passed on; None: waiting for a keyframe
        self._holding = False
        self._asked_at: float | None = None

    def note(self, payload: bytes, timestamp: int) -> None:
        """One received packet's RTP payload (VP8 payload descriptor first) and timestamp."""
        picture = vp8_picture_id(payload)
        if picture is None:
            return
        frame = self._frames.get(timestamp)
        if frame is None:
            if len(self._frames) >= PENDING_FRAMES:
                del self._frames[next(iter(self._frames))]
            frame = self._frames[timestamp] = _Frame(*picture)
        if vp8_starts_frame(payload):
            frame.started = True
            frame.keyframe = vp8_starts_keyframe(payload)

    def admit(self, timestamp: int, now: float) -> Verdict:
        """Whether the assembled frame with RTP `timestamp` can be decoded; judged once per frame, in order."""
        frame = self._frames.pop(timestamp, None)
        if frame is None:
            return PASS  # no picture ID: nothing to judge by
        mask = (1 << frame.bits) - 1
        if frame.started and (frame.keyframe or (self._last is not None and frame.picture_id == (self._last + 1) & mask)):
            self._last = frame.picture_id
            self._holding = False
            return PASS
        self._last = None
        first = not self._holding
        self._holding = True
        ask = self._asked_at is None or now - self._asked_at >= self.keyframe_interval_s
        if ask:
            self._asked_at = now
        return Verdict(decodable=False, first_held=first, ask_keyframe=ask)
