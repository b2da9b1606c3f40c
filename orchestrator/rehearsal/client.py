"""The rehearsal's operator: the operator API over HTTP, and the operator socket to watch.

Commands go to `POST /api/commands` with the bearer token, exactly as an operator
sends them; each is recorded with its send and answer times. The operator socket
(`/ws/operator`) delivers every session event as it happens (including those the server
decides by itself, such as a fallback when a venue drops) and the state after it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ..logs import get_logger

log = get_logger(component="rehearsal")


@dataclass
class CommandRecord:
    """One operator command and the server's answer."""

    command: dict[str, Any]
    sent: float  # unix time
    answered: float
    status: int
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


class OperatorClient:
    def __init__(self, http: aiohttp.ClientSession, base_url: str, token: str):
        self.http = http
        self.base_url = base_url
        self._headers = {"Authorization": f"Bearer {token}"}
        self.commands: list[CommandRecord] = []
        self.events: list[dict[str, Any]] = []  # every session event seen on the socket, in order
        self.state: dict[str, Any] = {}  # the latest state pushed on the socket
        self.on_change: list[Callable[[], None]] = []
        self._changed = asyncio.Condition()
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    # ------------------------------------------------------------ HTTP

    async def command(self, command: dict[str, Any]) -> CommandRecord:
        sent = time.time()
        async with self.http.post(f"{self.base_url}/api/commands", json=command, headers=self._headers) as r:
            body = await r.json()
            record = CommandRecord(
                command=command, sent=sent, answered=time.time(), status=r.status,
                events=body.get("events", []), error=body.get("error"),
            )
        self.commands.append(record)
        log.info("command_sent", command=command.get("type"), status=record.status, error=record.error)
        return record

    async def get_state(self) -> dict[str, Any]:
        async with self.http.get(f"{self.base_url}/api/state", headers=self._headers) as r:
            r.raise_for_status()
            return await r.json()

    # ------------------------------------------------------------ socket

    async def connect(self) -> None:
        self._ws = await self.http.ws_connect(f"{self.base_url.replace('http', 'ws', 1)}/ws/operator", headers=self._headers)
        first = await self._ws.receive_json(timeout=10)
        self.state = first.get("state", {})

    async def watch(self) -> None:
        """Read the operator socket until it closes; keep the events and the latest state."""
        assert self._ws is not None, "connect() first"
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = msg.json()
            if data.get("type") == "events":
                self.events.extend(data.get("events", []))
            elif data.get("type") == "state":
                self.state = data["state"]
            else:
                continue
            for callback in self.on_change:
                callback()
            async with self._changed:
                self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> bool:
        """Wait until the pushed state satisfies `predicate`; False on timeout."""
        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self.state))

        try:
            await asyncio.wait_for(until(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
