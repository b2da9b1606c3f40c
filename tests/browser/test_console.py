"""The operator console as one control-room screen, in headless Chromium against the real
server: its layout at 1920x1080 and at 1366x768 during a roll call, an award presentation
and a speech; each keyboard shortcut; a provincial conference of 90 branch venues."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page

from orchestrator.config import parse_conference
from orchestrator.core import CommandRejected
from orchestrator.core import commands as c
from orchestrator.web.app import RUNTIME
from tests.browser.pages import SCREENSHOTS, TIMEOUT_MS, console_page, join_with_pictures, venue_page
from tests.support.live import OPERATOR_TOKEN, start_live

SIZES = {"1920": (1920, 1080), "1366": (1366, 768)}  # a control-room screen, a laptop
# Always on the screen: the monitors, the take, the agenda and its timer, the wall's last tile, the keys, the log's line
EVERYWHERE = ["#program-video", "#preview-video", "#take-preview", "#segment-timer", "#segments", "#next",
              "#tiles .tile:last-child .tile-name", "#keys", "#log summary", "#language", "#recording"]
OUTSIDE = """(selectors) => {
  const problems = [];
  const page = document.scrollingElement;
  if (page.scrollHeight > innerHeight) problems.push(`the page is ${page.scrollHeight} px tall in a ${innerHeight} px window`);
  if (page.scrollWidth > innerWidth) problems.push(`the page is ${page.scrollWidth} px wide in a ${innerWidth} px window`);
  for (const selector of selectors) {
    const node = document.querySelector(selector);
    const box = node && node.getBoundingClientRect();
    if (!box || box.width === 0 || box.height === 0) problems.push(`${selector} is not shown`);
    else if (box.top < 0 || box.left < 0 || box.bottom > innerHeight + 0.5 || box.right > innerWidth + 0.5)
      problems.push(`${selector} is outside the window: ${JSON.stringify(box)}`);
  }
  return problems;
}"""


async def assert_one_screen(page: Page, parts: list[str], name: str) -> None:
    """At each size the page needs no scrolling and shows `parts` (and the parts always shown);
    a screenshot of each goes under tests/browser/screenshots."""
    SCREENSHOTS.mkdir(exist_ok=True)
    for label, (width, height) in SIZES.items():
        await page.set_viewport_size({"width": width, "height": height})
        await page.wait_for_function(f"innerWidth === {width} && innerHeight === {height}")
        await asyncio.sleep(0.4)  # the layout settles, the last frames paint
        assert await page.evaluate(OUTSIDE, [*EVERYWHERE, *parts]) == [], f"{name} at {width}x{height}"
        await page.screenshot(path=str(SCREENSHOTS / f"console-{name}-{label}.png"))


async def test_the_console_is_one_screen_during_a_roll_call_an_award_and_a_speech(live, browser):
    await join_with_pictures(live, ["main", "nanhu", "xiuzhou", "haining", "pinghu"])
    console = await console_page(browser, live)
    tongxiang = await venue_page(browser, live, "tongxiang")  # a browser venue: it raises its hand later
    for venue in ("main", "nanhu", "tongxiang"):
        await console.wait_for_selector(f"#tile-{venue}[data-status=connected]", timeout=TIMEOUT_MS)
    # a venue that never joined shows "no signal", not a black picture
    assert await console.is_visible("#tile-jiashan .no-signal")
    assert "NO SIGNAL" in await console.inner_text("#tile-jiashan .no-signal")
    assert await console.is_hidden("#tile-nanhu .no-signal")

    # the roll call: its grid is the context panel
    await live.command({"type": "start_session"})
    await live.command({"type": "goto_segment", "segment": "roll-call"})
    await console.wait_for_selector("#ctx-roll-call:not([hidden])", timeout=TIMEOUT_MS)
    await live.command({"type": "start_roll_call"})
    await console.wait_for_selector("#rc-nanhu[data-status=present]", timeout=TIMEOUT_MS)
    await console.wait_for_selector("#calling:not([hidden])", timeout=TIMEOUT_MS)
    assert await console.is_hidden("#ctx-awards") and await console.is_hidden("#ctx-floor")
    await assert_one_screen(console, ["#ctx-roll-call h2", "#start-roll-call", "#calling-name", "#roll-call-scroll",
                                      "#export-csv"], "roll-call")
    await live.command({"type": "finish_roll_call"})

    # an award presentation: the list and the next recipient
    await live.command({"type": "goto_segment", "segment": "award-presentation"})
    await console.wait_for_selector("#ctx-awards:not([hidden])", timeout=TIMEOUT_MS)
    for _ in range(2):
        await live.command({"type": "next_award"})
    await console.wait_for_selector("#award-steps li.current:nth-child(2)", timeout=TIMEOUT_MS)
    total = (await live.state())["awards"]["total"]
    assert await console.inner_text("#award-progress") == f"2 of {total}"
    assert await console.is_hidden("#ctx-roll-call")
    await assert_one_screen(console, ["#ctx-awards h2", "#award-current", "#award-next", "#next-award", "#award-scroll"],
                            "awards")

    # a speech: the floor queue and the microphones
    await live.command({"type": "goto_segment", "segment": "exchange-pinghu"})
    await tongxiang.click("#hand")
    await console.wait_for_selector("#floor-queue .request[data-venue=tongxiang]", timeout=TIMEOUT_MS)
    assert await console.is_visible("#ctx-floor")
    await console.wait_for_selector("#tile-pinghu.on-air", timeout=TIMEOUT_MS)
    await console.wait_for_function("document.getElementById('program-video').videoWidth > 0", timeout=TIMEOUT_MS)
    await assert_one_screen(console, ["#ctx-floor h2", "#floor-queue .grant", "#mute-all", "#microphones",
                                      "#caption-text"], "speech")
    # the event log is one line that opens (over the screen, which does not grow)
    await console.click("#log summary")
    assert await console.is_visible("#events li")
    assert await console.evaluate("document.scrollingElement.scrollHeight <= innerHeight")
    assert console.errors == [] and tongxiang.errors == []


async def key_of(console: Page, venue: str) -> str:
    """The key shown on the venue's tile."""
    return (await console.inner_text(f"#tile-{venue} .tile-key")).lower()


async def test_each_keyboard_shortcut_changes_the_session(live, browser, monkeypatch):
    await live.join(["main", "pinghu", "nanhu", "haining"])
    host = live.server_app[RUNTIME]
    decide = host.execute
    poor_links = {"haining"}  # a take of these asks to confirm, as on a poor link

    def execute(command, command_id=None):
        if isinstance(command, c.Take) and command.venue in poor_links and not command.confirm:
            raise CommandRejected("link_poor_needs_confirm", {"venue": command.venue, "loss_pct": 12.0, "rtt_ms": 80},
                                  action="take", action_params={"venue": command.venue})
        return decide(command, command_id)

    monkeypatch.setattr(host, "execute", execute)
    console = await console_page(browser, live)
    await console.wait_for_selector("#tile-nanhu[data-status=connected]", timeout=TIMEOUT_MS)
    assert [await key_of(console, v) for v in ("main", "nanhu", "port-area")] == ["1", "2", "a"]
    await live.command({"type": "start_session"})
    await console.wait_for_function("document.body.dataset.segment === 'opening'", timeout=TIMEOUT_MS)

    # → and ←: the next and the previous segment
    await console.keyboard.press("ArrowRight")
    await live.wait_for_state(lambda s: s["segment"] == "roll-call", 5, "→ to start the roll call's segment")
    await console.keyboard.press("ArrowLeft")
    await live.wait_for_state(lambda s: s["segment"] == "opening", 5, "← back to the opening")
    # the console has heard of it too: a venue chosen for preview is chosen for the segment it shows
    await console.wait_for_function("document.body.dataset.segment === 'opening'", timeout=TIMEOUT_MS)

    # a tile's key puts its venue in preview; Space takes it, Enter too
    await console.keyboard.press(await key_of(console, "pinghu"))
    await console.wait_for_selector("#tile-pinghu.preview", timeout=TIMEOUT_MS)
    assert await console.inner_text("#preview-name") == "Pinghu City"
    await console.keyboard.press("Space")
    await live.wait_for_state(lambda s: s["on_air"] == "pinghu", 5, "Space to take pinghu")
    await console.keyboard.press(await key_of(console, "nanhu"))
    await console.wait_for_selector("#tile-nanhu.preview", timeout=TIMEOUT_MS)
    await console.keyboard.press("Enter")
    await live.wait_for_state(lambda s: s["on_air"] == "nanhu", 5, "Enter to take nanhu")

    # a letter: port-area is not connected, the take is refused with the core's sentence
    await console.keyboard.press("a")
    await console.wait_for_selector("#tile-port-area.preview", timeout=TIMEOUT_MS)
    await console.keyboard.press("Space")
    error = await console.wait_for_selector("#error:not([hidden])", timeout=TIMEOUT_MS)
    assert await error.inner_text() == "cannot take venue 'port-area': it is not connected"

    # M: every microphone but the one on air is muted
    await live.command({"type": "unmute_venue", "venue": "pinghu"})
    await console.keyboard.press("m")
    state = await live.wait_for_state(lambda s: s["venues"]["pinghu"]["muted"], 5, "M to mute all but on air")
    assert not state["venues"]["nanhu"]["muted"]

    # a take on a poor link asks again: Esc cancels it, Enter confirms it
    await console.keyboard.press(await key_of(console, "haining"))
    await console.wait_for_selector("#tile-haining.preview", timeout=TIMEOUT_MS)
    await live.command({"type": "take", "venue": "main"})
    await console.keyboard.press("Space")
    await console.wait_for_selector("#confirm:not([hidden])", timeout=TIMEOUT_MS)
    assert "its link is poor" in await console.inner_text("#confirm-text")
    await console.keyboard.press("Escape")
    await console.wait_for_selector("#confirm", state="hidden", timeout=TIMEOUT_MS)
    await asyncio.sleep(0.3)
    assert (await live.state())["on_air"] == "main"
    await console.keyboard.press("Space")
    await console.wait_for_selector("#confirm:not([hidden])", timeout=TIMEOUT_MS)
    await console.keyboard.press("Enter")
    await live.wait_for_state(lambda s: s["on_air"] == "haining", 5, "Enter to confirm the take")
    await console.wait_for_selector("#confirm", state="hidden", timeout=TIMEOUT_MS)

    # N: the next award, in an award presentation
    await live.command({"type": "goto_segment", "segment": "award-presentation"})
    await console.wait_for_function("document.body.dataset.segment === 'award-presentation'", timeout=TIMEOUT_MS)
    await console.keyboard.press("n")
    await live.wait_for_state(lambda s: s["awards"]["index"] == 0, 5, "N to present the first award")
    await console.keyboard.press("n")
    await live.wait_for_state(lambda s: s["awards"]["index"] == 1, 5, "N to present the second award")

    # nothing fires while the operator types
    on_air = (await live.state())["on_air"]
    await console.click("#tab-floor")
    await console.click("#caption-text")
    for key in ("n", "m", "ArrowRight", "Space", "1"):
        await console.keyboard.press(key)
    await asyncio.sleep(0.5)
    state = await live.state()
    assert (state["segment"], state["awards"]["index"], state["on_air"]) == ("award-presentation", 1, on_air)
    assert await console.input_value("#caption-text") == "nm 1"
    assert console.errors == []


BRANCHES = 90


def provincial_yaml() -> str:
    venues = "\n".join(f'  - {{id: b{i:02d}, name: "第{i}分会场 County {i}", role: branch, kind: county}}'
                       for i in range(1, BRANCHES + 1))
    return f"""\
conference: {{id: province, title: "全省推进大会 Provincial meeting", date: 2025-02-05, start: "09:00", timezone: Asia/Shanghai}}
venues:
  - {{id: main, name: "省会场 Provincial hall", role: main}}
{venues}
agenda:
  - {{id: opening, kind: presiding, title: "Opening", planned: 2m}}
  - {{id: roll-call, kind: roll_call, title: "Roll call of the {BRANCHES} branch venues", planned: 10m, mode: check}}
  - {{id: speech, kind: speech, title: "Speech", venue: b01, planned: 10m}}
"""


async def test_a_console_of_ninety_branch_venues_is_one_screen(browser, tmp_path):
    conference = parse_conference(provincial_yaml(), "province.yaml")
    live, server = await start_live(conference, tmp_path)
    try:
        await join_with_pictures(live, ["main", "b01", "b02"])
        console = await console_page(browser, live)
        await live.command({"type": "start_session"})
        await live.command({"type": "goto_segment", "segment": "roll-call"})
        await live.command({"type": "start_roll_call"})
        await console.wait_for_selector("#rc-b90", timeout=TIMEOUT_MS)
        await console.wait_for_selector("#rc-b01[data-status=present]", timeout=TIMEOUT_MS)
        assert await console.inner_text("#page-label") == "page 1 of 6"
        assert await console.locator("#tiles .tile").count() == 16
        # the roll call's 90 rows scroll inside their panel; the wall pages; nothing else moves
        assert await console.evaluate("(b => b.scrollHeight > b.clientHeight)(document.getElementById('roll-call-scroll'))")
        await assert_one_screen(console, ["#ctx-roll-call h2", "#start-roll-call", "#roll-call-scroll"], "90-venues")
        await console.keyboard.press("PageDown")
        await console.wait_for_selector("#tile-b16", timeout=TIMEOUT_MS)
        assert await console.inner_text("#page-label") == "page 2 of 6"
        assert await key_of(console, "b16") == "1"
        await console.keyboard.press("3")  # the third tile of page 2
        await console.wait_for_selector("#tile-b18.preview", timeout=TIMEOUT_MS)
        assert console.errors == []
    finally:
        await live.stop_agents()
        await live.http.close()
        await server.close()


CATALOGUE = {"language": "zh-CN", "languages": ["zh-CN", "en"], "messages": {
    "Take preview": "切换预监", "Roll call": "点名", "Venues": "会场", "NO SIGNAL": "无信号", "Start session": "开始会议",
    "page {page} of {pages}": "第 {page} / {pages} 页", "next award": "下一个奖项",
}}


async def test_the_console_speaks_the_catalogues_language_and_switches_it(live, browser):
    """The console's words come from the server's catalogue (a stand-in here), and the switch changes the language."""
    context = await browser.new_context(viewport={"width": 1366, "height": 768})
    asked: list[str] = []

    async def catalogue(route) -> None:
        asked.append(route.request.url)
        wanted = route.request.url.partition("lang=")[2]
        body = CATALOGUE if wanted in ("", "zh-CN") else {"language": "en", "languages": ["zh-CN", "en"], "messages": {}}
        await route.fulfill(json=body)

    await context.route("**/i18n/catalogue.json*", catalogue)
    console = await context.new_page()
    console.errors = []
    console.on("pageerror", lambda error: console.errors.append(str(error)))
    await console.goto(live.base_url + "/console")
    await console.fill("#token", OPERATOR_TOKEN)
    await console.click("#login")
    await console.wait_for_selector("#tile-jiashan", timeout=TIMEOUT_MS)
    assert await console.inner_text("#take-preview") == "切换预监"
    assert await console.inner_text("#tab-roll-call") == "点名"
    assert await console.inner_text("#page-label") == "第 1 / 1 页"
    assert "无信号" in await console.inner_text("#tile-jiashan .no-signal")
    assert await console.evaluate("document.documentElement.lang") == "zh-CN"
    assert await console.eval_on_selector_all("#language option", "os => os.map(o => [o.value, o.textContent])") == [
        ["zh-CN", "中文"], ["en", "English"]]
    assert await console.evaluate("document.scrollingElement.scrollHeight <= innerHeight")
    await console.screenshot(path=str(SCREENSHOTS / "console-zh-1366.png"))

    await console.select_option("#language", "en")  # remembered, and the page comes back in English
    await console.wait_for_function("document.getElementById('take-preview').textContent === 'Take preview'",
                                    timeout=TIMEOUT_MS)
    assert asked[-1].endswith("lang=en")
    assert await console.evaluate("localStorage.getItem('orchestrator.language')") == "en"
    assert console.errors == []
    await context.close()
