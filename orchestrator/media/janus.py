"""The Janus media plane: Janus's VideoRoom moves the media, the orchestrator decides who gets what.

One VideoRoom per session on every Janus node, made by the orchestrator when the first
venue offers, with a dummy publisher (one Opus and one VP8 stream that carry nothing): a
stream with no source is switched to it. The orchestrator owns every Janus session and handle and
relays the SDP, so only it can `switch` a subscriber:

- a venue's uplink is a publisher handle: the venue offers its camera and microphone
  send-only, the orchestrator `joinandconfigure`s with that offer and returns Janus's answer;
- a venue's downlink is a subscriber handle Janus offers (`Downlink` "server_offer"): the
  program video, the program audio, the main venue's audio and, for the main venue, its
  wall slots, in that order, all subscribed to the dummy first. The orchestrator sends
  the offer to the venue and `start`s with its answer; Janus's later offers (a publisher
  gone, a stream re-activated) are relayed the same way;
- whenever the program changes, every downlink whose sources differ gets one `switch`
  with the changed streams (Janus asks each new publisher for a keyframe); who gets what
  follows `routing.choose_source`, the rule the embedded SFU follows too.

Cascade: with several nodes, each venue publishes and subscribes on one node (its home:
the node with the fewest venues, counting those still being published, when it first offers;
the main venue on the first). A
venue a downlink on another node needs is made available there as a VideoRoom remote
publisher (`add_remote_publisher` on that node, `publish_remotely` on the home node, RTP
between the nodes, keyframe requests back over RTCP), and then switched to like any feed.
The main venue, the on-air venue, the consoles' previews (`PREVIEW_SLOT`) and the venues
likely next (`set_likely`: the next segment's) are cascaded to every node ahead of need (so
a take of a venue on another node costs no set-up); every other feed when first needed. A
remote feed nobody receives and no take is likely to need is torn down (its home stops
forwarding it), but for the `SPARE_REMOTE_FEEDS` last needed on each node.

Janus 1.1.2 forwards every remote feed with the same SSRCs (numbered by m-line), so it does
not renumber a subscriber switched to a remote feed from another (or from the dummy, which
sends nothing), nor a stream back on the venue it carried before the dummy; it renumbers the
first packet it forwards after a pause, but a `switch` resumes a paused stream without that.
So the orchestrator switches such a stream to the dummy, pauses and resumes it there, then
switches it to its feed: four requests. Keyframes: Janus 1.1.2 asks a local publisher for
one at every `switch` to it (a take sends the new venue's publisher one request per downlink
on its node: a browser answers one every 0.3 s at most, the venue agent's looped media one
every 0.1 s), a remote feed's origin once a second at most (later requests wait for the next
second). So once every downlink of a pass is switched, the publisher of each feed switched
to on another node is asked once more, at home, and again `KEYFRAME_AGAIN_S` later (more
than a browser's 0.3 s): in the rehearsals on two nodes, a venue switched from one cascaded
feed to another did not decode the first keyframe after the switch (why is not understood
yet: Janus renumbers the stream's sequence numbers there, not its timestamps) and waited a
second for Janus's; it now shows the take about 0.5 s after it. A take waits for no set-up
but its own: the feeds wanted ahead are cascaded after the switches.

A lost node (its API's connection gone: Janus died, or the network): the plane reports it
(`media_node_lost`: the core records `media_node_lost` with its venues, and the venue socket
tells each of them to reconnect), then each of its connected venues' leaving (the program
falls back if the on-air venue was there); the other nodes stop forwarding feeds to it. They
come back on the remaining nodes: a node that cannot be reached is left out of the placement
and tried again every `NODE_RETRY_S` (`media_node_back` when it answers again). The
recorder's and the monitors' peers, if they were there, are gone with it.

Restart: with a `rooms_key`, each node's room has the same id on every start; a restarted
orchestrator destroys the room its predecessor left (Janus keeps rooms when their session
ends; the sessions themselves end with their socket) and makes it again. `close` destroys them.

Presence: a publisher's `webrtcup` is the venue's media connected; its `hangup` (or the
downlink's) the end of it. Link figures come from each node's Admin API (`handle_info`, when
the plane is given its URL and admin secret; without it the console shows the links as
unmeasured): the loss is what Janus counted lost of the venue's uplink (its RTCP context's
`lost` against the packets received), the bitrates its publisher's bytes received and its
subscriber's bytes sent, the round trip Janus's from the venue's receiver reports on its
downlink, in whole milliseconds (0, Janus's figure before the first report, reads as
unknown: so does a round trip under half a millisecond). Janus counts no frames, so `fps_in` is None. Janus's
`slowlink` events are logged.
The recorder's peer is a downlink like a venue's (the program video, the program audio,
the main venue's audio) on the first node, offered by Janus; so is a console's monitor (a
video stream per slot, each showing the venue `set_monitor` chose).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import secrets
import time
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from aiortc import sdp as aiortc_sdp

from ..i18n import N_, phrase
from ..logs import get_logger
from .janus_api import JanusAdmin, JanusError, JanusHandle, JanusSession, Jsep, Reply
from .plane import (
    MAX_MONITOR_SLOTS,
    MAX_WALL_SLOTS,
    PREVIEW_SLOT,
    Downlink,
    LinkStats,
    MediaNode,
    MediaPresence,
    MonitorPeer,
    OfferRejected,
    PeerId,
    ProgramSnapshot,
    RecorderPeer,
    VenuePeer,
)
from .routing import Program, Role, choose_source
from .rtp_stats import InboundCounts, LinkMeter
from .sfu import check_offer

RETRY_S = 0.25  # a refused switch is tried again after this...
MAX_RETRIES = 8  # ...so many times, until the next change
CONNECT_TIMEOUT_S = 30.0  # a publisher that never connects is cleaned up after this
NODE_RETRY_S = 10.0  # an unreachable node is tried again after this
ADMIN_REQUESTS_PER_NODE = 64  # Admin API requests a link sample has in flight on one node at most
SPARE_REMOTE_FEEDS = 4  # remote feeds a node keeps that nobody receives and no take is likely to need
KEYFRAME_AGAIN_S = 0.35  # a feed switched to on another node is asked for a keyframe at home again after this
MAX_PUBLISHERS = 4096
NO_SUCH_ROOM = 426  # the VideoRoom's error code
CODECS = {"audio": "opus", "video": "vp8"}
KINDS = {Role.PROGRAM_VIDEO: "video", Role.WALL_VIDEO: "video", Role.PROGRAM_AUDIO: "audio",
         Role.MAIN_AUDIO: "audio", Role.MONITOR_VIDEO: "video"}

log = get_logger(component="janus")


@dataclass(eq=False)
class _Uplink:
    """A venue's publisher: its handle, its feed id and its streams' mids by kind."""

    handle: JanusHandle
    feed: int
    mids: dict[str, str]
    kinds: list[str]  # the kind of each m-line, in the offer's order (a remote publisher's streams)
    connected: bool = False
    watchdog: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class _Slot:
    role: Role
    slot: int | None = None

    @property
    def label(self) -> str:
        return self.role.value if self.slot is None else f"{self.role.value}_{self.slot}"


@dataclass(eq=False)
class _Downlink:
    """A subscriber (a venue's, the recorder's, a monitor's): its streams (by subscription mid) and
    the venue each carries now."""

    handle: JanusHandle
    slots: list[_Slot]
    mids: list[str]
    send_offer: Callable[[str], None]
    current: list[str | None] = field(default_factory=list)  # None: the dummy
    last_sent: list[str | None] = field(default_factory=list)  # the last venue each stream carried (not the dummy)
    fixed: list[str | None] = field(default_factory=list)  # a monitor's: the venue each slot shows
    answered: bool = False
    started: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(eq=False)
class _Node:
    """One Janus node: its session, the session's room, its dummy publisher, the remote feeds made on it."""

    url: str
    session: JanusSession
    room: int
    dummy: int
    dummy_mids: dict[str, str]
    remote: dict[str, asyncio.Task[_Feed]] = field(default_factory=dict)  # venue -> its feed here
    remote_used: dict[str, float] = field(default_factory=dict)  # venue -> when its feed here was last needed

    @property
    def remote_id(self) -> str:
        """What a home node calls its forwarding of a feed to this node (`publish_remotely`)."""
        return f"to-{self.room}-{self.url}"

    @property
    def address(self) -> str:
        """Where the node receives RTP from the other nodes: its API's host."""
        return urlsplit(self.url).hostname or "127.0.0.1"


@dataclass(frozen=True)
class _Feed:
    """A publisher on one node (a venue's own, or a remote one): its id and its mids by kind."""

    id: int
    mids: dict[str, str]


@dataclass(eq=False)
class _Venue:
    venue: str
    node: _Node
    uplink: _Uplink | None = None
    downlink: _Downlink | None = None
    meter: LinkMeter | None = None  # its link's counters at the last sample


class JanusMediaPlane:
    """`plane.MediaPlane` over the VideoRoom of one or more Janus nodes (cascaded)."""

    downlink: Downlink = "server_offer"

    def __init__(self, urls: Sequence[str], secret: str | None, main_venue: str, presence: MediaPresence,
                 admin_urls: Sequence[str] = (), admin_secret: str | None = None, rooms_key: str | None = None):
        """`rooms_key` names the plane's rooms: with the same key (the same conference and data folder),
        a restarted orchestrator makes the same room on each node, destroying what the one before
        left there (its sessions Janus ends itself when their socket goes; not its rooms). Without
        one, each room is new."""
        if not urls:
            raise ValueError("the Janus media plane needs at least one node")
        if admin_urls and len(admin_urls) != len(urls):
            raise ValueError(f"{len(admin_urls)} Admin API URLs for {len(urls)} Janus nodes: give one per node, "
                             "in the nodes' order, or none")
        self.urls = list(urls)
        self._secret = secret
        self._room = room_id(rooms_key) if rooms_key is not None else None
        self._admins = {url: JanusAdmin(admin, admin_secret) for url, admin in zip(urls, admin_urls, strict=False)}
        self.presence = presence
        self.program = Program(main_venue, main_venue)
        self._likely: tuple[str, ...] = ()  # the venues likely to go on air next (`set_likely`)
        self._nodes: dict[str, _Node] = {}
        self._starting = asyncio.Lock()
        self._venues: dict[str, _Venue] = {}
        self._others: dict[MonitorPeer | RecorderPeer, _Downlink] = {}  # the recorder's, the monitors': on the first node
        self._others_url: str | None = None  # the node they are on (the first that answered)
        self._retry_at: dict[str, float] = {}  # an unreachable node's next try
        self._placing: dict[str, _Node] = {}  # venues being published, and where
        self._dirty = asyncio.Event()
        self._reconciler: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._watcher: asyncio.Task[None] | None = None  # tries the nodes that are down again

    # ------------------------------------------------------------ the nodes

    async def _ready(self) -> list[_Node]:
        """The nodes that answer, in the configured order: each one's session and room made on first
        use (again after it was lost). A node that cannot be reached is left out, and tried again
        after `NODE_RETRY_S`; with none reachable, the offer is refused."""
        async with self._starting:
            failures = []
            for url in self.urls:
                if url in self._nodes or time.monotonic() < self._retry_at.get(url, 0.0):
                    continue
                try:
                    self._nodes[url] = await self._start_node(url)
                    self._retry_at.pop(url, None)
                    self.presence.media_node_back(url)
                except OfferRejected as exc:
                    failures.append(exc)
                    self._retry_at[url] = time.monotonic() + NODE_RETRY_S
                    log.warning("janus_node_unavailable", url=url, error=str(exc), retry_in_s=NODE_RETRY_S)
                    self._watch_nodes()
            nodes = [self._nodes[url] for url in self.urls if url in self._nodes]
            if not nodes:
                raise (failures[0] if failures else OfferRejected(phrase(N_('every media server is unavailable'))))
            return nodes

    def _watch_nodes(self) -> None:
        """Try the nodes that are down again until every one answers (a node back is told to the
        presence, and used again for new joins)."""
        if self._watcher is None or self._watcher.done():
            self._watcher = self._spawn(self._watch())

    async def _watch(self) -> None:
        while len(self._nodes) < len(self.urls):
            due = min((self._retry_at.get(url, 0.0) for url in self.urls if url not in self._nodes), default=0.0)
            await asyncio.sleep(max(due - time.monotonic(), 0.0) + 0.1)
            with contextlib.suppress(OfferRejected):
                await self._ready()

    async def _start_node(self, url: str) -> _Node:
        try:
            session = await JanusSession.connect(url, self._secret)
        except JanusError as exc:
            raise OfferRejected(phrase(N_("the media server is unavailable: {error}"), error=str(exc))) from None
        try:
            room, dummy = await self._create_room(session, self._room)
        except JanusError as exc:
            await session.close()
            raise OfferRejected(phrase(N_('the media server refused to make the room: {error}'), error=str(exc))) from None
        except BaseException:  # cancelled, or an answer not as Janus documents it
            await asyncio.shield(session.close())
            raise
        node = _Node(url, session, room, dummy, {"audio": "0", "video": "1"})
        session.on_lost = functools.partial(self._node_lost, node)
        log.info("janus_room_created", url=url, room=room)
        return node

    @staticmethod
    async def _create_room(session: JanusSession, room: int | None) -> tuple[int, int]:
        """A room (`room`, after destroying what is left of it; None: a new id) with a dummy publisher;
        (its id, the dummy's feed id). The dummy's streams are made in codec order, audio first:
        mids "0" (Opus) and "1" (VP8)."""
        handle = await session.attach()
        try:
            if room is None:
                room = secrets.randbelow(2**52) + 1
            else:
                await _destroy_leftover_room(handle, room)
            await handle.message({
                "request": "create", "room": room, "permanent": False, "publishers": MAX_PUBLISHERS,
                "audiocodec": "opus", "videocodec": "vp8", "bitrate": 0, "fir_freq": 0,
                "description": "orchestrator", "dummy_publisher": True,
                "dummy_streams": [{"codec": "opus"}, {"codec": "vp8"}],
            })
            listed = await handle.message({"request": "listparticipants", "room": room})
            dummies = [p["id"] for p in listed.plugin.get("participants", []) if p.get("dummy")]
            if not dummies:
                raise JanusError("the room has no dummy publisher (Janus 1.1.2 or later is needed)")
        finally:
            await handle.detach()
        return room, int(dummies[0])

    def _node_lost(self, node: _Node, reason: str) -> None:
        """A node's connection went: the media of every venue at home there with it."""
        if self._nodes.get(node.url) is not node:
            return
        del self._nodes[node.url]
        self._spawn(node.session.close())  # its socket is gone; its client is closed all the same
        lost = [s for s in self._venues.values() if s.node is node]
        for state in lost:
            del self._venues[state.venue]
        # first the node (its venues are told to reconnect), then each connected venue's leaving
        self.presence.media_node_lost(node.url, [s.venue for s in lost], reason)
        for state in lost:
            if state.uplink is not None and state.uplink.connected:
                self.presence.media_disconnected(state.venue, f"media server {node.url} lost ({reason})")
        for other in self._nodes.values():  # its venues' remote feeds elsewhere are gone too
            for venue in [v for v in other.remote if v not in self._venues]:
                self._spawn(self._remove_remote(other, venue))
        for venue, made in node.remote.items():  # and the other venues stop sending their feeds to it
            made.cancel()
            if venue in self._venues:
                self._spawn(self._stop_forwarding(self._venues[venue], node))
        if node.url == self._others_url:  # the recorder's and the monitors' peers were there
            self._others.clear()
        self._retry_at[node.url] = time.monotonic() + NODE_RETRY_S
        self._watch_nodes()
        self._changed()

    def media_nodes(self) -> list[MediaNode]:
        """`plane.MediaPlacement`: the nodes in the configured order, each with the venues at home there."""
        return [MediaNode(str(i), urlsplit(url).netloc.rpartition("@")[2],
                          True if url in self._nodes else False if url in self._retry_at else None,
                          tuple(v for v, state in self._venues.items() if state.node.url == url))
                for i, url in enumerate(self.urls, 1)]

    @staticmethod
    async def _destroy_room(node: _Node) -> None:
        """Destroy a node's room (Janus keeps a room when the session that made it ends)."""
        try:
            handle = await node.session.attach()
            try:
                await handle.message({"request": "destroy", "room": node.room})
            finally:
                await handle.detach()
        except JanusError as exc:
            log.info("janus_room_not_destroyed", url=node.url, room=node.room, error=str(exc))

    def _home(self, venue: str, nodes: list[_Node]) -> _Node:
        """Where a venue publishes and subscribes: where it was, else the main venue's on the first
        node, else the node with the fewest venues."""
        state = self._venues.get(venue)
        if state is not None and state.node in nodes:
            return state.node
        if venue == self.program.main:
            return nodes[0]
        load = {node.url: 0 for node in nodes}
        placed = {v: s.node for v, s in self._venues.items()} | self._placing
        for other, node in placed.items():
            if other != venue and node.url in load:
                load[node.url] += 1
        return min(nodes, key=lambda node: load[node.url])

    async def _feed_on(self, node: _Node, venue: str) -> _Feed | None:
        """`venue`'s feed on `node`: its own there, or a remote publisher of it made there (once)."""
        state = self._venues.get(venue)
        if state is None or state.uplink is None or not state.uplink.connected:
            return None
        if state.node is node:
            return _Feed(state.uplink.feed, state.uplink.mids)
        made = node.remote.get(venue)
        if made is None:
            made = node.remote[venue] = asyncio.ensure_future(self._cascade(state, node))
        try:
            return await asyncio.shield(made)
        except JanusError as exc:
            if node.remote.get(venue) is made:
                del node.remote[venue]
            log.warning("janus_cascade_failed", venue=venue, to=node.url, error=str(exc))
            return None

    async def _cascade(self, state: _Venue, node: _Node) -> _Feed:
        """Make `state`'s feed a remote publisher on `node`, fed by its home node."""
        assert state.uplink is not None
        uplink, home = state.uplink, state.node
        handle = await node.session.attach()
        try:
            added = await handle.message({
                "request": "add_remote_publisher", "room": node.room, "display": f"{state.venue} (from {home.url})",
                "iface": node.address,
                "streams": [{"type": kind, "mindex": i, "mid": str(i), "codec": CODECS[kind]}
                            for i, kind in enumerate(uplink.kinds)],
            })
            try:
                feed = _Feed(int(added.plugin["id"]), {kind: str(i) for i, kind in enumerate(uplink.kinds)})
                port, rtcp_port = int(added.plugin["port"]), int(added.plugin["rtcp_port"])
            except (KeyError, TypeError, ValueError):
                raise JanusError(f"add_remote_publisher answered without an id and ports: {added.plugin}") from None
            try:
                await uplink.handle.message({
                    "request": "publish_remotely", "room": home.room, "publisher_id": uplink.feed,
                    "remote_id": node.remote_id, "host": added.plugin.get("ip") or node.address,
                    "port": port, "rtcp_port": rtcp_port,
                })
            except JanusError:
                with contextlib.suppress(JanusError):  # no remote publisher fed by nothing is left behind
                    await handle.message({"request": "remove_remote_publisher", "room": node.room, "id": feed.id})
                raise
        finally:
            await handle.detach()
        log.info("janus_feed_cascaded", venue=state.venue, origin=home.url, to=node.url, feed=feed.id)
        return feed

    async def _stop_forwarding(self, state: _Venue, node: _Node) -> None:
        """Stop sending `state`'s feed to `node` (lost: its ports may be another node's by now)."""
        if state.uplink is None:
            return
        try:
            await state.uplink.handle.message({"request": "unpublish_remotely", "room": state.node.room,
                                               "publisher_id": state.uplink.feed, "remote_id": node.remote_id})
        except JanusError as exc:
            log.info("janus_forwarding_not_stopped", venue=state.venue, to=node.url, error=str(exc))

    async def _remove_remote(self, node: _Node, venue: str) -> None:
        node.remote_used.pop(venue, None)
        made = node.remote.pop(venue, None)
        if made is None:
            return
        await asyncio.gather(made, return_exceptions=True)
        if made.cancelled() or made.exception() is not None:
            return  # never made
        feed = made.result()
        try:
            handle = await node.session.attach()
            try:
                await handle.message({"request": "remove_remote_publisher", "room": node.room, "id": feed.id})
            finally:
                await handle.detach()
        except JanusError as exc:
            log.info("janus_remote_feed_not_removed", venue=venue, node=node.url, error=str(exc))

    # ------------------------------------------------------------ venues: uplink

    async def answer_venue(self, peer: VenuePeer, offer: str) -> str:
        """Publish a venue's camera and microphone (a send-only offer); Janus's answer."""
        description = check_offer(offer, publish=True)
        node = self._home(peer.venue, await self._ready())
        self._placing[peer.venue] = node  # counted where the venues offering meanwhile are placed
        try:
            return await self._publish(peer, node, description, offer)
        finally:
            if self._placing.get(peer.venue) is node:
                del self._placing[peer.venue]

    async def _publish(self, peer: VenuePeer, node: _Node, description: aiortc_sdp.SessionDescription, offer: str) -> str:
        await self.close_peer(peer, "replaced by a new connection")
        mids = {m.kind: m.rtp.muxId for m in description.media}
        try:
            handle = await node.session.attach()
        except JanusError as exc:
            raise OfferRejected(phrase(N_("the media server is unavailable: {error}"), error=str(exc))) from None
        try:
            joined = await handle.message(
                {"request": "joinandconfigure", "ptype": "publisher", "room": node.room, "display": peer.venue,
                 "audiocodec": "opus", "videocodec": "vp8"},
                Jsep(type="offer", sdp=offer),
            )
        except JanusError as exc:
            await handle.detach()
            raise OfferRejected(phrase(N_('the media server refused the offer: {error}'), error=str(exc))) from None
        if joined.jsep is None or "id" not in joined.plugin:
            await handle.detach()
            raise OfferRejected(phrase(N_('the media server answered the offer without an answer')))
        uplink = _Uplink(handle, int(joined.plugin["id"]), mids, [m.kind for m in description.media])
        self._venues[peer.venue] = _Venue(peer.venue, node, uplink)
        handle.listener = lambda reply: self._uplink_event(peer.venue, uplink, reply)
        uplink.watchdog = self._spawn(self._connect_watchdog(peer.venue, uplink))
        log.info("janus_publisher_joined", venue=peer.venue, feed=uplink.feed)
        return joined.jsep.sdp

    def _uplink_event(self, venue: str, uplink: _Uplink, reply: Reply) -> None:
        state = self._venues.get(venue)
        if state is None or state.uplink is not uplink:
            return
        if reply.janus == "webrtcup" and not uplink.connected:
            uplink.connected = True
            log.info("peer_connected", venue=venue)
            self.presence.media_connected(venue)
            self._changed()
        elif reply.janus == "hangup":
            self._spawn(self.close_peer(VenuePeer(venue), f"connection closed ({reply.reason or 'hangup'})"))
        elif reply.janus == "slowlink":
            log.info("janus_slow_link", venue=venue, uplink=reply.uplink, lost=reply.lost)

    async def _connect_watchdog(self, venue: str, uplink: _Uplink) -> None:
        await asyncio.sleep(CONNECT_TIMEOUT_S)
        state = self._venues.get(venue)
        if state is not None and state.uplink is uplink and not uplink.connected:
            log.warning("peer_never_connected", venue=venue, after_s=CONNECT_TIMEOUT_S)
            await self.close_peer(VenuePeer(venue), "never connected")

    # ------------------------------------------------------------ venues: downlink

    async def open_downlink(self, peer: PeerId, send_offer: Callable[[str], None], slots: int = 0) -> None:
        """Subscribe a venue (on its node), the recorder or a console's monitor (`slots` video slots;
        on the first node) to the dummy on every stream it receives; Janus's offer, and any later
        one, goes to `send_offer`."""
        nodes = await self._ready()
        if isinstance(peer, MonitorPeer):
            if not 1 <= slots <= MAX_MONITOR_SLOTS:
                raise OfferRejected(phrase(N_('a monitor has 1 to {limit} slots, not {count}'), limit=MAX_MONITOR_SLOTS, count=slots))
            await self.close_peer(peer, "replaced by a new connection")
            monitor = await self._subscribe(peer, self._others_node(nodes),
                                            [_Slot(Role.MONITOR_VIDEO, n) for n in range(slots)], send_offer)
            monitor.fixed = [None] * slots
            self._others[peer] = monitor
            return
        streams = [_Slot(Role.PROGRAM_VIDEO), _Slot(Role.PROGRAM_AUDIO), _Slot(Role.MAIN_AUDIO)]
        if isinstance(peer, RecorderPeer):
            await self.close_peer(peer, "replaced by a new connection")
            self._others[peer] = await self._subscribe(peer, self._others_node(nodes), streams, send_offer)
            return
        state = self._venues.get(peer.venue)
        if state is None or state.uplink is None:
            raise OfferRejected(phrase(N_("the venue's camera and microphone must be offered before its downlink")))
        if peer.venue == self.program.main:
            streams += [_Slot(Role.WALL_VIDEO, n) for n in range(MAX_WALL_SLOTS)]
        downlink = await self._subscribe(peer, state.node, streams, send_offer)
        if self._venues.get(peer.venue) is not state or state.uplink is None:
            await downlink.handle.detach()  # closed meanwhile
            raise OfferRejected(phrase(N_("the venue's peer was closed meanwhile")))
        if state.downlink is not None:
            await state.downlink.handle.detach()
        state.downlink = downlink

    def _others_node(self, nodes: list[_Node]) -> _Node:
        """Where the recorder and the monitors subscribe: the node the others are on, else the first."""
        node = self._nodes.get(self._others_url or "") or nodes[0]
        self._others_url = node.url
        return node

    async def _subscribe(self, peer: PeerId, node: _Node, slots: list[_Slot],
                         send_offer: Callable[[str], None]) -> _Downlink:
        try:
            handle = await node.session.attach()
            attached = await handle.message({
                "request": "join", "ptype": "subscriber", "room": node.room, "autoupdate": True,
                "streams": [{"feed": node.dummy, "mid": node.dummy_mids[KINDS[s.role]]} for s in slots],
            })
        except JanusError as exc:
            raise OfferRejected(phrase(N_('the media server refused the downlink: {error}'), error=str(exc))) from None
        streams = attached.plugin.get("streams", [])
        kinds = [s.get("type") for s in streams]
        if attached.jsep is None or kinds != [KINDS[s.role] for s in slots]:
            await handle.detach()
            raise OfferRejected(phrase(N_("the media server offered the streams {kinds}, not the program's"), kinds=str(kinds)))
        downlink = _Downlink(handle, slots, [str(s["mid"]) for s in streams], send_offer, current=[None] * len(slots),
                             last_sent=[None] * len(slots))
        handle.listener = lambda reply: self._downlink_event(peer, downlink, reply)
        send_offer(attached.jsep.sdp)
        return downlink

    def _downlink_of(self, peer: PeerId) -> _Downlink | None:
        if not isinstance(peer, VenuePeer):
            return self._others.get(peer)
        state = self._venues.get(peer.venue)
        return state.downlink if state is not None else None

    async def answer_downlink(self, peer: PeerId, answer: str) -> None:
        downlink = self._downlink_of(peer)
        if downlink is None:
            raise OfferRejected(phrase(N_('there is no downlink offer to answer')))
        if not answer.strip():
            raise OfferRejected(phrase(N_('the answer is empty')))
        try:
            await downlink.handle.message({"request": "start"}, Jsep(type="answer", sdp=answer))
        except JanusError as exc:
            raise OfferRejected(phrase(N_('the media server refused the answer: {error}'), error=str(exc))) from None
        downlink.answered = True
        self._changed()

    def _downlink_event(self, peer: PeerId, downlink: _Downlink, reply: Reply) -> None:
        if self._downlink_of(peer) is not downlink:
            return
        if reply.jsep is not None and reply.jsep.type == "offer":
            downlink.answered = False  # a renegotiation: switches wait for the answer
            downlink.send_offer(reply.jsep.sdp)
        elif reply.janus == "webrtcup":
            downlink.started = True
            log.info("downlink_connected", peer=str(peer))
        elif reply.janus == "hangup" and downlink.started:
            self._spawn(self.close_peer(peer, f"downlink closed ({reply.reason or 'hangup'})"))

    # ------------------------------------------------------------ program

    def set_program(self, on_air: str, muted: Set[str]) -> None:
        program = self.program
        self.program = Program(program.main, on_air, frozenset(muted), program.return_video, program.wall)
        self._changed()

    def set_main_return(self, video: str | None, wall: Sequence[str]) -> None:
        program = self.program
        self.program = Program(program.main, program.on_air, program.muted, video, tuple(wall))
        self._changed()

    def set_likely(self, venues: Sequence[str]) -> None:
        """`plane.Anticipating`: the venues likely to go on air next, cascaded to every node ahead."""
        if tuple(venues) != self._likely:
            self._likely = tuple(venues)
            self._changed()

    def _ahead(self) -> list[str]:
        """The venues whose feeds every node keeps ready: the on-air and main venues, the consoles'
        previews and the venues likely next (those that send video)."""
        previews = [m.fixed[PREVIEW_SLOT] for m in self._others.values() if len(m.fixed) > PREVIEW_SLOT]
        wanted = dict.fromkeys([self.program.on_air, self.program.main, *previews, *self._likely])
        return [venue for venue in wanted if venue is not None and self._sending("video")(venue)]

    def _sending(self, kind: str) -> Callable[[str], bool]:
        def sending(venue: str) -> bool:
            state = self._venues.get(venue)
            return bool(state and state.uplink and state.uplink.connected and kind in state.uplink.mids)

        return sending

    def _wanted(self, receiver: str | None, downlink: _Downlink) -> list[str | None]:
        return [choose_source(self.program, s.role, receiver, self._sending(KINDS[s.role]), slot=s.slot,
                              fixed=downlink.fixed[s.slot] if s.role is Role.MONITOR_VIDEO and s.slot is not None else None)
                for s in downlink.slots]

    def _changed(self) -> None:
        """The program or the senders changed: switch every downlink that differs (coalesced)."""
        self._dirty.set()
        if self._reconciler is None or self._reconciler.done():
            self._reconciler = asyncio.ensure_future(self._reconcile())

    async def _reconcile(self) -> None:
        retries = 0
        while self._dirty.is_set():
            self._dirty.clear()
            try:
                done = await self._reconcile_once()
            except Exception:  # the plane must go on switching whatever one pass met
                log.exception("janus_reconcile_failed")
                done = False
            if done:
                retries = 0
            elif retries < MAX_RETRIES:  # e.g. a feed that went meanwhile: try again with what is there now
                retries += 1
                await asyncio.sleep(RETRY_S)
                self._dirty.set()
            else:
                log.warning("janus_switch_given_up", retries=retries)

    async def _reconcile_once(self) -> bool:
        """Switch every downlink, ask each feed newly switched to on another node for a keyframe once
        at its home, then cascade the feeds wanted ahead; False when a switch was refused."""
        downlinks: list[tuple[str | None, _Node, _Downlink]] = [
            (s.venue, s.node, s.downlink) for s in self._venues.values() if s.downlink is not None]
        if self._others and self._others_url in self._nodes:
            downlinks += [(None, self._nodes[self._others_url], d) for d in self._others.values()]
        switched = await asyncio.gather(*(self._switch(venue, node, downlink) for venue, node, downlink in downlinks))
        # once every downlink is switched: the keyframe reaches them all (see `_switch`); and once
        # more a moment later, for a downlink that could not use the first
        origins = sorted({origin for _, asked in switched for origin in asked})
        await asyncio.gather(*(self._ask_keyframe(origin) for origin in origins))
        if origins:
            self._spawn(self._ask_keyframes_again(origins))
        ahead = self._ahead()  # after the switches: a take waits for no other venue's set-up
        await asyncio.gather(*(self._feed_on(node, venue) for node in list(self._nodes.values()) for venue in ahead))
        await self._drop_unlikely_feeds(ahead, downlinks)
        return all(done for done, _ in switched)

    async def _drop_unlikely_feeds(self, ahead: list[str], downlinks: list[tuple[str | None, _Node, _Downlink]]) -> None:
        """Tear down the remote feeds on each node that no stream there carries and no take is likely
        to need, but the `SPARE_REMOTE_FEEDS` last needed (a venue taken again soon costs no set-up)."""
        now = time.monotonic()
        for node in list(self._nodes.values()):
            needed = set(ahead) | {venue for _, on, d in downlinks if on is node for venue in d.current if venue}
            for venue in needed & set(node.remote):
                node.remote_used[venue] = now
            idle = sorted((v for v in node.remote if v not in needed), key=lambda v: node.remote_used.get(v, 0.0),
                          reverse=True)
            for venue in idle[SPARE_REMOTE_FEEDS:]:
                state = self._venues.get(venue)
                if state is not None:
                    await self._stop_forwarding(state, node)
                await self._remove_remote(node, venue)
                log.info("janus_remote_feed_dropped", venue=venue, node=node.url)

    async def _switch(self, venue: str | None, node: _Node, downlink: _Downlink) -> tuple[bool, set[str]]:
        """Switch the downlink streams of `venue` (None: the recorder) whose source differs from the
        program's: (False when Janus refused, the venues whose publishers must be asked for a keyframe
        at home once every downlink is switched)."""
        async with downlink.lock:
            if not downlink.answered:
                return True, set()  # switched once the venue answers
            wanted = self._wanted(venue, downlink)
            changes, changed = [], []
            for i, (now, want) in enumerate(zip(downlink.current, wanted, strict=True)):
                if now == want:
                    continue
                kind = KINDS[downlink.slots[i].role]
                feed = await self._feed_on(node, want) if want is not None else None
                if feed is None:
                    want = None
                    if now is None:
                        continue
                source = feed or _Feed(node.dummy, node.dummy_mids)
                changes.append({"feed": source.id, "mid": source.mids[kind], "sub_mid": downlink.mids[i]})
                changed.append((i, want))
            if not changes:
                return True, set()
            # remote feeds on one node all carry the same SSRCs (Janus numbers a forwarded stream by its
            # m-line), so Janus does not see a switch to one from another (or from the dummy, which sends
            # nothing) and would forward the new feed's sequence numbers as they are (its SRTP then drops
            # those below what it sent as replays, and the venue gets nothing). The same holds for a stream
            # back on the venue it carried before the dummy: its sequence numbers would jump by what it sent
            # meanwhile. Janus renumbers the first packet it forwards after a pause; a `switch` resumes a
            # stream itself, without that. So such a stream is switched to the dummy, paused and resumed
            # there, then switched to its feed.
            renumber = [(downlink.mids[i], KINDS[downlink.slots[i].role]) for i, want in changed
                        if want is not None and (want in node.remote or want == downlink.last_sent[i])]
            started = time.monotonic()
            try:
                if renumber:
                    await downlink.handle.message({"request": "switch", "streams": [
                        {"feed": node.dummy, "mid": node.dummy_mids[kind], "sub_mid": mid} for mid, kind in renumber]})
                    for send in (False, True):
                        await downlink.handle.message({"request": "configure",
                                                       "streams": [{"mid": mid, "send": send} for mid, _ in renumber]})
                await downlink.handle.message({"request": "switch", "streams": changes})
            except JanusError as exc:
                log.warning("janus_switch_failed", venue=venue, error=str(exc))
                return False, set()
            for i, want in changed:
                downlink.current[i] = want
                if want is not None:
                    downlink.last_sent[i] = want
            log.debug("janus_switched", venue=venue, changes=len(changes), renumbered=len(renumber),
                      took_ms=round((time.monotonic() - started) * 1000, 1))
            # Janus asks a remote feed's origin for a keyframe once a second at most: the one its switch
            # asked for may have passed before this downlink was switched. The publisher of a video
            # stream's new remote feed is asked at home instead, once every downlink of the pass is switched.
            return True, {want for i, want in changed
                          if want is not None and want in node.remote and KINDS[downlink.slots[i].role] == "video"}

    async def _ask_keyframes_again(self, venues: list[str]) -> None:
        """Ask these venues' publishers for a keyframe again after `KEYFRAME_AGAIN_S`, for the downlinks
        that could not decode the first one (see the module docstring)."""
        await asyncio.sleep(KEYFRAME_AGAIN_S)
        await asyncio.gather(*(self._ask_keyframe(venue) for venue in venues))

    async def _ask_keyframe(self, venue: str) -> None:
        """Ask `venue`'s publisher for a keyframe on its home node."""
        state = self._venues.get(venue)
        if state is None or state.uplink is None or not state.uplink.connected:
            return
        try:
            await state.uplink.handle.message({"request": "configure", "keyframe": True})
        except JanusError as exc:
            log.info("janus_keyframe_not_asked", venue=venue, error=str(exc))

    def program_snapshot(self) -> ProgramSnapshot:
        snapshot: ProgramSnapshot = {}
        for state in self._venues.values():
            if state.downlink is None:
                continue
            d = state.downlink
            snapshot[state.venue] = {s.label: source for s, source in zip(d.slots, d.current, strict=True)
                                     if s.role is not Role.WALL_VIDEO or source is not None}
        return snapshot

    # ------------------------------------------------------------ monitors and the recorder

    async def answer_monitor(self, peer: MonitorPeer, offer: str) -> str:
        raise OfferRejected(phrase(N_("the Janus media plane offers the monitor's peer itself (open_downlink)")))

    async def answer_recorder(self, peer: RecorderPeer, offer: str) -> str:
        raise OfferRejected(phrase(N_("the Janus media plane offers the recorder's peer itself (open_downlink)")))

    def set_monitor(self, peer: MonitorPeer, slot: int, venue: str | None) -> None:
        monitor = self._others.get(peer)
        slots = len(monitor.fixed) if monitor is not None else 0
        if monitor is None or not 0 <= slot < slots:
            raise ValueError(f"there is no monitor slot {slot} (this monitor has {slots})")
        monitor.fixed[slot] = venue
        self._changed()

    # ------------------------------------------------------------ peers

    def is_connected(self, peer: PeerId) -> bool:
        if not isinstance(peer, VenuePeer):
            other = self._others.get(peer)
            return bool(other and other.started)
        state = self._venues.get(peer.venue)
        return bool(state and state.uplink and state.uplink.connected)

    async def close_peer(self, peer: PeerId, reason: str) -> None:
        if not isinstance(peer, VenuePeer):
            other = self._others.pop(peer, None)
            if other is not None:
                await other.handle.detach()
                log.info("peer_closed", peer=str(peer), reason=reason)
            return
        state = self._venues.pop(peer.venue, None)
        if state is None:
            return
        uplink, downlink = state.uplink, state.downlink
        connected = uplink is not None and uplink.connected
        if connected:
            # the others stop receiving it before its feed goes (no renegotiation for them)
            self._changed()
            if self._reconciler is not None:
                await asyncio.shield(self._reconciler)
        for handle in [h.handle for h in (uplink, downlink) if h is not None]:
            await handle.detach()  # Janus hangs its peer up (and stops forwarding it to the other nodes)
        for node in list(self._nodes.values()):
            await self._remove_remote(node, peer.venue)
        if uplink is not None and uplink.watchdog is not None and uplink.watchdog is not asyncio.current_task():
            uplink.watchdog.cancel()
        log.info("peer_closed", venue=peer.venue, reason=reason)
        if connected:
            self.presence.media_disconnected(peer.venue, reason)

    async def sample_links(self) -> dict[str, LinkStats]:
        """Every connected venue's link since the last sample, from its node's Admin API (none
        without one): what its publisher handle received (packets, bytes, lost by Janus's
        count) and its subscriber handle sent (bytes, the round trip of the venue's RTCP
        receiver reports). Janus counts no frames: `fps_in` is None. The requests go out
        together (`ADMIN_REQUESTS_PER_NODE` at most in flight on a node): a sample takes about
        one round trip, however many venues."""
        now = time.monotonic()
        limits = {url: asyncio.Semaphore(ADMIN_REQUESTS_PER_NODE) for url in self._admins}
        sampled = await asyncio.gather(*(self._sample_link(state, limits[state.node.url], now)
                                         for state in list(self._venues.values())
                                         if state.node.url in self._admins and state.uplink is not None
                                         and state.uplink.connected))
        return {venue: link for venue, link in sampled if link is not None}

    async def _sample_link(self, state: _Venue, limit: asyncio.Semaphore, now: float) -> tuple[str, LinkStats | None]:
        admin, uplink_handle = self._admins[state.node.url], state.uplink.handle if state.uplink else None
        downlink_handle = state.downlink.handle if state.downlink is not None and state.downlink.started else None

        async def media(handle: JanusHandle | None) -> list[dict]:
            if handle is None:
                return []
            async with limit:
                return await self._handle_media(admin, state.node, handle)

        try:
            uplink, downlink = await asyncio.gather(media(uplink_handle), media(downlink_handle))
        except JanusError as exc:
            log.info("janus_link_not_sampled", venue=state.venue, error=str(exc))
            return state.venue, None
        if self._venues.get(state.venue) is not state:
            return state.venue, None  # it left meanwhile
        rtts = [m["rtcp"]["main"]["rtt"] for m in downlink if _number(m, "rtcp", "main", "rtt")]
        if state.meter is None:
            state.meter = LinkMeter(now)
        link = state.meter.sample(
            now,
            bytes_in=sum(_number(m, "stats", "in", "bytes") for m in uplink),
            bytes_out=sum(_number(m, "stats", "out", "bytes") for m in downlink),
            frames_in=0,
            inbound=InboundCounts(received=sum(_number(m, "stats", "in", "packets") for m in uplink),
                                  lost=sum(max(_number(m, "rtcp", "main", "lost"), 0) for m in uplink)),
            rtt_ms=max(rtts) if rtts else None,
        )
        return state.venue, replace(link, fps_in=None)

    @staticmethod
    async def _handle_media(admin: JanusAdmin, node: _Node, handle: JanusHandle) -> list[dict]:
        """The audio and video media of a handle's PeerConnection, as `handle_info` reports them."""
        answer = await admin.request("handle_info", session_id=node.session.id, handle_id=handle.id)
        media = ((answer.get("info") or {}).get("webrtc") or {}).get("media") or {}  # by mid
        return [m for m in (media.values() if isinstance(media, dict) else media)
                if isinstance(m, dict) and m.get("type") in ("audio", "video")]

    async def close(self) -> None:
        peers: list[PeerId] = [*(VenuePeer(v) for v in self._venues), *self._others]
        for peer in peers:
            await self.close_peer(peer, "server stopping")
        if self._reconciler is not None:
            self._reconciler.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, *([self._reconciler] if self._reconciler else []), return_exceptions=True)
        nodes, self._nodes = list(self._nodes.values()), {}
        for node in nodes:
            for made in node.remote.values():
                made.cancel()
            await self._destroy_room(node)
            await node.session.close()
        for admin in self._admins.values():
            await admin.close()

    def _spawn(self, coro) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


async def check_nodes(urls: Sequence[str], secret: str | None) -> list[str]:
    """What stops each node from serving the plane: reached, the API secret accepted and the VideoRoom
    there (one sentence per node that fails; empty: every node answers as needed)."""

    async def check(url: str) -> str | None:
        try:
            session = await JanusSession.connect(url, secret)
        except JanusError as exc:
            return f"Janus node {url}: {exc}"
        try:
            handle = await session.attach()
            await handle.detach()
        except JanusError as exc:
            return f"Janus node {url} has no usable VideoRoom plugin: {exc}"
        finally:
            await session.close()
        return None

    return [problem for problem in await asyncio.gather(*(check(url) for url in urls)) if problem is not None]


def room_id(key: str) -> int:
    """The VideoRoom id the plane with `rooms_key` `key` uses on every node (below 2**52, as JSON readers need)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % 2**52 + 1


async def _destroy_leftover_room(handle: JanusHandle, room: int) -> None:
    """Destroy room `room` if it is there: left by an orchestrator that stopped without closing it
    (with its dummy and remote publishers; the others went with that orchestrator's sessions)."""
    try:
        await handle.message({"request": "destroy", "room": room})
    except JanusError as exc:
        if exc.code != NO_SUCH_ROOM:
            raise
        return
    log.warning("janus_leftover_room_destroyed", url=handle.session.url, room=room)


def _number(medium: dict, *path: str) -> int:
    """The integer at `path` in a medium of `handle_info` (0 where it is missing or not a number)."""
    value: object = medium
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
