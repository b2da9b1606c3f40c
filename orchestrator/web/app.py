"""The aiohttp application: the composition root of the server.

It puts together the session runtime (`orchestrator.runtime`: the live session, the
media plane and the session's behaviour), the venue sockets, the operator API, the
console and the metrics (`orchestrator.metrics`, on /metrics). Resources live in
`cleanup_ctx`, opened in order and closed in reverse: the runtime (the event log
replayed into the session, the media plane), then the sockets.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator

from aiohttp import web

from ..conference import Conference
from ..event_log import EventLog, log_path
from ..live_session import LiveSession
from ..logs import get_logger
from ..media import create_media_plane
from ..metrics import ServerMetrics
from ..protocol import CLOSE_RESTART, Health, Restarting, wire
from ..recording import RecordingOptions
from ..runtime import MediaFactory, SessionRuntime
from ..settings import ServerSettings
from .auth import JoinTokens, load_secret_key
from .console import ConsoleAuth, add_page_routes
from .http_errors import MAX_REQUEST_BYTES, json_errors
from .language import add_language_routes
from .operator_api import OperatorApi
from .scrape import add_metrics_route
from .turn import venue_ice_servers
from .venue_ws import VenueHub

log = get_logger(component="app")

CONFERENCE = web.AppKey("conference", Conference)
SETTINGS = web.AppKey("settings", ServerSettings)
RUNTIME = web.AppKey("runtime", SessionRuntime)
TOKENS = web.AppKey("tokens", JoinTokens)
VENUES = web.AppKey("venues", VenueHub)
OPERATOR = web.AppKey("operator", OperatorApi)
CONSOLE = web.AppKey("console", ConsoleAuth)
METRICS = web.AppKey("metrics", ServerMetrics)


def create_app(
    conference: Conference, settings: ServerSettings, make_media: MediaFactory | None = None
) -> web.Application:
    """The server for `conference`. `settings.operator_token` must be set (the command line
    makes one when the environment gives none). The media plane is the one `settings.media`
    names, unless `make_media` makes another (tests)."""
    if settings.operator_token is None:
        raise ValueError("the server needs an operator token (ORCHESTRATOR_OPERATOR_TOKEN)")
    # bodies above 64 KiB are refused by the handlers, with a JSON error; 1 MiB is the hard cap
    app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[json_errors])
    app[CONFERENCE] = conference
    app[SETTINGS] = settings
    secret_key = load_secret_key(settings.data_dir, settings.secret_key)
    app[TOKENS] = JoinTokens(secret_key, conference.conference.id, set(conference.venue_by_id), settings.token_ttl_s)
    app[CONSOLE] = ConsoleAuth(settings.operator_token.get_secret_value(), settings.public_url)
    add_page_routes(app, app[CONSOLE])
    add_language_routes(app, conference.conference.language)
    app[METRICS] = metrics = ServerMetrics(conference)
    add_metrics_route(app, metrics, settings.metrics_tokens(), app[CONSOLE])
    media = make_media or (lambda presence: create_media_plane(settings, conference.main_venue.id, presence,
                                                               metrics.media, conference.conference.id))
    app.cleanup_ctx.append(functools.partial(_runtime_ctx, make_media=media))
    app.cleanup_ctx.append(_sockets_ctx)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/ws/venue", _venue_socket)
    app.router.add_get("/ws/operator", _operator_socket)
    app.router.add_post("/api/commands", _post_command)
    app.router.add_get("/api/state", _get_state)
    app.router.add_get("/api/links", _get_links)
    app.router.add_get("/api/roll-call.csv", _get_roll_call_csv)
    app.router.add_get("/api/minutes", _get_minutes)
    app.router.add_get("/api/roll-calls", _get_roll_calls)
    return app


async def _runtime_ctx(app: web.Application, make_media: MediaFactory) -> AsyncIterator[None]:
    settings, conf = app[SETTINGS], app[CONFERENCE]
    path = log_path(settings.data_dir, conf.conference.id)
    event_log = EventLog(path, conf.conference.id)
    event_log.on_append = app[METRICS].log_appended
    try:
        runtime = SessionRuntime(
            LiveSession(conf, event_log),
            make_media,
            app[TOKENS].revoke,
            link_sample_s=settings.link_sample_s,
            restart_grace_s=settings.restart_grace_s,
            recording=RecordingOptions(settings.recording_folder, automatic=settings.record_dir is not None,
                                       min_free_bytes=int(settings.record_min_free_mb * 2**20)),
        )
    except Exception:
        event_log.close()
        raise
    app[RUNTIME] = runtime
    log.info("session_restored", events=event_log.last_seq(), phase=runtime.state.phase.value, segment=runtime.state.current)
    yield
    await runtime.close()
    event_log.close()
    log.info("event_log_closed", path=str(path))


async def _sockets_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, runtime = app[SETTINGS], app[RUNTIME]
    static_ice = settings.venue_ice_servers()
    venues = VenueHub(
        runtime, app[TOKENS], lambda venue: venue_ice_servers(static_ice, settings.turn, venue), settings.heartbeat_timeout_s
    )
    operator = OperatorApi(runtime, app[TOKENS], app[CONSOLE], _base_url)
    app[VENUES], app[OPERATOR] = venues, operator
    runtime.attach_sockets(venues.on_events, operator.on_events, operator.push_state)
    runtime.live.add_listener("metrics", app[METRICS].on_events)
    app[METRICS].attach(lambda: runtime.state, lambda: runtime.links,
                        lambda: {"venue": len(venues.connections), "operator": len(operator.sockets)})
    runtime.start()
    heartbeats = asyncio.ensure_future(venues.watch_heartbeats())

    async def say_goodbye(app: web.Application) -> None:
        # on_shutdown runs before aiohttp waits for open handlers: end the sockets first
        heartbeats.cancel()
        await asyncio.gather(heartbeats, return_exceptions=True)
        await runtime.stop()
        await venues.close_all(CLOSE_RESTART, Restarting(message="the server is restarting; reconnecting"))
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


async def _get_roll_calls(request: web.Request) -> web.StreamResponse:
    return await request.app[OPERATOR].get_roll_calls(request)


async def _get_roll_call_csv(request: web.Request) -> web.StreamResponse:
    return await request.app[OPERATOR].get_roll_call_csv(request)


async def _get_minutes(request: web.Request) -> web.StreamResponse:
    return await request.app[OPERATOR].get_minutes(request)


def _base_url(request: web.Request) -> str:
    public = request.app[SETTINGS].public_url
    return public.rstrip("/") if public else f"{request.scheme}://{request.host}"


async def _healthz(request: web.Request) -> web.Response:
    runtime = request.app.get(RUNTIME)
    return web.json_response(wire(Health(ok=runtime is not None, phase=runtime.state.phase if runtime else None)))
