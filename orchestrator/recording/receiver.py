"""The recorder's client peer: the program received from the media plane like a venue receives it.

An aiortc peer connection in this process offers three receive-only m-lines (the
program's video, the program's audio, the main venue's audio) to
`MediaPlane.answer_recorder` (or, where the media plane offers downlinks, answers its
offer of those three, and any later offer), and connects to the media plane over the network (loopback
when the server offers loopback only), so any media plane can be recorded. Its receivers
are tapped (`aiortc_tap.tap_receiver`): they hand on encoded frames and never decode.
A connection that fails or closes is made again, after a short wait, until `stop()`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from ..i18n import N_, phrase
from ..logs import get_logger
from ..media.aiortc_tap import tap_receiver
from ..media.codec import prefer_codec
from ..media.plane import MediaPlane, OfferRejected, RecorderPeer
from .matroska import Track

log = get_logger(component="recording")

RECONNECT_S = 1.0
CONNECT_TIMEOUT_S = 15.0
OFFERED = (("video", Track.VIDEO), ("audio", Track.PROGRAM_AUDIO), ("audio", Track.MAIN_AUDIO))

FrameSink = Callable[[Track, bytes, int], None]
"""Gets each encoded frame: (track, data, RTP timestamp)."""


@dataclass(eq=False)
class _Run:
    """One stretch of receiving, from `start()` to `stop()`."""

    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    connecting: bool = False  # offering and answering: not to be cancelled (aioice would leave a socket open)
    task: asyncio.Task[None] | None = None


class ProgramReceiver:
    """Receives the program's encoded frames from the media plane until stopped."""

    def __init__(self, media: MediaPlane, on_frame: FrameSink, on_connection: Callable[[], None],
                 peer: RecorderPeer = RecorderPeer()):
        """`on_connection()` is called before the first frame of every new connection."""
        self.media = media
        self.peer = peer
        self._on_frame = on_frame
        self._on_connection = on_connection
        self._run: _Run | None = None
        self._stopping: asyncio.Task[None] | None = None
        self._renegotiating: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._run is not None

    def start(self) -> None:
        """Receive the program (after the previous connection, if one is stopping, has closed)."""
        if self._run is None:
            run = self._run = _Run()
            run.task = asyncio.ensure_future(self._receive(run, after=self._stopping))

    def stop(self) -> None:
        """Stop receiving (`stopped()` waits until the connection has closed)."""
        run, self._run = self._run, None
        if run is not None and run.task is not None:
            run.stopping.set()
            if not run.connecting:
                run.task.cancel()
            self._stopping = run.task

    async def stopped(self) -> None:
        await _finished(self._stopping)

    async def _receive(self, run: _Run, after: asyncio.Task[None] | None) -> None:
        await _finished(after)
        while not run.stopping.is_set():
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            try:
                run.connecting = True
                try:
                    await self._connect(pc)
                finally:
                    run.connecting = False
                if run.stopping.is_set():
                    return
                await self._until_gone(pc)
            except OfferRejected as exc:
                log.warning("recorder_offer_refused", reason=str(exc))
            except Exception:  # the program is received again after a pause
                log.exception("recorder_connection_failed")
            finally:
                self.connected.clear()
                if self._renegotiating is not None:
                    self._renegotiating.cancel()
                    await _finished(self._renegotiating)
                    self._renegotiating = None
                await _close(pc)
                with contextlib.suppress(Exception):
                    await self.media.close_peer(self.peer, "recorder stopped")
            await asyncio.sleep(RECONNECT_S)

    async def _connect(self, pc: RTCPeerConnection) -> None:
        self._on_connection()
        if self.media.downlink == "server_offer":
            await self._answer_offers(pc)
            return
        for kind, track in OFFERED:
            transceiver = pc.addTransceiver(kind, direction="recvonly")
            prefer_codec(transceiver)
            tap_receiver(transceiver.receiver, self._handler(track))
        await pc.setLocalDescription(await pc.createOffer())
        answer = await self.media.answer_recorder(self.peer, pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    async def _answer_offers(self, pc: RTCPeerConnection) -> None:
        """Answer the media plane's offer of the program; later offers (renegotiations) are answered
        by a task of this connection."""
        offers: asyncio.Queue[str] = asyncio.Queue()
        await self.media.open_downlink(self.peer, offers.put_nowait)
        await self._answer(pc, await asyncio.wait_for(offers.get(), CONNECT_TIMEOUT_S), first=True)

        async def renegotiate() -> None:
            while True:
                await self._answer(pc, await offers.get(), first=False)

        self._renegotiating = asyncio.ensure_future(renegotiate())

    async def _answer(self, pc: RTCPeerConnection, offer: str, first: bool) -> None:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        if first:
            transceivers = pc.getTransceivers()
            if [t.kind for t in transceivers] != [kind for kind, _ in OFFERED]:
                raise OfferRejected(phrase(N_("the media plane offered {kinds}, not the program's"), kinds=str([t.kind for t in transceivers])))
            for transceiver, (_, track) in zip(transceivers, OFFERED, strict=True):
                tap_receiver(transceiver.receiver, self._handler(track))
        await pc.setLocalDescription(await pc.createAnswer())
        await self.media.answer_downlink(self.peer, pc.localDescription.sdp)

    def _handler(self, track: Track) -> Callable[[RTCRtpCodecParameters, JitterFrame], None]:
        on_frame = self._on_frame

        def handle(codec: RTCRtpCodecParameters, frame: JitterFrame) -> None:
            on_frame(track, frame.data, frame.timestamp)

        return handle

    async def _until_gone(self, pc: RTCPeerConnection) -> None:
        """Wait while the connection is being made or holds; return when it failed or closed."""
        changed = asyncio.Event()
        pc.on("connectionstatechange", changed.set)
        deadline = asyncio.get_running_loop().time() + CONNECT_TIMEOUT_S
        while pc.connectionState not in ("failed", "closed"):
            if pc.connectionState == "connected" and not self.connected.is_set():
                self.connected.set()
                log.info("recorder_connected")
            changed.clear()
            wait = None if self.connected.is_set() else deadline - asyncio.get_running_loop().time()
            try:
                await asyncio.wait_for(changed.wait(), wait)
            except TimeoutError:
                log.warning("recorder_never_connected", after_s=CONNECT_TIMEOUT_S)
                return
        log.warning("recorder_disconnected", state=pc.connectionState)


async def _finished(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        await asyncio.gather(task, return_exceptions=True)


async def _close(pc: RTCPeerConnection) -> None:
    with contextlib.suppress(Exception):
        await pc.close()
