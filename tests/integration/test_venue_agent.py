"""`orchestrator venue` as a real process, and the agent's connection behaviour: a venue
opened twice does not flap, an agent without a media path says why and backs off, a link
to this machine works without --ice-address, the program is logged again after a
reconnection, and a venue showing its name (encoded live) is seen and heard."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from orchestrator.protocol import CLOSE_RESTART, Restarting
from orchestrator.rehearsal.simulate import picture_of
from orchestrator.web.app import VENUES
from tests.support.live import wait_for
from venues.agent import BACKOFF_MAX_S, EXIT_REPLACED, REPLACED_SENTENCE

ROOT = Path(__file__).resolve().parents[2]


def agent_process(url: str, log: Path, *options: str) -> subprocess.Popen:
    """`orchestrator venue URL --synthetic --log LOG [options]`; its stderr goes to LOG.err."""
    with open(log.with_suffix(".err"), "w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "venue", url, "--synthetic", "--log", str(log), *options],
            stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )


def events(log: Path, kind: str) -> list[dict]:
    if not log.exists():
        return []
    return [e for e in map(json.loads, log.read_text().splitlines()) if e["event"] == kind]


def stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def exit_status(proc: subprocess.Popen, timeout: float) -> int:
    await wait_for(lambda: proc.poll() is not None, timeout, "the agent process to exit")
    return proc.returncode


async def test_two_agents_on_one_link_do_not_flap(live, tmp_path):
    """The second agent keeps the venue; the first stops with its own status and says why."""
    await live.join(["main"])
    link = live.link("pinghu")
    first_log, second_log = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first = agent_process(link, first_log, "--ice-address", "127.0.0.1")
    second = None
    socket_ = await live.operator.socket()
    watcher = asyncio.ensure_future(socket_.watch())
    try:
        await live.wait_for_state(lambda s: s["venues"]["pinghu"]["connected"], 20, "the first agent to join")
        before_second = len(socket_.events)
        second = agent_process(link, second_log, "--ice-address", "127.0.0.1")
        assert await exit_status(first, 20) == EXIT_REPLACED
        assert [e["message"] for e in events(first_log, "replaced")] == ["this venue connected again from elsewhere"]
        assert REPLACED_SENTENCE in first_log.with_suffix(".err").read_text()
        await wait_for(lambda: events(second_log, "joined"), 20, "the second agent to join")
        # the console hears of the second agent's join after the agent logs it
        await wait_for(lambda: any(e.type == "venue_joined" and getattr(e, "venue", None) == "pinghu"
                                   for e in socket_.events[before_second:]), 10, "the console to see the second agent join")
        handed_over = len(socket_.events)
        await asyncio.sleep(6)  # flapping agents replaced each other about every second
        assert second.poll() is None, "the second agent keeps running"
        assert not events(second_log, "replaced") and not events(second_log, "disconnected")
        state = await live.state()
        assert state["venues"]["pinghu"]["connected"]
        churn = [e.type for e in socket_.events[handed_over:] if getattr(e, "venue", None) == "pinghu"
                 and e.type in ("venue_joined", "venue_left")]
        assert churn == [], f"pinghu still comes and goes: {churn}"
    finally:
        watcher.cancel()
        await socket_.close()
        stop(first, *([second] if second else []))


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="needs ::1 for an agent address the server cannot reach")
async def test_an_agent_without_a_media_path_says_why_and_backs_off(live, tmp_path):
    """The server offers only 127.0.0.1 (as `serve --simulate` does); the agent offers an
    address that cannot reach it. It says so, from the answer's candidates, and retries
    with a growing, capped delay."""
    log = tmp_path / "pinghu.jsonl"
    proc = agent_process(live.link("pinghu"), log, "--ice-address", "::1")
    try:
        await wait_for(lambda: len(events(log, "no_media_path")) >= 4, 40, "four attempts without a media path")
        failures = events(log, "no_media_path")
        expected = "no media path to the server: it offers only 127.0.0.1; run with --ice-address 127.0.0.1 or use TURN"
        assert {f["message"] for f in failures} == {expected}
        assert expected in log.with_suffix(".err").read_text(), "said where a person sees it"
        delays = [f["retry_in_s"] for f in failures]
        assert delays == sorted(delays) and delays[-1] > delays[0], f"the delay grows: {delays}"
        assert max(delays) <= BACKOFF_MAX_S
        gaps = [b["ts"] - a["ts"] for a, b in itertools.pairwise(failures)]
        assert all(gap >= delay for gap, delay in zip(gaps, delays)), (gaps, delays)
        assert proc.poll() is None, "it keeps trying"
        assert not events(log, "joined")
        assert not (await live.state())["venues"]["pinghu"]["connected"]
    finally:
        stop(proc)


async def test_a_link_to_this_machine_joins_without_ice_address(live, tmp_path):
    """The server offers only 127.0.0.1: an agent on a 127.0.0.1 link offers loopback too
    (aioice alone never gathers on it), so the README's loop of venues works as written."""
    await live.join(["main"])  # the program
    log = tmp_path / "nanhu.jsonl"
    proc = agent_process(live.link("nanhu"), log)
    try:
        await live.wait_for_state(lambda s: s["venues"]["nanhu"]["connected"], 20, "the agent to join")
        await wait_for(lambda: events(log, "on_air_seen"), 10, "the program at the agent")
        assert not events(log, "no_media_path")
    finally:
        stop(proc)


async def test_the_program_is_logged_again_after_a_reconnection(live):
    await live.join(["main", "pinghu"])
    await live.command({"type": "take", "venue": "pinghu"})
    main = live.agents["main"]
    await wait_for(lambda: main.agent.stats.seen == "pinghu", 5, "pinghu at main")
    await live.server_app[VENUES].disconnect("main", CLOSE_RESTART, Restarting(message="the server is restarting"))
    await wait_for(lambda: main.events("reconnected"), 15, "main to reconnect")
    gone = main.events("disconnected")[-1]["ts"]
    await wait_for(lambda: [e for e in main.events("on_air_seen") if e["ts"] > gone], 10,
                   "on_air_seen for the first program frame after the reconnection")
    seen = [e["venue"] for e in main.events("on_air_seen") if e["ts"] > gone]
    assert seen == ["pinghu"], "the program came back, and it is pinghu"


async def test_a_venue_with_a_labelled_picture_is_seen_and_heard(live):
    """`serve --simulate`'s camera (the name, a clock, encoded live) carries the mark, and its tone is forwarded."""
    tz = ZoneInfo(live.conference.conference.timezone)
    live.start_agent("pinghu", media_factory=picture_of("平湖市 Pinghu City", tz))
    await live.join(["pinghu", "nanhu"])
    await live.command({"type": "take", "venue": "pinghu"})
    nanhu = live.agents["nanhu"].agent
    await wait_for(lambda: nanhu.stats.seen == "pinghu", 10, "pinghu's picture at nanhu")
    assert live.agents["pinghu"].agent.media.check() == (True, True)
    heard = nanhu.stats.audio_frames
    await wait_for(lambda: nanhu.stats.audio_frames > heard + 25, 5, "pinghu's tone at nanhu")
