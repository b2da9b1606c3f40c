"""A network namespace of this process's own, for Janus media on one machine.

Janus 1.1.2 never gathers ICE candidates on loopback interfaces, so Janus media cannot stay
on 127.0.0.1; nor should a test, a rehearsal or a benchmark send media to the machine's own
external address. They run in a namespace made here instead (root only): `lo` up and a veth
pair (`v0` 192.0.2.101/24, `v1` 192.0.2.102/24, TEST-NET-1 addresses that never leave the
namespace). Janus runs there on v0's address, the venues offer their media on v1's; the
calling thread enters the namespace (`inside`, with setns), so everything it starts from
then on (the server, venue agents, subprocesses) lives there and sends nothing outside it.
Everything is undone afterwards, whatever happened.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

IP = shutil.which("ip")
CLONE_NEWNET = 0x40000000
NODE_ADDRESS = "192.0.2.101"  # v0: Janus's media and API
PEER_ADDRESS = "192.0.2.102"  # v1: the other end of the pair (the venues' media)


def unavailable() -> str | None:
    """Why this process cannot make a network namespace (None: it can)."""
    if IP is None:
        return "the ip command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "making a network namespace needs root"
    probe = f"probe-{uuid.uuid4().hex[:8]}"
    made = subprocess.run([IP, "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"network namespaces are not available: ip netns add said {made.stderr.strip()!r}"
    subprocess.run([IP, "netns", "delete", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    if IP is None:
        raise RuntimeError("the ip command (iproute2) is not installed")
    result = subprocess.run([IP, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")


@contextlib.contextmanager
def network_namespace(prefix: str = "orch-janus") -> Iterator[str]:
    """A fresh namespace with lo up and the v0/v1 veth pair addressed; deleted afterwards."""
    name = f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
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


def exec_prefix(namespace: str) -> tuple[str, ...]:
    """The command prefix that runs a program in `namespace` (`ip netns exec NAME`)."""
    return (IP or "ip", "netns", "exec", namespace)
