"""Venue signalling on `/ws/venue`: authentication, SDP, roll call, hands, heartbeat.

The first message must be `hello` with the venue's join token. Then the venue sends
its offer and gets the answer (and, where the media plane offers the downlink, the
downlink offer it answers); the same socket carries the venue's view of the
session (`state`), roll-call prompts (to every listed venue at once in a check roll call;
to the called venue, with its deadline, in a called one), what the main venue's return
shows (`main_return`, to the main venue only: which venue each of its wall slots shows),
and the venue's requests. A venue whose
messages stop for `heartbeat_timeout_s` is disconnected. A second connection for the
same venue replaces the first (told `replaced`, closed with 4002; the venue page and the
agent then stop rather than take the venue back). Every message is a model of
`orchestrator.protocol`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .. import protocol as p
from ..conference import RollCallMode, VenueRole
from ..core import CommandRejected
from ..core import commands as c
from ..core import events as e
from ..core.state import SessionState
from ..i18n import N_, Language, phrase, translate
from ..logs import get_logger
from ..media.plane import MAX_WALL_SLOTS, OfferRejected, VenuePeer
from ..protocol import CLOSE_AUTH, CLOSE_HEARTBEAT, CLOSE_RATE, CLOSE_REPLACED, CLOSE_RESTART, CLOSE_REVOKED
from ..runtime import SessionRuntime
from .auth import REVOKED, JoinTokens, TokenRefused
from .http_errors import frame_problem
from .language import request_language
from .outbox import Outbox
from .views import VenueViews, main_return_message

log = get_logger(component="venue_ws")

HELLO_TIMEOUT_S = 10.0
MAX_MESSAGES_PER_S = 50


@dataclass(eq=False)
class VenueConnection:
    venue: str
    ws: web.WebSocketResponse
    last_seen: float = field(default_factory=time.monotonic)
    sent_view: p.VenueView | None = None
    sent_key: tuple | None = None  # what `sent_view` was made of (`VenueViews.key`)
    sent_return: p.MainReturn | None = None  # the main venue's
    window_start: float = field(default_factory=time.monotonic)
    window_count: int = 0
    lang: Language = "en"  # the reader's: refusals and notices in it
    outbox: Outbox = field(init=False)

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.ws, f"venue {self.venue}")

    def send(self, message: p.ToVenueMessage) -> None:
        self.outbox.send(p.wire(message))

    def count_message(self) -> bool:
        """False when the venue sends more than MAX_MESSAGES_PER_S."""
        now = time.monotonic()
        if now - self.window_start >= 1.0:
            self.window_start, self.window_count = now, 0
        self.window_count += 1
        return self.window_count <= MAX_MESSAGES_PER_S


class VenueHub:
    def __init__(
        self,
        host: SessionRuntime,
        tokens: JoinTokens,
        ice_servers: Callable[[str], list[dict[str, Any]]],
        heartbeat_timeout_s: float,
        max_message_bytes: int = 64 * 1024,
    ):
        self.host = host
        self.media = host.media
        self.tokens = tokens
        self.ice_servers = ice_servers
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.max_message_bytes = max_message_bytes
        self.connections: dict[str, VenueConnection] = {}
        self._tasks: set[asyncio.Task] = set()
        self._shared: tuple | None = None  # what every venue's view shared, last time (`VenueViews.shared`)

    # ------------------------------------------------------------ session -> venues

    def on_events(self, events: list[e.Event], state: SessionState) -> None:
        for event in events:
            if isinstance(event, e.RollCallPrompted) and event.venue in self.connections:
                self.connections[event.venue].send(p.RollCallPrompt(segment=event.segment))
            elif isinstance(event, e.RollCallCalled) and event.venue in self.connections:
                left = max(event.deadline - self.host.live.clock(), 0.0)
                self.connections[event.venue].send(p.RollCallPrompt(
                    segment=event.segment, mode=RollCallMode.CALLED, deadline=event.deadline, left_s=round(left, 3)))
            elif isinstance(event, e.LinkRevoked):
                log.warning("venue_link_revoked", venue=event.venue)
                conn = self.connections.get(event.venue)
                message = p.error_message("refused", translate(conn.lang if conn else "en", REVOKED))
                self._spawn(self.disconnect(event.venue, CLOSE_REVOKED, message))
            elif isinstance(event, e.MediaNodeLost):  # its venues reconnect, onto the remaining nodes
                for venue in event.venues:
                    if venue in self.connections:
                        self._spawn(self.disconnect(venue, CLOSE_RESTART, p.Restarting(
                            message="the media server was lost; reconnecting")))
        views = self._views()
        for conn in list(self.connections.values()):
            self._send_view(conn, views)

    def _views(self) -> VenueViews:
        """The venues' views of the session now (what they share kept from the last, if the same)."""
        views = VenueViews(self.host.session, self._shared)
        self._shared = views.shared
        return views

    def _send_view(self, conn: VenueConnection, views: VenueViews) -> None:
        key = views.key(conn.venue)
        if key != conn.sent_key:  # a view built only if what it is made of changed
            conn.sent_key = key
            view = views.view(conn.venue)
            if view != conn.sent_view:
                conn.sent_view = view
                conn.send(view)
        if conn.venue == self.host.conference.main_venue.id:
            shown = main_return_message(self.host.session)
            if shown != conn.sent_return:
                conn.sent_return = shown
                conn.send(shown)

    # ------------------------------------------------------------ the socket

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=self.max_message_bytes, autoping=True, heartbeat=None)
        await ws.prepare(request)
        conn = await self._authenticate(ws, request_language(request))
        if conn is None:
            return ws
        try:
            await self._serve(conn)
        except Exception as exc:
            log.exception("venue_socket_failed", venue=conn.venue, error=f"{type(exc).__name__}: {exc}")
        finally:
            # aiohttp cancels this handler when the client vanishes: the clean-up must still finish
            await asyncio.shield(self._spawn(self._closed(conn)))
        return ws

    async def _closed(self, conn: VenueConnection) -> None:
        if self.connections.get(conn.venue) is conn:
            del self.connections[conn.venue]
            await self.media.close_peer(VenuePeer(conn.venue), "signalling closed")
        conn.outbox.end()
        await conn.outbox.finished()
        if not conn.ws.closed:
            await conn.ws.close()
        log.info("venue_socket_closed", venue=conn.venue, code=conn.ws.close_code)

    async def _authenticate(self, ws: web.WebSocketResponse, lang: Language) -> VenueConnection | None:
        try:
            msg = await asyncio.wait_for(ws.receive(), HELLO_TIMEOUT_S)
        except TimeoutError:
            await self._refuse(ws, p.error_message("timeout", translate(lang, N_("no hello message within 10 s"))))
            return None
        if msg.type != WSMsgType.TEXT:
            if msg.type not in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                await self._refuse(ws, frame_problem(msg, lang))
            return None
        try:
            hello = p.parse_venue_message(msg.data)
            if not isinstance(hello, p.Hello):
                raise p.BadMessage(phrase(N_("the first message must be 'hello', not '{type}'"), type=hello.type),
                                   "bad_message", {"type": hello.type})
            claims = self.tokens.verify(hello.token)
            if hello.venue is not None and hello.venue != claims.venue:
                raise TokenRefused(N_("this link is for venue '{venue}', not '{other}'"), venue=claims.venue,
                                   other=hello.venue)
        except p.BadMessage as exc:
            await self._refuse(ws, p.error_message(exc.code, exc.text(lang), exc.params))
            return None
        except TokenRefused as exc:
            log.info("venue_refused", reason=str(exc))
            await self._refuse(ws, p.error_message("refused", exc.text(lang)))
            return None
        venue = claims.venue
        old = self.connections.get(venue)
        if old is not None:
            log.info("venue_connection_replaced", venue=venue)
            old.send(p.Replaced(message=translate(old.lang, N_("this venue connected again from elsewhere"))))
            old.outbox.end()
            self._spawn(old.ws.close(code=CLOSE_REPLACED, message=b"replaced"))
        conn = VenueConnection(venue, ws, lang=lang)
        self.connections[venue] = conn
        vconf = self.host.conference.venue_by_id[venue]
        info = self.host.conference.conference
        conn.send(
            p.Welcome(
                venue=p.VenueInfo(id=venue, name=vconf.name, role=vconf.role),
                conference=p.ConferenceInfo(id=info.id, title=info.title, timezone=info.timezone, language=info.language),
                venues={v.id: v.name for v in self.host.conference.venues},
                venue_index=[v.id for v in self.host.conference.venues].index(venue),
                ice_servers=[p.IceServer(**server) for server in self.ice_servers(venue)],
                heartbeat_s=max(self.heartbeat_timeout_s / 3, 0.2),
                wall_slots=MAX_WALL_SLOTS if vconf.role is VenueRole.MAIN else 0,  # enough for 4x4
                server_time=self.host.live.clock(),
                downlink=self.media.downlink,
            )
        )
        self._send_view(conn, self._views())
        log.info("venue_socket_opened", venue=venue, client=hello.client)
        return conn

    async def _refuse(self, ws: web.WebSocketResponse, error: p.ErrorMessage) -> None:
        try:
            await ws.send_json(p.wire(error))
        except (ConnectionError, RuntimeError):
            pass
        await ws.close(code=CLOSE_AUTH, message=error.code.encode())

    async def _serve(self, conn: VenueConnection) -> None:
        async for msg in conn.ws:
            conn.last_seen = time.monotonic()
            if not conn.count_message():
                conn.send(p.error_message("rate_limited", translate(conn.lang, N_("more than {limit} messages per second"),
                                                                    limit=MAX_MESSAGES_PER_S), {"limit": MAX_MESSAGES_PER_S}))
                log.warning("venue_rate_limited", venue=conn.venue)
                await asyncio.sleep(0.05)  # let the writer send the error
                await conn.ws.close(code=CLOSE_RATE, message=b"rate limited")
                return
            if msg.type != WSMsgType.TEXT:
                conn.send(frame_problem(msg, conn.lang))
                if msg.type == WSMsgType.ERROR:
                    return
                continue
            try:
                await self._dispatch(conn, p.parse_venue_message(msg.data))
            except p.BadMessage as exc:
                conn.send(p.error_message(exc.code, exc.text(conn.lang), exc.params))

    async def _dispatch(self, conn: VenueConnection, msg: p.VenueMessage) -> None:
        venue = conn.venue
        if isinstance(msg, p.Heartbeat):
            conn.send(p.Heartbeat())
        elif isinstance(msg, p.Offer):
            try:
                answer = await self.media.answer_venue(VenuePeer(venue), msg.sdp)
            except OfferRejected as exc:
                log.info("venue_offer_rejected", venue=venue, reason=str(exc))
                conn.send(p.error_message("bad_offer", exc.text(conn.lang)))
                return
            if self.connections.get(venue) is not conn:  # replaced while answering
                await self.media.close_peer(VenuePeer(venue), "replaced")
                return
            conn.send(p.Answer(sdp=answer))
            if self.media.downlink == "server_offer":
                await self._open_downlink(conn)
        elif isinstance(msg, p.DownlinkAnswer):
            try:
                await self.media.answer_downlink(VenuePeer(venue), msg.sdp)
            except OfferRejected as exc:
                log.info("venue_downlink_answer_rejected", venue=venue, reason=str(exc))
                conn.send(p.error_message("bad_answer", exc.text(conn.lang)))
        elif isinstance(msg, p.Hello):
            conn.send(p.error_message("bad_message", translate(conn.lang, N_("already authenticated"))))
        else:
            command: c.VenueCommand
            if isinstance(msg, p.RollCallAnswer):
                command = c.AnswerRollCall(venue=venue, picture_ok=msg.picture_ok, sound_ok=msg.sound_ok)
            elif isinstance(msg, p.RaiseHand):
                command = c.RaiseHand(venue=venue)
            else:
                command = c.LowerHand(venue=venue)
            try:
                self.host.execute(command)
            except CommandRejected as exc:
                conn.send(p.error_message(exc.code, p.reason(exc, conn.lang, self.host.conference), exc.params))
                return
            if isinstance(msg, p.RollCallAnswer):
                conn.send(p.RollCallRecorded(picture_ok=msg.picture_ok, sound_ok=msg.sound_ok))

    async def _open_downlink(self, conn: VenueConnection) -> None:
        """The venue's downlink peer: the media plane's offers (the first and any later) go to the venue."""

        def send_offer(sdp: str) -> None:
            if self.connections.get(conn.venue) is conn:
                conn.send(p.DownlinkOffer(sdp=sdp))

        try:
            await self.media.open_downlink(VenuePeer(conn.venue), send_offer)
        except OfferRejected as exc:
            log.info("venue_downlink_failed", venue=conn.venue, reason=str(exc))
            conn.send(p.error_message("bad_offer", exc.text(conn.lang)))

    # ------------------------------------------------------------ upkeep

    async def watch_heartbeats(self) -> None:
        """Disconnect venues whose messages stopped (a frozen or cut-off venue)."""
        while True:
            await asyncio.sleep(min(0.5, self.heartbeat_timeout_s / 4))
            now = time.monotonic()
            for conn in list(self.connections.values()):
                if now - conn.last_seen > self.heartbeat_timeout_s:
                    log.warning("venue_heartbeat_lost", venue=conn.venue, silent_s=round(now - conn.last_seen, 1))
                    if self.connections.get(conn.venue) is conn:
                        del self.connections[conn.venue]
                    await self.media.close_peer(VenuePeer(conn.venue), "heartbeat lost")
                    self._spawn(conn.ws.close(code=CLOSE_HEARTBEAT, message=b"heartbeat lost"))

    async def disconnect(self, venue: str, code: int, message: p.ToVenueMessage) -> None:
        conn = self.connections.pop(venue, None)
        if conn is not None:
            conn.send(message)
            conn.outbox.end()
            await self.media.close_peer(VenuePeer(venue), message.type)
            self._spawn(conn.ws.close(code=code, message=message.type.encode()))

    async def close_all(self, code: int, message: p.ToVenueMessage) -> None:
        for venue in list(self.connections):
            await self.disconnect(venue, code, message)
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
