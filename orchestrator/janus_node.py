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
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

JANUS = shutil.which("janus")
LIBDIR = Path("/usr/lib/x86_64-linux-gnu/janus")
EVENT_LOOPS = 2
ADMIN_ADDRESS = "127.0.0.1"


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
