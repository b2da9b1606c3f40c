"""Revoked links, slowed-down wrong tokens, and no secret in the logs."""

from __future__ import annotations

import io
import time

import pytest
import structlog

from orchestrator.logs import configure
from tests.support.live import OPERATOR_TOKEN, SECRET, start_live, wait_for


@pytest.fixture
def captured_logs():
    buffer = io.StringIO()
    configure(level="debug", json=True, file=buffer)
    try:
        yield buffer
    finally:
        structlog.reset_defaults()


async def test_a_revoked_venue_is_cut_off_within_a_second_and_its_old_links_refused(live):
    await live.join(["main", "pinghu", "nanhu"])
    pinghu = live.agents["pinghu"]
    old_link = live.link("pinghu")
    revoked = time.monotonic()
    await live.command({"type": "revoke_link", "venue": "pinghu"})
    state = await live.wait_for_state(lambda s: not s["venues"]["pinghu"]["connected"], 1.0, "pinghu cut off")
    cut_s = time.monotonic() - revoked
    print(f"\nrevocation: cut off after {cut_s:.2f} s")
    assert state["venues"]["nanhu"]["connected"], "the others stay"
    # the agent is refused when it tries again, and stops (exit status 3)
    assert await pinghu.task == 3
    assert pinghu.events("refused")[-1]["message"] == "this link has been revoked; ask the operator for a new one"
    # a link issued after the revocation works
    del live.agents["pinghu"]
    assert live.link("pinghu") != old_link
    await live.join(["pinghu"])


async def test_repeated_wrong_operator_tokens_are_slowed_down(live):
    took = []
    for attempt in range(4):
        started = time.monotonic()
        async with live.http.get(live.base_url + "/api/state", headers={"Authorization": f"Bearer wrong-{attempt}"}) as r:
            assert r.status == 401
        took.append(time.monotonic() - started)
    print("\nwrong-token answer times:", [round(t, 2) for t in took])
    assert took[0] < 0.5 and took[3] >= 2.5, took
    async with live.http.get(live.base_url + "/api/state", headers=live.auth) as r:
        assert r.status == 200


async def test_no_token_or_secret_reaches_the_logs(sample_conf, tmp_path, captured_logs):
    live, server = await start_live(sample_conf, tmp_path)
    try:
        await live.join(["main", "pinghu"])
        venue_token = live.link("pinghu").split("#", 1)[1]
        await live.command({"type": "take", "venue": "pinghu"})
        ws = await live.http.ws_connect(live.base_url.replace("http", "ws") + "/ws/venue")
        await ws.send_json({"type": "hello", "token": venue_token[:-3] + "xyz"})  # a refused token
        await ws.receive(timeout=5)
        await ws.close()
        async with live.http.get(live.base_url + "/api/state", headers={"Authorization": "Bearer not-the-token"}) as r:
            assert r.status == 401
        await live.command({"type": "revoke_link", "venue": "pinghu"})
        await wait_for(lambda: "venue_link_revoked" in captured_logs.getvalue(), 2, "the revocation log line")
    finally:
        await live.stop_agents()
        await live.http.close()
        await server.close()
    text = captured_logs.getvalue()
    assert "venue_socket_opened" in text and "operator_token_refused" in text, "the logs were captured"
    for secret in (OPERATOR_TOKEN, SECRET.decode(), venue_token, venue_token[:-3] + "xyz", "not-the-token"):
        assert secret not in text
    assert "a=fingerprint" not in text and "ice-pwd" not in text, "no SDP in the logs"
