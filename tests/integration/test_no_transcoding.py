"""The server forwards encoded media: its process never creates a decoder or an encoder.

The server runs as its own process with a prelude that counts every codec aiortc
creates (`get_decoder` / `get_encoder` are the only ways aiortc makes one). The same
counting in this process, where the venue agents decode the program, proves the
counter counts."""

from __future__ import annotations

import json
import signal

import aiohttp
import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import pytest

from orchestrator.media.aiortc_tap import restrict_host_addresses
from orchestrator.operator_client import wait_healthy
from tests.conftest import SAMPLE
from tests.support.live import OPERATOR_TOKEN, Live, free_port, server_process, wait_for

PRELUDE = """
import atexit, json
import aiortc.rtcrtpreceiver as _receiver, aiortc.rtcrtpsender as _sender
_counts = {"decoders": 0, "encoders": 0}
_get_decoder, _get_encoder = _receiver.get_decoder, _sender.get_encoder
def _decoder(codec):
    _counts["decoders"] += 1
    return _get_decoder(codec)
def _encoder(codec):
    _counts["encoders"] += 1
    return _get_encoder(codec)
_receiver.get_decoder, _sender.get_encoder = _decoder, _encoder
atexit.register(lambda: open(COUNT_FILE, "w").write(json.dumps(_counts)))
"""


@pytest.fixture
def local_codec_count(monkeypatch):
    counts = {"decoders": 0}
    original = aiortc.rtcrtpreceiver.get_decoder

    def counting(codec):
        counts["decoders"] += 1
        return original(codec)

    monkeypatch.setattr(aiortc.rtcrtpreceiver, "get_decoder", counting)
    return counts


async def test_server_process_creates_no_codec_and_says_goodbye_on_sigterm(tmp_path, sample_conf, local_codec_count):
    restrict_host_addresses(["127.0.0.1"])  # the agents here: loopback only
    port = free_port()
    count_file = tmp_path / "codecs.json"
    proc = server_process(SAMPLE, tmp_path / "data", port, python_prelude=f"COUNT_FILE = {str(count_file)!r}\n" + PRELUDE)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    async with aiohttp.ClientSession() as http:
        await wait_healthy(base, 10, interval=0.1,
                           give_up=lambda: proc.stderr.read() if proc.poll() is not None else None)
        async with http.get(base + "/api/links", headers=auth) as r:
            links = await r.json()
        assert set(links) == {v.id for v in sample_conf.venues}
        live = Live(sample_conf, base, None, http)
        live.link = links.__getitem__  # the server's own links
        try:
            await live.join(["main", "pinghu", "nanhu"])
            for venue in ("pinghu", "nanhu"):
                await live.command({"type": "take", "venue": venue})
                await wait_for(lambda v=venue: live.agents["main"].agent.stats.seen == v, 2, f"{venue} at main")
            assert all(h.agent.stats.broken_frames == 0 for h in live.agents.values())

            proc.send_signal(signal.SIGTERM)
            await wait_for(lambda: proc.poll() is not None, 10, "the server to stop")
            assert proc.returncode == 0, proc.stderr.read()
            for handle in live.agents.values():
                assert handle.events("restarting"), f"{handle.venue} was not told the server is restarting"
        finally:
            await live.stop_agents()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()

    counts = json.loads(count_file.read_text())
    assert counts == {"decoders": 0, "encoders": 0}
    assert local_codec_count["decoders"] >= 3, "the agents here decode the program: the counter works"
