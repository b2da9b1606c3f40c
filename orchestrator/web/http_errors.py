"""Every answer of the API is JSON, errors included.

aiohttp answers unknown paths (404), wrong methods (405) and bodies past the app's hard
cap (413) in text/plain. Under the API's paths (`/api/`, `/ws/`, `/healthz`) this
middleware turns such answers into the protocol's `ErrorBody`, with a `code`, keeping
their status and headers (`Allow`, `WWW-Authenticate`). Pages (`/console`, `/join`,
static files) keep aiohttp's answers: a browser shows them.
"""

from __future__ import annotations

import json

from aiohttp import WSMessage, WSMsgType, web
from aiohttp.typedefs import Handler

from ..i18n import N_, Language, translate
from ..protocol import ErrorBody, ErrorMessage, error_body, error_message, wire
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


def too_large(size: int, limit: int, lang: Language) -> web.Response:
    """413 for a body of `size` bytes past a handler's `limit`."""
    text = translate(lang, N_("the body is {size} bytes; the limit is {limit}"), size=size, limit=limit)
    return web.json_response(wire(error_body("too_large", text, {"size": size, "limit": limit})), status=413)


def frame_problem(msg: WSMessage, lang: Language) -> ErrorMessage:
    """The error a socket answers a frame that is not a JSON text message with (after an ERROR,
    such as a message past the size limit, aiohttp closes the socket)."""
    if msg.type == WSMsgType.ERROR:
        return error_message("bad_json", translate(lang, N_("the message could not be read ({error})"), error=msg.data))
    return error_message("bad_json", translate(lang, N_("messages must be JSON text frames")))


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
