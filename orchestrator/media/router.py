"""The program router: which encoded frames go to which venue, switching on a keyframe.

Every venue sends one video and one audio uplink (`on_frame`, from the receiver tap).
Every venue receives, as separate tracks (no mixing), what `routing.choose_source` says.

The main venue's return (`set_main_return`) changes what the main venue alone receives:
its program video shows the return's venue instead of the program (one branch venue, or
the venue main-return polling is on), and its wall slots (`WALL_VIDEO` outputs, one per
extra receive-only video m-line it offered) each forward one tile's camera as it is.
Its audio stays the program's. Nothing is composed here: the main venue's page lays
the tiles out.

A video output never switches mid-picture: it keeps forwarding its current source until
the new source's next keyframe (asked for at once by RTCP PLI, and again while it does
not come), then cuts over. Each output re-stamps timestamps so they stay continuous for
its receiver across switches; aiortc's sender numbers the packets continuously.

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

from .codec import clock_rate, is_vp8_keyframe, make_packet
from .plane import MediaObserver, NoMediaObserver, PeerId, ProgramSnapshot, VenuePeer
from .routing import Program, Role, choose_source

KEYFRAME_RETRY_S = 0.3  # re-ask a source that has not sent the keyframe yet
KEYFRAME_THROTTLE_S = 0.25  # at most one keyframe request per source in this time
MAX_VIDEO_QUEUE = 30  # frames waiting for one receiver's sender before we resync it
MAX_AUDIO_QUEUE = 25


@dataclass
class OutputStats:
    frames: int = 0
    bytes: int = 0
    switches: int = 0
    resyncs: int = 0


class Output(MediaStreamTrack):
    """One downlink track of one receiver: a queue of re-stamped encoded packets."""

    def __init__(self, kind: str, role: Role, receiver: PeerId, clock: Callable[[], float] = time.monotonic,
                 slot: int | None = None):
        super().__init__()
        self.kind = kind
        self.role = role
        self.receiver = receiver  # the peer that gets this track
        self.slot = slot  # wall outputs: the wall slot it is
        self.current: str | None = None  # source venue now forwarded
        self.pending: str | None = None  # source venue we switch to at its next keyframe
        self.fixed_source: str | None = None  # for monitor outputs
        self.stats = OutputStats()
        self.on_keyframe_request: Callable[[], None] = lambda: None
        self._queue: asyncio.Queue = asyncio.Queue()
        self._clock = clock
        self._rate = clock_rate(kind)
        self._last_in: int | None = None
        self._last_out: int | None = None
        self._last_wall = 0.0

    @property
    def label(self) -> str:
        """Its name in snapshots: the role, and the slot of a wall output (`wall_video_3`)."""
        return self.role.value if self.slot is None else f"{self.role.value}_{self.slot}"

    def source_changed(self) -> None:
        """The next frame comes from another source: its timestamps are not comparable."""
        self._last_in = None

    def push(self, data: bytes, timestamp: int, restart: bool) -> bool:
        """Queue one frame; `restart` when the source changed (the timestamp is not comparable).
        False when the receiver fell behind and must restart at a keyframe."""
        now = self._clock()
        if self._last_out is None:
            out = 0
        else:
            delta = None if restart or self._last_in is None else timestamp - self._last_in
            if delta is None or delta <= 0 or delta > 5 * self._rate:
                delta = max(1, round((now - self._last_wall) * self._rate))
            out = (self._last_out + delta) & 0xFFFFFFFF
        self._last_in, self._last_out, self._last_wall = timestamp, out, now
        limit = MAX_VIDEO_QUEUE if self.kind == "video" else MAX_AUDIO_QUEUE
        if self._queue.qsize() >= limit:
            # the receiver's sender is not keeping up: drop what waits; video restarts at a keyframe
            self._drain()
            self.stats.resyncs += 1
            if self.kind == "video":
                return False
        self._queue.put_nowait(make_packet(data, out, self.kind))
        self.stats.frames += 1
        self.stats.bytes += len(data)
        return True

    def _drain(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            raise MediaStreamError
        return packet

    def stop(self) -> None:
        if self.readyState == "live":
            self._drain()
            self._queue.put_nowait(None)
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
    """Outputs by the source they forward now, and by the source they wait for."""

    current: dict[tuple[str, str], set[Output]] = field(default_factory=dict)
    pending: dict[tuple[str, str], set[Output]] = field(default_factory=dict)

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
        self._outputs.setdefault(receiver, []).extend(outputs)
        self.reroute()

    def remove_peer(self, peer: PeerId) -> None:
        """Forget a peer's downlinks and, for a venue, its uplinks (the peer is gone)."""
        if isinstance(peer, VenuePeer):
            for kind in ("video", "audio"):
                self._sources.pop((peer.venue, kind), None)
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
            self._routes.move("current", output, output.current, current)
            if current is not None and output.current is not None:
                output.stats.switches += 1
            output.current = current
            output.source_changed()
        if pending != output.pending:
            self._routes.move("pending", output, output.pending, pending)
            output.pending = pending

    # ------------------------------------------------------------ frames

    def on_frame(self, venue: str, kind: str, data: bytes, timestamp: int) -> None:
        """A complete encoded frame arrived from `venue`'s uplink."""
        key = (venue, kind)
        source = self._sources.get(key)
        if source is None:
            return
        source.frames += 1
        source.bytes += len(data)
        switched: set[Output] = set()
        waiting = self._routes.pending.get(key)
        if waiting and is_vp8_keyframe(data):
            switched = set(waiting)
            for output in switched:
                self._set_route(output, venue, None)
            if self._take is not None and self._take[0] == venue:
                self.observer.switched(venue, self.clock() - self._take[1])
                self._take = None
        receivers = list(self._routes.current.get(key, ()))
        fell_behind = [output for output in receivers if not output.push(data, timestamp, restart=output in switched)]
        if len(receivers) > len(fell_behind):
            sent = len(receivers) - len(fell_behind)
            self.observer.forwarded(kind, sent, sent * len(data))
        for output in fell_behind:
            self._set_route(output, None, venue)
            self.request_keyframe(venue)
        if fell_behind:
            self._ensure_retry()

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
