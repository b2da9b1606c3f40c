"""`orchestrator serve` killed with SIGKILL in the middle of a session, started again on
the same data folder: the session is back as it was acknowledged, and every venue
agent rejoins by itself and receives the program again."""

from __future__ import annotations

import signal
import time

import aiohttp
import pytest

from orchestrator.media.aiortc_tap import restrict_host_addresses
from orchestrator.operator_client import wait_healthy
from orchestrator.protocol import RaiseHand
from orchestrator.web.auth import JoinTokens
from tests.conftest import SAMPLE
from tests.support.live import SECRET, Live, free_port, server_process, stop_processes, wait_for


def session_view(state: dict) -> dict:
    """What a restart must keep: the session, not the links' live figures or clocks."""
    return {
        "phase": state["phase"],
        "segment": state["segment"],
        "on_air": state["on_air"],
        "caption": state["caption"],
        "floor_queue": [r["venue"] for r in state["floor_queue"]],
        "muted": {v: s["muted"] for v, s in state["venues"].items()},
        "connected": {v: s["connected"] for v, s in state["venues"].items()},
        "roll_call": state["roll_call"],
        "awards": state["awards"],
        "segments": [(s["id"], s["status"]) for s in state["segments"]],
    }


@pytest.mark.slow
async def test_sigkill_mid_session_loses_nothing_acknowledged(tmp_path, sample_conf):
    restrict_host_addresses(["127.0.0.1"])
    port = free_port()
    data = tmp_path / "data"
    base = f"http://127.0.0.1:{port}"
    procs = [server_process(SAMPLE, data, port)]
    tokens = JoinTokens(SECRET, sample_conf.conference.id, set(sample_conf.venue_by_id))
    async with aiohttp.ClientSession() as http:
        live = Live(sample_conf, base, tokens, http)
        try:
            await wait_healthy(base, 15)
            await live.join(["main", "pinghu", "nanhu", "xiuzhou"])
            silent = live.start_agent("haiyan", answer_roll_call=False)  # it hears its call, never answers
            await wait_for(lambda: silent.agent.connected.is_set(), 15, "haiyan to join")

            ids = iter(f"cmd-{n}" for n in range(100))
            run = lambda cmd: live.command({**cmd, "id": next(ids)})  # noqa: E731
            await run({"type": "start_session"})
            await run({"type": "goto_segment", "segment": "roll-call"})
            await run({"type": "start_roll_call"})
            # the called roll call: nanhu and xiuzhou answer in turn, jiashan is absent, haiyan is called and silent
            await live.wait_for_state(
                lambda s: all(s["roll_call"]["venues"][v]["status"] == "present" for v in ("nanhu", "xiuzhou"))
                and s["roll_call"]["calling"] == "haiyan", 10, "two answers and the silent venue's call",
            )
            await run({"type": "mark_roll_call", "venue": "jiashan", "status": "present"})
            await run({"type": "goto_segment", "segment": "award-presentation"})
            await run({"type": "next_award"})
            await run({"type": "next_award"})
            await run({"type": "take", "venue": "pinghu"})
            await run({"type": "unmute_venue", "venue": "nanhu"})
            await live.agents["xiuzhou"].agent.send(RaiseHand())
            await live.wait_for_state(lambda s: s["floor_queue"], 5, "the raised hand")
            last = {"type": "next_award", "id": "cmd-last"}
            await live.command(last)
            before = session_view(await live.state())
            # the silent venue was still being called when the operator moved on: recorded, not left open
            assert before["roll_call"]["venues"]["haiyan"]["status"] == "no_answer"
            assert before["roll_call"]["venues"]["pinghu"]["note"] == "not called before the segment ended"
            assert before["awards"]["index"] == 2 and before["on_air"] == "pinghu" and before["floor_queue"] == ["xiuzhou"]

            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait()
            killed = time.monotonic()
            seen_before = {v: h.agent.stats.program_frames for v, h in live.agents.items()}
            procs.append(server_process(SAMPLE, data, port))
            back = await wait_healthy(base, 15)
            back_s = time.monotonic() - killed
            receivers = [v for v in live.agents if v != "pinghu"] + ["pinghu"]
            await wait_for(
                lambda: all(live.agents[v].agent.stats.program_frames > seen_before[v] + 5 for v in receivers), 15,
                "every venue to receive the program again",
            )
            program_s = time.monotonic() - killed
            print(f"\nrecovery: server back after {back_s:.2f} s, every venue receiving again after {program_s:.2f} s")
            assert back_s < 5 and back is not None
            assert program_s < 15
            after = session_view(await live.state())
            assert after == before

            # the retried command is not applied twice
            again = await live.command(last)
            assert again.events == []
            assert session_view(await live.state()) == before
            assert all(h.events("reconnected") for h in live.agents.values())
        finally:
            await live.stop_agents()
            stop_processes(procs)
