"""The real server, in this process, on loopback: a temporary data folder and a fresh token.

Its media is the embedded SFU on loopback, or Janus nodes (`JanusMedia`): then the venues
offer their media on the address given with them (Janus never gathers ICE on loopback)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from ..config import Conference
from ..media import restrict_host_addresses
from ..settings import ServerSettings
from ..web.app import TOKENS, create_app

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class JanusMedia:
    """Janus nodes the rehearsal's server drives, and the address the venues offer their media on."""

    urls: list[str]
    secret: str | None
    venue_address: str
    admin_urls: list[str] = field(default_factory=list)
    admin_secret: str | None = None

    def settings(self) -> dict[str, object]:
        """The server settings that drive these nodes."""
        return {"media": "janus", "janus_urls": self.urls, "janus_secret": self.secret,
                "janus_admin_urls": self.admin_urls, "janus_admin_secret": self.admin_secret}


@dataclass(frozen=True)
class RunningServer:
    app: web.Application
    base_url: str
    operator_token: str
    heartbeat_timeout_s: float

    def link(self, venue: str) -> str:
        return self.app[TOKENS].link(self.base_url, venue)


@asynccontextmanager
async def running_server(conference: Conference, data_dir: Path, janus: JanusMedia | None = None
                         ) -> AsyncIterator[RunningServer]:
    """Serve `conference` on 127.0.0.1 (a free port); media stays on loopback too, or goes through
    `janus`'s nodes, the venues offering theirs on its venue address."""
    restrict_host_addresses([janus.venue_address if janus is not None else LOOPBACK])
    token = secrets.token_urlsafe(24)
    settings = ServerSettings.model_validate({"data_dir": data_dir, "operator_token": token,
                                              "secret_key": secrets.token_urlsafe(48),
                                              **(janus.settings() if janus is not None else {})})
    runner = web.AppRunner(create_app(conference, settings), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, LOOPBACK, 0)
        await site.start()
        port = runner.addresses[0][1]
        yield RunningServer(runner.app, f"http://{LOOPBACK}:{port}", token, settings.heartbeat_timeout_s)
    finally:
        await runner.cleanup()
