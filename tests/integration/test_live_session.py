"""A real session over WebRTC on loopback: the server, and venue agents that decode the program."""

from __future__ import annotations

import time

from tests.support.live import wait_for

BRANCHES = ["pinghu", "nanhu", "xiuzhou", "haiyan"]


async def test_every_take_reaches_every_venue_within_a_second(live):
    await live.join(["main", *BRANCHES])
    others = lambda venue: [v for v in live.agents if v != venue]  # noqa: E731
    # everyone but the main venue sees the main venue first
    await wait_for(lambda: all(live.agents[v].agent.stats.seen == "main" for v in BRANCHES), 5, "the main venue's picture")

    latencies = []
    order = [*BRANCHES, "main", "pinghu"]
    for venue in order:
        marks_before = {v: dict(live.agents[v].agent.stats.marks) for v in live.agents}
        seen_before = {v: live.agents[v].agent.stats.seen for v in live.agents}
        taken = time.monotonic()
        await live.command({"type": "take", "venue": venue})
        expected = {v: venue for v in others(venue)}
        if venue != "main":
            expected[venue] = "main"  # the on-air venue receives the main venue
        waited = await wait_for(
            lambda expected=expected: all(live.agents[v].agent.stats.seen == want for v, want in expected.items()),
            1.0, f"every venue to see the take of {venue}",
        )
        latencies.append(waited)
        # never a wrong venue: each venue shows only what it showed before and what it must show now
        for v, want in expected.items():
            new_marks = {k for k, n in live.agents[v].agent.stats.marks.items() if n != marks_before[v].get(k, 0)}
            assert new_marks <= {seen_before[v], want}, (v, new_marks)
        assert time.monotonic() - taken < 2
    assert all(h.agent.stats.broken_frames == 0 for h in live.agents.values())
    # the program keeps flowing after the takes (how many frames came meanwhile depends on how fast they cut over)
    await wait_for(lambda: all(h.agent.stats.program_frames > 20 for h in live.agents.values() if h.venue != "main"),
                   3, "more than 20 program frames at every branch venue")
    state = await live.state()
    assert state["on_air"] == "pinghu"
    assert all(state["venues"][v]["connected"] for v in live.agents)
    # the embedded SFU is one process: no media nodes, no venue placed on one
    assert state["media_nodes"] == [] and all(v["media_node"] is None for v in state["venues"].values())


async def test_audio_follows_the_program_and_the_main_venue_is_heard(live):
    await live.join(["main", "pinghu", "nanhu"])
    await live.command({"type": "take", "venue": "pinghu"})
    state = await live.wait_for_state(lambda s: s["program"]["nanhu"]["program_video"] == "pinghu", 2, "the switch")
    assert state["program"]["nanhu"] == {"program_video": "pinghu", "program_audio": "pinghu", "main_audio": "main"}
    assert state["program"]["pinghu"] == {"program_video": "main", "program_audio": None, "main_audio": "main"}
    assert state["program"]["main"] == {"program_video": "pinghu", "program_audio": "pinghu", "main_audio": None}
    before = live.agents["nanhu"].agent.stats.audio_frames
    await wait_for(lambda: live.agents["nanhu"].agent.stats.audio_frames > before + 50, 3, "program audio at nanhu")
    # a muted on-air venue is not forwarded
    await live.command({"type": "mute_venue", "venue": "pinghu"})
    state = await live.state()
    assert state["program"]["nanhu"]["program_audio"] is None


async def test_on_air_venue_dropping_falls_back_and_returns(live):
    await live.join(["main", "pinghu", "nanhu"])
    await live.command({"type": "take", "venue": "pinghu"})
    await wait_for(lambda: live.agents["nanhu"].agent.stats.seen == "pinghu", 2, "pinghu on air")
    live.agents["pinghu"].agent.stop()
    await live.agents["pinghu"].task
    await wait_for(lambda: live.agents["nanhu"].agent.stats.seen == "main", 5, "the fallback to the main venue")
    state = await live.state()
    assert state["on_air"] == "main" and state["fallback_from"] == "pinghu"
    assert not state["venues"]["pinghu"]["connected"]
    del live.agents["pinghu"]
    await live.join(["pinghu"])
    await wait_for(lambda: live.agents["nanhu"].agent.stats.seen == "pinghu", 3, "pinghu back on air after rejoining")


async def test_the_called_roll_call_is_answered_by_each_agent_in_its_turn(live):
    await live.join(["main", "pinghu", "nanhu"])
    await live.command({"type": "start_session"})
    await live.command({"type": "goto_segment", "segment": "roll-call"})
    await live.command({"type": "start_roll_call"})
    state = await live.wait_for_state(lambda s: s["roll_call"]["phase"] == "finished", 10, "the roll call to finish")
    entries = state["roll_call"]["venues"]
    for venue in ("pinghu", "nanhu"):
        (prompt,) = live.agents[venue].events("roll_call_prompt")
        assert prompt["mode"] == "called" and 19 < prompt["left_s"] <= 20
        assert entries[venue]["status"] == "present", entries[venue]
        assert entries[venue]["picture_ok"] is True and entries[venue]["sound_ok"] is True
        # it answered after its moment on air, and every other venue saw it then
        assert entries[venue]["at"] - entries[venue]["prompted_at"] >= 1.0
        for other in ("main", "pinghu", "nanhu"):
            if other != venue:
                seen = [e for e in live.agents[other].events("on_air_seen") if e["venue"] == venue]
                assert seen and entries[venue]["prompted_at"] <= seen[0]["ts"] <= entries[venue]["at"], (venue, other)
    assert not live.agents["main"].events("roll_call_prompt"), "the main venue is not on the roll call"
    assert entries["haiyan"]["status"] == "absent"
    assert entries["haiyan"]["note"] == "not connected when called"
    assert state["on_air"] == "main", "the program is back on the segment's venue"


async def test_captions_reach_every_venue(live):
    await live.join(["main", "pinghu", "nanhu"])
    await live.command({"type": "start_session"})
    await live.command({"type": "goto_segment", "segment": "award-presentation"})
    await live.command({"type": "next_award"})
    await live.command({"type": "next_award"})
    for venue in ("main", "pinghu", "nanhu"):
        await wait_for(lambda v=venue: len(live.agents[v].events("caption")) >= 3, 3, f"captions at {venue}")
        texts = [e["text"] for e in live.agents[venue].events("caption")]
        assert texts[-2:] == [
            "Advanced collectives, 2024 annual comprehensive assessment and high-quality development: "
            "SAMPLE: Pinghu City Economic Development Bureau",
            "Advanced collectives, 2024 annual comprehensive assessment and high-quality development: "
            "SAMPLE: Haining City Industrial Park Committee",
        ]
