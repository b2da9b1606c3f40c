"""The venue agent: joins a session by its link, like a browser would.

It sends a camera and microphone (real devices, or `--synthetic` pre-encoded media that
carries the venue's mark), receives the program, decodes the program video and reads the
mark to know which venue it is seeing. It answers the roll call after checking its own
picture and sound, and reconnects with backoff and jitter when the server goes away.

With a log file it writes JSON lines: joined, on_air_seen, caption, roll_call_prompt,
roll_call_answered, disconnected, reconnected (and state, error, refused).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from ssl import SSLContext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import av
from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransportPolicy, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from orchestrator.logs import get_logger
from orchestrator.media.aiortc_tap import drop_outgoing_rtp, install_packer, tap_receiver
from orchestrator.media.codec import AUDIO_CLOCK, VIDEO_CLOCK, is_vp8_keyframe, make_packet

from .synthetic import MarkedVideo, ToneAudio, read_mark

log = get_logger(component="venue_agent")

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 8.0
STABLE_SESSION_S = 10.0  # a session this long resets the backoff


class Refused(Exception):
    """The server refused this link (expired, forged, revoked...): retrying will not help."""


def split_join_url(url: str) -> tuple[str, str]:
    """'https://host/join#TOKEN' -> ('wss://host/ws/venue', 'TOKEN')."""
    parts = urlsplit(url)
    if not parts.fragment:
        raise ValueError("the join link has no token (it should end with #<token>)")
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"the join link must start with http:// or https://, not {parts.scheme}://")
    path = parts.path.rsplit("/join", 1)[0] + "/ws/venue"
    return urlunsplit((scheme, parts.netloc, path, "", "")), parts.fragment


class LoopedTrack(MediaStreamTrack):
    """Plays pre-encoded frames in a loop, paced in real time; restarts at frame 0 on a keyframe request."""

    def __init__(self, kind: str, frames: list[bytes], fps: float, clock_rate: int):
        super().__init__()
        self.kind = kind
        self.frames = frames
        self.period = 1.0 / fps
        self.step = round(clock_rate / fps)
        self.sent = 0
        self._next = 0
        self._start: float | None = None

    def request_keyframe(self) -> None:
        self._next = 0

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self.sent * self.period - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -1.0:  # fell far behind (e.g. the process was stopped): do not burst
            self._start = time.monotonic() - self.sent * self.period
        data = self.frames[self._next]
        self._next = (self._next + 1) % len(self.frames)
        packet = make_packet(data, self.sent * self.step, self.kind)
        self.sent += 1
        return packet


@dataclass
class Media:
    """What the agent sends. Each connection gets fresh tracks (a closed peer ends its tracks)."""

    tracks: Callable[[], tuple[MediaStreamTrack, MediaStreamTrack]]  # (video, audio)
    check: Callable[[], tuple[bool, bool]]  # (picture ok, sound ok)
    preencoded: bool


def synthetic_media(
    index: int, width: int = 320, height: int = 180, fps: int = 15, bitrate: int = 300_000, noise: bool = False
) -> Media:
    video = MarkedVideo(index, width, height, fps, loop_frames=2 * fps, bitrate=bitrate, noise=noise)
    audio = ToneAudio(index)

    def check() -> tuple[bool, bool]:
        decoder = av.CodecContext.create("libvpx", "r")
        picture = [read_mark(f) for f in decoder.decode(av.Packet(video.frames[0]))]
        sound_decoder = av.CodecContext.create("libopus", "r")
        samples = [f for p in audio.frames[:5] for f in sound_decoder.decode(av.Packet(p))]
        return picture == [index], sum(f.samples for f in samples) > 0

    def tracks() -> tuple[MediaStreamTrack, MediaStreamTrack]:
        return LoopedTrack("video", video.frames, fps, VIDEO_CLOCK), LoopedTrack("audio", audio.frames, 50, AUDIO_CLOCK)

    return Media(tracks, check, preencoded=True)


def device_media(camera: str, microphone: str) -> Media:  # pragma: no cover - needs devices
    from aiortc.contrib.media import MediaPlayer

    players: list = []

    def tracks() -> tuple[MediaStreamTrack, MediaStreamTrack]:
        cam = MediaPlayer(camera, format="v4l2", options={"video_size": "640x360", "framerate": "30"})
        mic = MediaPlayer(microphone, format="alsa" if microphone.startswith("hw:") else "pulse")
        players[:] = [cam, mic]
        return cam.video, mic.audio

    def check() -> tuple[bool, bool]:
        cam, mic = players or (None, None)
        return bool(cam and cam.video and cam.video.readyState == "live"), bool(mic and mic.audio)

    return Media(tracks, check, preencoded=False)


@dataclass
class AgentStats:
    program_frames: int = 0
    broken_frames: int = 0
    audio_frames: int = 0
    sessions: int = 0
    seen: str | None = None
    marks: dict[str, int] = field(default_factory=dict)
    frames_per_second: dict[int, int] = field(default_factory=dict)  # unix second -> program frames

    def count_frame(self) -> None:
        self.program_frames += 1
        second = int(time.time())
        self.frames_per_second[second] = self.frames_per_second.get(second, 0) + 1


class VenueAgent:
    def __init__(
        self,
        join_url: str,
        media_factory: Callable[[int], Media] = synthetic_media,
        log_file: IO[str] | None = None,
        loss_pct: float = 0.0,
        reconnect: bool = True,
        seed: int | None = None,
        ssl: SSLContext | None = None,
        relay_only: bool = False,
        decode_all: bool = True,
    ):
        """`decode_all=False` decodes only the program's keyframes (every switch starts
        with one) and counts the other frames without decoding them: for benchmarks."""
        self.ws_url, self.token = split_join_url(join_url)
        self.media_factory = media_factory
        self.log_file = log_file
        self.loss = loss_pct / 100.0
        self.reconnect = reconnect
        self.rng = random.Random(seed)
        self.ssl = ssl  # trust for https/wss join links (e.g. a private CA); None: the system's
        self.relay_only = relay_only  # ICE through the TURN server only (iceTransportPolicy 'relay')
        self.decode_all = decode_all
        self.stats = AgentStats()
        self.pc: RTCPeerConnection | None = None
        self.venue: str | None = None
        self.venues: list[str] = []
        self.view: dict[str, Any] = {}
        self.connected = asyncio.Event()
        self._media: Media | None = None
        self._stop = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._program: asyncio.Future | None = None
        self._microphone: tuple | None = None  # (sender, track)

    # ------------------------------------------------------------ log

    def emit(self, event: str, **fields: Any) -> None:
        if self.log_file is not None:
            self.log_file.write(json.dumps({"ts": time.time(), "event": event, **fields}) + "\n")
            self.log_file.flush()

    # ------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        self._stop.set()
        if self._ws is not None and not self._ws.closed:
            self._closing = asyncio.ensure_future(self._ws.close())

    async def run(self) -> int:
        """Join and stay joined until stopped; 0 when stopped, 3 when the link is refused."""
        backoff = BACKOFF_START_S
        first = True
        async with aiohttp.ClientSession() as http:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    reason = await self._session(http, first)
                except Refused as exc:
                    self.emit("refused", message=str(exc))
                    log.error("venue_refused", message=str(exc))
                    return 3
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ConnectionError) as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                if self._stop.is_set():
                    break
                if self.connected.is_set():
                    self.emit("disconnected", reason=reason)
                self.connected.clear()
                if not self.reconnect:
                    return 1
                first = False
                if time.monotonic() - started > STABLE_SESSION_S:
                    backoff = BACKOFF_START_S
                delay = self.rng.uniform(backoff / 2, backoff)  # jitter: venues do not rejoin in step
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                log.info("venue_reconnecting", venue=self.venue, delay_s=round(delay, 2), reason=reason)
                try:
                    await asyncio.wait_for(self._stop.wait(), delay)
                except asyncio.TimeoutError:
                    pass
        return 0

    async def _session(self, http: aiohttp.ClientSession, first: bool) -> str:
        async with http.ws_connect(self.ws_url, heartbeat=None, max_msg_size=1 << 20, timeout=aiohttp.ClientWSTimeout(ws_close=2),
                                   ssl=self.ssl if self.ssl is not None else True) as ws:
            self._ws = ws
            await ws.send_json({"type": "hello", "token": self.token, "client": "venue-agent"})
            welcome = await self._receive(ws, timeout=10)
            if welcome.get("type") == "error":
                raise Refused(welcome.get("message", "refused"))
            if welcome.get("type") != "welcome":
                raise ConnectionError(f"unexpected first message {welcome.get('type')!r}")
            self.venue = welcome["venue"]["id"]
            self.venues = list(welcome["venues"])
            if self._media is None:
                self._media = self.media_factory(welcome["venue_index"])
            pc = await self._connect_peer(ws, welcome)
            tasks = [
                asyncio.ensure_future(self._heartbeat(ws, welcome.get("heartbeat_s", 1.0))),
                asyncio.ensure_future(self._watch_peer(pc)),
            ]
            try:
                return await self._messages(ws, pc, first)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await pc.close()
                self._ws = None

    async def _receive(self, ws, timeout: float) -> dict:
        msg = await asyncio.wait_for(ws.receive(), timeout)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"the server closed the connection ({ws.close_code})")
        return json.loads(msg.data)

    async def _connect_peer(self, ws, welcome: dict) -> RTCPeerConnection:
        ice = [RTCIceServer(**{k: v for k, v in s.items() if k in ("urls", "username", "credential")}) for s in welcome.get("ice_servers", [])]
        policy = RTCIceTransportPolicy.RELAY if self.relay_only else RTCIceTransportPolicy.ALL
        pc = RTCPeerConnection(RTCConfiguration(iceServers=ice, iceTransportPolicy=policy))
        video, audio = self._media.tracks()
        video_t = pc.addTransceiver(video, direction="sendrecv")
        audio_t = pc.addTransceiver(audio, direction="sendrecv")
        main_t = pc.addTransceiver("audio", direction="recvonly")
        if self._media.preencoded:
            install_packer(video_t.sender, video.request_keyframe)
            install_packer(audio_t.sender, lambda: None)
        self._microphone = (audio_t.sender, audio)
        self._mute_at_source(bool(self.view.get("muted")))
        for t in (audio_t, main_t):
            tap_receiver(t.receiver, self._count_audio)
        if not self.decode_all:
            tap_receiver(video_t.receiver, self._keyframes_only())
        self.pc = pc
        await pc.setLocalDescription(await pc.createOffer())
        await ws.send_json({"type": "offer", "sdp": pc.localDescription.sdp})
        self.emit("offer_sent")
        while True:
            msg = await self._receive(ws, timeout=15)
            if msg.get("type") == "answer":
                break
            if msg.get("type") == "error":
                await pc.close()
                raise ConnectionError(f"offer refused: {msg.get('message')}")
            self._on_message(msg)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=msg["sdp"], type="answer"))
        if self.loss > 0:
            drop_outgoing_rtp(video_t.sender.transport, self.loss, self.rng)
        if self.decode_all:
            self._program = asyncio.ensure_future(self._watch_program(video_t.receiver.track))
        return pc

    def _mute_at_source(self, muted: bool) -> None:
        """A muted venue stops sending its microphone (the server would drop it anyway)."""
        if self._microphone is not None:
            sender, track = self._microphone
            sender.replaceTrack(None if muted else track)

    def _count_audio(self, codec, frame) -> None:
        self.stats.audio_frames += 1

    async def _watch_peer(self, pc: RTCPeerConnection) -> None:
        while pc.connectionState not in ("connected", "failed", "closed"):
            await asyncio.sleep(0.05)
        if pc.connectionState == "connected":
            self.stats.sessions += 1
            self.connected.set()
            self.emit("joined" if self.stats.sessions == 1 else "reconnected", venue=self.venue)
            log.info("venue_joined", venue=self.venue)
        while pc.connectionState == "connected":
            await asyncio.sleep(0.2)
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()  # media gone: start over with a new peer

    async def _watch_program(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                self._saw(read_mark(await track.recv()))
        except MediaStreamError:
            return

    def _keyframes_only(self):
        decoder = av.CodecContext.create("libvpx", "r")

        def on_frame(codec, frame) -> None:
            if is_vp8_keyframe(frame.data):
                for picture in decoder.decode(av.Packet(frame.data)):
                    self._saw(read_mark(picture))
            else:
                self.stats.count_frame()

        return on_frame

    def _saw(self, index: int | None) -> None:
        """One decoded program frame showed the mark `index` (None: unreadable)."""
        if self.stats.program_frames == 0:
            self.emit("program_started")
        self.stats.count_frame()
        if index is None or index >= len(self.venues):
            self.stats.broken_frames += 1
            self.emit("broken_frame", seen=self.stats.seen)
            return
        venue = self.venues[index]
        self.stats.marks[venue] = self.stats.marks.get(venue, 0) + 1
        if venue != self.stats.seen:
            self.stats.seen = venue
            self.emit("on_air_seen", venue=venue)

    async def _heartbeat(self, ws, interval: float) -> None:
        while not ws.closed:
            await ws.send_json({"type": "heartbeat"})
            await asyncio.sleep(interval)

    async def _messages(self, ws, pc: RTCPeerConnection, first: bool) -> str:
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                data = json.loads(msg.data)
                kind = data.get("type")
                if kind in ("replaced", "restarting"):
                    self.emit(kind, message=data.get("message"))
                elif kind == "roll_call_prompt":
                    self.emit("roll_call_prompt", segment=data.get("segment"))
                    picture_ok, sound_ok = self._media.check()
                    await ws.send_json({"type": "roll_call_answer", "picture_ok": picture_ok, "sound_ok": sound_ok})
                    self.emit("roll_call_answered", picture_ok=picture_ok, sound_ok=sound_ok)
                else:
                    self._on_message(data)
        finally:
            if self._program is not None:
                self._program.cancel()
        return f"socket closed ({ws.close_code})"

    def _on_message(self, data: dict) -> None:
        kind = data.get("type")
        if kind == "state":
            if data.get("caption") != self.view.get("caption") and data.get("caption"):
                self.emit("caption", **data["caption"])
            if data.get("segment") != self.view.get("segment") and data.get("segment"):
                self.emit("segment", segment=data["segment"]["id"])
            if data.get("muted") != self.view.get("muted"):
                self.emit("muted", muted=data.get("muted"))
                self._mute_at_source(bool(data.get("muted")))
            self.view = data
        elif kind == "error":
            self.emit("error", code=data.get("code"), message=data.get("message"))
            log.warning("venue_server_error", venue=self.venue, message=data.get("message"))

    # ------------------------------------------------------------ requests

    async def send(self, message: dict) -> None:
        if self._ws is None or self._ws.closed:
            raise ConnectionError("not connected")
        await self._ws.send_json(message)


def open_log(path: str | None) -> IO[str] | None:
    if path is None:
        return None
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return open(path, "a", buffering=1, encoding="utf-8")
