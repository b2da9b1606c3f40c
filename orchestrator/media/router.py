"""The program router: which RTP packets go to which receiver, switching on a keyframe.

Every venue sends one video and one audio uplink (`on_packet`, from the receiver tap:
each RTP packet as it arrived, below any jitter buffer). Every venue receives, as
separate tracks (no mixing), what `routing.choose_source` says.

The main venue's return (`set_main_return`) changes what the main venue alone receives:
its program video shows the return's venue instead of the program (one branch venue, or
the venue main-return polling is on), and its wall slots (`WALL_VIDEO` outputs, one per
extra receive-only video m-line it offered) each forward one tile's camera as it is.
Its audio stays the program's. Nothing is composed here: the main venue's page lays
the tiles out.

A video output never switches mid-picture: it keeps forwarding its current source until
the first packet of the new source's next keyframe (asked for at once by RTCP PLI, and
again while it does not come), then cuts over at that packet. Audio cuts over at once.
Each output's `RtpRewriter` keeps sequence numbers, timestamps and picture IDs
continuous for its receiver across switches (`rtp_forward`).

An optional `MediaObserver` hears how long each take took to cut over (from the take to
the keyframe forwarded), every keyframe request and what was forwarded: the metrics.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, field

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .plane import MediaObserver, NoMediaObserver, PeerId, ProgramSnapshot, VenuePeer
from .routing import Program, Role, choose_source
from .rtp_forward import InboundPacket, RtpRewriter, vp8_starts_keyframe

KEYFRAME_RETRY_S = 0.3  # re-ask a source that has not sent the keyframe yet
KEYFRAME_THROTTLE_S = 0.25  # at most one keyframe request per source in this time
MAX_HELD_PACKETS = 50  # a new source's packets held while the old source's last frame completes
MAX_HOLD_S = 0.2  # and for at most this long


@dataclass
class OutputStats:
    frames: int = 0
    bytes: int = 0
    switches: int = 0


def _nowhere(data: bytes) -> None:
    """Where an output's packets go until its sender is wired up: dropped."""


class Output(MediaStreamTrack):
    """One downlink of one receiver: rewrites the packets routed to it and hands them to `send`.

    It is also the track of the receiver's `RTCRtpSender`, which never gets a frame from it
    (`recv` waits until the output stops): the packets bypass the sender, which keeps
    doing its RTCP.
    """

    def __init__(self, kind: str, role: Role, receiver: PeerId, slot: int | None = None):
        super().__init__()
        self.kind = kind
        self.role = role
        self.receiver = receiver  # the peer that gets this track
        self.slot = slot  # wall outputs: the wall slot it is
        self.current: str | None = None  # source venue now forwarded
        self.pending: str | None = None  # source venue we switch to at its next keyframe
        self.leaving: str | None = None  # source venue whose last frame it still completes (`finishing`)
        self.fixed_source: str | None = None  # for monitor outputs
        self.stats = OutputStats()
        self.on_keyframe_request: Callable[[], None] = lambda: None
        self.on_ready: Callable[[], None] = lambda: None
        self.ready = True  # whether packets sent now can reach the receiver (see `wait_until_started`)
        self.rewriter = RtpRewriter(kind)
        self.send: Callable[[bytes], None] = _nowhere  # sends one rewritten packet to the receiver
        self._stopped = asyncio.Event()
        self._frame_open = False  # the last packet sent did not end its frame
        self._open_timestamp = 0  # its source timestamp
        self._finishing: int | None = None  # the source timestamp of the old source's frame being completed
        self._held: list[InboundPacket] = []  # the new source's packets meanwhile
        self._held_since = 0.0

    @property
    def label(self) -> str:
        """Its name in snapshots: the role, and the slot of a wall output (`wall_video_3`)."""
        return self.role.value if self.slot is None else f"{self.role.value}_{self.slot}"

    def wait_until_started(self) -> None:
        """Its sender has not started yet: a video output then never cuts over (a keyframe sent
        now would be lost, and the receiver would get a picture it cannot decode)."""
        self.ready = False

    def started(self) -> None:
        """Its sender started: packets reach the receiver from now on."""
        self.ready = True
        self.on_ready()

    @property
    def finishing(self) -> bool:
        """Whether it still completes the frame it was sending when its source changed."""
        return self._finishing is not None

    def source_changed(self, now: float) -> None:
        """The next packets come from another source: their numbering is not comparable.

        If the old source's frame was sent only in part, the rest of it is still forwarded
        (`complete_frame`) and the new source's packets are held until it ends: a receiver that
        assembles frames by timestamp (aiortc's jitter buffer) would otherwise decode the
        part."""
        self.finish(now)  # a source skipped while an older frame completed: its start is sent as it is
        for filler in self.rewriter.fillers(now, everything=True):  # the old source can no longer fill them
            self.send(filler)
        if self._frame_open:
            self._finishing = self._open_timestamp
        else:
            self.rewriter.restart()

    def forward(self, packet: InboundPacket, now: float) -> bool:
        """Send one packet of the current source to the receiver; False if it was dropped."""
        if self._finishing is not None:
            if not self._held:
                self._held_since = now
            self._held.append(packet)
            if len(self._held) > MAX_HELD_PACKETS or now - self._held_since > MAX_HOLD_S:
                self.finish(now)
            return True
        data = self.rewriter.rewrite(packet, now)
        if data is None:
            return False
        self.send(data)
        if self.rewriter.holes:
            for filler in self.rewriter.fillers(now):
                self.send(filler)
        self._frame_open = self.rewriter.video and not packet.marker  # (an Opus packet is a frame, marked or not)
        self._open_timestamp = packet.timestamp
        self.stats.bytes += len(packet.payload)
        if packet.marker or not self.rewriter.video:
            self.stats.frames += 1
        return True

    def complete_frame(self, packet: InboundPacket, now: float) -> None:
        """A packet of the source left while `finishing`: forward it if it belongs to the frame being completed."""
        if self._finishing is None:
            return
        if packet.timestamp != self._finishing:  # the frame's last packet never came
            self.finish(now)
            return
        data = self.rewriter.rewrite(packet, now)
        if data is not None:
            self.send(data)
            self.stats.bytes += len(packet.payload)
        if packet.marker:
            self.finish(now)

    def finish(self, now: float) -> None:
        """Stop completing the old source's frame; forward what the new source sent meanwhile."""
        if self._finishing is None:
            return
        self._finishing = None
        self._frame_open = False
        self.rewriter.restart()
        held, self._held = self._held, []
        for packet in held:
            self.forward(packet, now)

    async def recv(self):
        if self.readyState == "live":
            await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        self._finishing, self._held = None, []
        self._stopped.set()
        super().stop()


@dataclass
class _Source:
    venue: str
    kind: str
    request_keyframe: Callable[[], None]
    last_request: float = -1e9
    frames: int = 0
    bytes: int = 0


@dataclass
class _Routes:
    """Outputs by the source they forward now, the source they wait for, and the source whose frame they complete."""

    current: dict[tuple[str, str], set[Output]] = field(default_factory=dict)
    pending: dict[tuple[str, str], set[Output]] = field(default_factory=dict)
    finishing: dict[tuple[str, str], set[Output]] = field(default_factory=dict)  # completing a frame of the source

    def move(self, table: str, output: Output, old: str | None, new: str | None) -> None:
        index = getattr(self, table)
        if old is not None:
            index.get((old, output.kind), set()).discard(output)
        if new is not None:
            index.setdefault((new, output.kind), set()).add(output)


class ProgramRouter:
    """Routes encoded frames from venue uplinks to venue downlinks by the session's program."""

    def __init__(self, main_venue: str, clock: Callable[[], float] = time.monotonic,
                 observer: MediaObserver | None = None):
        self.main = main_venue
        self.on_air = main_venue
        self.muted: set[str] = set()
        self.return_video: str | None = None  # what the main venue's program video shows instead of the program
        self.wall: tuple[str, ...] = ()  # the main venue's wall: the venue of each slot, in order
        self.clock = clock
        self.observer: MediaObserver = observer or NoMediaObserver()
        self._take: tuple[str, float] | None = None  # the on-air venue whose keyframe the program waits for, since
        self._sources: dict[tuple[str, str], _Source] = {}  # (venue, kind): venues' uplinks
        self._outputs: dict[PeerId, list[Output]] = {}  # every peer's downlinks
        self._routes = _Routes()
        self._retry_task: asyncio.Task | None = None

    # ------------------------------------------------------------ membership

    def add_source(self, venue: str, kind: str, request_keyframe: Callable[[], None]) -> None:
        self._sources[(venue, kind)] = _Source(venue, kind, request_keyframe)
        self.reroute()

    def add_outputs(self, receiver: PeerId, outputs: list[Output]) -> None:
        for output in outputs:
            output.on_keyframe_request = functools.partial(self._answer_receiver_pli, output)
            output.on_ready = functools.partial(self._output_ready, output)
        self._outputs.setdefault(receiver, []).extend(outputs)
        self.reroute()

    def remove_peer(self, peer: PeerId) -> None:
        """Forget a peer's downlinks and, for a venue, its uplinks (the peer is gone)."""
        if isinstance(peer, VenuePeer):
            for kind in ("video", "audio"):
                self._sources.pop((peer.venue, kind), None)
                for output in self._routes.finishing.pop((peer.venue, kind), set()):
                    output.finish(self.clock())
                    output.leaving = None
        for output in self._outputs.pop(peer, []):
            self._set_route(output, None, None)
            output.stop()
        self.reroute()

    def source_counters(self, venue: str) -> tuple[int, int]:
        """(bytes received from all of `venue`'s uplinks, video frames received)."""
        video, audio = self._sources.get((venue, "video")), self._sources.get((venue, "audio"))
        return (video.bytes if video else 0) + (audio.bytes if audio else 0), video.frames if video else 0

    def outputs(self, receiver: PeerId) -> list[Output]:
        return list(self._outputs.get(receiver, []))

    # ------------------------------------------------------------ program

    def set_program(self, on_air: str, muted: Set[str]) -> None:
        """The session's on-air venue and muted microphones changed (or may have)."""
        if on_air == self.on_air and muted == self.muted:
            return
        taken = on_air != self.on_air
        self.on_air, self.muted = on_air, set(muted)
        self.reroute()
        if taken:  # timed until the program cuts over (a take nobody waits for is not timed)
            self._take = (on_air, self.clock()) if self._routes.pending.get((on_air, "video")) else None

    def set_main_return(self, video: str | None, wall: Sequence[str]) -> None:
        """The main venue's return: the venue its program video shows instead of the program
        (None: the program), and the venue of each of its wall slots (empty: no wall)."""
        wall = tuple(wall)
        if (video, wall) == (self.return_video, self.wall):
            return
        self.return_video, self.wall = video, wall
        self.reroute()

    def program(self) -> Program:
        return Program(self.main, self.on_air, frozenset(self.muted), self.return_video, self.wall)

    def wanted_source(self, output: Output) -> str | None:
        receiver = output.receiver.venue if isinstance(output.receiver, VenuePeer) else None
        return choose_source(self.program(), output.role, receiver, lambda venue: (venue, output.kind) in self._sources,
                             slot=output.slot, fixed=output.fixed_source)

    def reroute(self) -> None:
        need_keyframe: set[str] = set()
        for outputs in self._outputs.values():
            for output in outputs:
                wanted = self.wanted_source(output)
                if wanted == output.current and output.pending is None:
                    continue
                if wanted is None or output.kind == "audio":
                    self._set_route(output, wanted, None)  # audio cuts at once
                elif wanted != output.pending:
                    if wanted == output.current:
                        self._set_route(output, wanted, None)
                    else:
                        self._set_route(output, output.current, wanted)
                        need_keyframe.add(wanted)
        for venue in need_keyframe:
            self.request_keyframe(venue, force=True)
        self._ensure_retry()

    def _set_route(self, output: Output, current: str | None, pending: str | None) -> None:
        if current != output.current:
            old = output.current
            self._routes.move("current", output, old, current)
            if current is not None and old is not None:
                output.stats.switches += 1
            output.current = current
            if output.leaving is not None:  # it stops completing that source's frame now
                self._routes.move("finishing", output, output.leaving, None)
                output.leaving = None
            output.source_changed(self.clock())
            if output.finishing:
                output.leaving = old
                self._routes.move("finishing", output, None, old)
        if pending != output.pending:
            self._routes.move("pending", output, output.pending, pending)
            output.pending = pending

    # ------------------------------------------------------------ packets

    def on_packet(self, venue: str, kind: str, sequence: int, timestamp: int, marker: bool, payload: bytes) -> None:
        """An RTP packet arrived from `venue`'s uplink (after SRTP, before any jitter buffer)."""
        key = (venue, kind)
        source = self._sources.get(key)
        if source is None:
            return
        size = len(payload)
        source.bytes += size
        ends_frame = marker or kind == "audio"
        if ends_frame:
            source.frames += 1
        waiting = self._routes.pending.get(key)
        if waiting and vp8_starts_keyframe(payload):
            switching = [output for output in waiting if output.ready]
            for output in switching:
                self._set_route(output, venue, None)
            if switching and self._take is not None and self._take[0] == venue:
                self.observer.switched(venue, self.clock() - self._take[1])
                self._take = None
        finishing = self._routes.finishing.get(key)
        receivers = self._routes.current.get(key)
        if not receivers and not finishing:
            return
        packet = InboundPacket(sequence, timestamp, marker, payload, kind == "video")
        now = self.clock()
        if finishing:
            for output in list(finishing):
                output.complete_frame(packet, now)
                if not output.finishing:
                    finishing.discard(output)
                    output.leaving = None
        if not receivers:
            return
        sent = 0
        for output in receivers:
            sent += output.forward(packet, now)
        if sent:
            self.observer.forwarded(kind, sent if ends_frame else 0, sent * size)

    # ------------------------------------------------------------ keyframes

    def request_keyframe(self, venue: str, force: bool = False) -> None:
        source = self._sources.get((venue, "video"))
        if source is None:
            return
        now = self.clock()
        if force or now - source.last_request >= KEYFRAME_THROTTLE_S:
            source.last_request = now
            source.request_keyframe()
            self.observer.keyframe_requested(venue)

    def _answer_receiver_pli(self, output: Output) -> None:
        target = output.pending or output.current
        if target is not None:
            self.request_keyframe(target)

    def _output_ready(self, output: Output) -> None:
        if output.pending is not None:
            self.request_keyframe(output.pending, force=True)

    def _ensure_retry(self) -> None:
        if any(self._routes.pending.values()) and (self._retry_task is None or self._retry_task.done()):
            try:
                self._retry_task = asyncio.get_running_loop().create_task(self._retry_keyframes())
            except RuntimeError:
                self._retry_task = None  # no loop (pure tests): callers drive keyframes

    async def _retry_keyframes(self) -> None:
        while any(self._routes.pending.values()):
            await asyncio.sleep(KEYFRAME_RETRY_S)
            for (venue, _kind), outputs in list(self._routes.pending.items()):
                if outputs:
                    self.request_keyframe(venue)

    async def close(self) -> None:
        if self._retry_task is not None:
            self._retry_task.cancel()
            await asyncio.gather(self._retry_task, return_exceptions=True)
        for receiver in list(self._outputs):
            self.remove_peer(receiver)

    def snapshot(self) -> dict[PeerId, dict[str, str | None]]:
        """Who receives what now, every peer: {receiver: {role: source}}."""
        return {receiver: _roles(outputs) for receiver, outputs in self._outputs.items()}

    def program_snapshot(self) -> ProgramSnapshot:
        """Who each venue receives now (monitors left out): {venue: {role: source}}."""
        return {
            receiver.venue: _roles(outputs) for receiver, outputs in self._outputs.items() if isinstance(receiver, VenuePeer)
        }


def _roles(outputs: list[Output]) -> dict[str, str | None]:
    """{label: source} of a peer's outputs; wall slots only while they show (or wait for) a venue."""
    return {o.label: o.current for o in outputs if o.role is not Role.WALL_VIDEO or o.current or o.pending}
