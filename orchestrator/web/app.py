"""The aiohttp application: composition of the session host, media server and sockets.

Resources live in `cleanup_ctx`, opened in order and closed in reverse: the event log
(replayed into the session), the media server, then the sockets and background tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiortc import RTCIceServer

from ..config import Conference
from ..core import CommandRejected
from ..core import commands as c
from ..core.events import Event
from ..core.state import SessionState
from ..logs import get_logger
from ..media.router import ProgramRouter
from ..media.sfu import LinkStats, MediaServer
from ..live_session import LiveSession
from ..event_log import EventLog, log_path
from .auth import JoinTokens
from .console import ConsoleAuth, add_page_routes
from .operator_api import OperatorApi, periodic
from .turn import TurnSettings, venue_ice_servers
from .venue_ws import CLOSE_RESTART, VenueHub

log = get_logger(component="app")


@dataclass
class ServerSettings:
    conference: Conference
    data_dir: Path
    operator_token: str
    secret_key: bytes
    public_url: str | None = None
    ice_servers: list[dict[str, Any]] = field(default_factory=list)  # [{"urls": [...], "username":..., "credential":...}]
    turn: TurnSettings | None = None  # venues also get a short-lived TURN credential of their own
    heartbeat_timeout_s: float = 3.0
    link_sample_s: float = 2.0
    token_ttl_s: float = 14 * 24 * 3600
    restart_grace_s: float = 15.0  # after a restart, how long venues have to come back
    media_path: str = "forward"  # "transcode": aiortc's decode/encode path, for the benchmark baseline


SETTINGS = web.AppKey("settings", ServerSettings)
LIVE = web.AppKey("live", LiveSession)
MEDIA = web.AppKey("media", MediaServer)
TOKENS = web.AppKey("tokens", JoinTokens)
VENUES = web.AppKey("venues", VenueHub)
OPERATOR = web.AppKey("operator", OperatorApi)
LINK_STATS = web.AppKey("link_stats", dict)
CONSOLE = web.AppKey("console", ConsoleAuth)


def _ice_servers(settings: ServerSettings) -> list[RTCIceServer]:
    return [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential")) for s in settings.ice_servers]


def create_app(settings: ServerSettings) -> web.Application:
    # bodies above 64 KiB are refused by the handlers, with a JSON error; 1 MiB is the hard cap
    app = web.Application(client_max_size=1024 * 1024)
    app[SETTINGS] = settings
    app[LINK_STATS] = {}
    conf = settings.conference
    app[TOKENS] = JoinTokens(settings.secret_key, conf.conference.id, set(conf.venue_by_id), settings.token_ttl_s)
    app[CONSOLE] = ConsoleAuth(settings.operator_token, settings.public_url)
    add_page_routes(app, app[CONSOLE])
    app.cleanup_ctx.append(_session_ctx)
    app.cleanup_ctx.append(_media_ctx)
    app.cleanup_ctx.append(_sockets_ctx)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/ws/venue", _venue_socket)
    app.router.add_get("/ws/operator", _operator_socket)
    app.router.add_post("/api/commands", _post_command)
    app.router.add_get("/api/state", _get_state)
    app.router.add_get("/api/links", _get_links)
    app.router.add_get("/api/roll-call.csv", _get_roll_call_csv)
    return app


async def _session_ctx(app: web.Application):
    settings = app[SETTINGS]
    conf = settings.conference
    path = log_path(settings.data_dir, conf.conference.id)
    event_log = EventLog(path, conf.conference.id)
    try:
        app[LIVE] = LiveSession(conf, event_log)
    except Exception:
        event_log.close()
        raise
    host = app[LIVE]
    log.info("session_restored", events=event_log.last_seq(), phase=host.state.phase.value, segment=host.state.current)
    tokens = app[TOKENS]

    def follow_revocations(events: list[Event], state: SessionState) -> None:
        for venue, vs in state.venues.items():
            if vs.links_revoked_at is not None:
                tokens.not_before[venue] = vs.links_revoked_at

    follow_revocations([], host.state)
    host.listeners.append(follow_revocations)
    yield
    event_log.close()
    log.info("event_log_closed", path=str(path))


async def _media_ctx(app: web.Application):
    settings, host = app[SETTINGS], app[LIVE]
    if settings.media_path == "transcode":
        from ..media.baseline import TranscodingMediaServer, TranscodingRouter

        router: ProgramRouter = TranscodingRouter(settings.conference.main_venue.id)
        media = TranscodingMediaServer(router, _ice_servers(settings))
    else:
        router = ProgramRouter(settings.conference.main_venue.id)
        media = MediaServer(router, _ice_servers(settings))
    app[MEDIA] = media

    def follow_program(events: list[Event], state: SessionState) -> None:
        router.set_program(state.on_air, {v for v, vs in state.venues.items() if vs.muted})

    follow_program([], host.state)
    host.listeners.append(follow_program)
    yield
    await media.close()
    await router.close()


async def _sockets_ctx(app: web.Application):
    settings, host, media = app[SETTINGS], app[LIVE], app[MEDIA]
    venues = VenueHub(
        host, media, app[TOKENS], lambda venue: venue_ice_servers(settings.ice_servers, settings.turn, venue),
        settings.heartbeat_timeout_s,
    )
    media.on_connection = venues.on_connection
    operator = OperatorApi(host, media, app[TOKENS], app[CONSOLE], lambda: app[LINK_STATS], _base_url)
    app[VENUES], app[OPERATOR] = venues, operator
    host.listeners += [venues.on_events, operator.on_events]

    async def sample_links() -> None:
        links: dict[str, LinkStats] = await media.sample_links()
        app[LINK_STATS].clear()
        app[LINK_STATS].update(links)
        for venue, link in links.items():
            if venue in settings.conference.venue_by_id:
                with contextlib.suppress(CommandRejected):
                    host.execute(c.ReportLink(venue=venue, loss_pct=link.loss_pct, rtt_ms=link.rtt_ms or 0.0))
        operator.push_state()

    async def restart_grace() -> None:
        """Venues the log shows connected were connected to the previous process. They
        rejoin by themselves; only those that do not come back within the grace period
        are recorded as gone (so a restart changes nothing that the venues restore)."""
        stale = [v for v, vs in host.state.venues.items() if vs.connected]
        if not stale:
            return
        log.info("restart_grace_started", venues=len(stale), grace_s=settings.restart_grace_s)
        await asyncio.sleep(settings.restart_grace_s)
        for venue in stale:
            if not media.is_connected(venue):
                with contextlib.suppress(CommandRejected):
                    host.execute(c.LeaveVenue(venue=venue, reason="did not come back after a server restart"))

    tasks = [
        asyncio.ensure_future(venues.watch_heartbeats()),
        asyncio.ensure_future(periodic(settings.link_sample_s, sample_links)),
        asyncio.ensure_future(restart_grace()),
    ]

    async def say_goodbye(app: web.Application) -> None:
        # on_shutdown runs before aiohttp waits for open handlers: end the sockets first
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await venues.close_all(CLOSE_RESTART, {"type": "restarting", "message": "the server is restarting; reconnecting"})
        await operator.close_all()

    app.on_shutdown.append(say_goodbye)
    yield
    await say_goodbye(app)


async def _venue_socket(request: web.Request) -> web.StreamResponse:
    return await request.app[VENUES].handle(request)


async def _operator_socket(request: web.Request) -> web.StreamResponse:
    return await request.app[OPERATOR].socket(request)


async def _post_command(request: web.Request) -> web.StreamResponse:
    return await request.app[OPERATOR].post_command(request)


async def _get_state(request: web.Request) -> web.StreamResponse:
    return await request.app[OPERATOR].get_state(request)


async def _get_links(request: web.Request) -> web.StreamResponse:
    return await request.app[OPERATOR].get_links(request)


async def _get_roll_call_csv(request: web.Request) -> web.StreamResponse:
    return await request.app[OPERATOR].get_roll_call_csv(request)


def _base_url(request: web.Request) -> str:
    public = request.app[SETTINGS].public_url
    return public.rstrip("/") if public else f"{request.scheme}://{request.host}"


async def _healthz(request: web.Request) -> web.Response:
    host = request.app.get(LIVE)
    return web.json_response({"ok": host is not None, "phase": host.state.phase.value if host else None})
