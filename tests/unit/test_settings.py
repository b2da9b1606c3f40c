"""The server's settings: defaults, the environment, explicit values, and clear refusals."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchestrator.settings import (
    DEFAULT_HEARTBEAT_TIMEOUT_S,
    DEFAULT_RESTART_GRACE_S,
    DEFAULT_TOKEN_TTL_S,
    IceServer,
    ServerSettings,
    describe_settings_error,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("ORCHESTRATOR_"):
            monkeypatch.delenv(name)


def refusal(**values) -> str:
    with pytest.raises(ValidationError) as refused:
        ServerSettings(**values)
    return describe_settings_error(refused.value)


def test_the_defaults():
    settings = ServerSettings()
    assert settings.heartbeat_timeout_s == DEFAULT_HEARTBEAT_TIMEOUT_S == 3.0
    assert settings.restart_grace_s == DEFAULT_RESTART_GRACE_S == 15.0
    assert settings.token_ttl_s == DEFAULT_TOKEN_TTL_S == 14 * 24 * 3600
    assert settings.media == "embedded" and settings.ice_servers == [] and settings.turn is None
    assert settings.operator_token is None and settings.secret_key is None


def test_the_environment_is_read_and_an_explicit_value_wins(monkeypatch):
    monkeypatch.setenv("ORCHESTRATOR_HEARTBEAT_TIMEOUT_S", "5")
    monkeypatch.setenv("ORCHESTRATOR_MEDIA", "transcode")
    monkeypatch.setenv("ORCHESTRATOR_ICE_ADDRESSES", "127.0.0.1, ::1")
    monkeypatch.setenv("ORCHESTRATOR_OPERATOR_TOKEN", "from-the-environment")
    settings = ServerSettings()
    assert settings.heartbeat_timeout_s == 5.0 and settings.media == "transcode"
    assert settings.ice_addresses == ["127.0.0.1", "::1"]
    assert settings.operator_token is not None and settings.operator_token.get_secret_value() == "from-the-environment"
    assert "from-the-environment" not in repr(settings)
    assert ServerSettings(heartbeat_timeout_s=1.5).heartbeat_timeout_s == 1.5


def test_recordings_go_to_the_record_folder_or_the_data_folder(monkeypatch, tmp_path):
    settings = ServerSettings(data_dir=tmp_path)
    assert settings.record_dir is None and settings.recording_folder == tmp_path / "recordings"
    monkeypatch.setenv("ORCHESTRATOR_RECORD_DIR", str(tmp_path / "rec"))
    settings = ServerSettings(data_dir=tmp_path)
    assert settings.record_dir == settings.recording_folder == tmp_path / "rec"
    assert settings.record_min_free_mb == 256


def test_ice_servers_are_models_and_a_bare_url_is_a_server(monkeypatch):
    monkeypatch.setenv("ORCHESTRATOR_ICE_SERVERS", '["stun:stun.example.org:3478", '
                       '{"urls": "turn:turn.example.org:3478", "username": "u", "credential": "c"}]')
    settings = ServerSettings()
    assert settings.ice_servers == [
        IceServer(urls=["stun:stun.example.org:3478"]),
        IceServer(urls=["turn:turn.example.org:3478"], username="u", credential="c"),
    ]
    assert settings.venue_ice_servers() == [
        {"urls": ["stun:stun.example.org:3478"]},
        {"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "c"},
    ]


def test_turn_needs_its_secret(monkeypatch):
    assert "ORCHESTRATOR_TURN_SECRET" in refusal(turn_urls=["turn:turn.example.org:3478"])
    monkeypatch.setenv("ORCHESTRATOR_TURN_SECRET", "shared")
    turn = ServerSettings(turn_urls="turn:a:3478 turns:a:5349", turn_ttl_s=600).turn
    assert turn is not None and turn.urls == ("turn:a:3478", "turns:a:5349") and turn.ttl_s == 600


@pytest.mark.parametrize(("values", "message"), [
    ({"heartbeat_timeout_s": 0}, "heartbeat_timeout_s (ORCHESTRATOR_HEARTBEAT_TIMEOUT_S): Input should be greater than 0"),
    ({"restart_grace_s": 900}, "restart_grace_s (ORCHESTRATOR_RESTART_GRACE_S): Input should be less than or equal to 600"),
    ({"media": "forward"}, "media (ORCHESTRATOR_MEDIA): Input should be 'embedded', 'transcode' or 'janus'"),
    ({"ice_addresses": ["localhost"]}, "ice_addresses (ORCHESTRATOR_ICE_ADDRESSES): not an IP address: 'localhost'"),
    ({"ice_servers": ["http://stun.example.org"]}, "not a STUN or TURN URL"),
    ({"public_url": "meet.example.org"}, "the public URL must start with http:// or https://"),
    ({"secret_key": "short"}, "secret_key (ORCHESTRATOR_SECRET_KEY): the signing key is too short"),
    ({"turn_ttl_s": 10}, "turn_ttl_s (ORCHESTRATOR_TURN_TTL_S): Input should be greater than or equal to 60"),
    ({"record_min_free_mb": -1}, "record_min_free_mb (ORCHESTRATOR_RECORD_MIN_FREE_MB): Input should be greater than or equal to 0"),
    ({"media": "janus"}, "the Janus media plane needs the WebSocket URL of at least one Janus node (--janus)"),
    ({"media": "janus", "janus_urls": ["http://j:8188"]}, "janus_urls (ORCHESTRATOR_JANUS_URLS): a Janus node's API is a "
                                                          "WebSocket URL (ws:// or wss://), not 'http://j:8188'"),
    ({"janus_urls": ["ws://j:8188"]}, "Janus nodes are only used with the Janus media plane (--media janus)"),
    ({"media": "janus", "janus_urls": ["ws://10.0.0.5:8188", "ws://janus-2:8188"]},
     "with several Janus nodes each URL names its node by IP address (the others send it media there), not 'janus-2'"),
    ({"media": "janus", "janus_urls": ["ws://10.0.0.5:8188"], "janus_admin_urls": ["http://127.0.0.1:7188"]},
     "janus_admin_urls (ORCHESTRATOR_JANUS_ADMIN_URLS): a Janus node's Admin API is a WebSocket URL"),
    ({"media": "janus", "janus_urls": ["ws://10.0.0.5:8188", "ws://10.0.0.6:8188"], "janus_admin_urls": ["ws://127.0.0.1:7188"]},
     "1 Janus Admin API URL(s) for 2 Janus node(s): give one --janus-admin per --janus, in the same order, or none"),
    ({"janus_admin_urls": ["ws://127.0.0.1:7188"]}, "Janus nodes are only used with the Janus media plane (--media janus)"),
])
def test_a_bad_setting_is_refused_by_name(values, message):
    assert message in refusal(**values)


def test_janus_nodes_and_their_secret_from_the_environment_or_a_file(monkeypatch, tmp_path):
    monkeypatch.setenv("ORCHESTRATOR_MEDIA", "janus")
    monkeypatch.setenv("ORCHESTRATOR_JANUS_URLS", "ws://10.0.0.5:8188, ws://10.0.0.6:8188")
    monkeypatch.setenv("ORCHESTRATOR_JANUS_SECRET", "from-the-environment")
    settings = ServerSettings()
    assert settings.janus_urls == ["ws://10.0.0.5:8188", "ws://10.0.0.6:8188"]
    assert settings.janus_api_secret == "from-the-environment"
    assert "from-the-environment" not in repr(settings)
    secret_file = tmp_path / "janus.secret"
    secret_file.write_text("from-the-file\n")
    assert ServerSettings(janus_secret_file=secret_file).janus_api_secret == "from-the-file"
    secret_file.write_text("")
    assert "the Janus API secret file" in refusal(janus_secret_file=secret_file)
    assert "is empty" in refusal(janus_secret_file=secret_file)


def test_janus_admin_apis_and_their_secret_from_the_environment_or_a_file(monkeypatch, tmp_path):
    monkeypatch.setenv("ORCHESTRATOR_MEDIA", "janus")
    monkeypatch.setenv("ORCHESTRATOR_JANUS_URLS", "ws://10.0.0.5:8188 ws://10.0.0.6:8188")
    monkeypatch.setenv("ORCHESTRATOR_JANUS_ADMIN_URLS", "ws://10.0.0.5:7188 ws://10.0.0.6:7188")
    monkeypatch.setenv("ORCHESTRATOR_JANUS_ADMIN_SECRET", "admin-from-the-environment")
    settings = ServerSettings()
    assert settings.janus_admin_urls == ["ws://10.0.0.5:7188", "ws://10.0.0.6:7188"]
    assert settings.janus_admin_api_secret == "admin-from-the-environment"
    assert "admin-from-the-environment" not in repr(settings)
    secret_file = tmp_path / "janus-admin.secret"
    secret_file.write_text("admin-from-the-file\n")
    assert ServerSettings(janus_admin_secret_file=secret_file).janus_admin_api_secret == "admin-from-the-file"
    secret_file.write_text("")
    assert "the Janus admin secret file" in refusal(janus_admin_secret_file=secret_file)
