"""The console and the venue page in Chromium through nginx (TLS, the site's security headers):
the content security policy lets both work, and nothing is blocked."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from tests.browser.pages import ARGS, CHROMIUM, TIMEOUT_MS
from tests.deploy.support import need
from tests.support.live import OPERATOR_TOKEN

WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`));
"""


@pytest.fixture
async def browser():
    if not Path(CHROMIUM).exists():
        need("chromium", "chromium")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, "--ignore-certificate-errors"])
        try:
            yield browser
        finally:
            await browser.close()


async def open_watched(browser, url: str):
    """A page whose CSP violations, CSP console messages and script errors are collected."""
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    await context.add_init_script(WATCH_CSP)
    page = await context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
    page.on("console", lambda msg: page.problems.append(f"console: {msg.text}") if "Content Security Policy" in msg.text else None)
    response = await page.goto(url)
    assert "content-security-policy" in await response.all_headers()  # served through nginx
    return page


async def csp_problems(page) -> list[str]:
    return page.problems + await page.evaluate("window.__csp")


async def test_the_venue_page_and_the_console_work_under_the_proxy_and_its_csp(proxied, browser):
    live = proxied.live
    await live.join(["main"])  # the theatre (venue agent, direct) is on air

    venue = await open_watched(browser, proxied.link("pinghu"))
    assert venue.url.startswith(f"https://127.0.0.1:{proxied.tls_port}/join")
    # (the predicates are functions, not expression strings: Playwright runs those with eval(),
    # which this CSP rightly forbids)
    await venue.wait_for_function("() => document.body.dataset.connection === 'connected'", timeout=TIMEOUT_MS)
    await venue.wait_for_function("() => document.getElementById('program').videoWidth > 0", timeout=TIMEOUT_MS)
    before = await venue.evaluate("document.getElementById('program').currentTime")
    await venue.wait_for_function(f"() => document.getElementById('program').currentTime > {before} + 0.3", timeout=TIMEOUT_MS)

    console = await open_watched(browser, proxied.url + "/console")
    await console.fill("#token", OPERATOR_TOKEN)
    await console.click("#login")
    await console.wait_for_selector("#tile-main", timeout=TIMEOUT_MS)
    await console.wait_for_function("() => document.body.dataset.link === 'connected'", timeout=TIMEOUT_MS)
    await console.wait_for_selector("#tile-pinghu[data-status=connected]", timeout=TIMEOUT_MS)
    # a command from the console (the socket's Origin check behind the proxy) reaches the venue page
    await console.click("#tile-pinghu .take")
    await venue.wait_for_function("() => document.body.dataset.onAir === 'yes'", timeout=TIMEOUT_MS)
    await console.wait_for_function("() => document.getElementById('program-video').videoWidth > 0", timeout=TIMEOUT_MS)

    assert await csp_problems(venue) == []
    assert await csp_problems(console) == []
    cookies = await console.context.cookies()
    session = next(c for c in cookies if c["name"] == "orchestrator_session")
    assert session["secure"] and session["httpOnly"]
