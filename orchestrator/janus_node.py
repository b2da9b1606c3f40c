"""A Janus node this machine runs itself (the benchmark's, the tests'): its configuration and process.

Only what the orchestrator needs is loaded: the VideoRoom plugin and the WebSocket
transport; two event loops (measured here: fewer millicores per venue than Janus's
default of a loop per handle); ICE on one address (Janus never gathers on loopback, so
that address must be another of this machine's); the API behind an api_secret; the Admin
API (the orchestrator reads the links' statistics there) on loopback only, behind an
admin_secret. A node run for a meeting is configured the same way by its administrator
(`deploy/janus/`, see the README).
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import netns

JANUS = shutil.which("janus")
LIBDIR = Path("/usr/lib/x86_64-linux-gnu/janus")
EVENT_LOOPS = 2
ADMIN_ADDRESS = "127.0.0.1"
RTP_PORTS = (20000, 39999)  # split between the nodes one machine runs


def unavailable() -> str | None:
    """Why this machine cannot run a Janus node (None: it can)."""
    if JANUS is None:
        return "janus is not installed (apt-get install janus)"
    if not (LIBDIR / "plugins" / "libjanus_videoroom.so").exists():
        return f"the Janus VideoRoom plugin is not in {LIBDIR / 'plugins'}"
    return None


@dataclass
class JanusProcess:
    """One running Janus: its WebSocket API URL, its Admin API's, its process and its log."""

    url: str
    admin_url: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind((ADMIN_ADDRESS, 0))
        return probe.getsockname()[1]


def write_config(folder: Path, address: str, ws_port: int, rtp_ports: tuple[int, int], secret: str,
                 admin_port: int, admin_secret: str, debug_level: int = 4) -> Path:
    """Janus's configuration in `folder`: the API on `address`:`ws_port`, ICE on `address` only,
    the Admin API on loopback's `admin_port`."""
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
    admin_secret = "{admin_secret}"
    event_loops = {EVENT_LOOPS}
    session_timeout = 60
    server_name = "orchestrator-node-{ws_port}"
}}
media: {{
    rtp_port_range = "{rtp_ports[0]}-{rtp_ports[1]}"
}}
nat: {{
    ice_enforce_list = "{address}"
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
    admin_ws = true
    admin_ws_port = {admin_port}
    admin_ws_ip = "{ADMIN_ADDRESS}"
    admin_wss = false
}}
""")
    return folder / "janus.jcfg"


def start_janus(folder: Path, address: str, ws_port: int, rtp_ports: tuple[int, int], secret: str,
                admin_secret: str, prefix: Sequence[str] = (), timeout: float = 20.0,
                debug_level: int = 4) -> JanusProcess:
    """Start Janus (behind `prefix`, e.g. `ip netns exec NAME`: the calling thread must be in the
    same network namespace) and wait until its API accepts connections."""
    if JANUS is None:
        raise RuntimeError("janus is not installed (apt-get install janus)")
    admin_port = free_loopback_port()
    config = write_config(folder, address, ws_port, rtp_ports, secret, admin_port, admin_secret, debug_level)
    log_path = folder / "janus.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([*prefix, JANUS, "-C", str(config), "-F", str(folder), "-o"],
                                   stdout=log, stderr=subprocess.STDOUT)
    host = f"[{address}]" if ":" in address else address
    node = JanusProcess(f"ws://{host}:{ws_port}", f"ws://{ADMIN_ADDRESS}:{admin_port}", process, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"janus exited with {process.returncode}:\n{node.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection((address, ws_port), timeout=0.5), \
                socket.create_connection((ADMIN_ADDRESS, admin_port), timeout=0.5):
            return node
        if time.monotonic() > deadline:
            node.stop()
            raise RuntimeError(f"janus did not open its API within {timeout} s:\n{node.log_tail()}")
        time.sleep(0.1)


def free_port(address: str) -> int:
    """A TCP port free on `address` now."""
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


def start_nodes(count: int, folder: Path, address: str, secret: str, admin_secret: str,
                prefix: Sequence[str] = (), rtp_ports: tuple[int, int] = RTP_PORTS) -> list[JanusProcess]:
    """`count` Janus nodes on one address, each with an API port of its own and its own slice of
    `rtp_ports`, configured in `folder`/node-N; all stopped again if one fails to start."""
    width = (rtp_ports[1] - rtp_ports[0] + 1) // count
    nodes: list[JanusProcess] = []
    try:
        for i in range(count):
            first = rtp_ports[0] + i * width
            nodes.append(start_janus(folder / f"node-{i + 1}", address, free_port(address), (first, first + width - 1),
                                     secret, admin_secret, prefix=prefix))
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


@dataclass(frozen=True)
class OwnNodes:
    """Janus nodes this process started: how the orchestrator reaches them, and where the venues
    offer their media (`venue_address`; `namespace`: the network namespace they all run in, if any)."""

    nodes: list[JanusProcess]
    secret: str
    admin_secret: str
    venue_address: str
    namespace: str | None

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def admin_urls(self) -> list[str]:
        return [node.admin_url for node in self.nodes]


def own_nodes_unavailable(address: str | None) -> str | None:
    """Why `own_nodes(…, address)` cannot run here (None: it can)."""
    reason = unavailable()
    if reason is not None:
        return reason
    if address is None:
        return netns.unavailable()
    try:
        loopback = ipaddress.ip_address(address).is_loopback
    except ValueError:
        return f"not an IP address: {address!r}"
    return f"{address} is loopback: Janus never gathers ICE candidates there" if loopback else None


@contextlib.contextmanager
def own_nodes(count: int, folder: Path, address: str | None = None) -> Iterator[OwnNodes]:
    """`count` Janus nodes of this process's own, with fresh secrets, stopped afterwards.

    On `address` (one of this machine's, not loopback), the venues offering their media there
    too; without one, in a network namespace made for them (`netns`, root only) that the
    calling thread enters until the end: the nodes on its v0 address, the venues on v1's."""
    secret, admin_secret = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    with contextlib.ExitStack() as stack:
        if address is None:
            namespace: str | None = stack.enter_context(netns.network_namespace())
            assert namespace is not None
            stack.enter_context(netns.inside(namespace))
            node_address, venue_address, prefix = netns.NODE_ADDRESS, netns.PEER_ADDRESS, netns.exec_prefix(namespace)
        else:
            namespace, node_address, venue_address, prefix = None, address, address, ()
        nodes = start_nodes(count, folder, node_address, secret, admin_secret, prefix)
        for node in nodes:
            stack.callback(node.stop)
        yield OwnNodes(nodes, secret, admin_secret, venue_address, namespace)
