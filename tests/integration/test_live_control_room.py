"""The control room over real WebRTC on loopback: the sample conference's venues as venue
agents that decode what they receive (the program, and the main venue's wall tiles).

A called roll call of the nine branch venues with one absent and one that never answers;
program polling seen by every venue at each step; main-return polling and a 3x3 wall seen
by the main venue only, while the branch venues keep the program.
"""

from __future__ import annotations

import time

import pytest

from orchestrator.config import Conference, parse_conference
from tests.conftest import SAMPLE
from tests.support.live import Live, running_live, wait_for

BRANCHES = ["nanhu", "xiuzhou", "jiashan", "haiyan", "haining", "pinghu", "tongxiang", "development-zone", "port-area"]
SWITCH_S = 1.0  # within this every venue shows a new picture

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_conf() -> Conference:
    """The sample with a 3 s call and a 10 s polling dwell, so the test is short."""
    text = SAMPLE.read_text(encoding="utf-8")
    assert "per_venue: 20s" in text and "dwell: 15s" in text
    return parse_conference(text.replace("per_venue: 20s", "per_venue: 3s").replace("dwell: 15s", "dwell: 10s"),
                            "sample-quick.yaml")


@pytest.fixture
async def live(quick_conf, tmp_path):
    async with running_live(quick_conf, tmp_path) as live:
        yield live


def first_seen(live: Live, receiver: str, venue: str, after: float) -> float | None:
    """When `receiver`'s agent first decoded `venue` in its program at or after `after`."""
    return next((e["ts"] for e in live.agents[receiver].events("on_air_seen") if e["ts"] >= after and e["venue"] == venue),
                None)


async def test_a_called_roll_call_of_the_nine_branch_venues_with_one_absent_and_one_silent(live):
    live.start_agent("xiuzhou", answer_roll_call=False)  # it joins, hears its call, never answers
    joined = ["main", *(v for v in BRANCHES if v != "haiyan")]  # haiyan never joins
    await live.join(joined, timeout=30)
    await wait_for(lambda: all(live.agents[v].agent.stats.seen == "main" for v in joined if v != "main"), 10,
                   "the program at every venue")
    await live.command({"type": "start_session"})
    await live.command({"type": "goto_segment", "segment": "roll-call"})
    await live.command({"type": "start_roll_call"})
    state = await live.wait_for_state(lambda s: s["roll_call"]["phase"] == "finished", 40, "the roll call to finish")

    record = state["roll_call"]["venues"]
    assert list(record) == BRANCHES
    assert {v: (e["status"], e["by"]) for v, e in record.items()} == {
        **{v: ("present", "venue") for v in BRANCHES}, "haiyan": ("absent", "session"), "xiuzhou": ("no_answer", "session")}
    assert record["haiyan"]["note"] == "not connected when called"
    assert record["xiuzhou"]["note"] == "no answer within 3s"
    assert all(record[v]["picture_ok"] and record[v]["sound_ok"] for v in BRANCHES if v not in ("haiyan", "xiuzhou"))
    assert state["roll_call"]["counts"] == {"waiting": 0, "pending": 0, "present": 7, "absent": 1, "no_answer": 1}
    assert state["on_air"] == "main"
    # called in the file's order, each on air while called, and every other venue saw it then
    called = [v for v in BRANCHES if v != "haiyan"]
    assert [v for v in called if record[v]["prompted_at"]] == called
    assert sorted(called, key=lambda v: record[v]["prompted_at"]) == called
    for venue in called:
        start, end = record[venue]["prompted_at"], record[venue]["at"]
        assert [e["mode"] for e in live.agents[venue].events("roll_call_prompt")] == ["called"]
        for receiver in joined:
            if receiver != venue:
                seen = first_seen(live, receiver, venue, start)
                assert seen is not None and seen - start < SWITCH_S and seen < end, (venue, receiver, seen, start)
    assert not live.agents["xiuzhou"].events("roll_call_answered")
    assert all(h.agent.stats.broken_frames == 0 for h in live.agents.values())


async def test_program_polling_is_seen_by_every_venue_at_each_step(live):
    await live.join(["main", *BRANCHES], timeout=30)
    await live.command({"type": "start_session"})
    polled = ["pinghu", "nanhu", "haining"]
    await live.command({"type": "start_polling", "target": "program", "venues": polled, "dwell_s": 10})
    steps: list[tuple[str, float]] = []
    for venue in polled:
        state = await live.wait_for_state(lambda s, v=venue: s["on_air"] == v, 12, f"the polling step to {venue}")
        steps.append((venue, state["polling"]["next_at"] - 10))  # the step's server time
    for venue, at in steps:
        for receiver in ["main", *BRANCHES]:
            want = "main" if receiver == venue else venue  # the polled venue itself sees the main venue
            if receiver == venue and (venue, at) == steps[0]:
                continue  # it was already seeing the main venue
            await wait_for(lambda r=receiver, w=want, t=at: first_seen(live, r, w, t - 0.05) is not None, 3,
                           f"{receiver} to show {want}")
            assert first_seen(live, receiver, want, at - 0.05) - at < SWITCH_S, (venue, receiver)
    await live.command({"type": "stop_polling"})


async def test_main_return_polling_and_a_wall_are_seen_by_the_main_venue_only(live):
    await live.join(["main", *BRANCHES], timeout=30)
    others = ["main", *BRANCHES]
    await wait_for(lambda: all(live.agents[v].agent.stats.seen == "main" for v in BRANCHES), 10, "the program")
    await live.command({"type": "start_session"})
    begun = time.time()
    # the sample's mobilisation speech polls the theatre's return: nanhu first, then xiuzhou 10 s later
    await live.command({"type": "goto_segment", "segment": "mobilisation-speech"})
    main = live.agents["main"]
    await wait_for(lambda: main.agent.stats.seen == "nanhu", 3, "the main venue to show the first polled venue")
    assert main.agent.main_return.mode.value == "polling" and main.agent.main_return.name == "Nanhu District"
    await wait_for(lambda: main.agent.stats.seen == "xiuzhou", 12, "the second step")
    stepped = first_seen(live, "main", "xiuzhou", begun)
    state = await live.state()
    assert state["program"]["main"]["program_video"] == "xiuzhou" and state["program"]["main"]["program_audio"] is None
    await live.command({"type": "stop_polling"})

    await live.command({"type": "set_main_return", "mode": "wall", "layout": "3x3"})
    expected = {slot: venue for slot, venue in enumerate(BRANCHES)}
    await wait_for(lambda: main.agent.stats.tiles == expected, 5, "the nine tiles at the main venue")
    shown = main.agent.main_return
    assert (shown.shows.value, shown.layout.value, shown.pages) == ("wall", "3x3", 1)
    assert [(t.slot, t.name) for t in shown.tiles][:2] == [(0, "Nanhu District"), (1, "Xiuzhou District")]
    frames = dict(main.agent.stats.tile_frames)
    await wait_for(lambda: all(main.agent.stats.tile_frames[s] > frames[s] + 10 for s in expected), 3, "the tiles to play")
    state = await live.state()
    assert {state["program"]["main"][f"wall_video_{s}"] for s in expected} == set(BRANCHES)

    # the branch venues kept the program (the main venue, on air) throughout, and have no wall
    for venue in BRANCHES:
        seen = [e["venue"] for e in live.agents[venue].events("on_air_seen") if e["ts"] >= begun]
        assert seen == [], f"{venue} showed {seen} while only the main venue's return changed"
        assert live.agents[venue].agent.stats.seen == "main" and not live.agents[venue].agent.stats.tiles
        assert not live.agents[venue].events("main_return")
    assert stepped is not None
    assert all(h.agent.stats.broken_frames == 0 for h in live.agents.values() if h.venue in others)
