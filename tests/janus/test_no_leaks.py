"""Nothing left behind on the Janus nodes: once the venues left, the orchestrator's session on
each node holds no handle and its room no publisher but the dummy; once the server's media
plane closed, no session at all (as Janus's Admin API lists them)."""

from __future__ import annotations

import asyncio

from orchestrator.janus_node import JanusProcess
from orchestrator.media.janus import JanusMediaPlane
from orchestrator.media.janus_api import JanusAdmin, JanusSession
from orchestrator.web.app import RUNTIME
from tests.janus.conftest import live_on
from tests.support.janus_node import ADMIN_SECRET, API_SECRET, join
from tests.support.live import wait_for


async def sessions(admin: JanusAdmin) -> dict[int, list[int]]:
    """Every session on the node, with its handles."""
    listed = (await admin.request("list_sessions")).get("sessions", [])
    return {s: (await admin.request("list_handles", session_id=s)).get("handles", []) for s in listed}


async def test_nothing_is_left_on_the_nodes(janus: JanusProcess, second_janus: JanusProcess, small_conf, tmp_path) -> None:
    admins = [JanusAdmin(node.admin_url, ADMIN_SECRET) for node in (janus, second_janus)]
    running = live_on([janus, second_janus], small_conf, tmp_path / "data")
    live = await anext(running)
    try:
        plane = live.server_app[RUNTIME].media
        assert isinstance(plane, JanusMediaPlane)
        for venue in ("main", "pinghu", "haiyan"):
            await join(live, [venue])
        await live.command({"type": "take", "venue": "pinghu"})  # pinghu cascaded to the main venue's node
        await wait_for(lambda: live.agents["haiyan"].agent.stats.seen == "pinghu", 10, "pinghu on air at haiyan")
        while_running = [await sessions(admin) for admin in admins]
        assert [set(s) for s in while_running] == [{node.session.id} for node in plane._nodes.values()]
        assert sum(len(handles) for s in while_running for handles in s.values()) >= 6  # two per venue at least

        await live.stop_agents()
        live.agents.clear()
        await live.wait_for_state(lambda s: not any(v["connected"] for v in s["venues"].values()), 10, "every venue gone")

        expected = [{node.session.id: []} for node in plane._nodes.values()]  # the session, no handle
        for _ in range(50):  # the plane detaches the handles as each venue's peer closes
            left = [await sessions(admin) for admin in admins]
            if left == expected:
                break
            await asyncio.sleep(0.2)
        assert left == expected
        for node in plane._nodes.values():  # no remote publisher left in the rooms, only the dummy
            handle = await node.session.attach()
            listed = await handle.message({"request": "listparticipants", "room": node.room})
            await handle.detach()
            assert [p["id"] for p in listed.plugin["participants"]] == [node.dummy], node.url
    finally:
        await running.aclose()
    assert [await sessions(admin) for admin in admins] == [{}, {}]  # the plane closed: its sessions destroyed
    for node in (janus, second_janus):  # and its rooms
        session = await JanusSession.connect(node.url, API_SECRET)
        try:
            handle = await session.attach()
            listed = await handle.message({"request": "list"})
            assert listed.plugin["list"] == [], node.url
        finally:
            await session.close()
    for admin in admins:
        await admin.close()
