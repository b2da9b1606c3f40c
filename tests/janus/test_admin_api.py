"""The Admin API client sends its requests together on one connection: 100 ms away from the
node, forty requests are answered in about one round trip, not forty; a refused one fails alone."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from orchestrator.janus_node import JanusProcess
from orchestrator.media.janus_api import JanusAdmin, JanusError
from tests.support.janus_node import ADMIN_SECRET

ONE_WAY_S = 0.05


async def _delayed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy `reader` to `writer`, each chunk `ONE_WAY_S` late (in order)."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def send() -> None:
        while True:
            due, data = await queue.get()
            await asyncio.sleep(max(due - time.monotonic(), 0))
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.ensure_future(send())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((time.monotonic() + ONE_WAY_S, data))
    finally:
        queue.put_nowait((time.monotonic() + ONE_WAY_S, b""))
        await sender


@contextlib.asynccontextmanager
async def far_away(url: str) -> AsyncIterator[str]:
    """A TCP relay to `url`'s host and port that delays both ways (the machine has no netem); its ws:// URL."""
    target = urlsplit(url)

    writers: list[asyncio.StreamWriter] = []

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(target.hostname, target.port)
        writers.extend((writer, up_writer))
        await asyncio.gather(_delayed(reader, up_writer), _delayed(up_reader, writer), return_exceptions=True)

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    try:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for writer in writers:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        await server.wait_closed()


async def test_admin_requests_go_out_together(janus: JanusProcess) -> None:
    async with far_away(janus.admin_url) as url:
        admin = JanusAdmin(url, ADMIN_SECRET)
        try:
            await admin.request("list_sessions")  # connected
            started = time.monotonic()
            answers = await asyncio.gather(*(admin.request("list_sessions") for _ in range(40)),
                                           admin.request("handle_info", session_id=1, handle_id=2),
                                           return_exceptions=True)
            took = time.monotonic() - started
            assert all(isinstance(a, dict) and a["janus"] == "success" for a in answers[:-1]), answers
            refused = answers[-1]
            assert isinstance(refused, JanusError) and "refused handle_info: No such session 1" in str(refused)
            assert took < 1.0, f"41 requests took {took:.2f} s: one after the other (0.1 s each)?"
            with pytest.raises(JanusError, match="refused"):  # the connection still serves after a refusal
                await admin.request("handle_info", session_id=1, handle_id=2)
        finally:
            await admin.close()
