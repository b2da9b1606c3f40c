"""The pages: the operator console (login, session cookie) and the venue page.

The console logs in with the operator token and then holds an HttpOnly, SameSite=Strict
session cookie. The cookie opens the operator socket (from an allowed Origin only), which
carries every command the console sends, and reads the operator API (GET). It never
changes anything over plain HTTP: a state-changing request needs the operator token
itself, so no other site can make a browser post one. Repeated wrong tokens are slowed down.
"""

from __future__ import annotations

import asyncio
import csv
import io
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from ..conference import RollCallMode
from ..i18n import N_, translate
from ..logs import get_logger
from ..protocol import RollCallView
from ..wording import Clock
from .auth import bearer, operator_token_matches
from .language import request_language

STATIC = Path(__file__).parent / "static"
# The sign-in page's refusals, by the code the login redirects with.
LOGIN_ERRORS = {"bad_token": N_("That is not the operator token.")}
COOKIE = "orchestrator_session"
SESSION_TTL_S = 12 * 3600
FAILED_LOGIN_DELAY_S = 1.0  # per recent failure from the same address, capped
MAX_LOGIN_DELAY_S = 5.0

log = get_logger(component="console")


@dataclass
class ConsoleSession:
    expires: float


@dataclass
class ConsoleAuth:
    """Operator identity for HTTP and WebSocket requests: bearer token or console session."""

    operator_token: str
    public_url: str | None = None
    sessions: dict[str, ConsoleSession] = field(default_factory=dict)
    failures: dict[str, list[float]] = field(default_factory=dict)

    # ------------------------------------------------------------ checks

    def allowed_origin(self, request: web.Request) -> bool:
        """The request comes from our own pages. Under `Referrer-Policy: no-referrer` a
        browser sends `Origin: null` on form posts; its `Sec-Fetch-Site` (which pages
        cannot forge) still says whether the request is same-origin."""
        origin = request.headers.get("Origin")
        if origin in (None, "null"):
            return request.headers.get("Sec-Fetch-Site") == "same-origin"
        own = {f"{request.scheme}://{request.host}"}
        if self.public_url:
            parts = urlsplit(self.public_url)
            own.add(f"{parts.scheme}://{parts.netloc}")
        return origin in own

    def session(self, request: web.Request) -> ConsoleSession | None:
        sid = request.cookies.get(COOKIE)
        found = self.sessions.get(sid) if sid else None
        if found is None or found.expires < time.time():
            return None
        return found

    def is_operator(self, request: web.Request, *, changes_state: bool) -> bool:
        if operator_token_matches(self.operator_token, bearer(request.headers.get("Authorization"))):
            return True
        session = self.session(request)
        if session is None:
            return False
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return self.allowed_origin(request)
        return not changes_state

    # ------------------------------------------------------------ handlers

    async def slow_down(self, request: web.Request, what: str) -> None:
        """A wrong token: wait longer the more wrong tokens came from this address lately."""
        peer = request.remote or "?"
        now = time.time()
        recent = [t for t in self.failures.get(peer, []) if now - t < 60] + [now]
        self.failures[peer] = recent
        log.warning("operator_token_refused", peer=peer, via=what, recent_failures=len(recent))
        await asyncio.sleep(min(FAILED_LOGIN_DELAY_S * (len(recent) - 1), MAX_LOGIN_DELAY_S))

    async def console(self, request: web.Request) -> web.Response:
        session = self.session(request)
        page = "console.html" if session else "login.html"
        html = (STATIC / page).read_text(encoding="utf-8")
        if not session:
            said = LOGIN_ERRORS.get(request.query.get("error", ""))
            html = html.replace("{{error}}", translate(request_language(request), said) if said else "")
        return web.Response(text=html, content_type="text/html", headers=_no_store())

    async def login(self, request: web.Request) -> web.Response:
        if not self.allowed_origin(request):
            raise web.HTTPForbidden(text="cross-origin login refused")
        peer = request.remote or "?"
        form = await request.post()
        token = str(form.get("token", ""))
        if not operator_token_matches(self.operator_token, token):
            await self.slow_down(request, "console login")
            raise web.HTTPSeeOther("/console?error=bad_token")
        self.failures.pop(peer, None)
        now = time.time()
        sid = secrets.token_urlsafe(32)
        self.sessions[sid] = ConsoleSession(expires=now + SESSION_TTL_S)
        log.info("console_login", peer=peer)
        response = web.HTTPSeeOther("/console")
        response.set_cookie(
            COOKIE, sid, httponly=True, samesite="Strict", path="/", max_age=SESSION_TTL_S,
            secure=request.scheme == "https" or bool(self.public_url and self.public_url.startswith("https")),
        )
        raise response

    async def logout(self, request: web.Request) -> web.Response:
        if not self.allowed_origin(request):
            raise web.HTTPForbidden(text="cross-origin logout refused")
        sid = request.cookies.get(COOKIE)
        if sid:
            self.sessions.pop(sid, None)
        response = web.HTTPSeeOther("/console")
        response.del_cookie(COOKIE, path="/")
        raise response


async def join_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "join.html", headers=_no_store())


async def _home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console")


BOM = "\ufeff"
CSV_COLUMNS = ["segment", "venue", "name", "status", "picture_ok", "sound_ok", "recorded_at", "by", "note", "mode",
               "called_at"]


def roll_call_csv(roll_call: RollCallView | None, names: Mapping[str, str], zone: str) -> str:
    """One roll call's record as CSV, a row per venue: its status (present, absent, no_answer,
    or still waiting / pending), its own picture and sound check, when the status was recorded
    and by whom (the venue, the operator, or the session), the note, the roll call's mode and,
    for a called roll call, when the venue was called. Times in the conference's time zone
    (ISO 8601, with the offset). It starts with a UTF-8 byte-order mark, so that Excel reads
    Chinese names as UTF-8; the header stays English (a machine format)."""
    clock = Clock(zone)
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    if roll_call:
        for venue, entry in roll_call.venues.items():
            writer.writerow([
                roll_call.segment, venue, names.get(venue, venue), entry.status.value,
                _yes_no(entry.picture_ok), _yes_no(entry.sound_ok),
                clock.iso(entry.at) if entry.at else "", entry.by or "", entry.note or "", roll_call.mode.value,
                clock.iso(entry.prompted_at) if entry.prompted_at and roll_call.mode is RollCallMode.CALLED else "",
            ])
    return out.getvalue()


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def _no_store() -> dict[str, str]:
    return {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def add_page_routes(app: web.Application, auth: ConsoleAuth) -> None:
    app.router.add_get("/console", auth.console)
    app.router.add_post("/console/login", auth.login)
    app.router.add_post("/console/logout", auth.logout)
    app.router.add_get("/join", join_page)
    app.router.add_get("/", _home)
    app.router.add_static("/static/", STATIC, append_version=False)
