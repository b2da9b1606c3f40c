"""Fixtures of the Janus media plane's tests: a network namespace with Janus nodes in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator import netns
from orchestrator.janus_node import JanusProcess
from tests.support import janus_node

REASON = janus_node.unavailable()


@pytest.fixture
def janus_namespace() -> Iterator[str]:
    """A fresh network namespace that the test's thread runs in (skips where there is none)."""
    if REASON is not None:
        pytest.skip(REASON)
    with netns.network_namespace() as name, netns.inside(name):
        yield name


@pytest.fixture
def janus(janus_namespace: str, tmp_path: Path) -> Iterator[JanusProcess]:
    """One Janus node in the test's namespace."""
    node = janus_node.start_node(janus_namespace, tmp_path / "janus")
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def second_janus(janus: JanusProcess, janus_namespace: str, tmp_path: Path) -> Iterator[JanusProcess]:
    """A second Janus node in the same namespace (another API port, other media ports)."""
    node = janus_node.start_node(janus_namespace, tmp_path / "janus-2", ws_port=8189, rtp_ports=(21000, 21999))
    try:
        yield node
    finally:
        node.stop()


async def live_on(nodes: list[JanusProcess], conference, data: Path, **overrides):
    """The real server with the Janus media plane on `nodes`, in the namespace; venue agents
    offer their media on the veth's other end."""
    from orchestrator.media import restrict_host_addresses
    from orchestrator.media.janus import JanusMediaPlane
    from tests.support.live import start_live

    def make_media(presence):
        return JanusMediaPlane([n.url for n in nodes], janus_node.API_SECRET, conference.main_venue.id, presence,
                               [n.admin_url for n in nodes], janus_node.ADMIN_SECRET)

    live, server = await start_live(conference, data, make_media, **overrides)
    restrict_host_addresses([netns.PEER_ADDRESS])
    try:
        yield live
    finally:
        await live.stop_agents()
        await live.http.close()
        await server.close()
        restrict_host_addresses(None)


@pytest.fixture
async def janus_live(janus: JanusProcess, small_conf, tmp_path: Path):
    """The real server with the Janus media plane on one node."""
    async for live in live_on([janus], small_conf, tmp_path / "data"):
        yield live


@pytest.fixture
async def cascade_live(janus: JanusProcess, second_janus: JanusProcess, small_conf, tmp_path: Path):
    """The real server with the Janus media plane on two nodes, cascaded."""
    async for live in live_on([janus, second_janus], small_conf, tmp_path / "data"):
        yield live


@pytest.fixture
async def browser(janus_namespace: str):
    """Headless Chromium, started inside the test's namespace."""
    from tests.browser.pages import ARGS, CHROMIUM

    playwright = pytest.importorskip("playwright.async_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed")
    async with playwright.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def recorded_janus_live(janus: JanusProcess, small_conf, tmp_path: Path):
    """The real server with the Janus media plane on one node, recording into tmp_path/rec from the session's start."""
    async for live in live_on([janus], small_conf, tmp_path / "data", record_dir=tmp_path / "rec"):
        yield live


@pytest.fixture
def third_janus(second_janus: JanusProcess, janus_namespace: str, tmp_path: Path) -> Iterator[JanusProcess]:
    """A third Janus node in the same namespace."""
    node = janus_node.start_node(janus_namespace, tmp_path / "janus-3", ws_port=8190, rtp_ports=(22000, 22999))
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
async def three_node_live(janus: JanusProcess, second_janus: JanusProcess, third_janus: JanusProcess, small_conf,
                          tmp_path: Path):
    """The real server with the Janus media plane on three nodes, cascaded."""
    async for live in live_on([janus, second_janus, third_janus], small_conf, tmp_path / "data"):
        yield live
