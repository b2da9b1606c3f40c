"""coturn from deploy/coturn/ on loopback: a venue forced to relay-only ICE joins through it
with the credential the orchestrator gave it, and the relay refuses every peer but the media server."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from aioice import stun, turn

from orchestrator.media.plane import VenuePeer
from orchestrator.web.turn import turn_credentials
from tests.deploy.support import (
    TURN_CONF,
    Certificate,
    need,
    render_turn_conf,
    self_signed,
    start,
    stop,
    turn_conf_lines,
)
from tests.support.live import embedded_media, free_port, start_live, wait_for


@dataclass
class Coturn:
    port: int
    tls_port: int
    relay_ports: tuple[int, int]
    secret: str
    cert: Certificate
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


def relay_range() -> tuple[int, int]:
    """A small relay port range outside the kernel's usual ephemeral range, unlikely to be taken."""
    low = 20000 + secrets.randbelow(200) * 50
    return low, low + 49


@pytest.fixture
def coturn(tmp_path):
    binary = need("turnserver", "coturn")
    folder = tmp_path / "coturn"
    folder.mkdir()
    cert = self_signed(folder / "tls")
    server = Coturn(free_port(), free_port(), relay_range(), secrets.token_hex(16), cert, folder / "turn.log")
    conf = folder / "turnserver.conf"
    conf.write_text(render_turn_conf(port=server.port, tls_port=server.tls_port, relay_ports=server.relay_ports,
                                     secret=server.secret, cert=cert, folder=folder), encoding="utf-8")
    process = start([binary, "-c", str(conf)], folder / "stdout.log")
    try:
        deadline = time.monotonic() + 10
        wanted = [f"UDP listener opened on: 127.0.0.1:{server.port}", f"listener opened on : 127.0.0.1:{server.tls_port}"]
        while not all(w in server.log_text() for w in wanted):
            assert process.poll() is None, f"turnserver exited ({process.returncode}): {(folder / 'stdout.log').read_text()}"
            assert time.monotonic() < deadline, f"turnserver did not open its listeners: {server.log_text()[-2000:]}"
            time.sleep(0.05)
        yield server
    finally:
        stop(process)


class _Relay(asyncio.DatagramProtocol):
    """Receives nothing (the tests send no data); knows when its allocation is gone."""

    def __init__(self) -> None:
        self.closed = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def allocate(server: Coturn, username: str, password: str, *, tls: bool = True):
    """A TURN allocation (over TLS by default, the listener venues behind proxies use)."""
    if tls:
        return await turn.create_turn_endpoint(_Relay, ("127.0.0.1", server.tls_port), username, password,
                                               ssl=server.cert.client_context(), transport="tcp")
    return await turn.create_turn_endpoint(_Relay, ("127.0.0.1", server.port), username, password, transport="udp")


async def release(transport, relay: _Relay) -> None:
    """Delete the allocation and wait until its connection to coturn is closed."""
    transport.close()
    await asyncio.wait_for(relay.closed, 5)
    inner = transport._TurnTransport__inner_protocol.transport
    await wait_for(lambda: inner.get_extra_info("socket") is None or inner.get_extra_info("socket").fileno() == -1, 5,
                   "the TURN connection to close")


async def create_permission(transport, address: str) -> tuple[int, str] | None:
    """CreatePermission towards `address`: None when granted, else (code, reason). It sends
    nothing to `address` either way: a permission only lets later data through."""
    client = transport._TurnTransport__inner_protocol  # aioice's client protocol: signs and retries requests
    request = stun.Message(message_method=stun.Method.CREATE_PERMISSION, message_class=stun.Class.REQUEST)
    request.attributes["XOR-PEER-ADDRESS"] = (address, 0)
    try:
        await client.request_with_retry(request)
    except stun.TransactionFailed as exc:
        return exc.response.attributes["ERROR-CODE"]
    return None


def test_the_shipped_config_refuses_private_peers_and_uses_shared_secret_credentials():
    settings = turn_conf_lines(TURN_CONF.read_text(encoding="utf-8"))
    keys = {k for k, _ in settings}
    assert {"use-auth-secret", "static-auth-secret", "realm", "no-cli", "no-multicast-peers", "no-tcp-relay"} <= keys
    assert "allow-loopback-peers" not in keys and "lt-cred-mech" not in keys and "user" not in keys
    denied = {v for k, v in settings if k == "denied-peer-ip"}
    for private in ["10.0.0.0-10.255.255.255", "172.16.0.0-172.31.255.255", "192.168.0.0-192.168.255.255",
                    "127.0.0.0-127.255.255.255", "169.254.0.0-169.254.255.255", "100.64.0.0-100.127.255.255",
                    "0.0.0.0-0.255.255.255", "::1-::1", "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                    "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::ffff:0.0.0.0-::ffff:255.255.255.255",
                    "0.0.0.0-255.255.255.255"]:
        assert private in denied, private
    assert [v for k, v in settings if k == "allowed-peer-ip"] == ["203.0.113.10"]  # the media server only
    assert dict((k, v) for k, v in settings if k in ("listening-port", "tls-listening-port")) == {
        "listening-port": "3478", "tls-listening-port": "5349"}


async def test_a_turn_allocation_towards_a_private_address_that_is_not_the_media_server_is_refused(coturn):
    username, password = turn_credentials(coturn.secret, "pinghu", 600)
    transport, relay = await allocate(coturn, username, password)
    try:
        assert transport.get_extra_info("sockname")[0] == "127.0.0.1"
        assert await create_permission(transport, "127.0.0.1") is None  # the media server
        refused = {a: await create_permission(transport, a) for a in
                   ["127.0.0.2", "10.0.0.1", "172.20.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "203.0.113.5"]}
        assert refused == {a: (403, "Forbidden IP") for a in refused}, refused
    finally:
        await release(transport, relay)
    log = coturn.log_text()
    # the shipped private ranges are what refused them (the catch-all refused the documentation address)
    for address, rule in [("127.0.0.2", "127.0.0.0-127.255.255.255"), ("10.0.0.1", "10.0.0.0-10.255.255.255"),
                          ("192.168.1.1", "192.168.0.0-192.168.255.255"), ("169.254.169.254", "169.254.0.0-169.254.255.255"),
                          ("203.0.113.5", "0.0.0.0-255.255.255.255")]:
        assert f"A peer IP {address} denied in the range: {rule}" in log, address
    assert coturn.secret not in log and password not in log


async def test_turn_refuses_wrong_or_expired_credentials(coturn):
    username, password = turn_credentials(coturn.secret, "pinghu", 600)
    with pytest.raises(stun.TransactionFailed, match="401"):
        await allocate(coturn, username, password[:-4] + "AAA=", tls=False)
    expired = turn_credentials(coturn.secret, "pinghu", -5)
    with pytest.raises(stun.TransactionFailed, match="401"):
        await allocate(coturn, *expired, tls=False)
    other_secret = turn_credentials("not-the-shared-secret", "pinghu", 600)
    with pytest.raises(stun.TransactionFailed, match="401"):
        await allocate(coturn, *other_secret, tls=False)


def _ice_connection(pc):
    """aioice's Connection under an aiortc peer (read-only, for the proof below)."""
    return pc.getTransceivers()[0].receiver.transport.transport._connection


async def test_a_relay_only_venue_joins_through_coturn_and_receives_the_program(coturn, sample_conf, tmp_path, monkeypatch):
    # venues behind a proxy: TURN over TLS; the agent trusts the test certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(coturn.cert.cert))
    live, server = await start_live(sample_conf, tmp_path, turn_urls=[f"turns:127.0.0.1:{coturn.tls_port}?transport=tcp"],
                                    turn_secret=coturn.secret, turn_ttl_s=600)
    try:
        await live.join(["main"])  # on air, direct
        relayed = live.start_agent("pinghu", relay_only=True)
        await wait_for(lambda: relayed.agent.connected.is_set(), 20, "the relay-only venue to connect")
        await wait_for(lambda: relayed.agent.stats.seen == "main", 10, "the program at the relay-only venue")
        assert relayed.events("on_air_seen")[0]["venue"] == "main"
        frames = relayed.agent.stats.program_frames
        await wait_for(lambda: relayed.agent.stats.program_frames > frames + 15, 5, "the program to keep coming")

        # the proof that media went through the relay: the server saw only relay candidates from
        # this venue, and its selected pair's remote end is coturn's relay address
        media = embedded_media(live.server_app)
        connection = _ice_connection(media._peers[VenuePeer("pinghu")].pc)
        remote = connection.remote_candidates
        assert remote and all(c.type == "relay" for c in remote), [(c.type, c.host, c.port) for c in remote]
        pair = connection._nominated[1]
        host, port = pair.remote_addr
        assert pair.remote_candidate.type == "relay" and host == "127.0.0.1"
        assert coturn.relay_ports[0] <= port <= coturn.relay_ports[1], (port, coturn.relay_ports)
        # ...whereas the direct venue's pair is host to host
        direct = _ice_connection(media._peers[VenuePeer("main")].pc)._nominated[1]
        assert direct.remote_candidate.type == "host"
    finally:
        await live.stop_agents()
        await live.http.close()
        await server.close()

    # coturn's own account of the allocation, written when it closes: the media went through it
    pattern = re.compile(r"username=<(\d+):pinghu>, rp=(\d+), rb=(\d+), sp=(\d+), sb=(\d+)")
    usage: list = []

    def closed() -> bool:
        usage[:] = pattern.findall(coturn.log_text())
        return bool(usage)

    await wait_for(closed, 10, "coturn to report the relay's usage")
    # one allocation per gathered transport; the bundled one carried the media both ways
    expiry, rp, rb, sp, sb = max((tuple(map(int, u)) for u in usage), key=lambda u: u[1] + u[3])
    assert time.time() < expiry <= time.time() + 600
    # the venue's camera up (muted, it sends no microphone), the program down
    assert rp > 20 and sp > 50 and rb > 2_000 and sb > 5_000, usage
