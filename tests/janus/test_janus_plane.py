"""The Janus media plane in a real session: a real Janus node, real aiortc venue agents.

Each test runs in a network namespace of its own (see `orchestrator/netns.py`)."""

from __future__ import annotations

import time

from orchestrator.janus_node import JanusProcess
from tests.support.janus_node import join
from tests.support.live import Live, wait_for

BRANCHES = ["pinghu", "haiyan"]


async def test_takes_switch_what_every_venue_sees(janus_live: Live, janus: JanusProcess) -> None:
    live = janus_live
    await join(live, ["main", *BRANCHES])
    assert all(h.events("downlink_answered") for h in live.agents.values())
    await wait_for(lambda: all(live.agents[v].agent.stats.seen == "main" for v in BRANCHES), 10,
                   "the main venue's picture at the branch venues")
    for venue in ["pinghu", "haiyan", "main", "pinghu"]:
        marks_before = {v: dict(live.agents[v].agent.stats.marks) for v in live.agents}
        seen_before = {v: live.agents[v].agent.stats.seen for v in live.agents}
        taken = time.monotonic()
        await live.command({"type": "take", "venue": venue})
        expected = {v: venue for v in live.agents if v != venue}
        if venue != "main":
            expected[venue] = "main"  # the on-air venue receives the main venue
        await wait_for(lambda expected=expected: all(live.agents[v].agent.stats.seen == want
                                                     for v, want in expected.items()),
                       3.0, f"every venue to see the take of {venue}")
        for v, want in expected.items():  # never a wrong venue in between
            new_marks = {k for k, n in live.agents[v].agent.stats.marks.items() if n != marks_before[v].get(k, 0)}
            assert new_marks <= {seen_before[v], want}, (v, new_marks)
        assert time.monotonic() - taken < 4
    assert all(h.agent.stats.broken_frames == 0 for h in live.agents.values())
    state = await live.state()
    assert state["on_air"] == "pinghu" and all(state["venues"][v]["connected"] for v in live.agents)


async def test_audio_follows_the_program_rules(janus_live: Live) -> None:
    live = janus_live
    await join(live, ["main", *BRANCHES])
    await live.command({"type": "take", "venue": "pinghu"})
    expected = {  # each subscriber is switched on its own: the whole program, once every one is
        "haiyan": {"program_video": "pinghu", "program_audio": "pinghu", "main_audio": "main"},
        "pinghu": {"program_video": "main", "program_audio": None, "main_audio": "main"},
        "main": {"program_video": "pinghu", "program_audio": "pinghu", "main_audio": None},
    }
    await live.wait_for_state(lambda s: all(s["program"].get(v) == want for v, want in expected.items()), 5,
                              f"the switch: {expected}")
    before = live.agents["haiyan"].agent.stats.audio_frames
    await wait_for(lambda: live.agents["haiyan"].agent.stats.audio_frames > before + 50, 5, "program audio at haiyan")
    await live.command({"type": "mute_venue", "venue": "pinghu"})
    await live.wait_for_state(lambda s: "haiyan" in s["program"] and s["program"]["haiyan"]["program_audio"] is None, 5, "the muted venue cut off")


async def test_a_venue_leaving_ends_its_presence_and_the_program_falls_back(janus_live: Live) -> None:
    live = janus_live
    await join(live, ["main", *BRANCHES])
    await live.command({"type": "take", "venue": "pinghu"})
    await wait_for(lambda: live.agents["haiyan"].agent.stats.seen == "pinghu", 5, "pinghu on air")
    live.agents["pinghu"].agent.stop()
    await live.agents["pinghu"].task
    await wait_for(lambda: live.agents["haiyan"].agent.stats.seen == "main", 10, "the fallback to the main venue")
    state = await live.state()
    assert state["on_air"] == "main" and not state["venues"]["pinghu"]["connected"]
    del live.agents["pinghu"]
    await join(live, ["pinghu"])
    await wait_for(lambda: live.agents["haiyan"].agent.stats.seen == "pinghu", 10, "pinghu back on air after rejoining")
