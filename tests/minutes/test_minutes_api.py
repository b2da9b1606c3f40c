"""GET /api/minutes from the running server (the real app, its real event log, the fake media
plane): read while the server holds the log, operator only, and a restart in the record."""

from __future__ import annotations

import json

from orchestrator.media.plane import MediaPresence, VenuePeer
from tests.support.fake_media import FakeMediaPlane
from tests.support.live import start_live


async def serve(conf, data_dir):
    planes: list[FakeMediaPlane] = []

    def make_media(presence: MediaPresence) -> FakeMediaPlane:
        planes.append(FakeMediaPlane(presence))
        return planes[-1]

    live, server = await start_live(conf, data_dir, make_media, restart_grace_s=0.2)
    return live, server, planes[0]


async def get(live, query: str, auth: bool = True):
    headers = live.auth if auth else {}
    async with live.http.get(f"{live.base_url}/api/minutes{query}", headers=headers) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.text()


async def test_the_minutes_of_the_running_session_with_its_restart(small_conf, tmp_path):
    live, server, media = await serve(small_conf, tmp_path)
    try:
        for venue in ("main", "pinghu"):
            await media.answer_venue(VenuePeer(venue), "v=0\r\n")
            media.connect(venue)
        await live.command({"type": "start_session"})
        await live.command({"type": "take", "venue": "pinghu"})
        status, kind, text = await get(live, "?format=md")
        assert (status, kind) == (200, "text/markdown; charset=utf-8")
        assert "- Status: running: these minutes stop at" in text
        assert "| Pinghu City | operator's take | Opening |" in text
    finally:
        await live.http.close()
        await server.close()  # the venues' media goes with it

    # a new server on the same log: its start is in the minutes, after the venues the stop cut off
    live, server, media = await serve(small_conf, tmp_path)
    try:
        status, kind, text = await get(live, "?format=json")
        assert (status, kind) == (200, "application/json; charset=utf-8")
        minutes = json.loads(text)
        assert [s["restart"] for s in minutes["server_starts"]] == [False, True]
        assert [(f["kind"], f["venue"]["name"] if f["venue"] else None) for f in minutes["faults"]] == [
            ("disconnected", "Theatre"), ("disconnected", "Pinghu City"), ("fallback", "Pinghu City"),
            ("server_restarted", None),
        ]
        assert {f["detail"] for f in minutes["faults"] if f["kind"] == "disconnected"} == {"server stopping"}
        status, kind, page = await get(live, "")  # html by default
        assert (status, kind) == (200, "text/html; charset=utf-8") and "<svg" in page and "server restarted" in page
    finally:
        await live.http.close()
        await server.close()


async def test_the_minutes_are_for_the_operator_only_and_in_known_formats(small_conf, tmp_path):
    live, server, _ = await serve(small_conf, tmp_path)
    try:
        status, _, body = await get(live, "?format=md", auth=False)
        assert status == 401 and "operator authorisation required" in body
        status, _, body = await get(live, "?format=pdf")
        assert (status, json.loads(body)) == (422, {"error": "unknown minutes format 'pdf': use html, md, json",
                                                    "code": "bad_format", "params": {"format": "pdf"}})
    finally:
        await live.http.close()
        await server.close()
