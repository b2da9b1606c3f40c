"""The session runtime and the sockets around it, with a fake media plane (no aiortc): fast.

The real server (aiohttp on loopback, the real event log) with `FakeMediaPlane` in place
of the SFU, so a test says when a venue's media connects or goes away. The same
behaviours are also covered over real WebRTC (test_live_session.py, test_monitor_and_heartbeat.py,
faults/); these check the adapters on their own, quickly.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import structlog

from orchestrator import protocol as p
from orchestrator.config import Conference, parse_conference
from orchestrator.core import commands as c
from orchestrator.media.plane import LinkStats, MediaPresence, MonitorPeer, VenuePeer
from orchestrator.protocol import CLOSE_HEARTBEAT, CLOSE_RATE, CLOSE_REVOKED
from orchestrator.web.app import RUNTIME
from orchestrator.web.venue_ws import MAX_MESSAGES_PER_S
from tests.conftest import SAMPLE
from tests.support.fake_media import CANNED_ANSWER, CANNED_OFFER, FakeMediaPlane
from tests.support.live import Live, start_live, wait_for

OFFER = "v=0\r\n"  # the fake plane answers anything
HEARTBEAT_TIMEOUT_S = 1.5  # short, so the heartbeat test is quick; the other venues keep beating


@dataclass
class Rig:
    live: Live
    media: FakeMediaPlane
    heartbeats: list[asyncio.Task[None]] = field(default_factory=list)

    def ws_url(self, path: str) -> str:
        return self.live.base_url.replace("http", "ws", 1) + path

    async def venue(self, venue: str, heartbeat: bool = True) -> VenueSocket:
        """A venue signed in on /ws/venue (welcome read), not yet offering; it keeps sending
        heartbeats unless `heartbeat` is False."""
        ws = await self.live.http.ws_connect(self.ws_url("/ws/venue"))
        await ws.send_json({"type": "hello", "token": self.live.link(venue).split("#", 1)[1], "client": "test"})
        socket = VenueSocket(venue, ws)
        welcome = socket.welcome = await socket.next("welcome", "error")
        assert welcome["type"] == "welcome", welcome
        if heartbeat:
            self.heartbeats.append(asyncio.ensure_future(_beat(ws)))
        return socket

    async def joined(self, venue: str, heartbeat: bool = True) -> VenueSocket:
        """A venue signed in, offered, and its media connected."""
        socket = await self.venue(venue, heartbeat)
        await socket.ws.send_json({"type": "offer", "sdp": OFFER})
        assert (await socket.next("answer"))["sdp"] == CANNED_ANSWER
        self.media.connect(venue)
        await self.live.wait_for_state(lambda s: s["venues"][venue]["connected"], 2, f"{venue} connected")
        return socket


async def _beat(ws: aiohttp.ClientWebSocketResponse) -> None:
    while not ws.closed:
        await ws.send_json({"type": "heartbeat"})
        await asyncio.sleep(HEARTBEAT_TIMEOUT_S / 4)


@dataclass
class VenueSocket:
    venue: str
    ws: aiohttp.ClientWebSocketResponse
    welcome: dict = field(default_factory=dict)

    async def next(self, *kinds: str, timeout: float = 3.0) -> dict:
        """The next message of one of `kinds` (others are skipped), as JSON; every message
        must be one the protocol allows."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"{self.venue}: the socket closed ({self.ws.close_code}) before {kinds}")
                p.parse(p.to_venue_adapter, msg.data)
                data = json.loads(msg.data)
                if data["type"] in kinds:
                    return data

    async def closed(self, timeout: float = 3.0) -> int | None:
        """Read until the server closes the socket; its close code."""
        async with asyncio.timeout(timeout):
            while (await self.ws.receive()).type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                pass
        return self.ws.close_code


@contextlib.asynccontextmanager
async def serving(conf: Conference, data_dir: Path) -> AsyncIterator[Rig]:
    """The server for `conf` with a fake media plane."""
    planes: list[FakeMediaPlane] = []

    def make_media(presence: MediaPresence) -> FakeMediaPlane:
        planes.append(FakeMediaPlane(presence))
        return planes[-1]

    live, server = await start_live(conf, data_dir, make_media, heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S,
                                    link_sample_s=0.1)
    rig = Rig(live, planes[0])
    try:
        yield rig
    finally:
        for task in rig.heartbeats:
            task.cancel()
        await asyncio.gather(*rig.heartbeats, return_exceptions=True)
        await live.http.close()
        await server.close()
    assert planes[0].closed, "the server closed its media plane"


@pytest.fixture
async def rig(sample_conf, tmp_path) -> AsyncIterator[Rig]:
    async with serving(sample_conf, tmp_path) as rig:
        yield rig


@pytest.fixture
async def check_rig(tmp_path) -> AsyncIterator[Rig]:
    """The sample conference with a check roll call (every venue checks itself at once)."""
    text = SAMPLE.read_text(encoding="utf-8")
    assert "mode: called" in text
    conf = parse_conference(text.replace("mode: called", "mode: check").replace("per_venue: 20s", ""), "check.yaml")
    async with serving(conf, tmp_path) as rig:
        yield rig


# ------------------------------------------------------------------ presence


async def test_a_venue_joins_when_its_media_connects_and_leaves_when_it_goes(rig):
    socket = await rig.venue("pinghu")
    await socket.ws.send_json({"type": "offer", "sdp": OFFER})
    assert (await socket.next("answer"))["sdp"] == CANNED_ANSWER
    assert rig.media.called("answer_venue") == [(VenuePeer("pinghu"),)]
    assert not (await rig.live.state())["venues"]["pinghu"]["connected"], "signalling alone is not presence"

    rig.media.connect("pinghu")
    state = await rig.live.state()
    assert state["venues"]["pinghu"]["connected"]

    rig.media.disconnect("pinghu", "connection failed")
    state = await rig.live.state()
    assert not state["venues"]["pinghu"]["connected"]
    assert state["venues"]["pinghu"]["left_reason"] == "connection failed"
    await socket.ws.close()


async def test_where_the_plane_offers_the_downlink_the_venue_is_told_and_answers_it(rig):
    rig.media.downlink = "server_offer"
    socket = await rig.venue("pinghu")
    assert socket.welcome["downlink"] == "server_offer"
    await socket.ws.send_json({"type": "offer", "sdp": OFFER})
    assert (await socket.next("answer"))["sdp"] == CANNED_ANSWER
    assert (await socket.next("downlink_offer"))["sdp"] == CANNED_OFFER
    await socket.ws.send_json({"type": "downlink_answer", "sdp": "v=0\r\n"})
    await wait_for(lambda: rig.media.called("answer_downlink") == [(VenuePeer("pinghu"),)], 2, "the downlink's answer")
    assert rig.media.called("open_downlink") == [(VenuePeer("pinghu"),)]


async def test_a_downlink_answer_where_the_plane_offers_none_is_refused(rig):
    socket = await rig.venue("pinghu")
    assert socket.welcome["downlink"] == "same_peer"
    await socket.ws.send_json({"type": "offer", "sdp": OFFER})
    await socket.next("answer")
    await socket.ws.send_json({"type": "downlink_answer", "sdp": "v=0\r\n"})
    error = await socket.next("error")
    assert error["code"] == "bad_answer" and "no downlink offer" in error["message"]
    assert rig.media.called("open_downlink") == []


async def test_the_on_air_venue_losing_its_media_falls_back_and_the_plane_follows(rig):
    await rig.joined("main")
    await rig.joined("pinghu")
    await rig.live.command({"type": "take", "venue": "pinghu"})
    assert rig.media.on_air == "pinghu"
    rig.media.disconnect("pinghu")
    state = await rig.live.state()
    assert state["on_air"] == "main" and state["fallback_from"] == "pinghu"
    assert rig.media.on_air == "main", "the media plane follows the fallback"


async def test_a_closed_venue_socket_closes_its_peer_and_the_venue_leaves(rig):
    socket = await rig.joined("pinghu")
    await socket.ws.close()
    await wait_for(lambda: (VenuePeer("pinghu"), "signalling closed") in rig.media.called("close_peer"), 2, "the peer closed")
    state = await rig.live.state()
    assert state["venues"]["pinghu"]["left_reason"] == "signalling closed"


# ------------------------------------------------------------------ revocation, roll call, heartbeat, rate


async def test_revocation_cuts_the_venue_off_and_refuses_its_old_link(rig):
    token = rig.live.link("pinghu").split("#", 1)[1]
    socket = await rig.joined("pinghu")
    await rig.joined("nanhu")
    await rig.live.command({"type": "revoke_link", "venue": "pinghu"})
    error = await socket.next("error")
    assert error["code"] == "refused" and "revoked" in error["message"]
    assert await socket.closed() == CLOSE_REVOKED
    assert rig.media.called("close_peer")[-1][0] == VenuePeer("pinghu")
    state = await rig.live.state()
    assert not state["venues"]["pinghu"]["connected"] and state["venues"]["nanhu"]["connected"]

    again = await rig.live.http.ws_connect(rig.ws_url("/ws/venue"))
    await again.send_json({"type": "hello", "token": token})
    refused = await again.receive_json(timeout=3)
    assert refused == {"type": "error", "code": "refused", "message": "this link has been revoked; ask the operator for a new one"}
    await again.close()
    fresh = await rig.venue("pinghu")  # a link issued after the revocation works
    await fresh.ws.close()


async def test_check_roll_call_prompts_reach_every_venue_at_once_and_answers_are_recorded(check_rig):
    rig = check_rig
    sockets = {venue: await rig.joined(venue) for venue in ("main", "pinghu", "nanhu")}
    await rig.live.command({"type": "start_session"})
    await rig.live.command({"type": "goto_segment", "segment": "roll-call"})
    await rig.live.command({"type": "start_roll_call"})
    for venue in ("pinghu", "nanhu"):
        prompt = await sockets[venue].next("roll_call_prompt")
        assert prompt == {"type": "roll_call_prompt", "segment": "roll-call", "mode": "check"}
        view = await sockets[venue].next("state")
        assert view["roll_call"] == "pending" and view["roll_call_call"] is None, "nobody is called in turn"
    await sockets["pinghu"].ws.send_json({"type": "roll_call_answer", "picture_ok": True, "sound_ok": False})
    recorded = await sockets["pinghu"].next("roll_call_recorded")
    assert recorded == {"type": "roll_call_recorded", "picture_ok": True, "sound_ok": False}
    entry = (await rig.live.state())["roll_call"]["venues"]["pinghu"]
    assert (entry["picture_ok"], entry["sound_ok"]) == (True, False)


async def test_a_called_roll_call_prompts_only_the_called_venue_and_tells_everyone_who_is_called(rig):
    sockets = {venue: await rig.joined(venue) for venue in ("main", "pinghu", "nanhu")}
    await rig.live.command({"type": "start_session"})
    await rig.live.command({"type": "goto_segment", "segment": "roll-call"})
    started = time.time()
    await rig.live.command({"type": "start_roll_call"})
    # nanhu comes first in the file: it alone is asked, with its 20 s
    prompt = await sockets["nanhu"].next("roll_call_prompt")
    assert (prompt["segment"], prompt["mode"]) == ("roll-call", "called")
    assert 19 < prompt["left_s"] <= 20 and started + 19 < prompt["deadline"] < time.time() + 20.1
    for venue in ("main", "pinghu", "nanhu"):
        while (view := await sockets[venue].next("state"))["roll_call_call"] is None:
            pass
        call = view["roll_call_call"]
        assert (call["calling"], call["calling_name"], call["paused"]) == ("nanhu", "Nanhu District", False)
        assert call["deadline"] == prompt["deadline"]
    assert rig.media.on_air == "nanhu", "the called venue is on air"
    # pinghu answering out of turn is refused, with the session's reason
    await sockets["pinghu"].ws.send_json({"type": "roll_call_answer", "picture_ok": True, "sound_ok": True})
    refused = await sockets["pinghu"].next("error")
    assert (refused["code"], refused["params"]) == ("roll_call_not_your_turn", {"venue": "pinghu", "calling": "nanhu"})
    # nanhu answers: the venues not connected are absent as their turn comes, pinghu is called
    await sockets["nanhu"].ws.send_json({"type": "roll_call_answer", "picture_ok": True, "sound_ok": True})
    assert (await sockets["nanhu"].next("roll_call_recorded"))["picture_ok"] is True
    prompt = await sockets["pinghu"].next("roll_call_prompt")
    assert prompt["mode"] == "called"
    state = await rig.live.state()
    entries = state["roll_call"]["venues"]
    assert state["roll_call"]["calling"] == "pinghu" and rig.media.on_air == "pinghu"
    assert [entries[v]["status"] for v in ("nanhu", "xiuzhou", "jiashan", "haiyan", "haining", "pinghu", "tongxiang")] == [
        "present", "absent", "absent", "absent", "absent", "pending", "waiting"]
    assert entries["xiuzhou"]["note"] == "not connected when called"


async def test_the_main_venue_is_told_what_its_return_shows_and_the_media_follows(rig):
    ws = await rig.live.http.ws_connect(rig.ws_url("/ws/venue"))
    await ws.send_json({"type": "hello", "token": rig.live.link("main").split("#", 1)[1]})
    welcome = await ws.receive_json(timeout=3)
    assert welcome["wall_slots"] == 16 and abs(welcome["server_time"] - time.time()) < 2
    while (shown := await ws.receive_json(timeout=3))["type"] != "main_return":
        pass
    assert (shown["mode"], shown["shows"], shown["tiles"]) == ("program", "program", [])
    await ws.close()
    branch = await rig.live.http.ws_connect(rig.ws_url("/ws/venue"))
    await branch.send_json({"type": "hello", "token": rig.live.link("pinghu").split("#", 1)[1]})
    assert (await branch.receive_json(timeout=3))["wall_slots"] == 0, "a branch venue has no wall"
    await branch.close()
    sockets = {venue: await rig.joined(venue) for venue in ("main", "pinghu", "nanhu", "haiyan")}
    await rig.live.command({"type": "start_session"})
    await rig.live.command({"type": "set_main_return", "mode": "wall", "layout": "2x2"})
    while (shown := await sockets["main"].next("main_return"))["shows"] != "wall":
        pass
    # connected venues only, in the file's order, each with its name
    assert shown["layout"] == "2x2" and (shown["page"], shown["pages"]) == (0, 1)
    assert shown["tiles"] == [{"slot": 0, "venue": "nanhu", "name": "Nanhu District"},
                              {"slot": 1, "venue": "haiyan", "name": "Haiyan County"},
                              {"slot": 2, "venue": "pinghu", "name": "Pinghu City"}]
    assert (rig.media.return_video, rig.media.wall) == (None, ("nanhu", "haiyan", "pinghu"))
    await rig.live.command({"type": "set_main_return", "mode": "single", "venue": "haiyan"})
    while (shown := await sockets["main"].next("main_return"))["shows"] != "single":
        pass
    assert (shown["venue"], shown["name"], shown["tiles"]) == ("haiyan", "Haiyan County", [])
    assert (rig.media.return_video, rig.media.wall, rig.media.on_air) == ("haiyan", (), "main")
    # the sample's mobilisation speech polls the branch venues on the main venue's return
    await rig.live.command({"type": "goto_segment", "segment": "mobilisation-speech"})
    while (shown := await sockets["main"].next("main_return"))["mode"] != "polling":
        pass
    assert (shown["shows"], shown["venue"]) == ("single", "nanhu")
    assert rig.media.return_video == "nanhu" and rig.media.on_air == "main", "the others keep the program"
    for venue in ("pinghu", "nanhu", "haiyan"):  # a branch venue is never told about the return
        with pytest.raises(TimeoutError):
            await sockets[venue].next("main_return", timeout=0.3)


async def test_a_venue_whose_heartbeat_stops_is_cut_off_and_leaves(rig):
    socket = await rig.joined("pinghu", heartbeat=False)  # it says nothing more
    assert await socket.closed(timeout=HEARTBEAT_TIMEOUT_S + 3) == CLOSE_HEARTBEAT
    assert (VenuePeer("pinghu"), "heartbeat lost") in rig.media.called("close_peer")
    state = await rig.live.state()
    assert state["venues"]["pinghu"]["left_reason"] == "heartbeat lost"


async def test_a_venue_flooding_its_socket_is_refused_and_closed(rig):
    socket = await rig.joined("pinghu")
    for _ in range(MAX_MESSAGES_PER_S + 5):
        await socket.ws.send_json({"type": "heartbeat"})
    error = await socket.next("error")
    assert error["code"] == "rate_limited"
    assert await socket.closed() == CLOSE_RATE
    await wait_for(lambda: not rig.media.is_connected(VenuePeer("pinghu")), 2, "the flooding venue's peer closed")


# ------------------------------------------------------------------ operator monitor


async def test_a_console_monitor_is_its_own_peer(rig):
    await rig.joined("main")
    console = await rig.live.operator.socket()
    await console.send(p.MonitorOffer(sdp=OFFER))
    while not isinstance(await console.receive(3), p.Answer):
        pass
    (monitor,) = [peer for (peer,) in rig.media.called("answer_monitor")]
    assert isinstance(monitor, MonitorPeer)
    await console.send(p.MonitorChoice(slot=1, venue="main"))
    await wait_for(lambda: rig.media.monitors[monitor] == [None, "main"], 2, "the monitor slot set")
    await console.close()
    await wait_for(lambda: (monitor, "operator socket closed") in rig.media.called("close_peer"), 2, "the monitor closed")
    assert rig.media.is_connected(VenuePeer("main")), "the venue's own peer stays"


# ------------------------------------------------------------------ link sampling


async def test_a_negative_round_trip_for_one_venue_does_not_stop_the_others_reports(rig):
    """aiortc derives the round trip from wall-clock time, so it can come out negative. That
    sample is corrected and logged; the other venues' reports and the console update go on."""
    for venue in ("main", "pinghu", "nanhu"):
        await rig.joined(venue)
    # the bad value first, so an aborted loop would skip the others
    rig.media.links = {
        "main": LinkStats(bitrate_in_kbps=510.0, loss_pct=0.0, rtt_ms=-3.5),
        "pinghu": LinkStats(bitrate_in_kbps=480.0, loss_pct=12.0, rtt_ms=40.0),
        "nanhu": LinkStats(bitrate_in_kbps=490.0, loss_pct=0.0, rtt_ms=900.0),
    }
    console = await rig.live.operator.socket()
    with structlog.testing.capture_logs() as logs:
        async with asyncio.timeout(3):
            while True:  # the console's state after the reports of the venues after the bad one
                msg = await console.receive()
                venues = msg.state.venues if isinstance(msg, p.StateMessage) else {}
                if venues and all(venues[v].link.quality.value == "poor" for v in ("pinghu", "nanhu")):
                    break
    await console.close()
    assert [venues[v].link.bitrate_in_kbps for v in ("main", "pinghu", "nanhu")] == [510.0, 480.0, 490.0]
    assert venues["main"].link.rtt_ms is None, "an impossible round trip is shown as unknown"
    assert venues["main"].link.quality.value == "good"
    corrected = [e for e in logs if e["event"] == "link_sample_invalid"]
    assert corrected and corrected[0]["venue"] == "main" and corrected[0]["rtt_ms"] == -3.5
    assert not [e for e in logs if e["log_level"] in ("error", "critical")], logs


# ------------------------------------------------------------------ the consoles' state


async def test_a_burst_of_changes_reaches_the_console_as_every_event_and_one_state_at_the_end(rig):
    """Hundreds of venues joining at once must not make hundreds of whole states (each one is
    hundreds of kB at a thousand venues): the events go at once, the state at most every
    STATE_PUSH_INTERVAL_S, the last one with every change."""
    console = await rig.live.operator.socket()
    live = rig.live.server_app[RUNTIME].live
    texts = [f"caption {n}" for n in range(40)]
    for text in texts:  # in one turn of the loop, as the core's events of a join storm
        live.execute(c.SetCaption(text=text))
    states, events = 0, 0
    async with asyncio.timeout(5):
        while states == 0 or console.state.caption.text != texts[-1]:
            msg = await console.receive()
            states += isinstance(msg, p.StateMessage)
            events += isinstance(msg, p.EventsMessage)
    assert events == len(texts), "every change's events, at once"
    # the first change's state at once (unless the link sampler pushed one just before), then one with all the others
    assert 1 <= states <= 2, f"{states} states for one burst of {len(texts)} changes"
    live.execute(c.ResetCaption())
    async with asyncio.timeout(5):  # a change after a quiet spell: its state comes as well
        while console.state.caption is not None and console.state.caption.kind.value == "override":
            await console.receive()
    await console.close()


# ------------------------------------------------------------------ listeners


async def test_a_failing_listener_is_logged_and_the_command_and_other_listeners_go_on(rig, monkeypatch):
    sockets = {venue: await rig.joined(venue) for venue in ("main", "pinghu")}
    console = await rig.live.operator.socket()  # its first state read

    def broken(on_air: str, muted: object) -> None:
        raise RuntimeError("the media plane failed")

    monkeypatch.setattr(rig.media, "set_program", broken)
    with structlog.testing.capture_logs() as logs:
        answer = await rig.live.command({"type": "take", "venue": "pinghu"})  # 200, or it raises
    assert answer.events[0].type == "venue_took_air"
    failed = [e for e in logs if e["event"] == "listener_failed"]
    assert [(e["listener"], e["command"]) for e in failed] == [("media_program", "take")]
    # the listeners after it still ran: the venue sockets and the console heard of the take
    while (await sockets["main"].next("state"))["on_air"] != "pinghu":
        pass
    async with asyncio.timeout(3):
        while not isinstance(msg := await console.receive(), p.EventsMessage):
            pass
    assert msg.events[0].type == "venue_took_air"
    assert rig.live.server_app[RUNTIME].live.listener_names == [
        "token_revocations", "media_program", "timers", "recording", "venue_sockets", "operator_sockets", "metrics",
    ]
    await console.close()


# ------------------------------------------------------------------ roll-call records


TWO_ROLL_CALLS_YAML = """\
conference: {id: two-roll-calls, title: "Two roll calls", date: 2025-02-05, start: "14:30", timezone: Asia/Shanghai}
venues:
  - {id: main, name: "Theatre", role: main}
  - {id: pinghu, name: "Pinghu City", role: branch}
  - {id: haiyan, name: "Haiyan County", role: branch}
  - {id: nanhu, name: "Nanhu District", role: branch}
agenda:
  - {id: opening, kind: presiding, title: "Opening", planned: 2m}
  - {id: roll-call, kind: roll_call, title: "Roll call", per_venue: 20s, planned: 3m}
  - {id: check, kind: roll_call, title: "Self-check", mode: check, venues: [pinghu, nanhu], planned: 2m}
"""


async def test_every_roll_call_is_listed_and_exported_with_its_record(tmp_path):
    async with serving(parse_conference(TWO_ROLL_CALLS_YAML, "two.yaml"), tmp_path) as rig:
        sockets = {venue: await rig.joined(venue) for venue in ("main", "pinghu", "nanhu")}
        run = rig.live.command
        await run({"type": "start_session"})
        await run({"type": "goto_segment", "segment": "roll-call"})
        await run({"type": "start_roll_call"})
        await sockets["pinghu"].next("roll_call_prompt")
        await sockets["pinghu"].ws.send_json({"type": "roll_call_answer", "picture_ok": True, "sound_ok": True})
        await sockets["nanhu"].next("roll_call_prompt")  # haiyan was not connected: absent, nanhu is called
        await run({"type": "skip_roll_call_venue"})
        await run({"type": "goto_segment", "segment": "check"})
        await run({"type": "start_roll_call"})
        await sockets["pinghu"].next("roll_call_prompt")
        await sockets["pinghu"].ws.send_json({"type": "roll_call_answer", "picture_ok": True, "sound_ok": False})
        await sockets["pinghu"].next("roll_call_recorded")
        await run({"type": "finish_roll_call"})

        roll_calls = await rig.live.operator.roll_calls()
        assert list(roll_calls) == ["roll-call", "check"]
        called, check = roll_calls["roll-call"], roll_calls["check"]
        assert (called.mode.value, called.phase.value, check.mode.value) == ("called", "finished", "check")
        assert {v: (e.status.value, e.by) for v, e in called.venues.items()} == {
            "pinghu": ("present", "venue"), "haiyan": ("absent", "session"), "nanhu": ("no_answer", "operator")}

        async def csv_rows(query: str = "") -> list[list[str]]:
            async with rig.live.http.get(f"{rig.live.base_url}/api/roll-call.csv{query}", headers=rig.live.auth) as r:
                assert r.status == 200 and r.content_type == "text/csv"
                body = await r.read()
                assert body.startswith("\ufeff".encode()), "a byte-order mark, so that Excel reads UTF-8"
                return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))

        header, *rows = await csv_rows("?segment=roll-call")
        assert header == ["segment", "venue", "name", "status", "picture_ok", "sound_ok", "recorded_at", "by", "note",
                          "mode", "called_at"]
        by_venue = {row[1]: dict(zip(header, row)) for row in rows}
        pinghu, haiyan, nanhu = by_venue["pinghu"], by_venue["haiyan"], by_venue["nanhu"]
        assert (pinghu["name"], pinghu["status"], pinghu["picture_ok"], pinghu["sound_ok"], pinghu["by"]) == (
            "Pinghu City", "present", "yes", "yes", "venue")
        assert pinghu["recorded_at"].endswith("+08:00") and pinghu["called_at"] <= pinghu["recorded_at"]
        assert (haiyan["status"], haiyan["by"], haiyan["note"], haiyan["called_at"]) == (
            "absent", "session", "not connected when called", "")
        assert (nanhu["status"], nanhu["by"], nanhu["note"], nanhu["mode"]) == ("no_answer", "operator", "skipped", "called")
        assert nanhu["called_at"], "nanhu was called"
        # without a segment: the roll call the console shows (the current segment's)
        header, *rows = await csv_rows()
        assert [(row[1], row[3], row[5], row[8], row[9]) for row in rows] == [
            ("pinghu", "present", "no", "", "check"), ("nanhu", "absent", "", "no answer", "check")]
        for segment, why in [("nope", "there is no segment 'nope' in the agenda (roll calls run: roll-call, check)"),
                             ("opening", "the roll call of 'opening' has not been run (roll calls run: roll-call, check)")]:
            async with rig.live.http.get(f"{rig.live.base_url}/api/roll-call.csv?segment={segment}",
                                         headers=rig.live.auth) as r:
                assert r.status == 404
                assert await r.json() == {"error": why, "code": "roll_call_not_found", "params": {"segment": segment}}
