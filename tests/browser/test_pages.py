"""The operator console and the venue page in headless Chromium (Debian's), with a fake
camera and microphone, against the real server on loopback."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from orchestrator.core import CommandRejected
from orchestrator.core import commands as c
from orchestrator.web.app import RUNTIME, VENUES
from tests.browser.pages import (
    SCREENSHOTS,
    TIMEOUT_MS,
    console_page,
    join_with_pictures,
    open_page,
    program_frames_advance,
    venue_page,
)
from tests.support.live import OPERATOR_TOKEN, wait_for
from venues.agent import EXIT_REPLACED


async def test_a_meeting_run_from_the_console_with_browser_venues(live, browser):
    await live.join(["main"])  # the theatre runs the venue agent
    console = await console_page(browser, live)
    venues = {v: await venue_page(browser, live, v) for v in ("pinghu", "nanhu", "xiuzhou")}
    for v in venues:
        await console.wait_for_selector(f"#tile-{v}[data-status=connected]", timeout=TIMEOUT_MS)

    # the called roll call: each page in its turn is on air with the big Present button and its
    # countdown; the others see who is being called; the console shows the call and the record
    await console.click("#start-session")
    await console.click("#segment-roll-call button")
    await console.wait_for_selector("#segment-roll-call.current", timeout=TIMEOUT_MS)
    await console.click("#start-roll-call")
    names = {"nanhu": "Nanhu District", "xiuzhou": "Xiuzhou District", "pinghu": "Pinghu City"}
    for venue in ("nanhu", "xiuzhou", "pinghu"):  # the file's order; the venues not connected are absent in turn
        page = venues[venue]
        await page.wait_for_selector("#present:not([disabled])", timeout=TIMEOUT_MS)
        assert "you are being called" in await page.inner_text("#roll-call-prompt")
        assert re.fullmatch(r"\d+ s left to answer", await page.inner_text("#roll-call-countdown"))
        assert await page.inner_text("#check-picture") == "OK" and await page.inner_text("#check-sound") == "OK"
        await page.wait_for_function("document.body.dataset.onAir === 'yes'", timeout=TIMEOUT_MS)
        other = venues["pinghu" if venue != "pinghu" else "nanhu"]
        await other.wait_for_function(
            f"document.getElementById('roll-call-line').textContent.startsWith('Being called: {names[venue]}')",
            timeout=TIMEOUT_MS)
        await console.wait_for_function(
            f"document.getElementById('calling-name').textContent === 'Calling: {names[venue]}'", timeout=TIMEOUT_MS)
        assert re.fullmatch(r"\d+ s", await console.inner_text("#calling-countdown"))
        assert "being called" in await console.inner_text(f"#rc-{venue}")
        await page.click("#present")
    for v in venues:
        # locators, not element handles: the console redraws its panels on every state push
        await console.wait_for_selector(f"#rc-{v}[data-status=present]", timeout=TIMEOUT_MS)
        assert await console.locator(f"#rc-{v} .rc-picture").inner_text() == "OK"
        assert await console.locator(f"#rc-{v} .rc-sound").inner_text() == "OK"
    assert "absent (not connected when called)" in await console.inner_text("#rc-haiyan")
    await console.wait_for_function("document.getElementById('roll-call-counts').textContent.includes('(finished)')",
                                    timeout=TIMEOUT_MS)
    assert "3 present · 6 absent · 0 no answer" in await console.inner_text("#roll-call-counts")
    export = console.locator("#roll-call-exports a").first
    assert await export.get_attribute("href", timeout=TIMEOUT_MS) == "/api/roll-call.csv?segment=roll-call"
    async with live.http.get(live.base_url + "/api/roll-call.csv?segment=roll-call", headers=live.auth) as r:
        rows = (await r.text()).splitlines()
    assert rows[0].startswith("\ufeffsegment,venue,name,status,picture_ok,sound_ok")
    assert any(row.startswith("roll-call,pinghu,Pinghu City,present,yes,yes,") for row in rows)

    # a take changes what the venue pages show, and their program keeps playing
    await console.click("#tile-pinghu .take")
    await venues["pinghu"].wait_for_function("document.body.dataset.onAir === 'yes'", timeout=TIMEOUT_MS)
    for v in ("nanhu", "xiuzhou"):
        await venues[v].wait_for_function(
            "document.getElementById('on-air-name').textContent === 'On air: Pinghu City'", timeout=TIMEOUT_MS
        )
        await program_frames_advance(venues[v])
    before = live.agents["main"].agent.stats.program_frames
    await wait_for(lambda: live.agents["main"].agent.stats.program_frames > before + 10, 3, "pinghu's picture at the theatre")
    await console.wait_for_selector("#tile-pinghu.on-air", timeout=TIMEOUT_MS)

    # award captions appear on every venue page, in order
    await console.click("#segment-award-presentation button")
    await console.wait_for_selector("#segment-award-presentation.current", timeout=TIMEOUT_MS)
    expected = [
        "SAMPLE: Pinghu City Economic Development Bureau",
        "SAMPLE: Haining City Industrial Park Committee",
        "SAMPLE: Municipal Bureau of Commerce",
    ]
    for recipient in expected:
        await console.click("#next-award")
        for page in venues.values():
            await page.wait_for_function(
                f"document.getElementById('caption-text').textContent === {json.dumps(recipient)}", timeout=TIMEOUT_MS
            )
            category = await page.inner_text("#caption-category")
            assert category.startswith("Advanced collectives, 2024 annual comprehensive assessment")
    assert await console.inner_text("#award-next") == (
        "Advanced collectives, building an important central city of the Yangtze River Delta urban agglomeration: "
        "SAMPLE: Jiaxing Port Area Logistics Office (Zhejiang Zhapu Economic Development Zone (Jiaxing Port Area))"
    )

    # a venue raises its hand, the operator grants it, it goes on air
    await venues["xiuzhou"].click("#hand")
    await console.wait_for_selector("#floor-count:not([hidden])", timeout=TIMEOUT_MS)  # the floor tab says so
    assert await console.inner_text("#floor-count") == "1"
    await console.click("#tab-floor")  # the awards panel stays until the operator opens the floor's
    await console.locator("#floor-queue .request[data-venue=xiuzhou] .grant").click(timeout=TIMEOUT_MS)
    await venues["xiuzhou"].wait_for_function("document.body.dataset.onAir === 'yes'", timeout=TIMEOUT_MS)
    assert await venues["xiuzhou"].inner_text("#hand") == "Raise hand"

    # a command the core refuses shows its sentence on the console
    await console.click("#tile-haiyan .take")
    error = await console.wait_for_selector("#error:not([hidden])", timeout=TIMEOUT_MS)
    assert await error.inner_text() == "cannot take venue 'haiyan': it is not connected"

    # the console's monitors show pictures, the timer runs
    await console.wait_for_function("document.getElementById('program-video').videoWidth > 0", timeout=TIMEOUT_MS)
    assert "/ 10:00" in await console.inner_text("#segment-timer")

    SCREENSHOTS.mkdir(exist_ok=True)
    await asyncio.sleep(0.5)  # let the last frames paint
    await venues["nanhu"].screenshot(path=str(SCREENSHOTS / "venue.png"))
    for page in [console, *venues.values()]:
        assert page.errors == []


async def test_a_venue_page_whose_connection_is_cut_reconnects_by_itself(live, browser):
    page = await venue_page(browser, live, "pinghu")
    hub = live.server_app[VENUES]
    connection = hub.connections["pinghu"]
    await connection.ws.close()  # the server side of the socket goes away
    await page.wait_for_function("document.body.dataset.connection === 'reconnecting'", timeout=TIMEOUT_MS)
    assert "Reconnecting in" in await page.inner_text("#connection")
    await page.wait_for_function("document.body.dataset.connection === 'connected'", timeout=TIMEOUT_MS)
    state = await live.wait_for_state(lambda s: s["venues"]["pinghu"]["connected"], 10, "pinghu back")
    assert state["venues"]["pinghu"]["connected"]
    assert hub.connections["pinghu"] is not connection


async def test_a_forged_link_shows_a_readable_refusal(live, browser):
    forged = live.link("pinghu")[:-6] + "AAAAAA"
    page = await open_page(browser, forged)
    await page.wait_for_function("document.body.dataset.connection === 'refused'", timeout=TIMEOUT_MS)
    assert await page.is_visible("#refused")
    assert await page.inner_text("#refused-message") == "this link was not issued by this server"
    no_token = await open_page(browser, live.base_url + "/join")
    await no_token.wait_for_function("document.body.dataset.connection === 'refused'", timeout=TIMEOUT_MS)
    assert "This link has no token" in await no_token.inner_text("#refused-message")


async def test_a_venue_page_cannot_reach_operator_commands(live, browser):
    page = await venue_page(browser, live, "pinghu")
    status = await page.evaluate(
        """async () => {
            const r = await fetch('/api/commands', {method: 'POST', body: JSON.stringify({type: 'take', venue: 'pinghu'})});
            const s = await fetch('/api/state');
            return [r.status, s.status];
        }"""
    )
    assert status == [401, 401]
    opened = await page.evaluate(
        """() => new Promise((resolve) => {
            const ws = new WebSocket(`ws://${location.host}/ws/operator`);
            ws.onopen = () => resolve('open');
            ws.onerror = () => resolve('refused');
        })"""
    )
    assert opened == "refused"


async def test_the_console_refuses_cross_origin_sockets_and_posts(live, browser):
    console = await console_page(browser, live)
    cookies = await console.context.cookies()
    session = next(c for c in cookies if c["name"] == "orchestrator_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    cookie = {"Cookie": f"orchestrator_session={session['value']}"}
    ws_url = live.base_url.replace("http", "ws") + "/ws/operator"

    # same cookie, foreign Origin: the socket is refused
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await live.http.ws_connect(ws_url, headers={**cookie, "Origin": "http://evil.example"})
    assert refused.value.status == 401
    ws = await live.http.ws_connect(ws_url, headers={**cookie, "Origin": live.base_url})
    await ws.close()

    # the cookie reads the operator API but changes nothing over HTTP, whatever the Origin: only the socket
    # (checked above) or the operator token itself can send a command
    take = {"type": "take", "venue": "main"}
    async with live.http.get(live.base_url + "/api/state", headers=cookie) as r:
        assert r.status == 200
    for headers in [{**cookie, "Origin": "http://evil.example"}, {**cookie, "Origin": live.base_url},
                    {**cookie, "Origin": "null", "Sec-Fetch-Site": "same-origin"}]:
        async with live.http.post(live.base_url + "/api/commands", json=take, headers=headers) as r:
            assert r.status == 401, headers
    async with live.http.post(live.base_url + "/api/commands", json=take,
                              headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}) as r:
        assert r.status == 409  # accepted, then refused by the core (the main venue is not connected)
    async with live.http.post(live.base_url + "/console/login", data={"token": OPERATOR_TOKEN},
                              headers={"Origin": "http://evil.example"}, allow_redirects=False) as r:
        assert r.status == 403

    # a page on another origin cannot open the operator socket
    async def other_site(request: web.Request) -> web.Response:
        return web.Response(text="<html><body>another site</body></html>", content_type="text/html")

    other = web.Application()
    other.router.add_get("/", other_site)
    runner = web.AppRunner(other)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        page = await console.context.new_page()
        await page.goto(f"http://127.0.0.1:{port}/")
        opened = await page.evaluate(
            f"""() => new Promise((resolve) => {{
                const ws = new WebSocket({json.dumps(ws_url)});
                ws.onopen = () => resolve('open');
                ws.onerror = () => resolve('refused');
            }})"""
        )
        assert opened == "refused"
    finally:
        await runner.cleanup()

    # logout ends the session
    await console.click("#logout")
    await console.wait_for_selector("#token", timeout=TIMEOUT_MS)
    async with live.http.get(live.base_url + "/api/state", headers=cookie) as r:
        assert r.status == 401


async def test_the_console_asks_to_confirm_a_take_by_the_refusal_code(live, browser, monkeypatch):
    """The console branches on the refusal's code, not on its sentence."""
    await live.join(["main", "pinghu", "nanhu"])
    host = live.server_app[RUNTIME]
    decide = host.execute
    poor = "cannot take venue 'pinghu': its link is poor (loss 20.0%, round trip 1 ms); confirm to put it on air anyway"

    def execute(command, command_id=None):
        if isinstance(command, c.Take) and not command.confirm:
            if command.venue == "pinghu":
                raise CommandRejected("link_poor_needs_confirm", {"venue": "pinghu", "loss_pct": 20.0, "rtt_ms": 1},
                                      action="take", action_params={"venue": "pinghu"})
            if command.venue == "nanhu":  # another reason: no confirmation offered
                raise CommandRejected("not_connected", {"venue": "nanhu"}, action="take", action_params={"venue": "nanhu"})
        return decide(command, command_id)

    monkeypatch.setattr(host, "execute", execute)
    console = await console_page(browser, live)
    dialogs = []

    async def accept(dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.accept()

    console.on("dialog", accept)
    await console.click("#tile-pinghu .take")
    question = await console.wait_for_selector("#confirm:not([hidden])", timeout=TIMEOUT_MS)
    assert await console.inner_text("#confirm-text") == poor
    assert "Put it on air anyway" in await question.inner_text()
    await console.click("#confirm-yes")
    await console.wait_for_selector("#tile-pinghu.on-air", timeout=TIMEOUT_MS)
    assert await console.is_hidden("#confirm")
    await console.click("#tile-nanhu .take")
    error = await console.wait_for_selector("#error:not([hidden])", timeout=TIMEOUT_MS)
    assert await error.inner_text() == "cannot take venue 'nanhu': it is not connected"
    assert await console.is_hidden("#confirm") and (await live.state())["on_air"] == "pinghu"
    assert dialogs == [] and console.errors == []


async def test_a_page_opened_on_the_link_of_a_running_agent_keeps_the_venue(live, browser):
    await live.join(["main", "pinghu"])
    agent = live.agents["pinghu"]
    page = await venue_page(browser, live, "pinghu")
    assert await asyncio.wait_for(agent.task, 10) == EXIT_REPLACED
    await asyncio.sleep(3)  # longer than the agent's first backoffs: nothing takes the venue back
    assert await page.evaluate("document.body.dataset.connection") == "connected"
    state = await live.wait_for_state(lambda s: s["venues"]["pinghu"]["connected"], 10, "the page's media")
    assert state["venues"]["pinghu"]["connected"]
    assert page.errors == []


async def test_the_console_runs_polling_and_the_main_venue_page_shows_its_wall(live, browser):
    branches = ["nanhu", "xiuzhou", "jiashan", "haiyan", "haining", "pinghu", "tongxiang", "development-zone", "port-area"]
    await join_with_pictures(live, branches)  # the branch venues run the venue agent
    main = await venue_page(browser, live, "main")
    console = await console_page(browser, live)
    await console.click("#start-session")
    await console.wait_for_function("document.body.dataset.phase === 'running'", timeout=TIMEOUT_MS)

    # program polling of two venues every 10 s, started from the console's form
    await console.click("#tab-polling")
    await console.select_option("#polling-target", "program")
    await console.fill("#polling-dwell", "10")
    boxes = console.locator("#polling-venues input")
    for i in range(await boxes.count()):
        if await boxes.nth(i).get_attribute("value") not in ("pinghu", "nanhu"):
            await boxes.nth(i).uncheck()
    await console.click("#start-polling")
    await console.wait_for_function("document.body.dataset.polling === 'nanhu'", timeout=TIMEOUT_MS)
    assert await console.inner_text("#polling-line") == "On the program: Nanhu District · every 10 s"
    assert re.fullmatch(r"Next: Pinghu City in \d+ s", await console.inner_text("#polling-next"))
    await main.wait_for_function("document.getElementById('on-air-name').textContent === 'On air: Nanhu District'",
                                 timeout=TIMEOUT_MS)
    await console.wait_for_function("document.body.dataset.polling === 'pinghu'", timeout=15_000)
    await wait_for(lambda: live.agents["nanhu"].agent.stats.seen == "pinghu", 3, "the second step at nanhu")
    await console.click("#pause-polling")
    await console.wait_for_function("document.getElementById('polling-status').textContent === 'paused'",
                                    timeout=TIMEOUT_MS)
    assert "paused" in await console.inner_text("#polling-next")
    await console.click("#stop-polling")
    await console.wait_for_function("document.getElementById('polling-status').textContent === 'off'",
                                    timeout=TIMEOUT_MS)
    await console.click("#tile-main .take")  # the theatre (this page: a camera the agents cannot read) back on air
    await live.wait_for_state(lambda s: all(s["program"][v]["program_video"] == "main" for v in branches), 5,
                              "every branch venue receiving the main venue")
    began = time.time()

    # a 3x3 wall at the main venue: its page lays out the nine forwarded tiles with their names
    await console.click("#tab-return")
    await console.click("#return-wall")
    await console.wait_for_function("document.body.dataset.mainReturn === 'wall'", timeout=TIMEOUT_MS)
    assert "A 3x3 wall, page 1 of 1" in await console.inner_text("#return-line")
    await main.wait_for_function("document.body.dataset.return === 'wall'", timeout=TIMEOUT_MS)
    assert await main.get_attribute("#wall", "data-layout") == "3x3"
    names = await main.eval_on_selector_all(".wall-tile .wall-name", "nodes => nodes.map(n => n.textContent)")
    assert names == [
        "Nanhu District", "Xiuzhou District", "Jiashan County", "Haiyan County", "Haining City", "Pinghu City",
        "Tongxiang City", "Jiaxing Economic and Technological Development Zone",
        "Zhejiang Zhapu Economic Development Zone (Jiaxing Port Area)",
    ]
    await main.wait_for_function(
        "[...document.querySelectorAll('.wall-tile video')].every(v => v.videoWidth > 0 && v.currentTime > 0.3)",
        timeout=TIMEOUT_MS)
    # the branch venues (agents here) keep the program, the main venue on air, and get no wall
    program = (await live.state())["program"]
    for venue in branches:
        # (None: a receiver that fell behind waits for the main venue's next keyframe, on a busy machine)
        assert set(program[venue]) == {"program_video", "program_audio", "main_audio"}, venue
        assert program[venue]["program_video"] in ("main", None), program[venue]
        assert not [e for e in live.agents[venue].events("on_air_seen") if e["ts"] > began], venue
        assert not live.agents[venue].agent.stats.tiles and not live.agents[venue].events("main_return")
    assert {program["main"][f"wall_video_{slot}"] for slot in range(9)} == set(branches)
    SCREENSHOTS.mkdir(exist_ok=True)
    await asyncio.sleep(0.5)  # let the last frames paint
    await main.screenshot(path=str(SCREENSHOTS / "main-wall.png"))
    assert main.errors == [] and console.errors == []


async def test_the_console_switches_the_recording_and_warns_when_the_recorder_stops_by_itself(live, browser):
    console = await console_page(browser, live)
    await console.wait_for_selector("#recording[disabled]", timeout=TIMEOUT_MS)  # not before the session starts
    await console.click("#start-session")
    await console.click("#recording:not([disabled])")
    await console.wait_for_selector("#recording[data-on=true]", timeout=TIMEOUT_MS)
    assert "REC" in await console.inner_text("#recording")
    assert (await live.state())["recording"]["active"] is True
    # the recorder reports a full disk (as the server's writer does): the console says so, the session goes on
    live.server_app[RUNTIME].execute(c.RecordingFailed(failure="disk_full", detail="No space left on device"))
    warning = await console.wait_for_selector("#recording-warning:not([hidden])", timeout=TIMEOUT_MS)
    text = await warning.inner_text()
    assert "the disk is full (No space left on device). The session goes on." in text
    assert await console.inner_text("#recording") == "Start recording"
    await console.click("#recording")
    await console.wait_for_selector("#recording-warning[hidden]", state="attached", timeout=TIMEOUT_MS)
    assert console.errors == []


@pytest.fixture
async def zh_live(tmp_path):
    """The real server on the Chinese sample conference (`language: zh-CN`)."""
    from orchestrator.config import load_conference
    from tests.support.live import running_live

    config = Path(__file__).resolve().parents[2] / "config" / "jiaxing-2025-six-initiatives.zh.yaml"
    async with running_live(load_conference(config), tmp_path) as live:
        yield live


async def test_the_pages_in_chinese_with_the_conference_clock_and_a_language_switch(zh_live, browser):
    """The Chinese sample: the sign-in page, the console's bar and the venue pages speak Chinese,
    the venue clock shows Asia/Shanghai in a browser set to New York, and a venue's switch to
    English is remembered by its browser."""
    live = zh_live
    SCREENSHOTS.mkdir(exist_ok=True)
    await live.join(["main"])
    login = await open_page(browser, live.base_url + "/console", size=(800, 500))
    await login.wait_for_function("document.getElementById('login').textContent === '登录'", timeout=TIMEOUT_MS)
    assert await login.inner_text("h1") == "会议控制台" and await login.evaluate("document.documentElement.lang") == "zh-CN"
    await login.fill("#token", "not-the-token")
    await login.click("#login")
    await login.wait_for_function("document.getElementById('login-error').textContent === '操作员口令不正确。'",
                                  timeout=TIMEOUT_MS)
    await login.screenshot(path=str(SCREENSHOTS / "login-zh.png"))

    console = await console_page(browser, live)
    assert await console.inner_text("#conference") == "全市“六大行动”主题实践活动动员部署大会"

    context = await browser.new_context(viewport={"width": 1280, "height": 720}, timezone_id="America/New_York")
    venues = {}
    for venue in ("pinghu", "nanhu"):
        page = await context.new_page()
        page.errors = []
        page.on("pageerror", lambda error, page=page: page.errors.append(str(error)))
        await page.goto(live.link(venue))
        await page.wait_for_function("document.body.dataset.connection === 'connected'", timeout=TIMEOUT_MS)
        venues[venue] = page
    pinghu, nanhu = venues["pinghu"], venues["nanhu"]
    assert await pinghu.inner_text("#hand") == "举手"
    assert await pinghu.inner_text("#venue-name") == "平湖市"

    # the clock: the conference's time zone (UTC+8), not the browser's (New York)
    shown = await pinghu.evaluate("document.getElementById('clock').textContent")
    expected = time.strftime("%H:%M", time.gmtime(time.time() + 8 * 3600))
    assert re.fullmatch(r"\d\d:\d\d:\d\d", shown) and shown[:5] in (
        expected, time.strftime("%H:%M", time.gmtime(time.time() + 8 * 3600 - 60))), shown

    # the called roll call in Chinese: nanhu is called first (the file's order), pinghu waits
    await live.command({"type": "start_session"})
    await live.command({"type": "goto_segment", "segment": "roll-call"})
    await live.command({"type": "start_roll_call"})
    await nanhu.wait_for_selector("#present:not([disabled])", timeout=TIMEOUT_MS)
    assert await nanhu.inner_text("#present") == "到" and await nanhu.inner_text("#roll-call h2") == "点名"
    assert "南湖区，正在点名本会场" in await nanhu.inner_text("#roll-call-prompt")
    await pinghu.wait_for_function(
        "document.getElementById('roll-call-line').textContent.startsWith('正在点名：南湖区')", timeout=TIMEOUT_MS)
    assert "等待点名" in await pinghu.inner_text("#roll-call-line")
    await nanhu.screenshot(path=str(SCREENSHOTS / "venue-roll-call-zh.png"))
    await nanhu.click("#present")
    await live.command({"type": "finish_roll_call"})

    # the award presentation: the caption in Chinese; the console's bar in Chinese
    await live.command({"type": "goto_segment", "segment": "award-presentation"})
    await live.command({"type": "next_award"})
    await pinghu.wait_for_function(
        "document.getElementById('caption-text').textContent === '示例：平湖市经济发展局'", timeout=TIMEOUT_MS)
    assert await pinghu.inner_text("#segment-title") == "现场颁奖"
    assert await pinghu.inner_text("#on-air-name") == "正在上屏：嘉兴大剧院"
    await asyncio.sleep(0.5)  # let the last frames paint
    await pinghu.screenshot(path=str(SCREENSHOTS / "venue-zh.png"))
    await console.wait_for_function("document.getElementById('phase').textContent !== ''", timeout=TIMEOUT_MS)
    await console.screenshot(path=str(SCREENSHOTS / "console-zh.png"))

    # a refusal on the console in the conference's language
    async with live.http.post(live.base_url + "/api/commands", json={"type": "take", "venue": "haiyan"},
                              headers=live.auth) as r:
        assert (await r.json())["error"] == "无法切换会场“海盐县”上屏：该会场未接入"

    # the switch: English, remembered by this browser (a new page of the same browser opens in English)
    await pinghu.select_option("#language", "en")
    await pinghu.wait_for_function("document.getElementById('hand').textContent === 'Raise hand'", timeout=TIMEOUT_MS)
    again = await context.new_page()
    await again.goto(live.base_url + "/console")
    await again.wait_for_function("document.getElementById('login') && document.getElementById('login').textContent "
                                  "=== 'Sign in'", timeout=TIMEOUT_MS)
    for page in [login, console, *venues.values()]:
        assert page.errors == []
    await context.close()
