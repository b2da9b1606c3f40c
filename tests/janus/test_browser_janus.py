"""The venue page in headless Chromium against the Janus media plane: the same link and page,
the program on the peer the server offers. The page's program picture is read back (its
venue mark) from a canvas, so a take is seen as it is at the venue."""

from __future__ import annotations

import numpy as np
import pytest
from av import VideoFrame

from tests.support.janus_node import join
from tests.support.live import Live, wait_for
from venues.synthetic import read_mark

pytest.importorskip("playwright")

from tests.browser.pages import TIMEOUT_MS, console_page, program_frames_advance, venue_page

READ_VIDEO = """(id) => {
  const video = document.getElementById(id);
  if (!video.videoWidth) return null;
  const canvas = Object.assign(document.createElement('canvas'), {width: video.videoWidth, height: video.videoHeight});
  const context = canvas.getContext('2d');
  context.drawImage(video, 0, 0);
  return {width: canvas.width, height: canvas.height,
          pixels: Array.from(context.getImageData(0, 0, canvas.width, canvas.height).data)};
}"""


async def page_sees(page, live: Live, video: str = "program") -> str | None:
    """The venue whose mark the page's `video` element shows now (None: none readable)."""
    shot = await page.evaluate(READ_VIDEO, video)
    if shot is None:
        return None
    rgba = np.array(shot["pixels"], dtype=np.uint8).reshape(shot["height"], shot["width"], 4)
    mark = read_mark(VideoFrame.from_ndarray(rgba, format="rgba"))
    venues = list(live.conference.venue_by_id)
    return venues[mark] if mark is not None and mark < len(venues) else None


async def test_the_venue_page_receives_the_program_from_janus(janus_live: Live, browser) -> None:
    live = janus_live
    await join(live, ["main", "haiyan"])
    page = await venue_page(browser, live, "pinghu")
    assert await page.evaluate("window.venuePage.downlink") == "server_offer"
    await program_frames_advance(page)
    seen: list[str | None] = []

    async def sees(venue: str) -> bool:
        seen.append(await page_sees(page, live))
        return seen[-1] == venue

    for venue in ("main", "haiyan"):
        if venue != "main":
            await live.command({"type": "take", "venue": venue})
        for _ in range(100):
            if await sees(venue):
                break
        assert seen[-1] == venue, f"the page shows {seen[-5:]}, not {venue}"
    # the page's camera reaches the others through Janus: on air, it is what they decode (no mark in it)
    before = live.agents["haiyan"].agent.stats.broken_frames
    await live.command({"type": "take", "venue": "pinghu"})
    # (the program lists a venue only while it has a downlink)
    await live.wait_for_state(lambda s: s["program"].get("haiyan", {}).get("program_video") == "pinghu", 5,
                              "pinghu on air at haiyan")
    await wait_for(lambda: live.agents["haiyan"].agent.stats.broken_frames > before + 10, 10,
                   "the page's camera decoded at haiyan")
    await page.wait_for_function("document.body.dataset.onAir === 'yes'", timeout=TIMEOUT_MS)
    assert page.errors == []


async def shows(page, live: Live, video: str, venue: str) -> None:
    seen = []
    for _ in range(100):
        seen.append(await page_sees(page, live, video))
        if seen[-1] == venue:
            return
    raise AssertionError(f"#{video} shows {seen[-5:]}, not {venue}")


async def test_the_console_monitors_venues_through_janus(janus_live: Live, browser) -> None:
    live = janus_live
    await join(live, ["main", "pinghu", "haiyan"])
    console = await console_page(browser, live)
    await console.wait_for_function("document.getElementById('program-video').videoWidth > 0", timeout=TIMEOUT_MS)
    await shows(console, live, "program-video", "main")
    await live.command({"type": "take", "venue": "haiyan"})
    await shows(console, live, "program-video", "haiyan")
    # the media node: in the top bar, answering, with the three venues; on each joined venue's tile
    node = console.locator("#media-nodes .media-node")
    await node.first.wait_for(timeout=TIMEOUT_MS)
    assert await node.count() == 1 and await node.get_attribute("data-alive") == "true"
    assert await node.text_content() == "node 1: 3"
    assert await console.locator("#tile-pinghu .node-mark").text_content() == "node 1"
    assert await console.locator("#tile-nanhu .node-mark").count() == 0  # not joined: on no node
    assert console.errors == []
