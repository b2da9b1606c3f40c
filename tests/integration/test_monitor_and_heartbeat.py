"""The operator's monitor peer, and a venue whose heartbeat stops."""

from __future__ import annotations

import asyncio
import time

from aiortc import RTCPeerConnection, RTCSessionDescription

from orchestrator.config import parse_conference
from orchestrator.media.plane import MonitorPeer
from orchestrator.protocol import Answer, ErrorMessage, MonitorChoice, MonitorOffer
from tests.support.live import Live, embedded_media, start_live, wait_for
from venues.agent import VenueAgent
from venues.synthetic import read_mark


async def offer_monitor(live: Live):
    """A console on /ws/operator whose two-slot monitor peer has its answer (slots not chosen yet)."""
    socket = await live.operator.socket()
    pc = RTCPeerConnection()
    for _ in range(2):
        pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    await socket.send(MonitorOffer(sdp=pc.localDescription.sdp))
    while not isinstance(msg := await socket.receive(5), Answer):
        pass
    await pc.setRemoteDescription(RTCSessionDescription(sdp=msg.sdp, type="answer"))
    return socket, pc

async def test_operator_monitors_any_venue_uplink_without_transcoding(live):
    await live.join(["main", "pinghu", "nanhu"])
    socket, pc = await offer_monitor(live)
    assert socket.state.on_air == "main"
    await socket.send(MonitorChoice(slot=0, venue="pinghu"))
    await socket.send(MonitorChoice(slot=1, venue="nanhu"))

    seen: dict[int, set] = {0: set(), 1: set()}

    async def watch(slot: int, track) -> None:
        while True:
            frame = await track.recv()
            seen[slot].add(read_mark(frame))

    tracks = [t.receiver.track for t in pc.getTransceivers()]
    watchers = [asyncio.ensure_future(watch(i, t)) for i, t in enumerate(tracks)]
    try:
        await wait_for(lambda: seen[0] and seen[1], 5, "both monitor slots")
        venues = [v.id for v in live.conference.venues]
        assert seen[0] == {venues.index("pinghu")} and seen[1] == {venues.index("nanhu")}
        # the program is not affected by monitoring
        assert (await live.state())["on_air"] == "main"
        # a bad monitor request is answered, not fatal
        await socket.send(MonitorChoice(slot=7, venue="pinghu"))
        while not isinstance(msg := await socket.receive(5), ErrorMessage):
            pass
        assert (msg.code, msg.message) == ("unknown_monitor_slot", "there is no monitor slot 7 (this monitor has 2)")
        assert MonitorPeer(1) in embedded_media(live.server_app).peer_ids
    finally:
        for w in watchers:
            w.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        await pc.close()
        await socket.close()
    await wait_for(lambda: MonitorPeer(1) not in embedded_media(live.server_app).peer_ids, 3, "the monitor peer to close")


class SilentAgent(VenueAgent):
    """A venue whose signalling freezes after it joined (its media keeps flowing)."""

    async def _heartbeat(self, ws, interval: float) -> None:
        await self.connected.wait()
        self.froze_at = time.monotonic()


async def test_a_venue_whose_heartbeat_stops_is_disconnected_within_five_seconds(live):
    await live.join(["main", "nanhu"])
    handle = live.start_agent("pinghu")
    handle.agent.__class__ = SilentAgent
    await wait_for(lambda: handle.agent.connected.is_set(), 10, "pinghu to join")
    await live.command({"type": "take", "venue": "pinghu"})
    state = await live.wait_for_state(lambda s: not s["venues"]["pinghu"]["connected"], 5, "pinghu shown disconnected")
    took = time.monotonic() - handle.agent.froze_at
    assert took < 5, took
    assert state["on_air"] == "main" and state["fallback_from"] == "pinghu"
    assert state["venues"]["pinghu"]["left_reason"] == "heartbeat lost"


OPERATOR_NAMED_YAML = """\
conference: {id: named, title: "Venue ids like the console's", date: 2025-02-05, start: "14:30", timezone: Asia/Shanghai}
venues:
  - {id: main, name: "Theatre", role: main}
  - {id: operator-1, name: "Operations room 1", role: branch, kind: other}
agenda:
  - {id: opening, kind: presiding, title: "Opening", planned: 2m}
"""


async def open_monitor(live: Live):
    """A console on /ws/operator with a connected two-slot monitor peer showing `operator-1`."""
    socket, pc = await offer_monitor(live)
    await socket.send(MonitorChoice(slot=0, venue="operator-1"))
    await wait_for(lambda: pc.connectionState == "connected", 10, "the monitor peer to connect")
    return socket, pc


async def test_a_venue_called_operator_1_keeps_its_peer_when_a_console_monitors_and_leaves(tmp_path):
    """The first console's monitor peer and a venue whose id is `operator-1` are two peers:
    the console opening and closing its monitor must not cut the venue off."""
    conference = parse_conference(OPERATOR_NAMED_YAML, "named.yaml")
    live, server = await start_live(conference, tmp_path)
    try:
        await live.join(["main", "operator-1"])
        venue = live.agents["operator-1"].agent
        await live.command({"type": "take", "venue": "operator-1"})
        await wait_for(lambda: live.agents["main"].agent.stats.seen == "operator-1", 5, "operator-1 on air at main")

        socket, pc = await open_monitor(live)
        frames = venue.stats.program_frames
        await wait_for(lambda: venue.stats.program_frames > frames + 10, 5, "operator-1 still receiving the program")
        state = await live.state()
        assert state["venues"]["operator-1"]["connected"] and state["on_air"] == "operator-1", state["venues"]
        assert venue.stats.sessions == 1, "the venue had to reconnect when the console opened its monitor"
        assert set(state["program"]) == {"main", "operator-1"}, "the program lists venues only"

        await pc.close()
        await socket.close()
        await asyncio.sleep(1.0)  # time for the console's clean-up to close its peer
        frames = venue.stats.program_frames
        await wait_for(lambda: venue.stats.program_frames > frames + 10, 5, "operator-1 still receiving the program")
        state = await live.state()
        assert state["venues"]["operator-1"]["connected"] and state["on_air"] == "operator-1", state["venues"]
        assert venue.stats.sessions == 1, "the venue had to reconnect when the console closed its monitor"
        assert venue.connected.is_set()
    finally:
        await live.stop_agents()
        await live.http.close()
        await server.close()
