"""Join tokens, the signing key and the operator token, behaviour by behaviour.

Join tokens are HS256 JWTs bound to one conference (`aud`) and one venue (`sub`), with
an expiry and revocation by issue time; anything else must be refused with
`TokenRefused` (never another exception), with a message safe to show the venue.
"""

from __future__ import annotations

import base64
import json
import math
import os
import stat
import time

import jwt
import pytest
from pydantic import ValidationError

from orchestrator.settings import DEFAULT_TOKEN_TTL_S, ServerSettings
from orchestrator.web.auth import (
    ISSUER,
    KEY_FILE,
    JoinTokens,
    TokenRefused,
    bearer,
    load_secret_key,
    operator_token_matches,
)

KEY = b"k" * 64  # long enough for HS256, HS384 and HS512 without PyJWT's key-length warning
OTHER_KEY = b"o" * 64
VENUES = {"main", "pinghu"}


def b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(**overrides) -> dict:
    """Valid claims for venue pinghu of conference conf, issued a minute ago."""
    now = int(time.time())
    base = {"iss": ISSUER, "aud": "conf", "sub": "pinghu", "iat": now - 60, "exp": now + 3600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def refusal(tokens: JoinTokens, token: object) -> str:
    with pytest.raises(TokenRefused) as info:
        tokens.verify(token)
    return str(info.value)


@pytest.fixture
def tokens() -> JoinTokens:
    return JoinTokens(KEY, "conf", set(VENUES))


# ------------------------------------------------------------------ valid tokens


def test_issued_token_verifies_and_names_the_venue(tokens):
    now = time.time()
    verified = tokens.verify(tokens.issue("pinghu", now=now))
    assert (verified.conference, verified.venue) == ("conf", "pinghu")
    assert verified.issued == now
    assert verified.expires == int(now + DEFAULT_TOKEN_TTL_S)


def test_each_issued_token_is_distinct(tokens):
    assert tokens.issue("main") != tokens.issue("main")


def test_link_carries_the_token_in_the_fragment(tokens):
    link = tokens.link("https://meet.example/", "main")
    base, token = link.split("#")
    assert base == "https://meet.example/join"
    assert tokens.verify(token).venue == "main"


# ------------------------------------------------------------------ refused tokens


def test_expired_token_is_refused(tokens):
    token = tokens.issue("pinghu", now=time.time() - DEFAULT_TOKEN_TTL_S - 3600)
    assert "expired" in refusal(tokens, token)


def test_token_signed_with_another_key_is_refused(tokens):
    token = JoinTokens(OTHER_KEY, "conf", set(VENUES)).issue("pinghu")
    assert "not issued by this server" in refusal(tokens, token)


def test_tampered_payload_is_refused(tokens):
    header, _payload, signature = tokens.issue("pinghu").split(".")
    forged = ".".join([header, b64url(claims(sub="main")), signature])
    assert "not issued by this server" in refusal(tokens, forged)


def test_token_for_another_conference_is_refused(tokens):
    token = JoinTokens(KEY, "other-conf", set(VENUES)).issue("pinghu")
    assert "another conference" in refusal(tokens, token)


def test_token_for_a_venue_not_in_the_conference_is_refused(tokens):
    token = JoinTokens(KEY, "conf", VENUES | {"haiyan"}).issue("haiyan")
    message = refusal(tokens, token)
    assert "'haiyan'" in message
    assert "not in this conference" in message


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "aud", "iss"])
def test_token_without_a_required_claim_is_refused(tokens, missing):
    token = jwt.encode(claims(**{missing: None}), KEY, algorithm="HS256")
    message = refusal(tokens, token)
    assert "not valid" in message
    assert missing in message


def test_token_from_another_issuer_is_refused(tokens):
    token = jwt.encode(claims(iss="someone-else"), KEY, algorithm="HS256")
    assert "not valid" in refusal(tokens, token)


def test_unsigned_none_algorithm_token_from_pyjwt_is_refused(tokens):
    token = jwt.encode(claims(), None, algorithm="none")
    refusal(tokens, token)


def test_unsigned_none_algorithm_token_by_hand_is_refused(tokens):
    token = f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(claims())}."
    refusal(tokens, token)


def test_none_algorithm_header_with_a_valid_hs256_signature_is_refused(tokens):
    _header, payload, signature = tokens.issue("pinghu").split(".")
    forged = ".".join([b64url({"alg": "none", "typ": "JWT"}), payload, signature])
    refusal(tokens, forged)


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_hmac_algorithm_with_the_same_key_is_refused(tokens, algorithm):
    token = jwt.encode(claims(), KEY, algorithm=algorithm)
    assert "not signed the way this server signs links" in refusal(tokens, token)


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "",
        "a.b.c",
        "..",
        "eyJhbGciOiJIUzI1NiJ9",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWluIn0",
        "€€€.€€€.€€€",
        "x" * 10_240,
        None,
        42,
        b"bytes",
        ["a", "b"],
        {"token": "x"},
    ],
    ids=lambda t: repr(t)[:24],
)
def test_malformed_token_is_refused_with_token_refused(tokens, token):
    refusal(tokens, token)


def test_correctly_signed_token_beyond_the_size_limit_is_refused(tokens):
    token = jwt.encode(claims(padding="x" * 5000), KEY, algorithm="HS256")
    assert "no valid token" in refusal(tokens, token)


def test_token_with_a_lone_surrogate_is_refused_with_token_refused(tokens):
    refusal(tokens, "\ud800.\ud800.\ud800")


# ------------------------------------------------------------------ revocation


def test_token_issued_before_revocation_is_refused(tokens):
    now = time.time()
    token = tokens.issue("pinghu", now=now - 10)
    tokens.not_before["pinghu"] = now - 5
    assert "revoked" in refusal(tokens, token)


def test_token_issued_after_revocation_verifies(tokens):
    now = time.time()
    tokens.not_before["pinghu"] = now - 5
    assert tokens.verify(tokens.issue("pinghu", now=now - 3)).venue == "pinghu"


def test_revocation_is_per_venue(tokens):
    now = time.time()
    token = tokens.issue("main", now=now - 10)
    tokens.not_before["pinghu"] = now - 5
    assert tokens.verify(token).venue == "main"


def test_token_issued_within_the_same_second_after_revocation_verifies(tokens):
    revoked_at = math.floor(time.time()) - 10 + 0.5
    tokens.not_before["pinghu"] = revoked_at
    assert tokens.verify(tokens.issue("pinghu", now=revoked_at + 0.3)).venue == "pinghu"


# ------------------------------------------------------------------ the signing key


@pytest.fixture
def no_env_key(monkeypatch):
    monkeypatch.delenv("ORCHESTRATOR_SECRET_KEY", raising=False)


def test_secret_key_file_is_created_readable_by_owner_only(tmp_path, no_env_key):
    key = load_secret_key(tmp_path / "data")
    path = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_bytes().strip() == key
    assert len(key) >= 32


def test_secret_key_is_the_same_on_a_second_call(tmp_path, no_env_key):
    assert load_secret_key(tmp_path) == load_secret_key(tmp_path)


def test_secret_keys_differ_between_data_folders(tmp_path, no_env_key):
    assert load_secret_key(tmp_path / "one") != load_secret_key(tmp_path / "two")


def test_secret_key_from_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCHESTRATOR_SECRET_KEY", "e" * 40)
    assert load_secret_key(tmp_path, ServerSettings().secret_key) == b"e" * 40
    assert not (tmp_path / KEY_FILE).exists()


def test_empty_environment_key_falls_back_to_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCHESTRATOR_SECRET_KEY", "")
    key = load_secret_key(tmp_path, ServerSettings().secret_key)
    assert (tmp_path / KEY_FILE).read_bytes().strip() == key


def test_too_short_environment_key_is_refused_with_its_name(monkeypatch):
    monkeypatch.setenv("ORCHESTRATOR_SECRET_KEY", "short")
    with pytest.raises(ValidationError, match="too short: use at least 32 characters") as refused:
        ServerSettings()
    assert "secret_key" in str(refused.value)


def test_too_short_key_file_raises_value_error(tmp_path, no_env_key):
    (tmp_path / KEY_FILE).write_bytes(b"short\n")
    with pytest.raises(ValueError, match="too short"):
        load_secret_key(tmp_path)


def test_existing_key_file_is_used_as_it_is(tmp_path, no_env_key):
    (tmp_path / KEY_FILE).write_bytes(b"x" * 40 + b"\n")
    assert load_secret_key(tmp_path) == b"x" * 40


# ------------------------------------------------------------------ the operator token


@pytest.mark.parametrize(
    ("given", "expected"),
    [("secret", True), (None, False), ("", False), ("secre", False), ("secret2", False), ("SECRET", False)],
)
def test_operator_token_matches(given, expected):
    assert operator_token_matches("secret", given) is expected


def test_empty_operator_token_never_matches():
    assert operator_token_matches("", "") is False


def test_operator_token_with_undecodable_header_bytes_does_not_match():
    header = b"Bearer \xff\xfe".decode("utf-8", "surrogateescape")
    assert operator_token_matches("secret", bearer(header)) is False


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("Basic x", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("Bearer    ", None),
        ("Bearer tok", "tok"),
        ("Bearer  tok  ", "tok"),
        ("BearerTok", None),
    ],
)
def test_bearer(header, token):
    assert bearer(header) == token
