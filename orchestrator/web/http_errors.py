"""Every answer of the API is JSON, errors included.

aiohttp answers unknown paths (404), wrong methods (405) and bodies past the app's hard
cap (413) in text/plain. Under the API's paths (`/api/`, `/ws/`, `/healthz`) this
middleware turns such answers into the protocol's `ErrorBody`, with a `code`, keeping
their status and headers (`Allow`, `WWW-Authenticate`). Pages (`/console`, `/join`,
static files) keep aiohttp's answers: a browser shows them.
"""

from __future__ import annotations

import json

from aiohttp import web
from aiohttp.typedefs import Handler

from ..i18n import N_, translate
from ..protocol import ErrorBody, error_body, wire
from .language import request_language

MAX_REQUEST_BYTES = 1024 * 1024  # the app's hard cap on a request body (handlers refuse less)
API_PATHS = ("/api/", "/ws/", "/healthz/")
API_EXACT = ("/api", "/ws", "/healthz")
CODES = {
    400: "bad_request",
    401: "unauthorised",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


def is_api_path(path: str) -> bool:
    return path in API_EXACT or path.startswith(API_PATHS)


def _describe(request: web.Request, exc: web.HTTPException) -> ErrorBody:
    code = CODES.get(exc.status, "http_error")
    lang = request_language(request)
    if isinstance(exc, web.HTTPNotFound):
        return error_body(code, translate(lang, N_("there is nothing at {path}"), path=request.path), {"path": request.path})
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        return error_body(code, translate(lang, N_("{method} is not allowed on {path}; use {allowed}"),
                                          method=exc.method, path=request.path, allowed=allowed),
                          {"method": exc.method, "allowed": allowed})
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return error_body(code, translate(lang, N_("the body is larger than the limit of {limit} bytes"),
                                          limit=MAX_REQUEST_BYTES),
                          {"limit": MAX_REQUEST_BYTES})
    return error_body(code, exc.text or exc.reason, {"status": exc.status})


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_api_path(request.path):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")}
        return web.Response(text=json.dumps(wire(_describe(request, exc))), status=exc.status,
                            content_type="application/json", headers=headers)
