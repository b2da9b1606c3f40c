"""One of three Janus nodes dies mid-session (SIGKILL): its venues are told to reconnect and come
back on the two others within 10 s, an event says which node was lost, and every venue then
sees every take."""

from __future__ import annotations

import time
from pathlib import Path

from orchestrator.core import events as e
from orchestrator.janus_node import JanusProcess
from orchestrator.media.janus import NODE_RETRY_S
from orchestrator.web.app import RUNTIME
from tests.janus.test_cascade import homes
from tests.support import janus_node
from tests.support.janus_node import join
from tests.support.live import Live, wait_for

VENUES = ("main", "pinghu", "haiyan", "nanhu")


async def see_every_take(live: Live) -> None:
    for venue in (*VENUES[1:], "main"):
        await live.command({"type": "take", "venue": venue})
        expected = {v: venue for v in VENUES if v != venue}
        if venue != "main":
            expected[venue] = "main"
        try:
            await wait_for(lambda expected=expected: all(live.agents[v].agent.stats.seen == want
                                                         for v, want in expected.items()),
                           5.0, f"every venue to see the take of {venue}")
        except AssertionError as exc:
            seen = {v: live.agents[v].agent.stats.seen for v in VENUES}
            raise AssertionError(f"{exc}: they see {seen}") from None


async def test_a_node_killed_among_three_moves_its_venues_to_the_others(
        three_node_live: Live, janus: JanusProcess, second_janus: JanusProcess, third_janus: JanusProcess,
        janus_namespace: str, tmp_path: Path) -> None:
    live = three_node_live
    for venue in VENUES:  # one after the other: the spread is predictable
        await join(live, [venue])
    placed = homes(live)
    assert placed == {"main": janus.url, "pinghu": second_janus.url, "haiyan": third_janus.url, "nanhu": janus.url}
    await see_every_take(live)
    await live.command({"type": "take", "venue": "nanhu"})
    await wait_for(lambda: live.agents["haiyan"].agent.stats.seen == "nanhu", 5, "nanhu on air at haiyan")
    assert live.server_app is not None
    lost: list[e.MediaNodeLost] = []
    live.server_app[RUNTIME].live.add_listener(
        "node_losses", lambda events, state: lost.extend(ev for ev in events if isinstance(ev, e.MediaNodeLost)))

    killed = time.monotonic()
    third_janus.process.kill()  # SIGKILL: haiyan's node is gone, mid-session, with another node's venue on air
    await wait_for(lambda: bool(lost), 5, "the node's loss recorded")
    await live.wait_for_state(lambda s: all(s["venues"][v]["connected"] for v in VENUES) and
                              homes(live)["haiyan"] != third_janus.url, 30, "every venue connected again")
    await wait_for(lambda: live.agents["haiyan"].agent.stats.seen == "nanhu", 30, "the program at haiyan again")
    back_s = time.monotonic() - killed
    print(f"haiyan back on air's picture {back_s:.2f} s after its node was killed")
    assert back_s < 10, f"haiyan took {back_s:.1f} s to come back"
    assert [(ev.node, ev.venues) for ev in lost] == [(third_janus.url, ("haiyan",))]
    assert live.agents["haiyan"].events("reconnected")
    assert set(homes(live).values()) <= {janus.url, second_janus.url}
    # the console says which node was lost and how many venues moved, in the reader's language
    state = await live.state()
    assert [(n["node"], n["venues"], n["back_at"]) for n in state["media_node_notes"]] == [(third_janus.url, 1, None)]
    assert state["media_node_notes"][0]["text"] == (f"Media node {third_janus.url} was lost: 1 venue was moved to the "
                                               "other nodes. The session goes on.")
    async with live.http.get(f"{live.base_url}/api/state?lang=zh-CN", headers=live.auth) as answer:
        assert third_janus.url in (await answer.json())["media_node_notes"][0]["text"]
    # the session goes on: every venue, on the two remaining nodes, sees every take
    await see_every_take(live)

    # the node comes back: the session records it, the console says so, and a venue that joins goes there
    again = janus_node.start_node(janus_namespace, tmp_path / "janus-3", ws_port=8190, rtp_ports=(22000, 22999))
    try:
        await live.wait_for_state(lambda s: s["media_node_notes"][0]["back_at"] is not None, NODE_RETRY_S + 5,
                                  "the node back")
        state = await live.state()
        assert state["media_node_notes"][0]["text"] == f"Media node {third_janus.url} is back: new venues join it again."
        live.agents["pinghu"].agent.stop()
        await live.agents.pop("pinghu").task
        await live.wait_for_state(lambda s: not s["venues"]["pinghu"]["connected"], 10, "pinghu gone")
        await join(live, ["pinghu"])
        assert homes(live)["pinghu"] == third_janus.url
        await see_every_take(live)
    finally:
        again.stop()
