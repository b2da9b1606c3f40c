"""The operator API as a client, typed with the protocol's models.

`OperatorClient` posts commands (with a command id, so a retry is applied once), reads
the state, the join links and the roll calls, and opens the operator socket (`OperatorSocket`), which
keeps the latest state and every session event as they arrive. The rehearsal, the
benchmark and the tests drive the server with it, as the console does. `wait_healthy`
waits for a server to answer its health check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from pydantic import BaseModel, TypeAdapter, ValidationError

from . import protocol as p
from .core.events import Event


class UnexpectedAnswer(Exception):
    """The server answered something the protocol does not allow here."""

    def __init__(self, what: str, status: int, body: bytes | str):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        super().__init__(f"{what}: HTTP {status}: {text[:300]}")
        self.status = status
        self.error: p.ErrorBody | None = None
        try:
            self.error = p.error_body_adapter.validate_json(body)
        except ValidationError:
            pass


@dataclass(frozen=True)
class CommandAnswer:
    """The server's answer to a command: its events (200), or why not (409, 422, ...)."""

    status: int
    events: list[Event] = field(default_factory=list)
    error: str | None = None  # the sentence
    code: str | None = None  # e.g. not_connected, link_poor_needs_confirm, bad_message
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200


def _parse(adapter: TypeAdapter, body: bytes | str, what: str, status: int):
    try:
        return adapter.validate_json(body)
    except ValidationError:
        raise UnexpectedAnswer(what, status, body) from None


class OperatorClient:
    def __init__(self, http: aiohttp.ClientSession, base_url: str, token: str):
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}

    async def command(self, command: BaseModel | Mapping[str, Any], command_id: str | None = None) -> CommandAnswer:
        """POST one operator command (a core command, or its JSON form)."""
        body = command.model_dump(mode="json") if isinstance(command, BaseModel) else dict(command)
        if command_id is not None:
            body["id"] = command_id
        async with self.http.post(f"{self.base_url}/api/commands", json=body, headers=self.headers) as r:
            status, text = r.status, await r.read()
        if status == 200:
            accepted = _parse(p.command_accepted_adapter, text, "POST /api/commands", status)
            return CommandAnswer(status, list(accepted.events))
        refused = _parse(p.error_body_adapter, text, "POST /api/commands", status)
        return CommandAnswer(status, [], refused.error, refused.code, dict(refused.params or {}))

    async def _get(self, path: str, adapter: TypeAdapter):
        async with self.http.get(f"{self.base_url}{path}", headers=self.headers) as r:
            status, text = r.status, await r.read()
        if status != 200:
            raise UnexpectedAnswer(f"GET {path}", status, text)
        return _parse(adapter, text, f"GET {path}", status)

    async def state(self) -> p.OperatorState:
        return await self._get("/api/state", p.operator_state_adapter)

    async def links(self) -> p.JoinLinks:
        return await self._get("/api/links", p.join_links_adapter)

    async def roll_calls(self) -> p.RollCalls:
        """Every roll call run, by segment, with its record."""
        return await self._get("/api/roll-calls", p.roll_calls_adapter)

    async def socket(self, timeout: float = 10.0, **options: Any) -> OperatorSocket:
        """Open `/ws/operator`; returns once the first state has arrived."""
        url = f"{self.base_url.replace('http', 'ws', 1)}/ws/operator"
        ws = await self.http.ws_connect(url, headers=self.headers, **options)
        sock = OperatorSocket(ws)
        first = await sock.receive(timeout)
        if not isinstance(first, p.StateMessage):
            await ws.close()
            raise UnexpectedAnswer("/ws/operator: the first message is not the state", 101, str(first))
        return sock


class OperatorSocket:
    """The operator socket: send console messages; `receive` (or `watch`) keeps `state`
    (the latest pushed) and `events` (every session event, in order)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws = ws
        self.state: p.OperatorState | None = None
        self.events: list[Event] = []
        self.on_change: list[Callable[[], None]] = []
        self._changed = asyncio.Condition()

    @property
    def closed(self) -> bool:
        return self.ws.closed

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code

    async def send(self, message: p.ConsoleMessage) -> None:
        await self.ws.send_json(p.wire(message))

    async def send_raw(self, frame: str | bytes) -> None:
        """Any frame at all (for tests of bad input)."""
        await (self.ws.send_bytes(frame) if isinstance(frame, bytes) else self.ws.send_str(frame))

    async def command(self, command: BaseModel | Mapping[str, Any], ref: Any = None) -> None:
        """Send a command; its `command_result` arrives with the same `ref`."""
        body = command.model_dump(mode="json") if isinstance(command, BaseModel) else dict(command)
        await self.send(p.CommandMessage(command=body, ref=ref))

    async def receive(self, timeout: float | None = None) -> p.ToConsoleMessage | None:
        """The next message (None once the socket is closed). Raises asyncio.TimeoutError,
        or BadMessage when the server sends something the protocol does not allow."""
        msg = await self.ws.receive(timeout)
        if msg.type != aiohttp.WSMsgType.TEXT:
            return None
        message = p.parse(p.to_console_adapter, msg.data)
        if isinstance(message, (p.StateMessage, p.EventsMessage)):
            if isinstance(message, p.StateMessage):
                self.state = message.state
            else:
                self.events.extend(message.events)
            for callback in self.on_change:
                callback()
            async with self._changed:
                self._changed.notify_all()
        return message

    async def watch(self) -> None:
        """Read the socket until it closes."""
        while await self.receive() is not None:
            pass

    async def wait_for(self, predicate: Callable[[p.OperatorState], bool], timeout: float) -> bool:
        """Wait (while `watch` runs) until the pushed state satisfies `predicate`; False on timeout."""
        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: self.state is not None and predicate(self.state))

        try:
            await asyncio.wait_for(until(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        await self.ws.close()


async def wait_healthy(
    base_url: str, timeout: float, *, interval: float = 0.05, give_up: Callable[[], str | None] | None = None
) -> float:
    """Wait until the server at `base_url` answers `GET /healthz` with ok; returns the
    seconds it took. TimeoutError after `timeout`; RuntimeError as soon as `give_up()`
    returns a reason (e.g. the server's process has exited)."""
    start = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=max(interval, 2.0))) as http:
        while True:
            try:
                async with http.get(f"{base_url.rstrip('/')}/healthz") as r:
                    if r.status == 200 and p.health_adapter.validate_json(await r.read()).ok:
                        return time.monotonic() - start
            except (TimeoutError, aiohttp.ClientError, ValidationError):
                pass
            if give_up is not None and (reason := give_up()):
                raise RuntimeError(f"the server at {base_url} will not answer: {reason}")
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"the server at {base_url} did not answer its health check within {timeout:g} s")
            await asyncio.sleep(interval)
