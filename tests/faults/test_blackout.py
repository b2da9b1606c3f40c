"""A venue that freezes (its process stopped with SIGSTOP) and comes back; a lossy uplink."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.live import wait_for

FREEZE_S = 20


def agent_process(url: str, log: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "venue", url, "--synthetic", "--ice-address", "127.0.0.1",
         "--log", str(log), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )


def events(log: Path, kind: str) -> list[dict]:
    if not log.exists():
        return []
    return [e for e in map(json.loads, log.read_text().splitlines()) if e["event"] == kind]


@pytest.mark.slow
async def test_a_frozen_venue_is_shown_gone_falls_back_and_rejoins(live, tmp_path):
    await live.join(["main", "nanhu", "xiuzhou"])
    log = tmp_path / "pinghu.jsonl"
    proc = agent_process(live.link("pinghu"), log)
    try:
        await live.wait_for_state(lambda s: s["venues"]["pinghu"]["connected"], 20, "pinghu to join")
        await live.command({"type": "take", "venue": "pinghu"})
        await wait_for(lambda: live.agents["nanhu"].agent.stats.seen == "pinghu", 3, "pinghu on air")

        # the other venues' program, sampled every 0.5 s while pinghu is frozen and back
        others = ("nanhu", "xiuzhou")
        proc.send_signal(signal.SIGSTOP)
        frozen = time.monotonic()
        state = await live.wait_for_state(lambda s: not s["venues"]["pinghu"]["connected"], 5, "pinghu shown disconnected")
        gone_s = time.monotonic() - frozen
        assert state["on_air"] == "main" and state["fallback_from"] == "pinghu"
        assert state["venues"]["pinghu"]["left_reason"] == "heartbeat lost"
        await wait_for(lambda: all(live.agents[v].agent.stats.seen == "main" for v in others), 3, "the fallback picture")

        stalls = []
        last = {v: live.agents[v].agent.stats.program_frames for v in others}
        while time.monotonic() - frozen < FREEZE_S:
            await asyncio.sleep(0.5)
            now = {v: live.agents[v].agent.stats.program_frames for v in others}
            stalls += [v for v in others if now[v] == last[v]]
            last = now
        proc.send_signal(signal.SIGCONT)
        resumed = time.monotonic()
        await live.wait_for_state(lambda s: s["venues"]["pinghu"]["connected"], 5, "pinghu to rejoin")
        rejoin_s = time.monotonic() - resumed
        # the program fell back from pinghu, so the core puts it back on air when it rejoins
        await wait_for(lambda: all(live.agents[v].agent.stats.seen == "pinghu" for v in others), 5, "pinghu seen again")
        seen_s = time.monotonic() - resumed
        print(f"\nblackout: shown disconnected after {gone_s:.2f} s; rejoined {rejoin_s:.2f} s and seen again "
              f"{seen_s:.2f} s after it resumed; program stalls at the others: {len(stalls)}")
        assert stalls == [], "the other venues' program stalled"
        assert events(log, "reconnected") or events(log, "disconnected")
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        proc.wait(10)


async def test_uplink_loss_shows_in_link_stats_and_guards_the_take(live):
    await live.join(["main", "nanhu"])
    live.start_agent("pinghu", loss_pct=25)
    state = await live.wait_for_state(
        lambda s: s["venues"]["pinghu"]["connected"] and s["venues"]["pinghu"]["link"].get("loss_pct", 0) > 5,
        15, "pinghu's loss in its link stats",
    )
    link = state["venues"]["pinghu"]["link"]
    assert link["quality"] == "poor"
    clean = state["venues"]["nanhu"]["link"]
    assert clean["quality"] == "good" and clean["loss_pct"] < 2
    refused = await live.command({"type": "take", "venue": "pinghu"}, expect=409)
    assert refused.error.startswith("cannot take venue 'pinghu': its link is poor (loss ")
    assert refused.code == "link_poor_needs_confirm" and refused.params["venue"] == "pinghu"
    taken = await live.command({"type": "take", "venue": "pinghu", "confirm": True})
    assert taken.events[0].type == "venue_took_air"
