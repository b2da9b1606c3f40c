"""deploy/janus/: a real Janus started from the shipped files (addresses and secrets filled in,
in a temporary copy) answers its API behind the api_secret, loads only the VideoRoom and the
WebSocket transport, and keeps its Admin API on loopback, behind the admin_secret."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from orchestrator.janus_node import JANUS, JanusProcess
from orchestrator.media.janus_api import JanusAdmin, JanusError, JanusSession
from orchestrator.netns import NODE_ADDRESS, exec_prefix
from tests.deploy.test_systemd import unit_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "janus"
FILES = ("janus.jcfg", "janus.plugin.videoroom.jcfg", "janus.transport.websockets.jcfg")
PLACEHOLDER_ADDRESS = "203.0.113.20"
API_SECRET, ADMIN_SECRET = "deployed-api-secret", "deployed-admin-secret"


def render(folder: Path) -> None:
    """The shipped files with this test's address, secrets and folder."""
    folder.mkdir()
    for name in FILES:
        text = (DEPLOY / name).read_text(encoding="utf-8")
        for placeholder, value in ((PLACEHOLDER_ADDRESS, NODE_ADDRESS), ("REPLACE-WITH-API-SECRET", API_SECRET),
                                   ("REPLACE-WITH-ADMIN-SECRET", ADMIN_SECRET), ('"/etc/janus"', f'"{folder}"')):
            text = text.replace(placeholder, value)
        (folder / name).write_text(text, encoding="utf-8")


def reachable(address: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=0.5):
        return True
    return False


@pytest.fixture
def deployed_janus(janus_namespace: str, tmp_path: Path):
    folder = tmp_path / "etc-janus"
    render(folder)
    log_path = tmp_path / "janus.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([*exec_prefix(janus_namespace), JANUS, "-C", str(folder / "janus.jcfg"),
                                    "-F", str(folder), "-o"], stdout=log, stderr=subprocess.STDOUT)
    node = JanusProcess(f"ws://{NODE_ADDRESS}:8188", "ws://127.0.0.1:7188", process, log_path)
    try:
        deadline = time.monotonic() + 20
        while not (reachable(NODE_ADDRESS, 8188) and reachable("127.0.0.1", 7188)):
            assert process.poll() is None, f"janus exited:\n{node.log_tail()}"
            assert time.monotonic() < deadline, f"janus did not open its APIs:\n{node.log_tail()}"
            time.sleep(0.1)
        yield node
    finally:
        node.stop()


async def test_the_deployed_configuration_runs(deployed_janus: JanusProcess) -> None:
    node = deployed_janus
    async with aiohttp.ClientSession() as http, http.ws_connect(node.url, protocols=("janus-protocol",)) as ws:
        await ws.send_json({"janus": "info", "transaction": "t1", "apisecret": API_SECRET})
        info = await ws.receive_json(timeout=5)
    assert list(info["plugins"]) == ["janus.plugin.videoroom"], info["plugins"]
    assert list(info["transports"]) == ["janus.transport.websockets"], info["transports"]
    assert not info["event_handlers"] and info["api_secret"]
    session = await JanusSession.connect(node.url, API_SECRET)  # the orchestrator's way in
    try:
        handle = await session.attach()
        await handle.detach()
        with pytest.raises(JanusError, match="Unauthorized"):
            await JanusSession.connect(node.url, "wrong")
        admin = JanusAdmin(node.admin_url, ADMIN_SECRET)
        assert (await admin.request("list_sessions"))["sessions"] == [session.id]
        await admin.close()
        refused = JanusAdmin(node.admin_url, API_SECRET)
        with pytest.raises(JanusError, match="Unauthorized"):
            await refused.request("list_sessions")
        await refused.close()
    finally:
        await session.close()
    assert not reachable(NODE_ADDRESS, 7188), "the Admin API answers on the node's address"
    assert reachable("127.0.0.1", 7188)


def test_the_systemd_drop_in_runs_janus_in_the_foreground_as_its_own_user() -> None:
    service = unit_settings((DEPLOY / "janus.service.d-orchestrator.conf").read_text(encoding="utf-8"))["Service"]
    assert service["ExecStart"][0] == "" and "--daemon" not in service["ExecStart"][-1]  # Debian's replaced
    assert service["Type"] == ["simple"] and service["User"] == ["janus"] and service["Restart"] == ["always"]
    assert service["ExecStart"][-1].split()[0] == "/usr/bin/janus"
    assert service["NoNewPrivileges"] == ["yes"] and service["CapabilityBoundingSet"] == [""]
