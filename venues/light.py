"""Light venues: the venue agent's join and signalling, with media cheap enough to simulate hundreds.

A `LightVenueAgent` joins by the same link and speaks the same venue protocol as a
`VenueAgent` (it is one: only its media differs), over a real DTLS-SRTP session. Its media:

- Sending: the venue's pre-encoded loop (the same marked VP8 frames and Opus frames a full
  agent sends) is packetized ONCE, when the first session starts. Each send only rewrites
  the header (sequence number, timestamp, SSRC, picture ID: the server's own `RtpRewriter`),
  SRTP-protects the packet and writes it to the ICE socket (`forward_packets`, as the server
  sends). SRTP protection stays per packet: the packet index it authenticates and encrypts
  with changes with every packet, so nothing can be encrypted ahead. A keyframe request
  (PLI/FIR) jumps to the loop's next keyframe; NACKs are answered from the rewriter's
  history. Audio goes out only while the venue is not muted, as a real venue's microphone.
  One `Pacer` per process sends every light venue's frames, its venues spread over a few
  phases of the frame period (one timer for all of them, and no burst of every venue at once).
- Receiving: the program's RTP packets are tapped below aiortc's jitter buffer (`tap_packets`,
  the server's own receive path: SRTP-unprotected and the header read as they arrive, no
  queue, no `RtpPacket`, aiortc's statistics and NACKs kept). A frame is counted at its last
  packet (the marker bit), a keyframe at its first packet (VP8 payload descriptor, then the
  frame tag), losses from the sequence numbers; nothing is assembled or decoded.

So a light venue measures the program's frame rate and keyframes, not what it shows: a full
agent (which decodes the mark of the venue on air) measures switch latency.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket

from orchestrator.logs import get_logger
from orchestrator.media.aiortc_tap import EncodedPacker, forward_packets, tap_packets
from orchestrator.media.codec import AUDIO_CLOCK, VIDEO_CLOCK, is_vp8_keyframe, make_packet
from orchestrator.media.rtp_forward import InboundPacket, RtpHeader, RtpRewriter, vp8_starts_keyframe

from .agent import KEYFRAME_INTERVAL_S, LoopedTrack, Media, VenueAgent, synthetic_media

log = get_logger(component="light_venue")

AUDIO_FPS = 50  # Opus frames of 20 ms
FAR_BEHIND_S = 1.0  # a pacer this late skips the frames it missed rather than burst them


class Pacer:
    """Calls each member's `tick(now)` once per `period`, members spread over `phases` phases.

    One task for every member. A late tick is caught up (frames go out late, not fewer);
    more than FAR_BEHIND_S late, the missed ticks are skipped, so a member's frames sent
    fall short of those due, which is how a benchmark sees that its venues could not keep up.
    """

    def __init__(self, period: float, phases: int = 1):
        self.period = period
        self._phases: list[list[Callable[[float], None]]] = [[] for _ in range(max(1, phases))]
        self._next_phase = 0
        self._task: asyncio.Task[None] | None = None

    def add(self, tick: Callable[[float], None]) -> Callable[[], None]:
        """Start calling `tick`; returns what stops it."""
        phase = self._phases[self._next_phase]
        self._next_phase = (self._next_phase + 1) % len(self._phases)
        phase.append(tick)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

        def remove() -> None:
            if tick in phase:
                phase.remove(tick)

        return remove

    @property
    def members(self) -> int:
        return sum(len(phase) for phase in self._phases)

    async def _run(self) -> None:
        step = self.period / len(self._phases)
        start, n = time.monotonic(), 0
        while self.members:
            now = time.monotonic()
            due = start + n * step
            if due > now:
                await asyncio.sleep(due - now)
                now = time.monotonic()
            elif now - due > FAR_BEHIND_S:
                start = now - n * step
            for tick in tuple(self._phases[n % len(self._phases)]):
                tick(now)
            n += 1

    def close(self) -> None:
        for phase in self._phases:
            phase.clear()
        if self._task is not None:
            self._task.cancel()


@dataclass(frozen=True)
class PacketLoop:
    """A loop of frames packetized once: each frame's packets, and which frames are keyframes."""

    kind: str
    frames: list[list[InboundPacket]]
    keyframes: list[int]  # indexes of the keyframes (video)

    @classmethod
    def packetize(cls, kind: str, encoded: list[bytes], fps: float) -> PacketLoop:
        """Packetize `encoded` frames, `fps` a second, as a sender would (VP8 payload descriptors with
        picture IDs; Opus as it is)."""
        packer = EncodedPacker(kind)
        step = round((VIDEO_CLOCK if kind == "video" else AUDIO_CLOCK) / fps)
        video = kind == "video"
        frames: list[list[InboundPacket]] = []
        sequence = 0
        for number, data in enumerate(encoded):
            timestamp = number * step  # within the loop only: every send re-stamps it
            payloads, _ = packer.pack(make_packet(data, timestamp, kind))
            packets = []
            for i, payload in enumerate(payloads):
                packets.append(InboundPacket(sequence, timestamp, i == len(payloads) - 1, payload, video))
                sequence += 1
            frames.append(packets)
        keyframes = [i for i, data in enumerate(encoded) if video and is_vp8_keyframe(data)]
        if video and not keyframes:
            raise ValueError("a video loop needs a keyframe")
        return cls(kind, frames, keyframes)


class _SilentTrack(MediaStreamTrack):
    """The track of a sender whose packets are sent by a `LoopSender`: `recv` waits until it stops."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self._stopped = asyncio.Event()

    async def recv(self):
        await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._stopped.set()


class LoopSender:
    """Sends a `PacketLoop` on one sender, a frame per tick: headers rewritten, SRTP-protected, written out."""

    def __init__(self, loop: PacketLoop, transceiver: RTCRtpTransceiver):
        self.loop = loop
        self.rewriter = RtpRewriter(loop.kind)
        self.sent = 0  # frames
        self.began: float | None = None  # when the first frame went out (monotonic clock)
        self.keyframe_requests = 0
        self.paused = False  # a muted microphone
        self._next = 0
        self._started = False
        self._asked = False  # a keyframe request waits to be answered
        self._quiet_until = float("-inf")  # no keyframe jump before this (monotonic clock)
        self._send = forward_packets(transceiver.sender, self.rewriter, self.request_keyframe, self._on_started)

    def _on_started(self) -> None:
        self._started = True

    def request_keyframe(self) -> None:
        """A PLI/FIR: the next frame sent is the loop's next keyframe, at most once per
        `KEYFRAME_INTERVAL_S` (as a looped track: the requests within it are answered together)."""
        self.keyframe_requests += 1
        self._asked = True

    def _answer_keyframe_request(self, now: float) -> None:
        if self._asked and now >= self._quiet_until and self.loop.keyframes:
            after = [k for k in self.loop.keyframes if k >= self._next]
            self._jump(after[0] if after else self.loop.keyframes[0])
            self._asked, self._quiet_until = False, now + KEYFRAME_INTERVAL_S

    def _jump(self, index: int) -> None:
        # the loop's own numbering goes back: the rewriter anchors the next packet after the last one sent
        self._next = index
        self.rewriter.restart()

    def resume(self) -> None:
        """Unmuted: start again from where it was, stamped on the wall clock."""
        self.paused = False
        self.rewriter.restart()

    def tick(self, now: float) -> None:
        if not self._started or self.paused:
            return
        if self.began is None:
            self.began = now
        self._answer_keyframe_request(now)
        if self._next >= len(self.loop.frames):
            self._jump(0)
        rewrite, send = self.rewriter.rewrite, self._send
        for packet in self.loop.frames[self._next]:
            data = rewrite(packet, now)
            if data is not None:
                send(data)
        self._next += 1
        self.sent += 1


@dataclass
class Pacers:
    """A process's pacers: one for every light venue's video, one for their audio."""

    video: Pacer
    audio: Pacer

    @classmethod
    def make(cls, fps: float, phases: int = 4) -> Pacers:
        return cls(Pacer(1.0 / fps, phases), Pacer(1.0 / AUDIO_FPS, 1))

    def close(self) -> None:
        self.video.close()
        self.audio.close()


class LightVenueAgent(VenueAgent):
    """A `VenueAgent` whose media is pre-packetized and whose program is counted, not decoded (module docstring)."""

    def __init__(self, join_url: str, media_factory: Callable[[int], Media] = synthetic_media, *,
                 pacers: Pacers, **options):
        """`pacers` send the frames (its video pacer's period must be the media's frame period)."""
        if options.get("loss_pct"):
            raise ValueError("a light venue sends past aiortc's transport: it cannot drop outgoing packets")
        if options.get("decode_all") is True:
            raise ValueError("a light venue decodes nothing (decode_all does not apply)")
        super().__init__(join_url, media_factory, decode_all=False, **options)
        self.pacers = pacers
        self._loops: tuple[PacketLoop, PacketLoop] | None = None
        self._senders: list[LoopSender] = []  # this session's (video, audio)
        self.video_senders: list[LoopSender] = []  # every session's
        self.program_counts: list[SequenceCount] = []  # every session's program video

    # ------------------------------------------------------------ sending

    def _packet_loops(self) -> tuple[PacketLoop, PacketLoop]:
        if self._loops is None:
            video, audio = self.media.tracks()
            if not (isinstance(video, LoopedTrack) and isinstance(audio, LoopedTrack)):
                raise TypeError("a light venue sends pre-encoded media (looped frames) only")
            video.stop()
            audio.stop()
            if abs(video.period - self.pacers.video.period) > 1e-6:
                raise ValueError(f"the media has {1 / video.period:g} frames a second, the pacer "
                                 f"{1 / self.pacers.video.period:g}")
            self._loops = (PacketLoop.packetize("video", video.frames, 1 / video.period),
                           PacketLoop.packetize("audio", audio.frames, AUDIO_FPS))
        return self._loops

    def _add_camera_and_microphone(self, pc: RTCPeerConnection, direction: str
                                   ) -> tuple[RTCRtpTransceiver, RTCRtpTransceiver]:
        video_loop, audio_loop = self._packet_loops()
        video_t = pc.addTransceiver(_SilentTrack("video"), direction=direction)
        audio_t = pc.addTransceiver(_SilentTrack("audio"), direction=direction)
        video, audio = LoopSender(video_loop, video_t), LoopSender(audio_loop, audio_t)
        self._senders = [video, audio]
        self.video_senders.append(video)
        stops = [self.pacers.video.add(video.tick), self.pacers.audio.add(audio.tick)]

        def on_state() -> None:
            if pc.connectionState in ("closed", "failed"):
                for stop in stops:
                    stop()

        pc.on("connectionstatechange", on_state)
        return video_t, audio_t

    def _mute_at_source(self, muted: bool) -> None:
        if len(self._senders) == 2:
            microphone = self._senders[1]
            if muted:
                microphone.paused = True
            elif microphone.paused:
                microphone.resume()

    @property
    def keyframe_requests(self) -> int:
        """Keyframe requests its camera answered, over every session."""
        return sum(sender.keyframe_requests for sender in self.video_senders)

    # ------------------------------------------------------------ receiving

    def _tap_program(self, receivers: list[RTCRtpReceiver]) -> None:
        """Count the program's frames, keyframes and losses, its audio and the wall slots' frames,
        packet by packet; the receivers in the protocol's order (program video, program audio, the
        main venue's audio, the wall slots). Done before the peer connects."""
        video, *audio_and_wall = receivers
        audio, wall = audio_and_wall[:2], audio_and_wall[2:]
        program = SequenceCount()
        self.program_counts.append(program)
        self._count_rtp(video, functools.partial(self._program_packet, program))
        for receiver in audio:
            self._count_rtp(receiver, self._audio_packet)
        for slot, receiver in enumerate(wall):
            self._count_rtp(receiver, functools.partial(self._tile_packet, slot))

    def _count_rtp(self, receiver: RTCRtpReceiver, count: PacketCount) -> None:
        """`count` every RTP packet of `receiver`, tapped below aiortc's jitter buffer (`tap_packets`:
        the packet path the server uses, its header read as it arrives)."""

        def counted(packet: RtpPacket | RtpHeader) -> None:
            count(packet.sequence_number, bool(packet.marker), packet.payload[:PAYLOAD_HEAD])

        tap_packets(receiver, counted)

    def _decode_program(self, receivers: list[RTCRtpReceiver]) -> None:
        """Nothing to decode."""

    def _program_packet(self, program: SequenceCount, sequence: int, marker: bool, head: bytes) -> None:
        stats = self.stats
        program.note(sequence)
        if vp8_starts_keyframe(head):
            stats.program_keyframes += 1
        if marker:
            if stats.program_frames == 0:
                self.emit("program_started")
            stats.count_frame()

    def _audio_packet(self, sequence: int, marker: bool, head: bytes) -> None:
        self.stats.audio_frames += 1

    def _tile_packet(self, slot: int, sequence: int, marker: bool, head: bytes) -> None:
        if marker:
            self._count_tile(slot)

    def program_loss(self) -> tuple[int, int]:
        """(packets lost, packets received) of the program video, over every session."""
        return sum(c.lost for c in self.program_counts), sum(c.received for c in self.program_counts)


PacketCount = Callable[[int, bool, bytes], None]  # (sequence number, marker, the payload's first bytes)
PAYLOAD_HEAD = 16  # bytes of a payload enough to read a VP8 payload descriptor and frame tag


class SequenceCount:
    """Packets received and lost on one stream, from its sequence numbers."""

    __slots__ = ("_first", "_highest", "received")

    def __init__(self) -> None:
        self._first: int | None = None
        self._highest = 0  # extended (counting wraps)
        self.received = 0

    def note(self, sequence: int) -> None:
        self.received += 1
        if self._first is None:
            self._first = self._highest = sequence
            return
        ahead = (sequence - self._highest) & 0xFFFF
        if 0 < ahead < 0x8000:
            self._highest += ahead

    @property
    def lost(self) -> int:
        if self._first is None:
            return 0
        return max(0, self._highest - self._first + 1 - self.received)
