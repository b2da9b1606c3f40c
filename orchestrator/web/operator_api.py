"""The operator's API: commands, state, links, and the operator socket (state push, monitors)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web
from pydantic import ValidationError

from ..core import CommandRejected
from ..core.commands import operator_command_adapter
from ..core.events import Event
from ..core.state import SessionState
from ..logs import get_logger
from ..media.plane import MonitorPeer, OfferRejected
from ..runtime import SessionRuntime
from .auth import JoinTokens
from .console import ConsoleAuth, roll_call_csv
from .messages import BadMessage, describe_validation_error, parse_json_object
from .outbox import Outbox
from .views import operator_state

log = get_logger(component="operator")

MAX_BODY_BYTES = 64 * 1024


@dataclass(eq=False)
class OperatorConnection:
    monitor: MonitorPeer  # this console's monitor peer, if it makes one
    ws: web.WebSocketResponse
    outbox: Outbox = field(init=False)

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.ws, f"operator {self.monitor.number}")

    def send(self, message: dict) -> None:
        self.outbox.send(message)


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

    # ------------------------------------------------------------ auth

    async def _require(self, request: web.Request, changes_state: bool = False) -> None:
        if not self.auth.is_operator(request, changes_state=changes_state):
            if request.headers.get("Authorization"):
                await self.auth.slow_down(request, "bearer token")
            raise web.HTTPUnauthorized(
                text='{"error": "operator authorisation required (Authorization: Bearer <operator token>)"}',
                content_type="application/json",
                headers={"WWW-Authenticate": "Bearer"},
            )

    # ------------------------------------------------------------ state

    def state(self) -> dict:
        return operator_state(self.host.session, self.host.links, self.host.live.clock(), self.media.program_snapshot())

    def on_events(self, events: list[Event], state: SessionState) -> None:
        payload = [ev.model_dump(mode="json") for ev in events]
        snapshot = self.state()
        for conn in list(self.sockets.values()):
            conn.send({"type": "events", "events": payload})
            conn.send({"type": "state", "state": snapshot})

    def push_state(self) -> None:
        if self.sockets:
            snapshot = self.state()
            for conn in list(self.sockets.values()):
                conn.send({"type": "state", "state": snapshot})

    # ------------------------------------------------------------ HTTP

    async def get_state(self, request: web.Request) -> web.Response:
        await self._require(request)
        return web.json_response(self.state())

    async def get_links(self, request: web.Request) -> web.Response:
        await self._require(request)
        base = self.base_url(request)
        return web.json_response({v.id: self.tokens.link(base, v.id) for v in self.host.conference.venues})

    async def get_roll_call_csv(self, request: web.Request) -> web.Response:
        await self._require(request)
        roll_call = self.state().get("roll_call")
        name = f"roll-call-{roll_call['segment']}.csv" if roll_call else "roll-call.csv"
        return web.Response(
            text=roll_call_csv(self.state()), content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def post_command(self, request: web.Request) -> web.Response:
        await self._require(request, changes_state=True)
        body = await request.read()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, f"the body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
        try:
            status, payload = self.run_command(parse_json_object(body))
        except BadMessage as exc:
            return _error(422, str(exc))
        return web.json_response(payload, status=status)

    def run_command(self, data: dict) -> tuple[int, dict]:
        """Validate and execute one operator command given as JSON: (HTTP status, body)."""
        command_id = data.pop("id", None)
        if command_id is not None and (not isinstance(command_id, str) or not 0 < len(command_id) <= 100):
            return 422, {"error": "'id' must be a string of 1 to 100 characters"}
        try:
            command = operator_command_adapter.validate_python(data)
        except ValidationError as exc:
            return 422, {"error": describe_validation_error(exc)}
        try:
            events = self.host.execute(command, command_id)
        except CommandRejected as exc:
            return 409, {"error": str(exc)}
        return 200, {"events": [ev.model_dump(mode="json") for ev in events]}

    # ------------------------------------------------------------ socket

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        await self._require(request)
        ws = web.WebSocketResponse(max_msg_size=MAX_BODY_BYTES + 4096)
        await ws.prepare(request)
        self._counter += 1
        conn = OperatorConnection(MonitorPeer(self._counter), ws)
        self.sockets[conn.monitor] = conn
        conn.send({"type": "state", "state": self.state()})
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    conn.send({"type": "error", "message": "messages must be JSON text frames"})
                    continue
                try:
                    await self._on_message(conn, parse_json_object(msg.data))
                except BadMessage as exc:
                    conn.send({"type": "error", "message": str(exc)})
        finally:
            self.sockets.pop(conn.monitor, None)
            conn.outbox.end()
            cleanup = asyncio.ensure_future(self.media.close_peer(conn.monitor, "operator socket closed"))
            await asyncio.shield(asyncio.gather(cleanup, conn.outbox.finished(), return_exceptions=True))
        return ws

    async def _on_message(self, conn: OperatorConnection, data: dict) -> None:
        kind = data.get("type")
        if kind == "command":
            command = data.get("command")
            if not isinstance(command, dict):
                raise BadMessage("'command' must be an object")
            status, payload = self.run_command(dict(command))
            conn.send({"type": "command_result", "status": status, "ref": data.get("ref"), **payload})
        elif kind == "offer":
            try:
                answer = await self.media.answer_monitor(conn.monitor, str(data.get("sdp", "")))
            except OfferRejected as exc:
                conn.send({"type": "error", "message": str(exc)})
                return
            conn.send({"type": "answer", "sdp": answer})
        elif kind == "monitor":
            slot, venue = data.get("slot"), data.get("venue")
            if venue is not None and (not isinstance(venue, str) or venue not in self.host.conference.venue_by_id):
                raise BadMessage(f"there is no venue {venue!r}")
            if not isinstance(slot, int):
                raise BadMessage("'slot' must be a number")
            try:
                self.media.set_monitor(conn.monitor, slot, venue)
            except ValueError as exc:
                raise BadMessage(str(exc)) from None
        else:
            raise BadMessage(f"unknown message type {kind!r} (expected command, offer or monitor)")

    async def close_all(self) -> None:
        for conn in list(self.sockets.values()):
            conn.outbox.end()
            await conn.ws.close()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
