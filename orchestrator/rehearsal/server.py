"""The real server, in this process, on loopback: a temporary data folder and a fresh token."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from ..config import Conference
from ..media import restrict_host_addresses
from ..settings import ServerSettings
from ..web.app import TOKENS, create_app

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class RunningServer:
    app: web.Application
    base_url: str
    operator_token: str
    heartbeat_timeout_s: float

    def link(self, venue: str) -> str:
        return self.app[TOKENS].link(self.base_url, venue)


@asynccontextmanager
async def running_server(conference: Conference, data_dir: Path) -> AsyncIterator[RunningServer]:
    """Serve `conference` on 127.0.0.1 (a free port); media stays on loopback too."""
    restrict_host_addresses([LOOPBACK])
    token = secrets.token_urlsafe(24)
    settings = ServerSettings(data_dir=data_dir, operator_token=token, secret_key=secrets.token_urlsafe(48))
    runner = web.AppRunner(create_app(conference, settings), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, LOOPBACK, 0)
        await site.start()
        port = runner.addresses[0][1]
        yield RunningServer(runner.app, f"http://{LOOPBACK}:{port}", token, settings.heartbeat_timeout_s)
    finally:
        await runner.cleanup()
