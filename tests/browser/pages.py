"""Opening the pages in headless Chromium (Debian's) with a fake camera and microphone."""

from __future__ import annotations

import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.async_api import Page
from playwright.async_api import TimeoutError as PlaywrightTimeout

from orchestrator.rehearsal.simulate import picture_of
from tests.support.live import OPERATOR_TOKEN

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parent / "screenshots"
ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]
TIMEOUT_MS = 15_000


async def open_page(browser, url: str, size=(1280, 720)) -> Page:
    context = await browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    await page.goto(url)
    return page


async def venue_page(browser, live, venue: str) -> Page:
    page = await open_page(browser, live.link(venue))
    try:
        await page.wait_for_function("document.body.dataset.connection === 'connected'", timeout=TIMEOUT_MS)
    except PlaywrightTimeout:
        said = await page.evaluate("[document.body.dataset.connection, document.getElementById('connection').textContent,"
                                   " document.getElementById('notice').textContent]")
        raise AssertionError(f"the page of {venue} did not connect: {said}; errors {page.errors}") from None
    return page


async def console_page(browser, live, size=(1920, 1080)) -> Page:
    """The console, logged in and connected (a control-room screen by default)."""
    page = await open_page(browser, live.base_url + "/console", size=size)
    await page.fill("#token", OPERATOR_TOKEN)
    await page.click("#login")
    await page.wait_for_selector("#tile-main", timeout=TIMEOUT_MS)
    await page.wait_for_function("document.body.dataset.link === 'connected'", timeout=TIMEOUT_MS)
    return page


async def program_frames_advance(page: Page) -> None:
    """The program video is playing: it has a picture and its time moves on."""
    await page.wait_for_function("document.getElementById('program').videoWidth > 0", timeout=TIMEOUT_MS)
    before = await page.evaluate("document.getElementById('program').currentTime")
    await page.wait_for_function(f"document.getElementById('program').currentTime > {before} + 0.3", timeout=TIMEOUT_MS)




async def join_with_pictures(live, venues: list[str], timeout: float = 30) -> None:
    """Venue agents whose cameras show their names and a clock (as `serve --simulate`'s do),
    decoding only the program's keyframes (a lighter load)."""
    tz = ZoneInfo(live.conference.conference.timezone)
    for venue in venues:
        live.start_agent(venue, media_factory=picture_of(live.conference.venue_by_id[venue].name, tz), decode_all=False)
    await live.join(venues, timeout=timeout)
