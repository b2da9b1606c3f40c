"""`orchestrator serve --media janus` killed with SIGKILL mid-session and started again on the
same data folder and the same Janus nodes: nothing of the dead process is left on the nodes
(Janus ended its sessions when their sockets went; the restarted one destroys the rooms it
left), every venue is back within 15 s and the program works on both nodes."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import aiohttp

from orchestrator.janus_node import JanusProcess
from orchestrator.media import restrict_host_addresses
from orchestrator.media.janus import room_id
from orchestrator.media.janus_api import JanusAdmin, JanusSession
from orchestrator.netns import PEER_ADDRESS
from orchestrator.operator_client import wait_healthy
from orchestrator.web.auth import JoinTokens
from tests.conftest import SMALL_YAML
from tests.support.janus_node import ADMIN_SECRET, API_SECRET, join
from tests.support.live import SECRET, Live, free_port, server_process, stop_processes, wait_for

VENUES = ("main", "pinghu", "haiyan", "nanhu")


async def rooms(node: JanusProcess) -> list[int]:
    """The VideoRooms on a node."""
    session = await JanusSession.connect(node.url, API_SECRET)
    try:
        handle = await session.attach()
        return [r["room"] for r in (await handle.message({"request": "list"})).plugin["list"]]
    finally:
        await session.close()


async def see_takes(live: Live, takes: tuple[str, ...]) -> None:
    for venue in takes:
        await live.command({"type": "take", "venue": venue})
        await wait_for(lambda venue=venue: all(live.agents[v].agent.stats.seen == (venue if v != venue else "main")
                                               for v in VENUES if v != "main" or venue != "main"),
                       10, f"every venue to see the take of {venue}")


async def test_sigkill_of_the_orchestrator_with_janus(janus: JanusProcess, second_janus: JanusProcess, small_conf,
                                                     tmp_path: Path) -> None:
    config = tmp_path / "small.yaml"
    config.write_text(SMALL_YAML)
    (tmp_path / "janus.secret").write_text(API_SECRET + "\n")
    (tmp_path / "janus-admin.secret").write_text(ADMIN_SECRET + "\n")
    nodes = (janus, second_janus)
    args = ["--media", "janus", "--janus-secret-file", str(tmp_path / "janus.secret"),
            "--janus-admin-secret-file", str(tmp_path / "janus-admin.secret")]
    for node in nodes:
        args += ["--janus", node.url, "--janus-admin", node.admin_url]
    port, data = free_port(), tmp_path / "data"
    base = f"http://127.0.0.1:{port}"
    output = tmp_path / "server.log"
    procs: list[subprocess.Popen] = [server_process(config, data, port, *args, output=output)]
    admins = [JanusAdmin(node.admin_url, ADMIN_SECRET) for node in nodes]
    room = room_id(f"{small_conf.conference.id}@{data.resolve()}")
    restrict_host_addresses([PEER_ADDRESS])
    try:
        async with aiohttp.ClientSession() as http:
            live = Live(small_conf, base, JoinTokens(SECRET, small_conf.conference.id, set(small_conf.venue_by_id)), http)
            try:
                await wait_healthy(base, 20, give_up=lambda: (procs[-1].poll() is not None and "the server exited") or None)
                for venue in VENUES:
                    await join(live, [venue])
                await see_takes(live, ("pinghu", "haiyan"))
                dead = [set((await admin.request("list_sessions"))["sessions"]) for admin in admins]
                assert all(dead) and [await rooms(node) for node in nodes] == [[room], [room]]

                procs[0].send_signal(signal.SIGKILL)
                procs[0].wait()
                killed = time.monotonic()
                seen_before = {v: h.agent.stats.program_frames for v, h in live.agents.items()}
                procs.append(server_process(config, data, port, *args, output=output))
                await wait_healthy(base, 15, give_up=lambda: (procs[-1].poll() is not None and "the server exited") or None)
                await wait_for(lambda: all(live.agents[v].events("reconnected") and
                                           live.agents[v].agent.stats.program_frames > seen_before[v] + 5
                                           for v in VENUES), 15, "every venue back, receiving the program")
                back_s = time.monotonic() - killed
                print(f"\nevery venue back and receiving the program {back_s:.2f} s after the orchestrator was killed")
                assert back_s < 15
                assert all(live.agents[v].agent.stats.seen == ("main" if v == "haiyan" else "haiyan") for v in VENUES)
                # nothing of the dead process is left: its sessions ended, its rooms destroyed and made anew
                left = [set((await admin.request("list_sessions"))["sessions"]) for admin in admins]
                assert [old & new for old, new in zip(dead, left, strict=True)] == [set(), set()]
                assert [await rooms(node) for node in nodes] == [[room], [room]]
                await see_takes(live, ("nanhu", "main"))
            finally:
                await live.stop_agents()
    finally:
        restrict_host_addresses(None)
        for admin in admins:
            await admin.close()
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        stop_processes(procs)
