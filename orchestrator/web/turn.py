"""Short-lived TURN credentials for venues (the TURN REST-API shared-secret scheme).

coturn with `use-auth-secret` and `static-auth-secret=SECRET` accepts any username of the
form `EXPIRY:ID` (EXPIRY in Unix seconds) whose password is
base64(HMAC-SHA1(SECRET, username)), until EXPIRY. The orchestrator and coturn share
the secret; each venue gets its own credential in its `welcome` message, so a venue
never holds anything that outlives `ttl_s`. The secret and the credentials are never
logged (`TurnSettings` hides the secret from its repr).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from dataclasses import dataclass, field
from typing import Any

from ..secret_file import read_secret_file

SECRET_ENV = "ORCHESTRATOR_TURN_SECRET"  # where `ServerSettings` reads the secret from


class TurnConfigError(ValueError):
    """The TURN settings cannot be used; the message says which one and why."""


@dataclass(frozen=True)
class TurnSettings:
    urls: tuple[str, ...]  # e.g. ("turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:443?transport=tcp")
    secret: str = field(repr=False)
    ttl_s: int  # seconds each credential stays valid (default: `orchestrator.settings`)

    def __post_init__(self) -> None:
        object.__setattr__(self, "urls", tuple(self.urls))
        if not self.urls:
            raise TurnConfigError("TURN needs at least one turn: or turns: URL")
        for url in self.urls:
            if not url.startswith(("turn:", "turns:")):
                raise TurnConfigError(f"not a TURN URL (it must start with turn: or turns:): {url}")
        if not self.secret:
            raise TurnConfigError("the TURN shared secret is empty")
        if self.ttl_s <= 0:
            raise TurnConfigError(f"the TURN credential lifetime must be positive, not {self.ttl_s}")


def turn_credentials(secret: str, venue: str, ttl_s: int, now: float | None = None) -> tuple[str, str]:
    """(username, credential) valid for `ttl_s` seconds from `now`."""
    expiry = int(time.time() if now is None else now) + int(ttl_s)
    username = f"{expiry}:{venue}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def turn_ice_server(turn: TurnSettings, venue: str, now: float | None = None) -> dict[str, Any]:
    """The RTCIceServer entry (as JSON) that lets `venue` use the TURN server."""
    username, credential = turn_credentials(turn.secret, venue, turn.ttl_s, now)
    return {"urls": list(turn.urls), "username": username, "credential": credential}


def venue_ice_servers(static: list[dict[str, Any]], turn: TurnSettings | None, venue: str) -> list[dict[str, Any]]:
    """What a venue is told in its `welcome`: the static servers, then its own TURN entry."""
    return [*static, turn_ice_server(turn, venue)] if turn is not None else list(static)


def turn_settings_from(
    urls: list[str] | tuple[str, ...],
    secret_file: str | os.PathLike[str] | None,
    ttl_s: int,
    secret: str | None = None,
) -> TurnSettings | None:
    """Settings from the server's settings: None without URLs; the secret from the file
    (first line) or given (ORCHESTRATOR_TURN_SECRET)."""
    if not urls:
        if secret_file:
            raise TurnConfigError("a TURN secret file was given but no TURN URL")
        return None
    if secret_file:
        try:
            secret = read_secret_file(secret_file, "the TURN secret file")
        except ValueError as exc:
            raise TurnConfigError(str(exc)) from None
    else:
        secret = (secret or "").strip()
        if not secret:
            raise TurnConfigError(f"TURN URLs need the shared secret: set {SECRET_ENV} or give a secret file")
    return TurnSettings(urls=tuple(urls), secret=secret, ttl_s=ttl_s)
