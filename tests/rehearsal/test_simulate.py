"""`orchestrator serve CONFIG --simulate`: simulated venues beside the server, for trying the console alone."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import click
import pytest

from orchestrator.cli import _simulated_venues
from tests.support.live import OPERATOR_TOKEN, SECRET, free_port, wait_for


def serve(config: Path, data: Path, port: int, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "ORCHESTRATOR_OPERATOR_TOKEN": OPERATOR_TOKEN, "ORCHESTRATOR_SECRET_KEY": SECRET.decode()}
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "serve", str(config), "--port", str(port), "--data", str(data), *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def seen(log: Path, venue: str) -> bool:
    """The simulated venue's log says it showed `venue` (complete lines only: the agent is still writing)."""
    lines = log.read_text().split("\n")[:-1] if log.exists() else []
    return any(e["event"] == "on_air_seen" and e["venue"] == venue for e in map(json.loads, lines))


async def test_serve_simulate_all_joins_every_venue_and_they_follow_the_session(rehearsal_yaml, tmp_path):
    port = free_port()
    proc = serve(rehearsal_yaml, tmp_path / "data", port, "--simulate", "all")  # no --ice-address: loopback implied
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    state: dict = {}
    try:
        async with aiohttp.ClientSession(headers=auth) as http:
            async def all_connected() -> bool:
                nonlocal state
                try:
                    async with http.get(f"{base}/api/state") as r:
                        state = await r.json()
                except aiohttp.ClientError:
                    return False
                return all(v["connected"] for v in state["venues"].values())

            deadline = asyncio.get_running_loop().time() + 30
            while not await all_connected():
                assert proc.poll() is None, proc.stderr.read()
                assert asyncio.get_running_loop().time() < deadline, f"venues did not join: {state.get('venues')}"
                await asyncio.sleep(0.2)

            for command in ({"type": "start_session"}, {"type": "goto_segment", "segment": "roll-call"},
                            {"type": "start_roll_call"}):
                async with http.post(f"{base}/api/commands", json=command) as r:
                    assert r.status == 200, await r.text()
            for _ in range(150):  # the called roll call: each simulated venue answers after its moment on air
                async with http.get(f"{base}/api/state") as r:
                    state = await r.json()
                if state["roll_call"]["phase"] == "finished":
                    break
                await asyncio.sleep(0.1)
            assert state["roll_call"]["counts"] == {"waiting": 0, "pending": 0, "present": 3, "absent": 0, "no_answer": 0}

            async with http.post(f"{base}/api/commands", json={"type": "take", "venue": "pinghu"}) as r:
                assert r.status == 200
            logs = tmp_path / "data" / "simulated"
            await wait_for(lambda: seen(logs / "nanhu.jsonl", "pinghu") and seen(logs / "main.jsonl", "pinghu"), 5,
                           "the simulated venues to show the take")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and '"level": "error"' not in err
    assert "Simulated venues (4): main, pinghu, haiyan, nanhu" in out
    assert "media on 127.0.0.1" in out


def test_simulate_takes_all_or_a_list_of_known_venues(rehearsal_conf):
    assert _simulated_venues(rehearsal_conf, "all") == ["main", "pinghu", "haiyan", "nanhu"]
    assert _simulated_venues(rehearsal_conf, "nanhu, pinghu,nanhu") == ["pinghu", "nanhu"]  # conference order, once
    with pytest.raises(click.UsageError, match=r"no venue 'pinhgu' in this conference \(did you mean 'pinghu'\?\)"):
        _simulated_venues(rehearsal_conf, "pinhgu")
    with pytest.raises(click.UsageError, match="needs 'all' or a comma-separated list"):
        _simulated_venues(rehearsal_conf, " , ")


def test_serve_refuses_an_unknown_simulated_venue(rehearsal_yaml, tmp_path):
    proc = serve(rehearsal_yaml, tmp_path / "data", free_port(), "--simulate", "main,pinhgu")
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "did you mean 'pinghu'?" in err
