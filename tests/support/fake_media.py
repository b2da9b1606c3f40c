"""A stand-in for the media plane (our own seam): no peers, no aiortc.

`FakeMediaPlane` implements `orchestrator.media.plane.MediaPlane`. It records every call,
answers offers with a canned SDP, and lets a test say what the real plane would report:
`connect("pinghu")` (the venue's media connected), `disconnect("pinghu", why)`, and the
link figures `sample_links` returns (`links`). Closing a connected venue's peer reports
its disconnection, as the real plane does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from orchestrator.media.plane import (
    Downlink,
    LinkStats,
    MediaPresence,
    MonitorPeer,
    OfferRejected,
    PeerId,
    ProgramSnapshot,
    RecorderPeer,
    VenuePeer,
)

CANNED_ANSWER = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=fake answer\r\n"
CANNED_OFFER = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=fake downlink offer\r\n"
MONITOR_SLOTS = 2


@dataclass
class FakeMediaPlane:
    presence: MediaPresence
    calls: list[tuple[Any, ...]] = field(default_factory=list)  # (method, arguments...) in order
    peers: dict[PeerId, bool] = field(default_factory=dict)  # peer -> connected
    links: dict[str, LinkStats] = field(default_factory=dict)  # what sample_links returns
    monitors: dict[MonitorPeer, list[str | None]] = field(default_factory=dict)  # slot sources
    on_air: str | None = None
    muted: frozenset[str] = frozenset()
    return_video: str | None = None  # what set_main_return last said
    wall: tuple[str, ...] = ()
    refuse_offers: str | None = None  # the reason given to every offer, when set
    closed: bool = False
    downlink: Downlink = "same_peer"

    # ------------------------------------------------------------ what a test says happened

    def connect(self, venue: str) -> None:
        """Venue `venue`'s media connected (it must have offered)."""
        peer = VenuePeer(venue)
        assert peer in self.peers, f"{venue} never offered"
        self.peers[peer] = True
        self.presence.media_connected(venue)

    def disconnect(self, venue: str, reason: str = "connection failed") -> None:
        """Venue `venue`'s media went away by itself."""
        if self.peers.pop(VenuePeer(venue), False):
            self.presence.media_disconnected(venue, reason)

    def called(self, method: str) -> list[tuple[Any, ...]]:
        """The arguments of every call of `method`, in order."""
        return [call[1:] for call in self.calls if call[0] == method]

    # ------------------------------------------------------------ MediaPlane

    async def answer_venue(self, peer: VenuePeer, offer: str) -> str:
        self.calls.append(("answer_venue", peer))
        if self.refuse_offers:
            raise OfferRejected(self.refuse_offers)
        await self.close_peer(peer, "replaced by a new connection")
        self.peers[peer] = False
        return CANNED_ANSWER

    async def open_downlink(self, peer: PeerId, send_offer: Callable[[str], None], slots: int = 0) -> None:
        self.calls.append(("open_downlink", peer))
        if self.downlink != "server_offer":
            raise OfferRejected("this media plane sends the program on the venue's own peer")
        send_offer(CANNED_OFFER)

    async def answer_downlink(self, peer: PeerId, answer: str) -> None:
        self.calls.append(("answer_downlink", peer))
        if self.downlink != "server_offer":
            raise OfferRejected("there is no downlink offer")

    async def answer_monitor(self, peer: MonitorPeer, offer: str) -> str:
        self.calls.append(("answer_monitor", peer))
        if self.refuse_offers:
            raise OfferRejected(self.refuse_offers)
        await self.close_peer(peer, "replaced by a new connection")
        self.peers[peer] = False
        self.monitors[peer] = [None] * MONITOR_SLOTS
        return CANNED_ANSWER

    async def answer_recorder(self, peer: RecorderPeer, offer: str) -> str:
        self.calls.append(("answer_recorder", peer))
        raise OfferRejected(self.refuse_offers or "the fake media plane carries no media to record")

    async def close_peer(self, peer: PeerId, reason: str) -> None:
        self.calls.append(("close_peer", peer, reason))
        connected = self.peers.pop(peer, None)
        if isinstance(peer, MonitorPeer):
            self.monitors.pop(peer, None)
        if connected and isinstance(peer, VenuePeer):
            self.presence.media_disconnected(peer.venue, reason)

    def set_program(self, on_air: str, muted: Set[str]) -> None:
        self.calls.append(("set_program", on_air, frozenset(muted)))
        self.on_air, self.muted = on_air, frozenset(muted)

    def set_main_return(self, video: str | None, wall: Sequence[str]) -> None:
        self.calls.append(("set_main_return", video, tuple(wall)))
        self.return_video, self.wall = video, tuple(wall)

    def set_monitor(self, peer: MonitorPeer, slot: int, venue: str | None) -> None:
        self.calls.append(("set_monitor", peer, slot, venue))
        slots = self.monitors.get(peer, [])
        if not 0 <= slot < len(slots):
            raise ValueError(f"there is no monitor slot {slot} (this monitor has {len(slots)})")
        slots[slot] = venue

    async def sample_links(self) -> dict[str, LinkStats]:
        self.calls.append(("sample_links",))
        return {venue: link for venue, link in self.links.items() if self.peers.get(VenuePeer(venue))}

    def is_connected(self, peer: PeerId) -> bool:
        return bool(self.peers.get(peer))

    def program_snapshot(self) -> ProgramSnapshot:
        return {
            peer.venue: {"program_video": self.on_air if self.on_air != peer.venue else None}
            for peer, connected in self.peers.items()
            if connected and isinstance(peer, VenuePeer)
        }

    async def close(self) -> None:
        self.calls.append(("close",))
        for peer in list(self.peers):
            await self.close_peer(peer, "server stopping")
        self.closed = True
