"""Janus nodes for tests, inside a network namespace of their own.

Janus 1.1.2 never gathers ICE candidates on loopback interfaces, so its tests run in a
namespace the test makes: `lo` up and a veth pair (`v0` 192.0.2.101/24, `v1` 192.0.2.102/24,
TEST-NET-1 addresses that never leave the namespace). Janus runs there with
`ip netns exec`, its ICE and its WebSocket API on v0's address, the venues' ICE on v1's; the
test's own thread enters the namespace too (`setns`), so the server, the venue agents and
every subprocess they start live in it and send nothing outside it. Everything is undone
afterwards, whatever happened.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

from orchestrator.janus_node import JanusProcess, start_janus
from orchestrator.janus_node import unavailable as janus_unavailable

IP = shutil.which("ip")
CLONE_NEWNET = 0x40000000
NODE_ADDRESS = "192.0.2.101"  # v0: Janus's media and API
PEER_ADDRESS = "192.0.2.102"  # v1: the other end of the pair
API_SECRET = "janus-test-api-secret"
ADMIN_SECRET = "janus-test-admin-secret"


def unavailable() -> str | None:
    """Why Janus tests cannot run here (None: they can)."""
    reason = janus_unavailable()
    if reason is not None:
        return reason
    if IP is None:
        return "the ip command (iproute2) is not installed"
    probe = f"probe-{uuid.uuid4().hex[:8]}"
    made = subprocess.run([IP, "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"network namespaces are not available: ip netns add said {made.stderr.strip()!r}"
    subprocess.run([IP, "netns", "delete", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    assert IP is not None
    result = subprocess.run([IP, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")


@contextlib.contextmanager
def network_namespace() -> Iterator[str]:
    """A fresh namespace with lo up and the v0/v1 veth pair addressed; deleted afterwards."""
    name = f"orch-janus-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        _ip("-n", name, "addr", "add", f"{NODE_ADDRESS}/24", "dev", "v0")
        _ip("-n", name, "addr", "add", f"{PEER_ADDRESS}/24", "dev", "v1")
        _ip("-n", name, "link", "set", "v0", "up")
        _ip("-n", name, "link", "set", "v1", "up")
        # both ends are local addresses: a packet from one to the other must not be taken for a
        # spoofed one (Janus's replies to the venues' ICE checks were dropped without this)
        settings = [f"net.ipv4.conf.{i}.{key}={value}" for i in ("all", "v0", "v1")
                    for key, value in (("accept_local", 1), ("rp_filter", 0))]
        _ip("netns", "exec", name, "sysctl", "-qw", *settings)
        yield name
    finally:
        subprocess.run([IP or "ip", "netns", "delete", name], capture_output=True)


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns failed: {os.strerror(errno)}")


@contextlib.contextmanager
def inside(namespace: str) -> Iterator[None]:
    """Run the calling thread (and what it starts from now on) in `namespace`, then come back."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


def start_node(namespace: str, folder: Path, ws_port: int = 8188, rtp_ports: tuple[int, int] = (20000, 20999),
               secret: str = API_SECRET, debug_level: int = 4) -> JanusProcess:
    """Start Janus in `namespace` on v0's address (the calling thread must be inside the namespace)."""
    assert IP is not None
    return start_janus(folder, NODE_ADDRESS, ws_port, rtp_ports, secret, ADMIN_SECRET,
                       prefix=(IP, "netns", "exec", namespace), debug_level=debug_level)


async def join(live, venues: list[str], timeout: float = 30) -> None:
    """Venue agents joined and the server showing them connected (Janus tells the server a
    venue's media is up a moment after the venue's own peer says so)."""
    await live.join(venues, timeout=timeout)
    await live.wait_for_state(lambda s: all(s["venues"][v]["connected"] for v in venues), 10,
                              f"{venues} connected at the server")
