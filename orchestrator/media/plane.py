"""The media plane as the rest of the orchestrator sees it: one protocol, whoever implements it.

The session runtime, the web layer and the rehearsal speak to the media through
`MediaPlane` only. Two implementations exist: the embedded SFU (`sfu.MediaServer`, the
default: encoded frames forwarded, nothing decoded) and the transcoding baseline
(`baseline.TranscodingMediaServer`, for the benchmark). `orchestrator.media.create_media_plane`
picks one.

Peers are keyed by typed ids, never by bare strings: a venue's peer (`VenuePeer`), an
operator console's monitor peer (`MonitorPeer`) and the program recorder's peer
(`RecorderPeer`) can never be mistaken for each other, whatever a venue is called.

Presence flows the other way: the plane tells its `MediaPresence` (given when the plane is
made) when a venue's media connects and when it goes away; and, for monitoring, its
`MediaObserver` how long switches took and what was forwarded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from ..i18n import Language, Phrase, phrase

MAX_WALL_SLOTS = 16  # receive-only video m-lines the main venue may offer for its wall (4x4)
MAX_MONITOR_SLOTS = 18  # video slots of one console's monitor peer: program, preview and a wall page of 16
PREVIEW_SLOT = 1  # the monitor slot where a console shows its preview (the venue the operator may take next)

@dataclass(frozen=True)
class VenuePeer:
    """The peer connection of venue `venue` (its camera and microphone up, the program down;
    the main venue's may also have wall slots: receive-only video, one tile each)."""

    venue: str

    def __str__(self) -> str:
        return f"venue {self.venue}"


@dataclass(frozen=True)
class MonitorPeer:
    """The monitor peer of operator console number `number` (receive-only video slots)."""

    number: int

    def __str__(self) -> str:
        return f"monitor {self.number}"


@dataclass(frozen=True)
class RecorderPeer:
    """The program recorder's peer: it receives what a venue off air receives, and sends nothing."""

    number: int = 1

    def __str__(self) -> str:
        return f"recorder {self.number}"


PeerId = VenuePeer | MonitorPeer | RecorderPeer

Downlink = Literal["same_peer", "server_offer"]
"""How a venue receives the program: on the peer it offers (`same_peer`: it offers its camera
and microphone sending and receiving, plus receive-only lines), or on a second peer the
server offers (`server_offer`: the venue offers its camera and microphone send-only, then
answers the server's downlink offer, and any later one for that peer)."""

ProgramSnapshot = dict[str, dict[str, str | None]]
"""Who each venue receives now: {venue: {role: source venue or None}}."""


class OfferRejected(ValueError):
    """An SDP offer (or answer) the media plane will not take; `said` says why (the
    exception's text is its English)."""

    def __init__(self, said: Phrase | str):
        self.said = said if isinstance(said, Phrase) else phrase("{message}", message=said)
        super().__init__(self.said.say())

    def text(self, lang: Language = "en") -> str:
        """Why, in `lang`."""
        return self.said.say(lang)


@dataclass(frozen=True)
class LinkStats:
    """One venue's link as the server measures it, over the last sampling period."""

    bitrate_in_kbps: float = 0.0
    bitrate_out_kbps: float = 0.0
    loss_pct: float = 0.0
    rtt_ms: float | None = None
    fps_in: float | None = 0.0  # None: the plane counts no frames (Janus)
    packets_received: int = 0
    packets_lost: int = 0


@dataclass(frozen=True)
class MediaNode:
    """One node of a media plane with several (Janus): `id` its position in the configured order
    (from "1"), `host` where its API is (host:port, nothing secret), `alive` whether it answers
    (None: not used yet), `venues` the venues that publish and subscribe there."""

    id: str
    host: str
    alive: bool | None
    venues: tuple[str, ...]


@runtime_checkable
class MediaPlacement(Protocol):
    """A media plane that spreads the venues over nodes (the embedded SFU is one process: it has none)."""

    def media_nodes(self) -> list[MediaNode]:
        """Its nodes, in the configured order, each with the venues placed there now."""


def media_nodes(plane: object) -> list[MediaNode]:
    """The nodes of `plane` and their venues (none for a plane of one process)."""
    return plane.media_nodes() if isinstance(plane, MediaPlacement) else []


class MediaPresence(Protocol):
    """What the media plane reports about venues (given to it when it is made)."""

    def media_connected(self, venue: str) -> None:
        """Venue `venue`'s peer connected."""

    def media_disconnected(self, venue: str, reason: str) -> None:
        """Venue `venue`'s connected peer went away (closed, failed, replaced...)."""

    def media_node_lost(self, node: str, venues: list[str], reason: str) -> None:
        """A media node (of a plane with several: Janus) was lost with the media of `venues`,
        which must reconnect (their peers are gone; `media_disconnected` follows for each)."""

    def media_node_back(self, node: str) -> None:
        """A media node answers: said of every node the plane (re)connects to, the first time
        included (only a node the session lost is news)."""


class MediaObserver(Protocol):
    """What the program router reports for monitoring (the server's metrics); it must not raise."""

    def switched(self, venue: str, seconds: float) -> None:
        """The program cut over to `venue` at its keyframe, `seconds` after the take asked for it."""

    def keyframe_requested(self, venue: str) -> None:
        """`venue` was asked for a keyframe (RTCP PLI)."""

    def forwarded(self, kind: str, frames: int, size: int) -> None:
        """`frames` encoded frames of `kind`, `size` bytes in all, went out to receivers."""


class NoMediaObserver:
    """Reports nowhere (the default)."""

    def switched(self, venue: str, seconds: float) -> None:
        pass

    def keyframe_requested(self, venue: str) -> None:
        pass

    def forwarded(self, kind: str, frames: int, size: int) -> None:
        pass


@runtime_checkable
class Anticipating(Protocol):
    """A media plane that prepares ahead for the venues likely to go on air next (Janus: cascades
    their feeds to every node), besides the main and on-air venues and the consoles' previews
    (`PREVIEW_SLOT`). The runtime tells it when it has this method."""

    def set_likely(self, venues: Sequence[str]) -> None:
        """The venues likely to go on air next (the next segment's), replacing the last ones told."""


class MediaPlane(Protocol):
    """Venue and monitor peers, the program they receive, and their links."""

    downlink: Downlink

    async def open_downlink(self, peer: PeerId, send_offer: Callable[[str], None], slots: int = 0) -> None:
        """`server_offer` planes: make a venue's downlink peer (once its uplink is answered), the
        recorder's, or a console monitor's (`slots` video slots); its offer, and any later one, goes
        to `send_offer`. Raises OfferRejected (also on `same_peer` planes, where every peer offers)."""

    async def answer_downlink(self, peer: PeerId, answer: str) -> None:
        """The venue's answer to the last downlink offer. Raises OfferRejected."""

    async def answer_venue(self, peer: VenuePeer, offer: str) -> str:
        """Answer a venue's SDP offer with a new peer (replacing the venue's old one).
        Raises OfferRejected with the reason."""

    async def answer_monitor(self, peer: MonitorPeer, offer: str) -> str:
        """Answer a console's monitor offer: one blank video slot per m-line. Raises OfferRejected."""

    async def answer_recorder(self, peer: RecorderPeer, offer: str) -> str:
        """Answer the recorder's offer: receive-only m-lines for the program video, the program
        audio and (a second audio line, if offered) the main venue's audio. Raises OfferRejected."""

    async def close_peer(self, peer: PeerId, reason: str) -> None:
        """Close `peer` if it exists (a connected venue's presence then ends with `reason`)."""

    def set_program(self, on_air: str, muted: Set[str]) -> None:
        """The session's on-air venue and muted microphones (switching video on a keyframe)."""

    def set_main_return(self, video: str | None, wall: Sequence[str]) -> None:
        """What the main venue receives apart from the program: `video` is the venue its
        program video shows instead of the on-air venue (None: the program; switched on a
        keyframe like a take), `wall` the venue each of its wall slots shows, in slot order
        (empty: none). Its audio stays the program's."""

    def set_monitor(self, peer: MonitorPeer, slot: int, venue: str | None) -> None:
        """Show `venue`'s camera (None: nothing) in a monitor slot. Raises ValueError for a slot
        the monitor does not have."""

    async def sample_links(self) -> dict[str, LinkStats]:
        """Every connected venue's link since the last sample, by venue id."""

    def is_connected(self, peer: PeerId) -> bool:
        """Whether `peer`'s media is connected now."""

    def program_snapshot(self) -> ProgramSnapshot:
        """Who each venue receives now (for the console's state)."""

    async def close(self) -> None:
        """Close every peer (shutdown)."""
