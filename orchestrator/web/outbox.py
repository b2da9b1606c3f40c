"""One socket's outgoing messages: queued without waiting, written in order by one task.

Listeners and handlers call `send`, which never blocks, so a slow socket cannot hold up
the session. A peer that stops reading (a frozen console, a stalled link) would make the
queue grow without end: past `limit` pending messages the socket is closed instead, and
the peer reconnects and gets a fresh state.
"""

from __future__ import annotations

import asyncio

from aiohttp import WSCloseCode, web

from ..logs import get_logger

MAX_PENDING = 256
CLOSE_TIMEOUT_S = 5.0

log = get_logger(component="sockets")


class Outbox:
    def __init__(self, ws: web.WebSocketResponse, name: str, limit: int = MAX_PENDING):
        self.ws = ws
        self.name = name
        self.limit = limit
        self.overflowed = False
        self._queue: asyncio.Queue[dict | None] = asyncio.Queue()
        self._writer = asyncio.ensure_future(self._write())
        self._closer: asyncio.Task | None = None

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def send(self, message: dict) -> None:
        if self.overflowed:
            return
        if self._queue.qsize() >= self.limit:
            self.overflowed = True
            log.warning("socket_too_slow", socket=self.name, pending=self._queue.qsize())
            self._writer.cancel()
            self._closer = asyncio.ensure_future(self._close_stuck())
            return
        self._queue.put_nowait(message)

    def end(self) -> None:
        """No more messages: the writer stops once the queued ones are written."""
        self._queue.put_nowait(None)

    async def finished(self) -> None:
        await asyncio.gather(self._writer, return_exceptions=True)

    async def _write(self) -> None:
        while (message := await self._queue.get()) is not None and not self.ws.closed:
            try:
                await self.ws.send_json(message)
            except (ConnectionError, RuntimeError):
                return

    async def _close_stuck(self) -> None:
        # a peer that does not read may not read the close frame either: then the
        # timeout cancels the close, and aiohttp drops the connection
        try:
            await asyncio.wait_for(
                self.ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow", drain=False), CLOSE_TIMEOUT_S
            )
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
