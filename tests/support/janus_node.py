"""Janus nodes for tests, inside a network namespace of their own (`orchestrator.netns`).

Janus runs in the test's namespace with its ICE and its WebSocket API on v0's address, the
venues' ICE on v1's; the test's own thread enters the namespace too, so the server, the venue
agents and every subprocess they start live in it and send nothing outside it.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator import netns
from orchestrator.janus_node import JanusProcess, start_janus
from orchestrator.janus_node import unavailable as janus_unavailable

API_SECRET = "janus-test-api-secret"
ADMIN_SECRET = "janus-test-admin-secret"


def unavailable() -> str | None:
    """Why Janus tests cannot run here (None: they can)."""
    return janus_unavailable() or netns.unavailable()


def start_node(namespace: str, folder: Path, ws_port: int = 8188, rtp_ports: tuple[int, int] = (20000, 20999),
               secret: str = API_SECRET, debug_level: int = 4) -> JanusProcess:
    """Start Janus in `namespace` on v0's address (the calling thread must be inside the namespace)."""
    return start_janus(folder, netns.NODE_ADDRESS, ws_port, rtp_ports, secret, ADMIN_SECRET,
                       prefix=netns.exec_prefix(namespace), debug_level=debug_level)


async def join(live, venues: list[str], timeout: float = 30) -> None:
    """Venue agents joined and the server showing them connected (Janus tells the server a
    venue's media is up a moment after the venue's own peer says so)."""
    await live.join(venues, timeout=timeout)
    await live.wait_for_state(lambda s: all(s["venues"][v]["connected"] for v in venues), 10,
                              f"{venues} connected at the server")
