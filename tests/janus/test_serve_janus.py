"""`orchestrator serve --media janus`: the server as its own process drives a real Janus node,
and venue agents that joined by their usual links see the takes, their links measured through
the node's Admin API. The API and admin secrets come from files and never show in the server's
output."""

from __future__ import annotations

import aiohttp

from orchestrator.janus_node import JanusProcess
from orchestrator.media import restrict_host_addresses
from orchestrator.netns import PEER_ADDRESS
from orchestrator.operator_client import wait_healthy
from orchestrator.web.auth import JoinTokens
from tests.conftest import SMALL_YAML
from tests.support.janus_node import ADMIN_SECRET, API_SECRET, join
from tests.support.live import SECRET, Live, free_port, server_process, wait_for


async def test_serve_with_janus_and_three_agents(janus: JanusProcess, small_conf, tmp_path) -> None:
    config = tmp_path / "small.yaml"
    config.write_text(SMALL_YAML)
    secret_file = tmp_path / "janus.secret"
    secret_file.write_text(API_SECRET + "\n")
    admin_secret_file = tmp_path / "janus-admin.secret"
    admin_secret_file.write_text(ADMIN_SECRET + "\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = server_process(config, tmp_path / "data", port, "--media", "janus", "--janus", janus.url,
                          "--janus-secret-file", str(secret_file), "--janus-admin", janus.admin_url,
                          "--janus-admin-secret-file", str(admin_secret_file))
    restrict_host_addresses([PEER_ADDRESS])
    tokens = JoinTokens(SECRET, small_conf.conference.id, set(small_conf.venue_by_id))
    try:
        async with aiohttp.ClientSession() as http:
            live = Live(small_conf, base, tokens, http)
            try:
                await wait_healthy(base, 20, give_up=lambda: (proc.poll() is not None and "the server exited") or None)
                await join(live, ["main", "pinghu", "haiyan"])
                await wait_for(lambda: live.agents["pinghu"].agent.stats.seen == "main", 10, "the main venue at pinghu")
                await live.command({"type": "take", "venue": "haiyan"})
                await wait_for(lambda: all(live.agents[v].agent.stats.seen == "haiyan" for v in ("main", "pinghu")),
                               5, "haiyan at the main venue and at pinghu")
                await wait_for(lambda: live.agents["haiyan"].agent.stats.seen == "main", 5, "the main venue at haiyan")
                await live.wait_for_state(lambda s: all(s["venues"][v]["link"].get("packets_received", 0) > 0
                                                        for v in ("main", "pinghu", "haiyan")), 10, "the links measured")
            finally:
                await live.stop_agents()
    finally:
        restrict_host_addresses(None)
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    assert f"Media:          Janus at {janus.url}\n" in out
    assert API_SECRET not in out + err and ADMIN_SECRET not in out + err
    assert "janus_session_created" in err


async def test_serve_refuses_to_start_without_its_janus_nodes(janus: JanusProcess, tmp_path) -> None:
    """A wrong API secret, a node that does not answer: `serve` says which node and why, and exits 1."""
    config = tmp_path / "small.yaml"
    config.write_text(SMALL_YAML)
    secret_file = tmp_path / "janus.secret"
    secret_file.write_text("not-the-secret\n")
    absent = "ws://192.0.2.101:8199"  # nothing listens there
    proc = server_process(config, tmp_path / "data", free_port(), "--media", "janus", "--janus", janus.url,
                          "--janus", absent, "--janus-secret-file", str(secret_file))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (out, err)
    assert "orchestrator serve: the Janus media plane cannot start:" in err
    assert f"Janus node {janus.url}: Janus refused create: Unauthorized request (wrong or missing secret/token)" in err
    assert f"Janus node {absent}: cannot reach Janus at {absent}" in err
    assert "not-the-secret" not in out + err
    assert "Operator API" not in out  # before anything else is printed
