"""A client of Janus's WebSocket API: one session per node, handles on it, requests by transaction.

Janus answers a request with `success` or `error` (session create, attach, detach,
synchronous plugin requests), or with `ack` and later an `event` carrying the same
transaction (asynchronous plugin requests: join, publish, start, switch...). Events
without a pending transaction (`webrtcup`, `hangup`, `media`, `slowlink`, `detached`,
and plugin events such as a subscriber's renegotiation offer) go to the handle's
listener. A keepalive every `KEEPALIVE_S` keeps the session (Janus drops it after 60 s
of silence). The API secret is sent with every request and never logged. `JanusAdmin`
is a client of a node's Admin API (statistics, the sessions and handles it holds).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections.abc import Callable
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, ValidationError

from ..logs import get_logger

KEEPALIVE_S = 25.0
REQUEST_TIMEOUT_S = 15.0
VIDEOROOM = "janus.plugin.videoroom"

log = get_logger(component="janus_api")


class JanusError(Exception):
    """Janus refused a request (or could not be reached); the message says what and why."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Jsep(_Model):
    type: Literal["offer", "answer"]
    sdp: str


class PluginData(_Model):
    plugin: str
    data: dict[str, Any]


class ErrorInfo(_Model):
    code: int
    reason: str


class Reply(_Model):
    """Any message Janus sends on the API socket (the fields the orchestrator reads)."""

    janus: str
    transaction: str | None = None
    session_id: int | None = None
    sender: int | None = None
    data: dict[str, Any] | None = None
    plugindata: PluginData | None = None
    jsep: Jsep | None = None
    error: ErrorInfo | None = None
    reason: str | None = None  # hangup
    type: str | None = None  # media, slowlink
    receiving: bool | None = None  # media
    mid: str | None = None
    uplink: bool | None = None  # slowlink
    lost: int | None = None  # slowlink

    @property
    def plugin(self) -> dict[str, Any]:
        """The plugin's part of an event (empty when there is none)."""
        return self.plugindata.data if self.plugindata is not None else {}


Listener = Callable[[Reply], None]


class JanusHandle:
    """One plugin handle: its requests, and the events Janus sends about it."""

    def __init__(self, session: JanusSession, handle_id: int):
        self.session = session
        self.id = handle_id
        self.listener: Listener = lambda reply: None

    async def message(self, body: dict[str, Any], jsep: Jsep | None = None) -> Reply:
        """Send a plugin request; its result (the synchronous answer, or the event after the ack).
        Raises JanusError when Janus or the plugin refuses it."""
        payload: dict[str, Any] = {"janus": "message", "handle_id": self.id, "body": body}
        if jsep is not None:
            payload["jsep"] = jsep.model_dump()
        reply = await self.session.request(payload, wait_event=True)
        data = reply.plugin
        if "error_code" in data:
            raise JanusError(f"{body.get('request')}: {data.get('error', 'refused')}", int(data["error_code"]))
        return reply

    async def detach(self) -> None:
        self.session.handles.pop(self.id, None)
        try:
            await self.session.request({"janus": "detach", "handle_id": self.id})
        except JanusError as exc:
            log.info("janus_detach_failed", handle=self.id, error=str(exc))


class JanusSession:
    """A Janus session over one WebSocket connection; `connect` makes one."""

    def __init__(self, url: str, secret: str | None, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self.url = url
        self._secret = secret
        self._http = http
        self._ws = ws
        self.id: int | None = None
        self.handles: dict[int, JanusHandle] = {}
        self.on_lost: Callable[[str], None] = lambda reason: None
        self._pending: dict[str, tuple[asyncio.Future[Reply], bool]] = {}
        self._numbers = itertools.count(1)
        self._prefix = secrets.token_hex(4)
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    @classmethod
    async def connect(cls, url: str, secret: str | None) -> JanusSession:
        """Open the API socket at `url` and create a session. Raises JanusError."""
        http = aiohttp.ClientSession()
        try:
            ws = await http.ws_connect(url, protocols=("janus-protocol",), heartbeat=None,
                                       timeout=aiohttp.ClientWSTimeout(ws_close=2), max_msg_size=4 << 20)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            await http.close()
            raise JanusError(f"cannot reach Janus at {url}: {type(exc).__name__}: {exc}") from None
        except BaseException:  # cancelled while connecting: nothing may be left open
            await asyncio.shield(http.close())
            raise
        session = cls(url, secret, http, ws)
        session._tasks.append(asyncio.ensure_future(session._read()))
        try:
            created = await session.request({"janus": "create"})
        except BaseException:  # refused, or cancelled while asking
            await asyncio.shield(session.close())
            raise
        session.id = int((created.data or {})["id"])
        session._tasks.append(asyncio.ensure_future(session._keepalive()))
        log.info("janus_session_created", url=url, session=session.id)
        return session

    async def attach(self, plugin: str = VIDEOROOM) -> JanusHandle:
        reply = await self.request({"janus": "attach", "plugin": plugin})
        handle = JanusHandle(self, int((reply.data or {})["id"]))
        self.handles[handle.id] = handle
        return handle

    async def request(self, payload: dict[str, Any], wait_event: bool = False) -> Reply:
        """Send `payload` with a new transaction; its answer. Raises JanusError."""
        if self._closed or self._ws.closed:
            raise JanusError(f"the connection to Janus at {self.url} is closed")
        transaction = f"{self._prefix}-{next(self._numbers)}"
        message = {**payload, "transaction": transaction}
        if self.id is not None:
            message["session_id"] = self.id
        if self._secret is not None:
            message["apisecret"] = self._secret
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[transaction] = (future, wait_event)
        try:
            await self._ws.send_json(message)
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                reply = await future
        except TimeoutError:
            raise JanusError(f"Janus at {self.url} did not answer {payload['janus']} within {REQUEST_TIMEOUT_S} s") from None
        except (ConnectionError, RuntimeError) as exc:
            raise JanusError(f"the connection to Janus at {self.url} failed: {exc}") from None
        finally:
            self._pending.pop(transaction, None)
        if reply.janus == "error":
            info = reply.error
            raise JanusError(f"Janus refused {payload['janus']}: {info.reason if info else 'unknown error'}",
                             info.code if info else None)
        return reply

    async def _read(self) -> None:
        reason = "closed"
        try:
            async for msg in self._ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                try:
                    reply = Reply.model_validate_json(msg.data)
                except ValidationError as exc:
                    log.warning("janus_message_unreadable", url=self.url, error=str(exc).splitlines()[0])
                    continue
                self._dispatch(reply)
        except Exception as exc:  # the reader must not die silently
            reason = f"{type(exc).__name__}: {exc}"
            log.exception("janus_reader_failed", url=self.url)
        finally:
            for future, _ in self._pending.values():
                if not future.done():
                    future.set_exception(JanusError(f"the connection to Janus at {self.url} closed"))
            if not self._closed:
                log.error("janus_connection_lost", url=self.url, reason=reason)
                self.on_lost(reason)

    def _dispatch(self, reply: Reply) -> None:
        waiting = self._pending.get(reply.transaction or "")
        # a subscriber's renegotiation offer may carry the transaction of the switch that caused it
        renegotiation = reply.plugin.get("videoroom") == "updated" and reply.jsep is not None
        if waiting is not None and not renegotiation:
            future, wait_event = waiting
            if reply.janus == "ack" and wait_event:
                return
            if not future.done():
                future.set_result(reply)
            return
        if reply.janus in ("ack", "success"):
            return
        handle = self.handles.get(reply.sender or -1)
        if handle is None:
            if reply.janus == "timeout":
                log.error("janus_session_timed_out", url=self.url, session=self.id)
            return
        try:
            handle.listener(reply)
        except Exception:
            log.exception("janus_listener_failed", url=self.url, handle=handle.id, event=reply.janus)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_S)
            try:
                await self.request({"janus": "keepalive"})
            except JanusError as exc:
                log.warning("janus_keepalive_failed", url=self.url, error=str(exc))

    async def close(self) -> None:
        """Destroy the session (Janus hangs up its handles) and close the socket."""
        if not self._closed and self.id is not None and not self._ws.closed:
            try:
                await self.request({"janus": "destroy"})
            except (JanusError, TimeoutError) as exc:
                log.info("janus_destroy_failed", url=self.url, error=str(exc))
        self._closed = True
        try:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._ws.close()
        finally:
            await self._http.close()


class JanusAdmin:
    """A client of one node's Admin API (its WebSocket, `janus-admin-protocol`): requests sent
    concurrently on one connection, each answered with `success` or `error` and matched to it by
    transaction. Connects on first use and again after the connection was lost. The admin secret
    is sent with every request and never logged."""

    def __init__(self, url: str, secret: str | None):
        self.url = url
        self._secret = secret
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()
        self._pending: dict[str, tuple[aiohttp.ClientWebSocketResponse, asyncio.Future[dict[str, Any]]]] = {}
        self._numbers = itertools.count(1)

    async def request(self, janus: str, **fields: Any) -> dict[str, Any]:
        """Send an admin request (`janus`: e.g. "list_sessions", "handle_info"); Janus's answer.
        Raises JanusError."""
        transaction = f"admin-{next(self._numbers)}"
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                ws = await self._connected()
                answered: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
                self._pending[transaction] = (ws, answered)
                message = {"janus": janus, "transaction": transaction, **fields}
                if self._secret is not None:
                    message["admin_secret"] = self._secret
                await ws.send_json(message)
                reply = await answered
        except TimeoutError:
            await self.close()
            raise JanusError(f"Janus's Admin API at {self.url} did not answer {janus} within {REQUEST_TIMEOUT_S} s") from None
        except (aiohttp.ClientError, OSError, ConnectionError, RuntimeError, ValueError) as exc:
            await self.close()
            raise JanusError(f"Janus's Admin API at {self.url} failed: {type(exc).__name__}: {exc}") from None
        finally:
            self._pending.pop(transaction, None)
        if reply.get("janus") != "success":
            error = reply.get("error") or {}
            raise JanusError(f"Janus's Admin API refused {janus}: {error.get('reason', 'unknown error')}",
                             error.get("code"))
        return reply

    async def _connected(self) -> aiohttp.ClientWebSocketResponse:
        async with self._connecting:
            if self._ws is None or self._ws.closed:
                await self._close()
                self._http = aiohttp.ClientSession()  # closed by close(), whatever happens to the connection
                self._ws = await self._http.ws_connect(self.url, protocols=("janus-admin-protocol",), heartbeat=None,
                                                       timeout=aiohttp.ClientWSTimeout(ws_close=2),
                                                       max_msg_size=4 << 20)
                self._reader = asyncio.ensure_future(self._read(self._ws))
            return self._ws

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Hand each answer on `ws` to its request; when `ws` closes, fail the requests still waiting on it."""
        reason = "the socket closed"
        try:
            async for answer in ws:
                if answer.type != aiohttp.WSMsgType.TEXT:
                    reason = f"the socket closed ({answer.type.name})"
                    break
                try:
                    reply = json.loads(answer.data)
                except ValueError:
                    log.warning("janus_admin_answer_unreadable", url=self.url)
                    continue
                transaction = reply.get("transaction") if isinstance(reply, dict) else None
                waiting = self._pending.get(transaction) if isinstance(transaction, str) else None
                if waiting is not None and not waiting[1].done():
                    waiting[1].set_result(reply)
        finally:
            for on, answered in list(self._pending.values()):
                if on is ws and not answered.done():
                    answered.set_exception(ConnectionError(reason))

    async def close(self) -> None:
        """Close the connection (the requests waiting on it fail); the next request connects again."""
        async with self._connecting:  # not while a connection is being made: it would be left open
            await self._close()

    async def _close(self) -> None:
        ws, http, reader = self._ws, self._http, self._reader
        self._ws, self._http, self._reader = None, None, None
        try:
            if reader is not None:  # its requests still waiting fail
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
            if ws is not None:
                await ws.close()
        finally:
            if http is not None:
                await http.close()
