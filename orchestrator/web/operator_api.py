"""The operator's API: commands, state, links, and the operator socket (state push, monitors)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from .. import protocol as p
from ..core import CommandRejected
from ..core.commands import operator_command_adapter
from ..core.events import Event
from ..core.state import SessionState
from ..i18n import N_, Language, phrase, translate
from ..logs import get_logger
from ..media.plane import MonitorPeer, OfferRejected, media_nodes
from ..media.sfu import check_offer
from ..minutes import FORMATS, MEDIA_TYPES, read_minutes, render
from ..protocol import BadMessage
from ..runtime import SessionRuntime
from .auth import JoinTokens
from .console import ConsoleAuth, roll_call_csv
from .http_errors import frame_problem, too_large
from .language import request_language
from .outbox import Outbox
from .views import latest_roll_call, operator_state, roll_call_view, roll_call_views

log = get_logger(component="operator")

MAX_BODY_BYTES = 64 * 1024
# The consoles get the whole state after a change, at most once per this; the changes within it
# (hundreds of venues joining at once) are pushed together at its end. Their events go at once.
STATE_PUSH_INTERVAL_S = 0.25


@dataclass(eq=False)
class OperatorConnection:
    monitor: MonitorPeer  # this console's monitor peer, if it makes one
    ws: web.WebSocketResponse
    lang: Language = "en"  # the reader's: refusals and the session's notes in it
    outbox: Outbox = field(init=False)

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.ws, f"operator {self.monitor.number}")

    def send(self, message: p.ToConsoleMessage) -> None:
        self.outbox.send(p.wire(message))


class OperatorApi:
    def __init__(
        self,
        host: SessionRuntime,
        tokens: JoinTokens,
        auth: ConsoleAuth,
        base_url: Callable[[web.Request], str],
    ):
        self.host = host
        self.media = host.media
        self.tokens = tokens
        self.auth = auth
        self.base_url = base_url
        self.sockets: dict[MonitorPeer, OperatorConnection] = {}
        self._counter = 0
        self._pushed_at = float("-inf")  # when the state last went to the consoles (monotonic clock)
        self._push_due: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------ auth

    async def _require(self, request: web.Request, changes_state: bool = False) -> None:
        if not self.auth.is_operator(request, changes_state=changes_state):
            if request.headers.get("Authorization"):
                await self.auth.slow_down(request, "bearer token")
            said = N_("operator authorisation required (Authorization: Bearer <operator token>)")
            raise web.HTTPUnauthorized(
                text=json.dumps(p.wire(p.error_body("unauthorised", translate(request_language(request), said)))),
                content_type="application/json",
                headers={"WWW-Authenticate": "Bearer"},
            )

    # ------------------------------------------------------------ state

    def state(self, lang: Language = "en") -> p.OperatorState:
        return operator_state(self.host.session, self.host.links, self.host.live.clock(), self.media.program_snapshot(),
                              lang, media_nodes(self.media))

    def _snapshots(self) -> dict[Language, dict]:
        """The state message in each language a console reads."""
        return {lang: p.wire(p.StateMessage(state=self.state(lang))) for lang in {c.lang for c in self.sockets.values()}}

    def on_events(self, events: list[Event], state: SessionState) -> None:
        if not self.sockets:
            return
        news = p.wire(p.EventsMessage(events=events))
        for conn in list(self.sockets.values()):
            conn.outbox.send(news)
        self.push_state()

    def push_state(self) -> None:
        """The state to every console: now, or if it went out less than STATE_PUSH_INTERVAL_S
        ago, once at the end of that interval (with every change made meanwhile)."""
        if not self.sockets or self._push_due is not None:
            return
        wait = self._pushed_at + STATE_PUSH_INTERVAL_S - time.monotonic()
        if wait > 0:
            self._push_due = asyncio.get_running_loop().call_later(wait, self._push_now)
        else:
            self._push_now()

    def _push_now(self) -> None:
        self._push_due = None
        self._pushed_at = time.monotonic()
        if self.sockets:
            snapshots = self._snapshots()
            for conn in list(self.sockets.values()):
                conn.outbox.send(snapshots[conn.lang])

    # ------------------------------------------------------------ HTTP

    async def get_state(self, request: web.Request) -> web.Response:
        await self._require(request)
        return web.json_response(p.wire(self.state(request_language(request))))

    async def get_links(self, request: web.Request) -> web.Response:
        await self._require(request)
        base = self.base_url(request)
        links: p.JoinLinks = {v.id: self.tokens.link(base, v.id) for v in self.host.conference.venues}
        return web.json_response(links)

    async def get_roll_calls(self, request: web.Request) -> web.Response:
        await self._require(request)
        views = roll_call_views(self.host.session, request_language(request))
        return web.json_response(p.roll_calls_adapter.dump_python(views, mode="json"))

    async def get_roll_call_csv(self, request: web.Request) -> web.Response:
        """`?segment=ID`: that segment's roll call; without it, the one the console shows."""
        await self._require(request)
        session = self.host.session
        segment = request.query.get("segment") or latest_roll_call(session)
        roll_calls = session.state.roll_calls
        if segment is not None and segment not in roll_calls:
            if segment not in self.host.conference.segment_by_id:
                why = f"there is no segment '{segment[:64]}' in the agenda"
            else:
                why = f"the roll call of '{segment}' has not been run"
            ran = ", ".join(roll_calls) or "none"
            return web.json_response(p.wire(p.error_body("roll_call_not_found", f"{why} (roll calls run: {ran})",
                                                         {"segment": segment[:64]})), status=404)
        conf = self.host.conference
        text = roll_call_csv(roll_call_view(roll_calls[segment], request_language(request)) if segment else None,
                             {v.id: v.name for v in conf.venues}, conf.conference.timezone)
        name = f"roll-call-{segment}.csv" if segment else "roll-call.csv"
        return web.Response(text=text, content_type="text/csv",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def get_minutes(self, request: web.Request) -> web.Response:
        """The minutes of the session up to now (`?format=html|md|json`), read from the event log
        off the event loop."""
        await self._require(request)
        fmt = request.query.get("format", "html")
        if fmt not in FORMATS:
            body = p.error_body("bad_format", f"unknown minutes format {fmt!r}: use {', '.join(FORMATS)}", {"format": fmt})
            return web.json_response(p.wire(body), status=422)
        conference, path, now = self.host.conference, self.host.live.log.path, self.host.live.clock()
        lang = request_language(request)
        text = await asyncio.to_thread(lambda: render(read_minutes(conference, path, now, lang), fmt))
        return web.Response(text=text, content_type=MEDIA_TYPES[fmt], charset="utf-8")

    async def post_command(self, request: web.Request) -> web.Response:
        await self._require(request, changes_state=True)  # before reading a byte of the body
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return too_large(request.content_length, MAX_BODY_BYTES, request_language(request))
        body = await request.read()  # a chunked body past the app's hard cap: HTTPRequestEntityTooLarge
        if len(body) > MAX_BODY_BYTES:
            return too_large(len(body), MAX_BODY_BYTES, request_language(request))
        lang = request_language(request)
        try:
            status, answer = self.run_command(p.parse_json_object(body), lang)
        except BadMessage as exc:
            status, answer = 422, p.refusal(exc, lang)
        return web.json_response(p.wire(answer), status=status)

    def run_command(self, data: dict, lang: Language = "en") -> tuple[int, p.CommandAccepted | p.ErrorBody]:
        """Validate and execute one operator command given as JSON: (HTTP status, body; a
        refusal's sentence in `lang`)."""
        command_id = data.pop("id", None)
        if command_id is not None and not p.valid(p.command_id_adapter, command_id):
            return 422, p.error_body("bad_message", translate(lang, N_("'id' must be a string of 1 to 100 characters")),
                                     {"field": "id"})
        try:
            command = p.validate(operator_command_adapter, data)
        except BadMessage as exc:
            return 422, p.refusal(exc, lang)
        try:
            events = self.host.execute(command, command_id)
        except CommandRejected as exc:
            return 409, p.refusal(exc, lang, self.host.conference)
        return 200, p.CommandAccepted(events=events)

    # ------------------------------------------------------------ socket

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        await self._require(request)
        ws = web.WebSocketResponse(max_msg_size=MAX_BODY_BYTES + 4096)
        await ws.prepare(request)
        self._counter += 1
        conn = OperatorConnection(MonitorPeer(self._counter), ws, request_language(request))
        self.sockets[conn.monitor] = conn
        conn.send(p.StateMessage(state=self.state(conn.lang)))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    conn.send(frame_problem(msg, conn.lang))
                    if msg.type == WSMsgType.ERROR:
                        break
                    continue
                try:
                    await self._on_message(conn, p.parse(p.console_message_adapter, msg.data))
                except BadMessage as exc:
                    conn.send(p.error_message(exc.code, exc.text(conn.lang), exc.params))
        finally:
            self.sockets.pop(conn.monitor, None)
            conn.outbox.end()
            cleanup = asyncio.ensure_future(self.media.close_peer(conn.monitor, "operator socket closed"))
            await asyncio.shield(asyncio.gather(cleanup, conn.outbox.finished(), return_exceptions=True))
        return ws

    async def _on_message(self, conn: OperatorConnection, msg: p.ConsoleMessage) -> None:
        if isinstance(msg, p.CommandMessage):
            status, answer = self.run_command(dict(msg.command), conn.lang)
            if isinstance(answer, p.CommandAccepted):
                conn.send(p.CommandResult(status=status, ref=msg.ref, events=answer.events))
            else:
                conn.send(p.CommandResult(status=status, ref=msg.ref, error=answer.error, code=answer.code,
                                          params=answer.params or None))
        elif isinstance(msg, p.MonitorOffer):
            try:
                if self.media.downlink == "server_offer":
                    await self._open_monitor(conn, len(check_offer(msg.sdp, monitor=True).media))
                    return
                sdp = await self.media.answer_monitor(conn.monitor, msg.sdp)
            except OfferRejected as exc:
                conn.send(p.error_message("bad_offer", exc.text(conn.lang)))
                return
            conn.send(p.Answer(sdp=sdp))
        elif isinstance(msg, p.DownlinkAnswer):
            try:
                await self.media.answer_downlink(conn.monitor, msg.sdp)
            except OfferRejected as exc:
                conn.send(p.error_message("bad_answer", exc.text(conn.lang)))
        else:
            if msg.venue is not None and msg.venue not in self.host.conference.venue_by_id:
                raise BadMessage(phrase(N_("there is no venue {venue}"), venue=repr(msg.venue)), "unknown_venue",
                                 {"venue": msg.venue})
            try:
                self.media.set_monitor(conn.monitor, msg.slot, msg.venue)
            except ValueError as exc:
                raise BadMessage(str(exc), "unknown_monitor_slot", {"slot": msg.slot}) from None

    async def _open_monitor(self, conn: OperatorConnection, slots: int) -> None:
        """The monitor's peer as the media plane offers it: its offers go to the console."""

        def send_offer(sdp: str) -> None:
            if self.sockets.get(conn.monitor) is conn:
                conn.send(p.DownlinkOffer(sdp=sdp))

        await self.media.open_downlink(conn.monitor, send_offer, slots=slots)

    async def close_all(self) -> None:
        for conn in list(self.sockets.values()):
            conn.outbox.end()
            await conn.ws.close()

