"""A console that stops reading its socket (a frozen laptop) must not make the server grow.

The server queues each socket's messages; past a limit it closes that socket. Other
consoles keep getting every message, and commands are answered throughout.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket

import pytest

from orchestrator.web.app import OPERATOR
from orchestrator.web.outbox import MAX_PENDING
from tests.support.live import OPERATOR_TOKEN, wait_for

pytestmark = pytest.mark.asyncio


async def _frozen_console(base_url: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads again."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws/operator HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {OPERATOR_TOKEN}\r\n\r\n".encode()
    )
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    head = b""
    while b"\r\n\r\n" not in head:
        head += await loop.sock_recv(sock, 1)  # byte by byte: leave the first message unread
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


async def test_a_console_that_stops_reading_is_closed_and_others_are_unaffected(live):
    operators = live.server_app[OPERATOR]
    healthy = await live.http.ws_connect(live.base_url.replace("http", "ws") + "/ws/operator", headers=live.auth)
    received: list[dict] = []

    async def read_healthy() -> None:
        async for msg in healthy:
            received.append(msg.json())

    reader = asyncio.ensure_future(read_healthy())
    await wait_for(lambda: len(operators.sockets) == 1, 5, "the healthy console registered")
    healthy_id = next(iter(operators.sockets))
    frozen = await _frozen_console(live.base_url)
    await wait_for(lambda: len(operators.sockets) == 2, 5, "the frozen console registered")
    frozen_id = next(cid for cid in operators.sockets if cid != healthy_id)

    commands = 0
    padding = " " + "x" * 180  # the longest captions: each command's events fill the socket's buffers sooner
    try:
        while frozen_id in operators.sockets and commands < 20000:
            async with live.http.post(live.base_url + "/api/commands", headers=live.auth,
                                      json={"type": "set_caption", "text": f"caption {commands}{padding}"}) as r:
                assert r.status == 200, await r.text()
            commands += 1
            pending = max(c.outbox.pending for c in operators.sockets.values())
            assert pending <= MAX_PENDING, f"{pending} messages queued for one socket"
        assert frozen_id not in operators.sockets, f"the frozen console was still open after {commands} commands"
        print(f"\nfrozen console closed after {commands} commands")
        # the healthy console saw every command's events, and the state after the last of them (the
        # state goes at most every STATE_PUSH_INTERVAL_S, and the link sampler pushes it too, so
        # only the events are counted)
        await wait_for(lambda: sum(m["type"] == "events" for m in received) == commands, 10,
                       "every command's events at the healthy console")
        await wait_for(lambda: received[-1]["type"] == "state", 5, "the state after the last events")
        captions = [m["state"]["caption"]["text"] for m in received if m["type"] == "state" and m["state"]["caption"]]
        assert captions[-1] == f"caption {commands - 1}{padding}", captions[-1]
        assert not healthy.closed
    finally:
        frozen.close()
        await healthy.close()
        reader.cancel()
