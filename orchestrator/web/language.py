"""The reader's language over HTTP, and the pages' catalogue.

One rule for every request (pages, API answers, sockets): `?lang=` if it names a
supported language, else the `lang` cookie (which the pages' language switch sets), else
the conference's `language`. Accept-Language is not consulted: a control room's
browsers say whatever their installation says, and the conference file decides.

`GET /i18n/catalogue.json[?lang=]` gives the pages their words: `{language, languages,
messages: {msgid: translation}}` (no session data; no sign-in needed).
"""

from __future__ import annotations

from aiohttp import web

from ..i18n import LANGUAGE_NAMES, LANGUAGES, Language, messages, negotiate

COOKIE = "lang"
DEFAULT_LANGUAGE = web.AppKey("default_language", str)


def request_language(request: web.Request) -> Language:
    """The language to answer `request` in (see the module's rule)."""
    default = request.app.get(DEFAULT_LANGUAGE, "en")
    return negotiate(request.query.get("lang"), request.cookies.get(COOKIE), default=negotiate(default))


async def catalogue(request: web.Request) -> web.Response:
    lang = request_language(request)
    body = {
        "language": lang,
        "languages": list(LANGUAGES),
        "names": {code: LANGUAGE_NAMES[code] for code in LANGUAGES},
        "messages": messages(lang),
    }
    return web.json_response(body, headers={"Cache-Control": "no-cache", "Vary": "Cookie"})


def add_language_routes(app: web.Application, default: Language) -> None:
    app[DEFAULT_LANGUAGE] = default
    app.router.add_get("/i18n/catalogue.json", catalogue)
