"""Short-lived TURN credentials (orchestrator/web/turn.py) and what a venue is told in `welcome`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from pydantic import ValidationError

from orchestrator.settings import DEFAULT_TURN_TTL_S, ServerSettings
from orchestrator.web.turn import (
    TurnConfigError,
    TurnSettings,
    turn_credentials,
    turn_ice_server,
    turn_settings_from,
    venue_ice_servers,
)
from tests.support.live import start_live

SECRET = "north-wind-secret"


def test_credentials_follow_the_turn_rest_api_scheme():
    # the same as: echo -n "1733000000:pinghu" | openssl dgst -sha1 -hmac north-wind-secret -binary | base64
    assert turn_credentials(SECRET, "pinghu", 600, now=1_732_999_400) == ("1733000000:pinghu", "HqQhMNng97c71C5GDGanouKveqE=")


def test_each_venue_gets_its_own_entry_after_the_static_servers():
    turn = TurnSettings(urls=("turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349?transport=tcp"),
                        secret=SECRET, ttl_s=3600)
    static = [{"urls": ["stun:stun.example.org:3478"]}]
    servers = venue_ice_servers(static, turn, "nanhu")
    assert servers[0] == static[0]
    entry = servers[1]
    assert entry["urls"] == list(turn.urls)
    expiry, venue = entry["username"].split(":")
    assert venue == "nanhu" and abs(int(expiry) - (time.time() + 3600)) < 5
    assert entry["credential"] == base64.b64encode(hmac.new(SECRET.encode(), entry["username"].encode(), hashlib.sha1).digest()).decode()
    assert venue_ice_servers(static, None, "nanhu") == static
    assert turn_ice_server(turn, "pinghu")["username"].endswith(":pinghu")


def test_the_secret_stays_out_of_reprs():
    turn = TurnSettings(urls=("turn:127.0.0.1:3478",), secret=SECRET, ttl_s=600)
    assert SECRET not in repr(turn) and SECRET not in str(turn)
    settings = ServerSettings(turn_urls=["turn:127.0.0.1:3478"], turn_secret=SECRET)
    assert SECRET not in repr(settings) and SECRET not in str(settings) and SECRET not in repr(settings.turn)


def test_settings_from_command_line_values(tmp_path, monkeypatch):
    assert turn_settings_from([], None, 600) is None
    secret_file = tmp_path / "turn-secret"
    secret_file.write_text(SECRET + "\n")
    from_file = turn_settings_from(["turn:t:3478"], secret_file, 900)
    assert from_file == TurnSettings(urls=("turn:t:3478",), secret=SECRET, ttl_s=900)
    assert turn_settings_from(["turn:t:3478"], None, 900, SECRET).secret == SECRET
    monkeypatch.setenv("ORCHESTRATOR_TURN_SECRET", SECRET)
    from_env = ServerSettings(turn_urls=["turn:t:3478"]).turn
    assert from_env is not None and from_env.secret == SECRET and from_env.ttl_s == DEFAULT_TURN_TTL_S
    monkeypatch.delenv("ORCHESTRATOR_TURN_SECRET")
    with pytest.raises(TurnConfigError, match="ORCHESTRATOR_TURN_SECRET"):
        turn_settings_from(["turn:t:3478"], None, 600)
    with pytest.raises(ValidationError, match="ORCHESTRATOR_TURN_SECRET"):
        ServerSettings(turn_urls=["turn:t:3478"])
    with pytest.raises(TurnConfigError, match="not a TURN URL"):
        turn_settings_from(["stun:t:3478"], secret_file, 600)
    with pytest.raises(TurnConfigError, match="cannot read"):
        turn_settings_from(["turn:t:3478"], tmp_path / "missing", 600)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(TurnConfigError, match="is empty"):
        turn_settings_from(["turn:t:3478"], tmp_path / "empty", 600)
    with pytest.raises(TurnConfigError, match="no TURN URL"):
        turn_settings_from([], secret_file, 600)
    with pytest.raises(TurnConfigError, match="positive"):
        TurnSettings(urls=("turn:t",), secret=SECRET, ttl_s=0)


async def test_the_welcome_message_carries_the_venues_own_credential(sample_conf, tmp_path, capsys):
    static = [{"urls": ["stun:127.0.0.1:3478"]}]
    live, server = await start_live(sample_conf, tmp_path, turn_urls=["turn:127.0.0.1:3478?transport=udp"],
                                    turn_secret=SECRET, turn_ttl_s=1200, ice_servers=static)
    try:
        welcomes = {}
        for venue in ("pinghu", "nanhu"):
            token = live.link(venue).split("#", 1)[1]
            async with live.http.ws_connect(live.base_url.replace("http", "ws") + "/ws/venue") as ws:
                await ws.send_json({"type": "hello", "token": token, "client": "test"})
                welcomes[venue] = json.loads((await ws.receive()).data)
        for venue, welcome in welcomes.items():
            assert welcome["type"] == "welcome"
            servers = welcome["ice_servers"]
            assert servers[0] == static[0]
            username = servers[1]["username"]
            assert username.endswith(f":{venue}") and 1190 < int(username.split(":")[0]) - time.time() <= 1200
            assert servers[1]["credential"] == turn_credentials(SECRET, venue, 0, now=int(username.split(":")[0]))[1]
        assert welcomes["pinghu"]["ice_servers"][1]["credential"] != welcomes["nanhu"]["ice_servers"][1]["credential"]
    finally:
        await live.http.close()
        await server.close()
    logged = capsys.readouterr()
    for welcome in welcomes.values():
        assert welcome["ice_servers"][1]["credential"] not in logged.out + logged.err
    assert SECRET not in logged.out + logged.err
