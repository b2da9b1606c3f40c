"""The Janus media plane over two nodes: venues spread over them, feeds cascaded between them
with VideoRoom remote publishers, and a take switches every node's subscribers."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from orchestrator.core import events as e
from orchestrator.janus_node import JanusProcess
from orchestrator.media import janus as janus_plane
from orchestrator.media.janus import JanusMediaPlane, _Node
from orchestrator.media.janus_api import JanusHandle
from orchestrator.media.plane import PREVIEW_SLOT, MonitorPeer
from orchestrator.web.app import RUNTIME
from tests.support.janus_node import join
from tests.support.live import Live, wait_for


def homes(live: Live) -> dict[str, str]:
    plane = live.server_app[RUNTIME].media if live.server_app is not None else None
    assert isinstance(plane, JanusMediaPlane)
    return {venue: state.node.url for venue, state in plane._venues.items()}


async def test_takes_across_two_cascaded_nodes(cascade_live: Live, janus: JanusProcess,
                                              second_janus: JanusProcess) -> None:
    live = cascade_live
    for venue in ("main", "pinghu", "haiyan", "nanhu"):  # one after the other: the spread is predictable
        await join(live, [venue])
    placed = homes(live)
    assert placed["main"] == placed["haiyan"] != placed["pinghu"] == placed["nanhu"], placed
    # the operator sees the placement: each venue's node, and the nodes (where, alive, how many venues; no secret)
    state = await live.state()
    assert {v: s["media_node"] for v, s in state["venues"].items()} == {
        "main": "1", "haiyan": "1", "pinghu": "2", "nanhu": "2"}
    hosts = [urlsplit(url).netloc for url in (janus.url, second_janus.url)]
    assert state["media_nodes"] == [{"id": "1", "host": hosts[0], "alive": True, "venues": 2},
                                    {"id": "2", "host": hosts[1], "alive": True, "venues": 2}]
    # the main venue's picture crosses to the other node
    await wait_for(lambda: all(live.agents[v].agent.stats.seen == "main" for v in ("pinghu", "haiyan", "nanhu")), 10,
                   "the main venue everywhere")
    for venue in ("pinghu", "haiyan", "nanhu", "main"):
        await live.command({"type": "take", "venue": venue})
        expected = {v: venue for v in live.agents if v != venue}
        if venue != "main":
            expected[venue] = "main"
        await wait_for(lambda expected=expected: all(live.agents[v].agent.stats.seen == want
                                                     for v, want in expected.items()),
                       5.0, f"every venue, on both nodes, to see the take of {venue}")
    # a switch between two remote feeds on one node forwards the new source's frames before its
    # keyframe (Janus 1.1.2 gives every remote feed the same SSRCs: see orchestrator/media/janus.py); the
    # agents hold them as a browser does, and what they could not read must stay less than a second's worth
    broken = {v: h.agent.stats.broken_frames for v, h in live.agents.items()}
    assert all(n < 15 for n in broken.values()), broken
    # a cascaded venue that leaves: the program falls back on both nodes
    await live.command({"type": "take", "venue": "pinghu"})
    await wait_for(lambda: live.agents["haiyan"].agent.stats.seen == "pinghu", 5, "pinghu on air at haiyan")
    live.agents["pinghu"].agent.stop()
    await live.agents["pinghu"].task
    await wait_for(lambda: live.agents["haiyan"].agent.stats.seen == "main" and
                   live.agents["nanhu"].agent.stats.seen == "main", 10, "the fallback to the main venue on both nodes")


def record_requests(monkeypatch, times: list[float] | None = None) -> list[tuple[int, dict[str, Any]]]:
    """Every VideoRoom request the plane sends from now on, in order: (the handle's id, the body);
    when each was sent (monotonic) in `times`, if given."""
    sent: list[tuple[int, dict[str, Any]]] = []
    message = JanusHandle.message

    async def recorded(handle: JanusHandle, body: dict[str, Any], jsep=None):
        sent.append((handle.id, body))
        if times is not None:
            times.append(time.monotonic())
        return await message(handle, body, jsep)

    monkeypatch.setattr(JanusHandle, "message", recorded)
    return sent


async def test_a_switch_between_remote_feeds_renumbers_and_asks_for_one_keyframe(
        cascade_live: Live, janus: JanusProcess, second_janus: JanusProcess, monkeypatch) -> None:
    live = cascade_live
    plane = live.server_app[RUNTIME].media if live.server_app is not None else None
    assert isinstance(plane, JanusMediaPlane)
    for venue in ("main", "pinghu", "haiyan", "nanhu"):
        await join(live, [venue])
    assert homes(live)["pinghu"] == homes(live)["nanhu"] == second_janus.url
    await live.command({"type": "take", "venue": "pinghu"})
    await wait_for(lambda: all(live.agents[v].agent.stats.seen == "pinghu" for v in ("main", "haiyan", "nanhu")), 5,
                   "pinghu on air everywhere")
    times: list[float] = []
    sent = record_requests(monkeypatch, times)
    # from one remote feed to another on the first node: main's and haiyan's downlinks there
    await live.command({"type": "take", "venue": "nanhu"})
    await wait_for(lambda: all(live.agents[v].agent.stats.seen == "nanhu" for v in ("main", "haiyan", "pinghu")), 5,
                   "nanhu on air everywhere")
    await wait_for(lambda: live.agents["nanhu"].agent.stats.seen == "main", 5, "the main venue at nanhu, on air")
    downlinks = {v: plane._venues[v].downlink.handle.id for v in ("main", "haiyan")}
    dummy = plane._nodes[janus.url].dummy
    for venue, handle in downlinks.items():
        requests = [(b["request"], b["streams"]) for h, b in sent if h == handle]
        # to the dummy; paused and resumed there (Janus renumbers the next packet it forwards: the new
        # feed's first); to the feed
        assert [r for r, _ in requests] == ["switch", "configure", "configure", "switch"], (venue, requests)
        assert {s["feed"] for s in requests[0][1]} == {dummy}, (venue, requests)
        mids = [s["sub_mid"] for s in requests[0][1]]
        assert requests[1][1] == [{"mid": m, "send": False} for m in mids], (venue, requests)
        assert requests[2][1] == [{"mid": m, "send": True} for m in mids], (venue, requests)
        assert dummy not in {s["feed"] for s in requests[3][1]}, (venue, requests)
    # each publisher of a remote feed a video stream was switched to is asked for a keyframe at home once
    # every downlink was switched, and again a moment later: nanhu's (main and haiyan on the first node),
    # the main venue's (nanhu, now on air, receives it on the second)
    uplinks = {plane._venues[v].uplink.handle.id: v for v in ("main", "nanhu")}

    def asked(venue: str) -> list[int]:
        return [i for i, (handle, body) in enumerate(sent) if body.get("keyframe") is True and uplinks.get(handle) == venue]

    await wait_for(lambda: len(asked("nanhu")) >= 2 and len(asked("main")) >= 2, 5, "the keyframe requests")
    assert min(asked("nanhu")) > max(i for i, (handle, _) in enumerate(sent) if handle in downlinks.values()), sent
    first, again = asked("nanhu")[:2]
    assert times[again] - times[first] >= janus_plane.KEYFRAME_AGAIN_S * 0.9, times[again] - times[first]
    # and back: whichever way the two feeds' own numbering lies, the venues keep receiving the program
    # (numbered on from what they got: Janus's SRTP drops a packet numbered below as a replay)
    await live.command({"type": "take", "venue": "pinghu"})
    await wait_for(lambda: all(live.agents[v].agent.stats.seen == "pinghu" for v in ("main", "haiyan", "nanhu")), 5,
                   "pinghu on air everywhere again")
    frames = {v: live.agents[v].agent.stats.program_frames for v in ("main", "haiyan")}
    await wait_for(lambda: all(live.agents[v].agent.stats.program_frames >= frames[v] + 15 for v in frames), 5,
                   "the program's frames still flowing on the first node")
    for node in (janus, second_janus):
        assert "srtp_err_status_replay" not in node.log_path.read_text(errors="replace"), node.log_tail()


async def test_a_lost_node_moves_its_venues_to_the_remaining_one(cascade_live: Live, janus: JanusProcess,
                                                                 second_janus: JanusProcess) -> None:
    live = cascade_live
    for venue in ("main", "pinghu", "haiyan", "nanhu"):
        await join(live, [venue])
    assert homes(live)["pinghu"] == homes(live)["nanhu"] == second_janus.url
    await live.command({"type": "take", "venue": "pinghu"})
    await wait_for(lambda: live.agents["haiyan"].agent.stats.seen == "pinghu", 5, "pinghu on air at haiyan")
    assert live.server_app is not None
    lost: list[e.MediaNodeLost] = []
    live.server_app[RUNTIME].live.add_listener(
        "node_losses", lambda events, state: lost.extend(ev for ev in events if isinstance(ev, e.MediaNodeLost)))
    second_janus.process.kill()  # SIGKILL: the on-air venue's node is gone
    await live.wait_for_state(lambda s: s["on_air"] == "main", 10, "the fallback to the main venue")
    assert [(ev.node, sorted(ev.venues)) for ev in lost] == [(second_janus.url, ["nanhu", "pinghu"])]
    await wait_for(lambda: live.agents["haiyan"].agent.stats.seen == "main", 10, "the main venue at haiyan")
    # its venues were told to reconnect, and came back on the remaining node
    await live.wait_for_state(lambda s: all(s["venues"][v]["connected"] for v in live.agents), 20,
                              "every venue connected again")
    assert set(homes(live).values()) == {janus.url}
    nodes = (await live.state())["media_nodes"]
    assert [(n["alive"], n["venues"]) for n in nodes] == [(True, 4), (False, 0)], nodes
    assert all(live.agents[v].events("reconnected") for v in ("pinghu", "nanhu"))
    # back in its segment, the on-air venue goes back on air (the session's rule), now from the remaining node
    assert (await live.state())["on_air"] == "pinghu"
    await wait_for(lambda: all(live.agents[v].agent.stats.seen == "pinghu" for v in ("main", "haiyan", "nanhu")), 10,
                   "pinghu on air again, from the remaining node")


async def remotized(node: _Node, feed: int) -> int:
    """To how many other nodes publisher `feed` is forwarded from its node (`listremotes`)."""
    handle = await node.session.attach()
    try:
        listed = await handle.message({"request": "listremotes", "room": node.room, "publisher_id": feed})
    finally:
        await handle.detach()
    return len(listed.plugin.get("list", []))


async def test_the_likely_next_venues_are_cascaded_ahead(cascade_live: Live, janus: JanusProcess,
                                                        second_janus: JanusProcess, monkeypatch) -> None:
    live = cascade_live
    assert live.server_app is not None
    plane = live.server_app[RUNTIME].media
    assert isinstance(plane, JanusMediaPlane)
    monkeypatch.setattr(janus_plane, "SPARE_REMOTE_FEEDS", 0)  # a feed no longer likely goes at once
    for venue in ("main", "pinghu", "haiyan", "nanhu"):
        await join(live, [venue])
    first, second = plane._nodes[janus.url], plane._nodes[second_janus.url]
    await live.command({"type": "start_session"})
    await live.command({"type": "goto_segment", "segment": "present"})
    # pinghu's speech is next: its feed waits on the main venue's node before anyone takes it
    await wait_for(lambda: "pinghu" in first.remote and first.remote["pinghu"].done(), 10, "pinghu cascaded ahead")
    assert (await live.state())["on_air"] == "main"
    sent = record_requests(monkeypatch)
    await live.command({"type": "goto_segment", "segment": "speech-pinghu"})
    await wait_for(lambda: all(live.agents[v].agent.stats.seen == "pinghu" for v in ("main", "haiyan", "nanhu")), 5,
                   "pinghu on air everywhere")
    await wait_for(lambda: "haiyan" in second.remote, 10, "haiyan (next) cascaded ahead")
    # the take waits for no set-up of the venue likely after it: every downlink is switched first
    switches = [i for i, (_, body) in enumerate(sent) if body["request"] == "switch"]
    cascades = [i for i, (_, body) in enumerate(sent) if body["request"] == "add_remote_publisher"]
    assert switches and cascades and max(switches) < min(cascades), [body["request"] for _, body in sent]
    pinghu_feed = plane._venues["pinghu"].uplink.feed
    assert await remotized(second, pinghu_feed) == 1  # to the first node

    await live.command({"type": "goto_segment", "segment": "speech-haiyan"})
    await wait_for(lambda: all(live.agents[v].agent.stats.seen == "haiyan" for v in ("main", "pinghu", "nanhu")), 5,
                   "haiyan on air everywhere")
    # pinghu is neither on air nor next, and nobody on the first node receives it: its feed there goes
    await wait_for(lambda: "pinghu" not in first.remote, 10, "pinghu's remote feed torn down")
    assert await remotized(second, pinghu_feed) == 0
    # taken again, it is cascaded anew
    await live.command({"type": "take", "venue": "pinghu"})
    await wait_for(lambda: all(live.agents[v].agent.stats.seen == "pinghu" for v in ("main", "haiyan", "nanhu")), 5,
                   "pinghu on air everywhere again")


async def test_a_venue_in_preview_on_another_node_is_cascaded_ahead(cascade_live: Live, janus: JanusProcess,
                                                                    second_janus: JanusProcess) -> None:
    live = cascade_live
    assert live.server_app is not None
    plane = live.server_app[RUNTIME].media
    assert isinstance(plane, JanusMediaPlane)
    for venue in ("main", "pinghu", "haiyan", "nanhu"):
        await join(live, [venue])
    first, second = plane._nodes[janus.url], plane._nodes[second_janus.url]
    assert homes(live)["nanhu"] == second_janus.url
    await live.command({"type": "take", "venue": "pinghu"})  # on air from the second node: cascaded to the first
    await wait_for(lambda: all(live.agents[v].agent.stats.seen == "pinghu" for v in ("main", "haiyan", "nanhu")), 5,
                   "pinghu on air everywhere")
    assert "nanhu" not in first.remote  # neither on air, nor the main venue, nor likely next
    # a console's monitor (on the first node) puts nanhu in its preview: the operator may take it next
    offers: list[str] = []
    monitor = MonitorPeer(1)
    await plane.open_downlink(monitor, offers.append, slots=PREVIEW_SLOT + 1)
    plane.set_monitor(monitor, PREVIEW_SLOT, "nanhu")
    await wait_for(lambda: "nanhu" in first.remote and first.remote["nanhu"].done(), 10, "nanhu cascaded ahead")
    assert await remotized(second, plane._venues["nanhu"].uplink.feed) == 1  # to the first node
    assert offers  # Janus offered the monitor's peer (nobody answers it here: the cascade does not wait for that)
    await plane.close_peer(monitor, "console closed")
