"""The test Janus node: it starts in its namespace, answers its API, and goes away cleanly."""

from __future__ import annotations

import aiohttp

from orchestrator.janus_node import JanusProcess
from tests.support.janus_node import API_SECRET


async def test_janus_answers_its_websocket_api(janus: JanusProcess) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(janus.url, protocols=("janus-protocol",)) as ws:
        await ws.send_json({"janus": "info", "transaction": "t1", "apisecret": API_SECRET})
        info = await ws.receive_json(timeout=5)
        assert info["janus"] == "server_info" and info["version_string"] == "1.1.2"
        assert "janus.plugin.videoroom" in info["plugins"]
        await ws.send_json({"janus": "create", "transaction": "t2", "apisecret": "wrong"})
        refused = await ws.receive_json(timeout=5)
        assert refused["janus"] == "error" and refused["error"]["code"] == 403
