"""Janus nodes for tests, inside a network namespace of their own.

Janus 1.1.2 never gathers ICE candidates on loopback interfaces, so its tests run in a
namespace the test makes: `lo` up and a veth pair (`v0` 192.0.2.101/24, `v1` 192.0.2.102/24,
TEST-NET-1 addresses that never leave the namespace). Janus runs there with
`ip netns exec`, its ICE limited to v0, the venues' to v1 and its WebSocket API bound to it; the
test's own thread enters the namespace too (`setns`), so the server, the venue agents and
every subprocess they start live in it and send nothing outside it. Everything is undone
afterwards, whatever happened.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

JANUS = shutil.which("janus")
IP = shutil.which("ip")
LIBDIR = Path("/usr/lib/x86_64-linux-gnu/janus")
CLONE_NEWNET = 0x40000000
NODE_ADDRESS = "192.0.2.101"  # v0: Janus's media and API
PEER_ADDRESS = "192.0.2.102"  # v1: the other end of the pair
API_SECRET = "janus-test-api-secret"


def unavailable() -> str | None:
    """Why Janus tests cannot run here (None: they can)."""
    if JANUS is None:
        return "janus is not installed (apt-get install janus)"
    if not (LIBDIR / "plugins" / "libjanus_videoroom.so").exists():
        return f"the Janus VideoRoom plugin is not in {LIBDIR / 'plugins'}"
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


@dataclass
class JanusNode:
    """One running Janus: its WebSocket API URL and its process."""

    url: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def write_config(folder: Path, ws_port: int, rtp_ports: tuple[int, int], secret: str = API_SECRET,
                 address: str = NODE_ADDRESS, debug_level: int = 4) -> Path:
    """Janus's configuration for one node: VideoRoom and WebSockets only, two event loops,
    ICE on `address` only, the API behind `secret`."""
    folder.mkdir(parents=True, exist_ok=True)
    plugins = ",".join(p.name for p in (LIBDIR / "plugins").glob("*.so") if p.name != "libjanus_videoroom.so")
    transports = ",".join(p.name for p in (LIBDIR / "transports").glob("*.so") if p.name != "libjanus_websockets.so")
    (folder / "janus.jcfg").write_text(f"""\
general: {{
    configs_folder = "{folder}"
    plugins_folder = "{LIBDIR / 'plugins'}"
    transports_folder = "{LIBDIR / 'transports'}"
    events_folder = "{LIBDIR / 'events'}"
    loggers_folder = "{LIBDIR / 'loggers'}"
    debug_level = {debug_level}
    api_secret = "{secret}"
    event_loops = 2
    session_timeout = 60
    server_name = "test-node-{ws_port}"
}}
media: {{
    rtp_port_range = "{rtp_ports[0]}-{rtp_ports[1]}"
}}
nat: {{
    ice_enforce_list = "v0"
    ignore_mdns = true
}}
plugins: {{
    disable = "{plugins}"
}}
transports: {{
    disable = "{transports}"
}}
loggers: {{
    disable = "libjanus_jsonlog.so"
}}
events: {{
    broadcast = false
}}
""")
    (folder / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")
    (folder / "janus.transport.websockets.jcfg").write_text(f"""\
general: {{
    json = "plain"
    ws = true
    ws_port = {ws_port}
    ws_ip = "{address}"
    wss = false
}}
admin: {{
    admin_ws = false
    admin_wss = false
}}
""")
    return folder / "janus.jcfg"


def start_node(namespace: str, folder: Path, ws_port: int = 8188, rtp_ports: tuple[int, int] = (20000, 20999),
               secret: str = API_SECRET, timeout: float = 20.0, debug_level: int = 4) -> JanusNode:
    """Start Janus in `namespace` and wait until its WebSocket API accepts connections
    (the calling thread must be inside the namespace)."""
    assert JANUS is not None and IP is not None
    config = write_config(folder, ws_port, rtp_ports, secret, debug_level=debug_level)
    log_path = folder / "janus.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [IP, "netns", "exec", namespace, JANUS, "-C", str(config), "-F", str(folder), "-o"],
            stdout=log, stderr=subprocess.STDOUT,
        )
    node = JanusNode(f"ws://{NODE_ADDRESS}:{ws_port}", process, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"janus exited with {process.returncode}:\n{node.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection((NODE_ADDRESS, ws_port), timeout=0.5):
            return node
        if time.monotonic() > deadline:
            stop_node(node)
            raise RuntimeError(f"janus did not open its API within {timeout} s:\n{node.log_tail()}")
        time.sleep(0.1)


def stop_node(node: JanusNode) -> None:
    if node.process.poll() is None:
        node.process.terminate()
        try:
            node.process.wait(10)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait(5)
