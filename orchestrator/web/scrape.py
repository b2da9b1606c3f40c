"""`GET /metrics`: the Prometheus scrape, behind a bearer token (the operator's, or the metrics token)."""

from __future__ import annotations

import json

from aiohttp import web

from .. import protocol as p
from ..metrics import CONTENT_TYPE, ServerMetrics
from .auth import bearer, operator_token_matches
from .console import ConsoleAuth

UNAUTHORISED = json.dumps(p.wire(p.error_body(
    "unauthorised", "metrics authorisation required (Authorization: Bearer <operator token or metrics token>)")))


def add_metrics_route(app: web.Application, metrics: ServerMetrics, tokens: list[str], auth: ConsoleAuth) -> None:
    """Serve `metrics` on /metrics to a bearer of one of `tokens` (wrong tokens are slowed down as
    the operator's are)."""

    async def scrape(request: web.Request) -> web.Response:
        given = bearer(request.headers.get("Authorization"))
        if not any(operator_token_matches(token, given) for token in tokens):
            if request.headers.get("Authorization"):
                await auth.slow_down(request, "metrics bearer token")
            raise web.HTTPUnauthorized(text=UNAUTHORISED, content_type="application/json",
                                       headers={"WWW-Authenticate": "Bearer"})
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/metrics", scrape)
