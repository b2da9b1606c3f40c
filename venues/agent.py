"""The venue agent: joins a session by its link, like a browser would.

It sends a camera and microphone (real devices, or `--synthetic` pre-encoded media that
carries the venue's mark), receives the program (on the same peer, or on a second one the
server offers, as its welcome says), decodes the program video and reads the
mark to know which venue it is seeing. As the main venue it also offers the wall slots the
server names and reads each tile's mark, so what the theatre's wall shows can be checked.
It answers the roll call after checking its own picture and sound: at once when every
venue checks itself, after `called_answer_delay_s` when it is called (on air, someone
stands up and says "present"). It reconnects with backoff and jitter when the server goes
away or the media cannot connect (then it says why, from the addresses the server offered).
It stops for good when its link is refused, and when the venue is opened elsewhere (a
second agent, or the venue page, on the same link: the newest connection keeps the venue).

With a log file it writes JSON lines: joined, on_air_seen (again after each reconnection),
caption, roll_call_prompt, roll_call_answered, disconnected, reconnected (and offer_sent,
program_started, segment, muted, restarting, error, no_media_path, replaced, refused,
broken_frame, awaiting_keyframe, downlink_answered where the server offers the program's
peer; the main venue's main_return, what its return shows, and tile_seen, the venue a wall
slot decodes, again after each reconnection). It decodes video as a browser does: a VP8
frame whose reference it has not decoded (its picture ID does not follow the last one) is
held back until a keyframe, which it asks for; awaiting_keyframe marks the first of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import tzinfo
from fractions import Fraction
from pathlib import Path
from ssl import SSLContext
from typing import IO, Any, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import av
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from orchestrator import protocol as p
from orchestrator.conference import RollCallMode
from orchestrator.logs import get_logger
from orchestrator.media.aiortc_tap import drop_outgoing_rtp, guard_vp8_chain, install_packer, tap_receiver
from orchestrator.media.codec import AUDIO_CLOCK, VIDEO_CLOCK, is_vp8_keyframe, make_packet

from .synthetic import LabelledPicture, MarkedVideo, ToneAudio, read_mark

log = get_logger(component="venue_agent")
M = TypeVar("M", p.Answer, p.DownlinkOffer)

VIDEO_TIME_BASE = Fraction(1, VIDEO_CLOCK)

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 8.0
STABLE_SESSION_S = 10.0  # media connected this long resets the backoff
CALLED_ANSWER_DELAY_S = 1.5  # a called venue answers this long after it is called
MEDIA_CONNECT_TIMEOUT_S = 15.0  # an offer whose media has not connected by then has no path

# exit statuses of `run()` (and of `orchestrator venue`)
EXIT_STOPPED = 0
EXIT_DISCONNECTED = 1  # only without reconnect
EXIT_REFUSED = 3
EXIT_REPLACED = 4
REPLACED_SENTENCE = "this venue was opened elsewhere; this agent stops"


class Refused(Exception):
    """The server refused this link (expired, forged, revoked...): retrying will not help."""


class Replaced(Exception):
    """The venue connected again from elsewhere (another agent, or the venue page): this
    agent gives the venue up rather than take it back, which would flap forever."""


class NoMediaPath(ConnectionError):
    """The media did not connect; the message says what the server offered and what to do."""


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def local_server_address(join_url: str) -> str | None:
    """The loopback address to offer media on when the link names this machine
    (127.0.0.1, ::1, localhost); None for another machine."""
    host = urlsplit(join_url).hostname or ""
    if not is_loopback(host):
        return None
    return "::1" if ":" in host else "127.0.0.1"


def candidate_addresses(sdp: str) -> list[str]:
    """The addresses of the ICE candidates in an SDP, in order, each once."""
    found: list[str] = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            if len(parts) >= 8 and parts[4] not in found:
                found.append(parts[4])
    return found


def explain_no_media_path(answer_sdp: str, offer_sdp: str) -> str:
    """Why the media could not connect, from the candidates of both sides, and what to do."""
    theirs, ours = candidate_addresses(answer_sdp), candidate_addresses(offer_sdp)
    if not theirs:
        return "no media path to the server: its answer offers no address; use TURN"
    listed = ", ".join(theirs)
    families = {":" in a for a in theirs}  # IPv6 or not
    if all(is_loopback(a) for a in theirs) and not any(is_loopback(a) and (":" in a) in families for a in ours):
        return f"no media path to the server: it offers only {listed}; run with --ice-address {theirs[0]} or use TURN"
    return (f"no media path to the server: it offers {listed} and this agent {', '.join(ours) or 'no address'}, "
            f"and no pair of them connected (UDP blocked?); use TURN")


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


KEYFRAME_INTERVAL_S = 0.1  # a looped track answers keyframe requests this often at most


class PacedTrack(MediaStreamTrack):
    """A track whose `recv` hands out one frame per period, paced in real time."""

    def __init__(self, kind: str, fps: float, clock_rate: int):
        super().__init__()
        self.kind = kind
        self.period = 1.0 / fps
        self.step = round(clock_rate / fps)
        self.sent = 0
        self._start: float | None = None
        self.began: float | None = None  # when the first frame was handed out (monotonic clock)

    async def _wait_turn(self) -> int:
        """Wait for the next frame's time; returns its timestamp (in the clock rate's units)."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = self.began = time.monotonic()
        wait = self._start + self.sent * self.period - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -1.0:  # fell far behind (e.g. the process was stopped): do not burst
            self._start = time.monotonic() - self.sent * self.period
        timestamp = self.sent * self.step
        self.sent += 1
        return timestamp


class LoopedTrack(PacedTrack):
    """Plays pre-encoded frames in a loop, paced in real time; restarts at frame 0 on a keyframe
    request, at most once per `KEYFRAME_INTERVAL_S`: the requests within it are answered together
    when it ends (a media server may ask once for each receiver it switches, as Janus does;
    answered frame by frame, such a burst would send nothing but keyframes)."""

    def __init__(self, kind: str, frames: list[bytes], fps: float, clock_rate: int):
        super().__init__(kind, fps, clock_rate)
        self.frames = frames
        self._next = 0
        self._asked = False
        self._quiet_until = float("-inf")

    def request_keyframe(self) -> None:
        self._asked = True

    async def recv(self):
        timestamp = await self._wait_turn()
        now = time.monotonic()
        if self._asked and now >= self._quiet_until:
            self._asked, self._next, self._quiet_until = False, 0, now + KEYFRAME_INTERVAL_S
        data = self.frames[self._next]
        self._next = (self._next + 1) % len(self.frames)
        return make_packet(data, timestamp, self.kind)


class PictureTrack(PacedTrack):
    """Plays a `LabelledPicture` (raw frames: the sender encodes them, and answers keyframe requests)."""

    def __init__(self, picture: LabelledPicture, fps: float):
        super().__init__("video", fps, VIDEO_CLOCK)
        self.picture = picture

    async def recv(self) -> av.VideoFrame:
        timestamp = await self._wait_turn()
        frame = self.picture.frame(time.time())
        frame.pts, frame.time_base = timestamp, VIDEO_TIME_BASE
        return frame


class LogSink(Protocol):
    """Where an agent writes its JSON lines: a file, or anything that writes and flushes."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...

@dataclass
class Media:
    """What the agent sends. Each connection gets fresh tracks (a closed peer ends its tracks)."""

    tracks: Callable[[], tuple[MediaStreamTrack, MediaStreamTrack]]  # (video, audio)
    check: Callable[[], tuple[bool, bool]]  # (picture ok, sound ok)
    preencoded: bool  # both tracks loop pre-encoded frames (a `LoopedTrack` of either is sent as it is)


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


def labelled_media(index: int, name: str, tz: tzinfo | None = None, width: int = 320, height: int = 180,
                   fps: int = 5) -> Media:
    """Synthetic media a person can watch: the venue's name and a running clock (in `tz`),
    the mark in a corner, encoded live (a few frames a second: only the clock moves)."""
    picture = LabelledPicture(index, name, width, height, tz)
    audio = ToneAudio(index)

    def check() -> tuple[bool, bool]:
        return read_mark(picture.frame(time.time())) == index, bool(audio.frames)

    def tracks() -> tuple[MediaStreamTrack, MediaStreamTrack]:
        return PictureTrack(picture, fps), LoopedTrack("audio", audio.frames, 50, AUDIO_CLOCK)

    return Media(tracks, check, preencoded=False)


def device_media(camera: str, microphone: str) -> Media:  # pragma: no cover - needs devices
    from aiortc.contrib.media import MediaPlayer

    players: list = []

    def tracks() -> tuple[MediaStreamTrack, MediaStreamTrack]:
        cam = MediaPlayer(camera, format="v4l2", options={"video_size": "640x360", "framerate": "30"})
        mic = MediaPlayer(microphone, format="alsa" if microphone.startswith("hw:") else "pulse")
        players[:] = [cam, mic]
        if cam.video is None or mic.audio is None:
            raise RuntimeError(f"no picture from {camera!r} or no sound from {microphone!r}")
        return cam.video, mic.audio

    def check() -> tuple[bool, bool]:
        cam, mic = players or (None, None)
        return bool(cam and cam.video and cam.video.readyState == "live"), bool(mic and mic.audio)

    return Media(tracks, check, preencoded=False)


@dataclass
class AgentStats:
    program_frames: int = 0
    program_keyframes: int = 0  # counted by light venues only (they read no picture)
    broken_frames: int = 0
    frames_awaiting_keyframe: int = 0  # video frames not decoded: their VP8 reference chain was broken
    audio_frames: int = 0
    sessions: int = 0
    seen: str | None = None
    marks: dict[str, int] = field(default_factory=dict)
    tiles: dict[int, str] = field(default_factory=dict)  # wall slot -> the venue it decodes now
    tile_frames: dict[int, int] = field(default_factory=dict)  # wall slot -> frames received
    tile_frames_per_second: dict[int, int] = field(default_factory=dict)  # unix second -> frames of every slot
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
        log_file: LogSink | None = None,
        loss_pct: float = 0.0,
        reconnect: bool = True,
        seed: int | None = None,
        ssl: SSLContext | None = None,
        relay_only: bool = False,
        decode_all: bool = True,
        answer_roll_call: bool = True,
        called_answer_delay_s: float = CALLED_ANSWER_DELAY_S,
    ):
        """`decode_all=False` decodes only the program's keyframes (every switch starts
        with one) and counts the other frames without decoding them: for benchmarks.
        `answer_roll_call=False`: it hears the roll call but never answers (a drill)."""
        self.ws_url, self.token = split_join_url(join_url)
        self.media_factory = media_factory
        self.log_file = log_file
        self.loss = loss_pct / 100.0
        self.reconnect = reconnect
        self.rng = random.Random(seed)
        self.ssl = ssl  # trust for https/wss join links (e.g. a private CA); None: the system's
        self.relay_only = relay_only  # ICE through the TURN server only (iceTransportPolicy 'relay')
        self.decode_all = decode_all
        self.answer_roll_call = answer_roll_call
        self.called_answer_delay_s = called_answer_delay_s
        self.stats = AgentStats()
        self.main_return: p.MainReturn | None = None  # the main venue: what its return shows
        self.pc: RTCPeerConnection | None = None
        self._downlink: RTCPeerConnection | None = None  # where the server offers the program's peer
        self._configuration = RTCConfiguration()
        self.venue: str | None = None
        self.venues: list[str] = []
        self.view: p.VenueView | None = None
        self.connected = asyncio.Event()
        self._media: Media | None = None
        self._stop = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._program: asyncio.Future | None = None
        self._watchers: set[asyncio.Future] = set()  # decoding the wall slots, answering a call
        self._microphone: tuple | None = None  # (sender, track)
        self._connected_at: float | None = None  # when this session's media connected
        self._no_media_path: NoMediaPath | None = None  # why this session's media did not connect

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
        """Join and stay joined until stopped. Returns EXIT_STOPPED when stopped,
        EXIT_REFUSED when the link is refused, EXIT_REPLACED when the venue was opened
        elsewhere (EXIT_DISCONNECTED when a session ends without `reconnect`)."""
        backoff = BACKOFF_START_S
        async with aiohttp.ClientSession() as http:
            while not self._stop.is_set():
                self._connected_at, self._no_media_path = None, None
                no_path = False
                try:
                    reason = await self._session(http)
                except Refused as exc:
                    self.emit("refused", message=str(exc))
                    log.error("venue_refused", message=str(exc))
                    return EXIT_REFUSED
                except Replaced as exc:
                    self.connected.clear()
                    self.emit("replaced", message=str(exc))
                    log.error("venue_replaced", venue=self.venue, message=REPLACED_SENTENCE, server=str(exc))
                    return EXIT_REPLACED
                except NoMediaPath as exc:
                    reason, no_path = str(exc), True
                except (TimeoutError, aiohttp.ClientError, OSError, ConnectionError) as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                if self._stop.is_set():
                    break
                if self.connected.is_set():
                    self.emit("disconnected", reason=reason)
                self.connected.clear()
                if not self.reconnect:
                    return EXIT_DISCONNECTED
                if self._connected_at is not None and time.monotonic() - self._connected_at > STABLE_SESSION_S:
                    backoff = BACKOFF_START_S
                delay = self.rng.uniform(backoff / 2, backoff)  # jitter: venues do not rejoin in step
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                if no_path:
                    self.emit("no_media_path", message=reason, retry_in_s=round(delay, 2))
                    log.error("venue_no_media_path", venue=self.venue, message=reason, retry_in_s=round(delay, 2))
                else:
                    log.info("venue_reconnecting", venue=self.venue, delay_s=round(delay, 2), reason=reason)
                try:
                    await asyncio.wait_for(self._stop.wait(), delay)
                except TimeoutError:
                    pass
        return EXIT_STOPPED

    async def _session(self, http: aiohttp.ClientSession) -> str:
        async with http.ws_connect(self.ws_url, heartbeat=None, max_msg_size=1 << 20, timeout=aiohttp.ClientWSTimeout(ws_close=2),
                                   ssl=self.ssl if self.ssl is not None else True) as ws:
            self._ws = ws
            await self._send(ws, p.Hello(token=self.token, client="venue-agent"))
            welcome = await self._receive(ws, timeout=10)
            if isinstance(welcome, p.ErrorMessage):
                raise Refused(welcome.message)
            if not isinstance(welcome, p.Welcome):
                raise ConnectionError(f"unexpected first message {welcome.type!r}")
            self.venue = welcome.venue.id
            self.venues = list(welcome.venues)
            if self._media is None:
                self._media = self.media_factory(welcome.venue_index)
            pc, answer = await self._connect_peer(ws, welcome)
            tasks = [
                asyncio.ensure_future(self._heartbeat(ws, welcome.heartbeat_s)),
                asyncio.ensure_future(self._watch_peer(pc, answer)),
            ]
            try:
                reason = await self._messages(ws, pc)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await pc.close()
                if self._downlink is not None:
                    downlink, self._downlink = self._downlink, None
                    await downlink.close()
                self._ws = None
            if self._no_media_path is not None:
                raise self._no_media_path
            return reason

    async def _receive(self, ws, timeout: float) -> p.ToVenueMessage:
        msg = await asyncio.wait_for(ws.receive(), timeout)
        if msg.type != aiohttp.WSMsgType.TEXT:
            if ws.close_code == p.CLOSE_REPLACED:
                raise Replaced("this venue connected again from elsewhere")
            raise ConnectionError(f"the server closed the connection ({ws.close_code})")
        return self._parse(msg.data)

    @staticmethod
    def _parse(text: str) -> p.ToVenueMessage:
        try:
            return p.parse(p.to_venue_adapter, text)
        except p.BadMessage as exc:
            raise ConnectionError(f"the server sent a message this agent does not understand: {exc}") from None

    @property
    def media(self) -> Media:
        """What this venue sends; made at the first welcome, when the venue's index is known."""
        assert self._media is not None, "no media before the server's welcome"
        return self._media

    @staticmethod
    async def _send(ws, message: p.VenueMessage) -> None:
        await ws.send_json(p.wire(message))

    async def _connect_peer(self, ws, welcome: p.Welcome) -> tuple[RTCPeerConnection, str]:
        """Offer the venue's peer and apply the answer. Where the server offers the downlink
        (`welcome.downlink`), this peer only sends, and the downlink's first offer is answered too."""
        ice = [RTCIceServer(urls=s.urls, username=s.username, credential=s.credential) for s in welcome.ice_servers]
        policy = RTCIceTransportPolicy.RELAY if self.relay_only else RTCIceTransportPolicy.ALL
        self._configuration = RTCConfiguration(iceServers=ice, iceTransportPolicy=policy)
        separate = welcome.downlink == "server_offer"
        pc = RTCPeerConnection(self._configuration)
        video_t, audio_t = self._add_camera_and_microphone(pc, "sendonly" if separate else "sendrecv")
        self._mute_at_source(bool(self.view and self.view.muted))
        self.pc = pc
        self.stats.seen = None  # a new program: its first decoded frame is logged as on_air_seen
        self.stats.tiles = {}
        receivers: list[RTCRtpReceiver] = []
        if not separate:
            main_t = pc.addTransceiver("audio", direction="recvonly")
            wall = [pc.addTransceiver("video", direction="recvonly") for _ in range(welcome.wall_slots)]
            receivers = [video_t.receiver, audio_t.receiver, main_t.receiver, *(t.receiver for t in wall)]
            self._tap_program(receivers)
        await pc.setLocalDescription(await pc.createOffer())
        await self._send(ws, p.Offer(sdp=pc.localDescription.sdp))
        self.emit("offer_sent")
        answer = await self._expect(ws, p.Answer, pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))
        if self.loss > 0:
            drop_outgoing_rtp(video_t.sender.transport, self.loss, self.rng)
        if separate:
            await self._answer_downlink(ws, (await self._expect(ws, p.DownlinkOffer, pc)).sdp)
        else:
            self._decode_program(receivers)
        return pc, answer.sdp

    def _add_camera_and_microphone(self, pc: RTCPeerConnection, direction: str
                                   ) -> tuple[RTCRtpTransceiver, RTCRtpTransceiver]:
        """The venue's camera and microphone transceivers on `pc` (in the protocol's order: video, then audio)."""
        video, audio = self.media.tracks()
        video_t = pc.addTransceiver(video, direction=direction)
        audio_t = pc.addTransceiver(audio, direction=direction)
        if self.media.preencoded:
            assert isinstance(video, LoopedTrack), "pre-encoded media loops its frames"
        if isinstance(video, LoopedTrack):  # a pre-encoded track is packetized as it is
            install_packer(video_t.sender, video.request_keyframe)
        if isinstance(audio, LoopedTrack):
            install_packer(audio_t.sender, lambda: None)
        self._microphone = (audio_t.sender, audio)
        return video_t, audio_t

    async def _expect(self, ws, kind: type[M], pc: RTCPeerConnection) -> M:
        """The next message of `kind` (others are handled meanwhile); a refusal ends the session."""
        while True:
            msg = await self._receive(ws, timeout=15)
            if isinstance(msg, kind):
                return msg
            if isinstance(msg, p.ErrorMessage):
                await pc.close()
                raise ConnectionError(f"offer refused: {msg.message}")
            if isinstance(msg, p.Replaced):
                await pc.close()
                raise Replaced(msg.message)
            self._on_message(msg)

    def _tap_program(self, receivers: list[RTCRtpReceiver]) -> None:
        """Count the program's audio and, without `decode_all`, read its video's keyframes (with
        it, let only the video frames a browser could decode reach the decoders); the
        receivers in the protocol's order: program video, program audio, the main venue's audio,
        then the wall slots. Done before the peer connects."""
        video, *audio_and_wall = receivers
        audio, wall = audio_and_wall[:2], audio_and_wall[2:]
        for receiver in audio:
            tap_receiver(receiver, self._count_audio)
        if not self.decode_all:
            tap_receiver(video, self._keyframes_only(self._saw))
            for slot, receiver in enumerate(wall):
                tap_receiver(receiver, self._keyframes_only(functools.partial(self._saw_tile, slot),
                                                            functools.partial(self._count_tile, slot)))
            return
        # decode as a browser does: a frame whose reference is missing waits for a keyframe
        guard_vp8_chain(video, functools.partial(self._held, None))
        for slot, receiver in enumerate(wall):
            guard_vp8_chain(receiver, functools.partial(self._held, slot))

    def _decode_program(self, receivers: list[RTCRtpReceiver]) -> None:
        """With `decode_all`, decode the program video and the wall slots (once the remote
        description gave the receivers their tracks)."""
        if not self.decode_all:
            return
        video, wall = receivers[0], receivers[3:]
        self._program = asyncio.ensure_future(self._watch_program(video.track, self._saw))
        for slot, receiver in enumerate(wall):
            self._watch(self._watch_program(receiver.track, functools.partial(self._saw_tile, slot)))

    async def _answer_downlink(self, ws, offer: str) -> None:
        """Answer the server's downlink offer: the first makes the downlink peer, later ones renegotiate it."""
        first = self._downlink is None
        if self._downlink is None:
            self._downlink = RTCPeerConnection(self._configuration)
        downlink = self._downlink
        await downlink.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        if first:
            receivers = [t.receiver for t in downlink.getTransceivers()]
            self._tap_program(receivers)
            self._decode_program(receivers)
        await downlink.setLocalDescription(await downlink.createAnswer())
        await self._send(ws, p.DownlinkAnswer(sdp=downlink.localDescription.sdp))
        self.emit("downlink_answered", renegotiation=not first)

    def _mute_at_source(self, muted: bool) -> None:
        """A muted venue stops sending its microphone (the server would drop it anyway)."""
        if self._microphone is not None:
            sender, track = self._microphone
            sender.replaceTrack(None if muted else track)

    def _count_audio(self, codec, frame) -> None:
        self.stats.audio_frames += 1

    async def _watch_peer(self, pc: RTCPeerConnection, answer_sdp: str) -> None:
        """Follow the media connection; a failure, or no connection within
        MEDIA_CONNECT_TIMEOUT_S, ends the session with the reason (NoMediaPath)."""
        changed = asyncio.Event()
        pc.on("connectionstatechange", changed.set)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(MEDIA_CONNECT_TIMEOUT_S):
                while pc.connectionState not in ("connected", "failed", "closed"):
                    changed.clear()
                    await changed.wait()
        if pc.connectionState != "connected":
            self._no_media_path = NoMediaPath(explain_no_media_path(answer_sdp, pc.localDescription.sdp))
            await self._close_socket()
            return
        self._connected_at = time.monotonic()
        self.stats.sessions += 1
        self.connected.set()
        self.emit("joined" if self.stats.sessions == 1 else "reconnected", venue=self.venue)
        log.info("venue_joined", venue=self.venue)
        while pc.connectionState == "connected":
            changed.clear()
            await changed.wait()
        await self._close_socket()  # media gone: start over with a new peer

    async def _close_socket(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()

    async def _watch_program(self, track: MediaStreamTrack, saw: Callable[[int | None], None]) -> None:
        """Decode `track` (the program, or a wall slot) and read each frame's mark."""
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, av.VideoFrame):
                    saw(read_mark(frame))
        except MediaStreamError:
            return

    def _keyframes_only(self, saw: Callable[[int | None], None], count: Callable[[], None] | None = None):
        decoder = av.CodecContext.create("libvpx", "r")

        def on_frame(codec, frame) -> None:
            if is_vp8_keyframe(frame.data):
                for picture in decoder.decode(av.Packet(frame.data)):
                    saw(read_mark(picture))
            else:
                (count or self._program_frame)()

        return on_frame

    def _program_frame(self) -> None:
        """One program frame came (the first: the program started, whether or not it is a keyframe)."""
        if self.stats.program_frames == 0:
            self.emit("program_started")
        self.stats.count_frame()

    def _saw(self, index: int | None) -> None:
        """One decoded program frame showed the mark `index` (None: unreadable)."""
        self._program_frame()
        if index is None or index >= len(self.venues):
            self.stats.broken_frames += 1
            self.emit("broken_frame", seen=self.stats.seen)
            return
        venue = self.venues[index]
        self.stats.marks[venue] = self.stats.marks.get(venue, 0) + 1
        if venue != self.stats.seen:
            self.stats.seen = venue
            self.emit("on_air_seen", venue=venue)

    def _watch(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` for this session (cancelled when it ends; forgotten once done)."""
        task = asyncio.ensure_future(coro)
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    def _held(self, slot: int | None, first: bool) -> None:
        """A frame of the program (`slot` None) or of a wall slot was not decoded: it does not
        follow the last decoded one (a switch without a keyframe, a lost frame)."""
        self.stats.frames_awaiting_keyframe += 1
        if first:
            if slot is None:
                self.emit("awaiting_keyframe", seen=self.stats.seen)
            else:
                self.emit("awaiting_keyframe", slot=slot, seen=self.stats.tiles.get(slot))

    def _count_tile(self, slot: int) -> None:
        stats = self.stats
        stats.tile_frames[slot] = stats.tile_frames.get(slot, 0) + 1
        second = int(time.time())
        stats.tile_frames_per_second[second] = stats.tile_frames_per_second.get(second, 0) + 1

    def _saw_tile(self, slot: int, index: int | None) -> None:
        """One decoded frame of wall slot `slot` showed the mark `index` (None: unreadable)."""
        self._count_tile(slot)
        if index is None or index >= len(self.venues):
            self.stats.broken_frames += 1
            self.emit("broken_frame", slot=slot, seen=self.stats.tiles.get(slot))
            return
        venue = self.venues[index]
        if self.stats.tiles.get(slot) != venue:
            self.stats.tiles[slot] = venue
            self.emit("tile_seen", slot=slot, venue=venue)

    async def _answer_roll_call(self, ws, prompt: p.RollCallPrompt) -> None:
        """Check the picture and sound and answer (a called venue first takes its moment on air)."""
        if prompt.mode is RollCallMode.CALLED:
            await asyncio.sleep(self.called_answer_delay_s)
        picture_ok, sound_ok = self.media.check()
        try:
            await self._send(ws, p.RollCallAnswer(picture_ok=picture_ok, sound_ok=sound_ok))
        except (ConnectionError, RuntimeError) as exc:  # the socket went away meanwhile
            log.info("venue_roll_call_answer_lost", venue=self.venue, error=str(exc))
            return
        self.emit("roll_call_answered", picture_ok=picture_ok, sound_ok=sound_ok)

    async def _heartbeat(self, ws, interval: float) -> None:
        while not ws.closed:
            await self._send(ws, p.Heartbeat())
            await asyncio.sleep(interval)

    async def _messages(self, ws, pc: RTCPeerConnection) -> str:
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                data = self._parse(msg.data)
                if isinstance(data, p.Replaced):
                    raise Replaced(data.message)
                if isinstance(data, p.Restarting):
                    self.emit("restarting", message=data.message)
                elif isinstance(data, p.DownlinkOffer):
                    await self._answer_downlink(ws, data.sdp)
                elif isinstance(data, p.RollCallPrompt):
                    self.emit("roll_call_prompt", segment=data.segment, mode=data.mode.value, left_s=data.left_s)
                    if self.answer_roll_call:
                        self._watch(self._answer_roll_call(ws, data))
                else:
                    self._on_message(data)
        finally:
            if self._program is not None:
                self._program.cancel()
            watchers, self._watchers = self._watchers, set()
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
        if ws.close_code == p.CLOSE_REPLACED:
            raise Replaced("this venue connected again from elsewhere")
        return f"socket closed ({ws.close_code})"

    def _on_message(self, msg: p.ToVenueMessage) -> None:
        if isinstance(msg, p.VenueView):
            before = self.view
            if msg.caption is not None and (before is None or msg.caption != before.caption):
                self.emit("caption", **msg.caption.model_dump(mode="json"))
            if msg.segment is not None and (before is None or msg.segment != before.segment):
                self.emit("segment", segment=msg.segment.id)
            if before is None or msg.muted != before.muted:
                self.emit("muted", muted=msg.muted)
                self._mute_at_source(msg.muted)
            self.view = msg
        elif isinstance(msg, p.MainReturn):
            self.main_return = msg
            self.emit("main_return", mode=msg.mode.value, shows=msg.shows.value, venue=msg.venue,
                      layout=msg.layout.value if msg.layout else None, tiles=[t.venue for t in msg.tiles],
                      page=msg.page, pages=msg.pages)
        elif isinstance(msg, p.ErrorMessage):
            self.emit("error", code=msg.code, message=msg.message)
            log.warning("venue_server_error", venue=self.venue, code=msg.code, message=msg.message)

    # ------------------------------------------------------------ requests

    async def send(self, message: p.VenueMessage) -> None:
        if self._ws is None or self._ws.closed:
            raise ConnectionError("not connected")
        await self._send(self._ws, message)


def open_log(path: str | None) -> IO[str] | None:
    if path is None:
        return None
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return open(path, "a", buffering=1, encoding="utf-8")
