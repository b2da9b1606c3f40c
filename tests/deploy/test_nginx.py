"""nginx with deploy/nginx/orchestrator.conf on loopback, in front of the orchestrator:
`nginx -t`, a venue joining over https/wss, the security headers, the redirect, the logs."""

from __future__ import annotations

import asyncio
import io

import aiohttp

from tests.deploy.conftest import Proxied
from tests.support.live import OPERATOR_TOKEN, AgentHandle, wait_for
from venues.agent import VenueAgent


def start_proxied_agent(proxied: Proxied, venue: str) -> AgentHandle:
    """A venue agent that joins by the public https:// link, trusting the test certificate."""
    log = io.StringIO()
    agent = VenueAgent(proxied.link(venue), log_file=log, seed=7, ssl=proxied.cert.client_context())
    handle = AgentHandle(venue, agent, log, asyncio.ensure_future(agent.run()))
    proxied.live.agents[venue] = handle
    return handle


def https_session(proxied: Proxied) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=proxied.cert.client_context()))


async def test_nginx_accepts_the_site_without_warnings(proxied):
    assert "syntax is ok" in proxied.check_output and "test is successful" in proxied.check_output
    assert "[warn]" not in proxied.check_output and "[emerg]" not in proxied.check_output, proxied.check_output


async def test_a_venue_joins_through_the_tls_proxy_and_receives_the_program(proxied):
    live = proxied.live
    await live.join(["main"])  # the theatre, on air, joins directly
    venue = start_proxied_agent(proxied, "pinghu")
    assert venue.agent.ws_url == f"wss://127.0.0.1:{proxied.tls_port}/ws/venue"
    await wait_for(lambda: venue.agent.connected.is_set(), 15, "pinghu to join through nginx")
    await wait_for(lambda: venue.agent.stats.seen == "main", 5, "the program at pinghu")
    assert [e["venue"] for e in venue.events("on_air_seen")] == ["main"]
    state = await live.state()
    assert state["venues"]["pinghu"]["connected"]
    # the socket went through the proxy (nginx logs it when it closes), and the token (in the
    # link's fragment, then in the first message) never reached the log
    venue.agent.stop()
    await venue.task
    await wait_for(lambda: '"GET /ws/venue HTTP/1.1" 101' in proxied.access_log(), 5, "the socket in the access log")
    assert venue.agent.token not in proxied.access_log()


async def test_links_and_origin_checks_use_the_public_url(proxied):
    async with https_session(proxied) as http:
        async with http.get(proxied.url + "/api/links", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}) as r:
            links = await r.json()
        assert r.status == 200
        assert set(links) == set(proxied.live.conference.venue_by_id)
        assert all(url.startswith(proxied.url + "/join#") for url in links.values()), links
        # the console's sign-in through the proxy: its own origin is accepted, another is not
        form = {"token": OPERATOR_TOKEN}
        async with http.post(proxied.url + "/console/login", data=form, allow_redirects=False,
                             headers={"Origin": proxied.url}) as r:
            assert r.status == 303, await r.text()
            cookie = r.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        async with http.post(proxied.url + "/console/login", data=form, allow_redirects=False,
                             headers={"Origin": "https://evil.example"}) as r:
            assert r.status == 403


async def test_security_headers_redirect_and_health(proxied):
    async with https_session(proxied) as http:
        for path in ("/console", "/join", "/static/venue.js", "/healthz", "/no-such-page"):
            async with http.get(proxied.url + path) as r:
                headers = r.headers
                assert headers["Strict-Transport-Security"].startswith("max-age="), path
                assert headers.getall("Referrer-Policy") == ["no-referrer"], path
                assert headers["X-Content-Type-Options"] == "nosniff", path
                assert headers["X-Frame-Options"] == "DENY", path
                csp = headers["Content-Security-Policy"]
                assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
                assert f"connect-src 'self' wss://127.0.0.1:{proxied.tls_port}" in csp
                assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
                assert "nginx/" not in headers.get("Server", "")
        async with http.get(proxied.url + "/healthz") as r:
            assert r.status == 200 and (await r.json())["ok"] is True
        # plain HTTP answers with a permanent redirect to the same path on https
        async with http.get(f"http://127.0.0.1:{proxied.http_port}/console?x=1", allow_redirects=False) as r:
            assert r.status == 301
            assert r.headers["Location"] == f"{proxied.url}/console?x=1"
        async with http.get(f"http://127.0.0.1:{proxied.http_port}/console") as r:  # followed: it works
            assert r.status == 200 and str(r.url).startswith(proxied.url)


async def test_the_access_log_holds_no_tokens(proxied):
    secret_query = "token=query-secret-a1b2c3"
    async with https_session(proxied) as http:
        async with http.get(f"{proxied.url}/console?{secret_query}") as r:
            assert r.status == 200
        async with http.get(proxied.url + "/api/state", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}) as r:
            assert r.status == 200
        async with http.post(proxied.url + "/console/login", data={"token": OPERATOR_TOKEN}, allow_redirects=False,
                             headers={"Origin": proxied.url}) as r:
            session_cookie = r.cookies["orchestrator_session"].value
        async with http.get(proxied.url + "/console", headers={"Cookie": f"orchestrator_session={session_cookie}"}) as r:
            assert r.status == 200
        async with http.get(f"http://127.0.0.1:{proxied.http_port}/join?{secret_query}", allow_redirects=False) as r:
            assert r.status == 301
    log = proxied.access_log()
    assert '"GET /console HTTP/1.1" 200' in log and '"GET /api/state HTTP/1.1" 200' in log
    assert '"POST /console/login HTTP/1.1" 303' in log and '"GET /join HTTP/1.1" 301' in log
    for secret in ("query-secret-a1b2c3", OPERATOR_TOKEN, session_cookie, "Bearer"):
        assert secret not in log, secret
