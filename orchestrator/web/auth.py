"""Join links and the operator token.

A join link is `BASE/join#TOKEN`: the token rides in the URL fragment, which browsers
never send to servers, so proxies and access logs do not see it. The token is a JWT
(HS256 only) bound to one conference (`aud`) and one venue (`sub`), with an expiry.
The signing key comes from the settings (ORCHESTRATOR_SECRET_KEY) or from `secret.key` in
the data folder, created by whichever of `serve` and `links` runs first, readable by its
owner only.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
from pydantic import SecretStr

from ..i18n import N_, Language, fill, translate
from ..settings import DEFAULT_TOKEN_TTL_S

REVOKED = N_("this link has been revoked; ask the operator for a new one")
ALGORITHM = "HS256"
ISSUER = "orchestrator"
KEY_FILE = "secret.key"


class TokenRefused(Exception):
    """A join token that cannot be used; the message is safe to show to the venue.

    `str(exc)` is English; `text(lang)` the same in the reader's language."""

    def __init__(self, msgid: str, **params: object):
        self.msgid, self.params = msgid, params
        super().__init__(fill(msgid, params))

    def text(self, lang: Language) -> str:
        return translate(lang, self.msgid, **self.params)


def load_secret_key(data_dir: str | Path, given: SecretStr | None = None) -> bytes:
    """The key that signs join links: `given` (the settings' `secret_key`), else the data
    folder's key file, made on first use."""
    if given is not None:
        return given.get_secret_value().encode()
    path = Path(data_dir) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes().strip()
        if len(key) < 32:
            raise ValueError(f"{path}: the signing key is too short; delete it to make a new one") from None
        return key
    with os.fdopen(fd, "wb") as f:
        key = secrets.token_urlsafe(48).encode()
        f.write(key + b"\n")
    return key


@dataclass(frozen=True)
class VenueClaims:
    conference: str
    venue: str
    expires: float
    issued: float


class JoinTokens:
    """Issue and check venue join tokens for one conference."""

    def __init__(self, key: bytes, conference: str, venues: set[str], ttl_s: float = DEFAULT_TOKEN_TTL_S):
        self._key = key
        self.conference = conference
        self.venues = venues
        self.ttl_s = ttl_s
        self.not_before: dict[str, float] = {}  # venue -> tokens issued earlier are revoked

    def issue(self, venue: str, now: float | None = None) -> str:
        now = time.time() if now is None else now
        claims = {
            "iss": ISSUER,
            "aud": self.conference,
            "sub": venue,
            "iat": now,  # not rounded: a link issued just after a revocation must verify
            "exp": int(now + self.ttl_s),
            "jti": secrets.token_urlsafe(8),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def revoke(self, venue: str, issued_before: float) -> None:
        """Refuse `venue`'s tokens issued before `issued_before` from now on."""
        self.not_before[venue] = issued_before

    def link(self, base_url: str, venue: str) -> str:
        return f"{base_url.rstrip('/')}/join#{self.issue(venue)}"

    def verify(self, token: object) -> VenueClaims:
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise TokenRefused(N_("this link has no valid token"))
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self.conference,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused(N_("this link has expired; ask the operator for a new one")) from None
        except jwt.InvalidAudienceError:
            raise TokenRefused(N_("this link is for another conference")) from None
        except jwt.InvalidAlgorithmError:
            raise TokenRefused(N_("this link is not signed the way this server signs links")) from None
        except jwt.InvalidSignatureError:
            raise TokenRefused(N_("this link was not issued by this server")) from None
        except jwt.PyJWTError as exc:
            # PyJWT's words may quote the token's own header (a lone surrogate in a `crit` name):
            # escaped, so the answer stays valid UTF-8 JSON
            problem = str(exc).encode("utf-8", "backslashreplace").decode("utf-8")
            raise TokenRefused(N_("this link is not valid ({problem})"), problem=problem) from None
        except (ValueError, TypeError):  # e.g. text that cannot be encoded
            raise TokenRefused(N_("this link is not valid")) from None
        venue = claims["sub"]
        if venue not in self.venues:
            raise TokenRefused(N_("this link is for venue '{venue}', which is not in this conference"), venue=venue)
        if claims["iat"] < self.not_before.get(venue, 0):
            raise TokenRefused(REVOKED)
        return VenueClaims(self.conference, venue, float(claims["exp"]), float(claims["iat"]))


def operator_token_matches(expected: str, given: str | None) -> bool:
    if not given or not expected:
        return False
    try:
        return hmac.compare_digest(expected.encode(), given.encode())
    except UnicodeEncodeError:  # undecodable header bytes
        return False


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header (the scheme in any case, RFC 7235)."""
    if not header:
        return None
    scheme, _, token = header.strip(" ").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
