"""The server's settings: every default in one place, typed, read from the environment.

Each setting can come from an `ORCHESTRATOR_<NAME>` environment variable (the field name
in capitals: `ORCHESTRATOR_HEARTBEAT_TIMEOUT_S=5`, `ORCHESTRATOR_OPERATOR_TOKEN=...`).
A value given explicitly (on the command line, or in code) wins over the environment,
which wins over the defaults below. Lists come from the environment as comma- or
space-separated text (`ORCHESTRATOR_TURN_URLS`, `ORCHESTRATOR_ICE_ADDRESSES`), ICE servers
as JSON (`ORCHESTRATOR_ICE_SERVERS='["stun:stun.example.org:3478"]'`).

Secrets (`operator_token`, `metrics_token`, `secret_key`, `turn_secret`, `janus_secret`,
`janus_admin_secret`) are
`SecretStr`: their repr hides them.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .secret_file import read_secret_file
from .web.turn import TurnConfigError, TurnSettings, turn_settings_from

ENV_PREFIX = "ORCHESTRATOR_"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_DATA_DIR = Path("./var")
DEFAULT_HEARTBEAT_TIMEOUT_S = 3.0  # a venue silent this long is shown disconnected
DEFAULT_RESTART_GRACE_S = 15.0  # after a restart, how long venues have to come back
DEFAULT_TOKEN_TTL_S = 14 * 24 * 3600.0  # how long a join link stays valid
DEFAULT_TURN_TTL_S = 6 * 3600  # a long meeting day's session; a reconnect gets a fresh credential
DEFAULT_LINK_SAMPLE_S = 2.0  # how often every venue's link is measured
DEFAULT_RECORD_MIN_FREE_MB = 256  # the recording stops (disk full) before the disk has less free than this
MIN_SECRET_KEY_CHARS = 32

MediaChoice = Literal["embedded", "transcode", "janus"]
"""embedded: the SFU in this process, forwarding encoded media (the default).
janus: Janus nodes' VideoRoom (`janus_urls`), driven by this process.
transcode: aiortc's decode-and-re-encode path, the benchmark's baseline only."""

EventLoopChoice = Literal["uvloop", "asyncio"]
"""uvloop: libuv's loop (the default; asyncio's own when uvloop cannot be imported). asyncio: the standard library's."""

_ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


def _split_words(value: Any) -> Any:
    """'a, b c' -> ['a', 'b', 'c'] (lists from the environment); anything else as it is."""
    if isinstance(value, str):
        return [word for word in re.split(r"[\s,]+", value) if word]
    return value


class IceServer(BaseModel):
    """A STUN or TURN server given to venues (WebRTC's RTCIceServer)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    urls: Annotated[list[str], Field(min_length=1)]
    username: str | None = None
    credential: SecretStr | None = None

    @field_validator("urls", mode="before")
    @classmethod
    def _one_url(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("urls")
    @classmethod
    def _ice_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(_ICE_SCHEMES):
                raise ValueError(f"not a STUN or TURN URL (it must start with stun:, stuns:, turn: or turns:): {url}")
        return urls

    def as_json(self) -> dict[str, Any]:
        """The entry as a browser's RTCPeerConnection takes it (and the `welcome` message carries it)."""
        entry: dict[str, Any] = {"urls": list(self.urls)}
        if self.username is not None:
            entry["username"] = self.username
        if self.credential is not None:
            entry["credential"] = self.credential.get_secret_value()
        return entry


class ServerSettings(BaseSettings):
    """How one `orchestrator serve` runs (the conference itself comes from its file)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    host: str = DEFAULT_HOST
    port: Annotated[int, Field(ge=0, le=65535)] = DEFAULT_PORT
    data_dir: Path = DEFAULT_DATA_DIR  # the event log and the signing key
    public_url: str | None = None  # the address venues and the console open (links, Origin checks)
    operator_token: SecretStr | None = None  # None: a fresh one is made and shown once
    metrics_token: SecretStr | None = None  # GET /metrics also takes this bearer token (the operator's always works)
    secret_key: SecretStr | None = None  # signs join links; None: DATA_DIR/secret.key
    ice_servers: list[IceServer] = []  # STUN/TURN servers venues are given; none by default (closed networks)
    ice_addresses: Annotated[list[str], NoDecode] = []  # the local addresses media is offered on; []: every one
    turn_urls: Annotated[list[str], NoDecode] = []  # TURN servers venues get their own short-lived credential for
    turn_secret: SecretStr | None = None  # shared with coturn (static-auth-secret)
    turn_secret_file: Path | None = None  # or: a file whose first line is that secret
    turn_ttl_s: Annotated[int, Field(ge=60)] = DEFAULT_TURN_TTL_S
    heartbeat_timeout_s: Annotated[float, Field(gt=0)] = DEFAULT_HEARTBEAT_TIMEOUT_S
    restart_grace_s: Annotated[float, Field(ge=0, le=600)] = DEFAULT_RESTART_GRACE_S
    token_ttl_s: Annotated[float, Field(gt=0)] = DEFAULT_TOKEN_TTL_S
    link_sample_s: Annotated[float, Field(gt=0)] = DEFAULT_LINK_SAMPLE_S
    media: MediaChoice = "embedded"
    event_loop: EventLoopChoice = "uvloop"
    janus_urls: Annotated[list[str], NoDecode] = []  # with media "janus": each node's WebSocket API (ws:// or wss://)
    janus_secret: SecretStr | None = None  # Janus's api_secret, if it has one
    janus_secret_file: Path | None = None  # or: a file whose first line is that secret
    janus_admin_urls: Annotated[list[str], NoDecode] = []  # each node's Admin API (its WebSocket), in janus_urls' order
    janus_admin_secret: SecretStr | None = None  # the nodes' admin_secret
    janus_admin_secret_file: Path | None = None  # or: a file whose first line is that secret
    record_dir: Path | None = None  # record the program here, from the session's start; None: DATA_DIR/recordings, when the operator starts it
    record_min_free_mb: Annotated[float, Field(ge=0)] = DEFAULT_RECORD_MIN_FREE_MB

    _turn: TurnSettings | None = PrivateAttr(default=None)
    _janus_secret: str | None = PrivateAttr(default=None)
    _janus_admin_secret: str | None = PrivateAttr(default=None)

    @field_validator("ice_servers", mode="before")
    @classmethod
    def _urls_alone(cls, value: Any) -> Any:
        """A bare URL stands for a server with that URL only."""
        if isinstance(value, list):
            return [{"urls": [item]} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("ice_addresses", "turn_urls", "janus_urls", "janus_admin_urls", mode="before")
    @classmethod
    def _words(cls, value: Any) -> Any:
        return _split_words(value)

    @field_validator("ice_addresses")
    @classmethod
    def _addresses(cls, addresses: list[str]) -> list[str]:
        for address in addresses:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"not an IP address: {address!r}") from None
        return addresses

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"the public URL must start with http:// or https://, not {url!r}")
        return url

    @field_validator("janus_urls")
    @classmethod
    def _janus_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("ws://", "wss://")):
                raise ValueError(f"a Janus node's API is a WebSocket URL (ws:// or wss://), not {url!r}")
            host = urlsplit(url).hostname or ""
            try:
                ipaddress.ip_address(host)
            except ValueError:
                if len(urls) > 1:  # the other nodes send it cascaded media there
                    raise ValueError(f"with several Janus nodes each URL names its node by IP address "
                                     f"(the others send it media there), not {host!r}") from None
        return urls

    @field_validator("janus_admin_urls")
    @classmethod
    def _janus_admin_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("ws://", "wss://")):
                raise ValueError(f"a Janus node's Admin API is a WebSocket URL (ws:// or wss://), not {url!r}")
        return urls

    @field_validator("operator_token", "metrics_token", "secret_key", "turn_secret", "janus_secret",
                     "janus_admin_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and len(key.get_secret_value().encode()) < MIN_SECRET_KEY_CHARS:
            raise ValueError(
                f"the signing key is too short: use at least "
                f"{MIN_SECRET_KEY_CHARS} characters (64 recommended)"
            )
        return key

    @model_validator(mode="after")
    def _turn_settings(self) -> ServerSettings:
        secret = self.turn_secret.get_secret_value() if self.turn_secret is not None else None
        try:
            self._turn = turn_settings_from(self.turn_urls, self.turn_secret_file, self.turn_ttl_s, secret)
        except TurnConfigError as exc:
            raise ValueError(str(exc)) from None
        return self

    @model_validator(mode="after")
    def _janus_settings(self) -> ServerSettings:
        if self.media == "janus" and not self.janus_urls:
            raise ValueError("the Janus media plane needs the WebSocket URL of at least one Janus node (--janus)")
        if self.media != "janus" and (self.janus_urls or self.janus_secret_file or self.janus_admin_urls
                                      or self.janus_admin_secret_file):
            raise ValueError("Janus nodes are only used with the Janus media plane (--media janus)")
        if self.janus_admin_urls and len(self.janus_admin_urls) != len(self.janus_urls):
            raise ValueError(f"{len(self.janus_admin_urls)} Janus Admin API URL(s) for {len(self.janus_urls)} "
                             "Janus node(s): give one --janus-admin per --janus, in the same order, or none")
        if self.janus_secret_file is not None:
            self._janus_secret = read_secret_file(self.janus_secret_file, "the Janus API secret file")
        elif self.janus_secret is not None:
            self._janus_secret = self.janus_secret.get_secret_value()
        if self.janus_admin_secret_file is not None:
            self._janus_admin_secret = read_secret_file(self.janus_admin_secret_file, "the Janus admin secret file")
        elif self.janus_admin_secret is not None:
            self._janus_admin_secret = self.janus_admin_secret.get_secret_value()
        return self

    @property
    def janus_api_secret(self) -> str | None:
        """Janus's api_secret: from `janus_secret_file`, else `janus_secret` (None: Janus has none)."""
        return self._janus_secret

    @property
    def janus_admin_api_secret(self) -> str | None:
        """Janus's admin_secret: from `janus_admin_secret_file`, else `janus_admin_secret`."""
        return self._janus_admin_secret

    @property
    def turn(self) -> TurnSettings | None:
        """TURN for venues, each with a credential of its own; None without TURN URLs."""
        return self._turn

    def metrics_tokens(self) -> list[str]:
        """The bearer tokens `GET /metrics` takes: the operator's and the metrics token, if set."""
        return [t.get_secret_value() for t in (self.operator_token, self.metrics_token) if t is not None]

    @property
    def recording_folder(self) -> Path:
        """Where recordings go: `record_dir`, or the data folder's `recordings` (a recording the operator starts)."""
        return self.record_dir if self.record_dir is not None else self.data_dir / "recordings"

    def venue_ice_servers(self) -> list[dict[str, Any]]:
        """The static ICE servers, as venues are told them."""
        return [server.as_json() for server in self.ice_servers]


def describe_settings_error(exc: ValidationError) -> str:
    """One line per problem, naming the setting and its environment variable."""
    lines = []
    for err in exc.errors(include_url=False):
        name = str(err["loc"][0]) if err["loc"] else ""
        message = err["msg"].removeprefix("Value error, ")
        where = f"{name} ({ENV_PREFIX}{name.upper()})" if name else "settings"
        lines.append(f"{where}: {message}")
    return "\n".join(lines)
