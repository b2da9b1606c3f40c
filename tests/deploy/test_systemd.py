"""deploy/systemd/: the unit is accepted by systemd-analyze, has the keys the operator relies
on, and its memory and system-call restrictions hold for a real session (the server under
the kernel's W^X switch and strace, with venues joining and the program flowing)."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from orchestrator.media.aiortc_tap import restrict_host_addresses
from orchestrator.operator_client import wait_healthy
from tests.conftest import SAMPLE
from tests.deploy.support import ENV_EXAMPLE, UNIT, need, stop
from tests.support.live import OPERATOR_TOKEN, SECRET, Live, free_port, wait_for


def unit_settings(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit's settings: section -> key -> values (in order; continuation lines joined)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    lines = iter(text.splitlines())
    for line in lines:
        while line.endswith("\\"):
            line = line[:-1] + " " + next(lines).strip()
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"not a unit line: {line!r}"
        key, value = (part.strip() for part in line.split("=", 1))
        current.setdefault(key, []).append(value)
    return sections


def seconds(value: str) -> float:
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "ms": 0.001}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit]
    return total


UNIT_SETTINGS = unit_settings(UNIT.read_text(encoding="utf-8"))
SERVICE = {k: v[-1] for k, v in UNIT_SETTINGS["Service"].items()}


def test_the_unit_has_the_keys_the_operator_relies_on():
    s = SERVICE
    assert s["User"] == "orchestrator" and s["Group"] == "orchestrator"
    assert s["StateDirectory"] == "orchestrator"  # /var/lib/orchestrator, owned by the user
    assert s["Restart"] == "on-failure"
    assert s["KillSignal"] == "SIGTERM"
    assert 5 <= seconds(s["TimeoutStopSec"]) <= 30  # aiohttp's own shutdown is bounded at 5 s
    assert s["EnvironmentFile"] == "/etc/orchestrator/orchestrator.env"
    exec_start = s["ExecStart"].split()
    assert exec_start[:2] == ["/opt/orchestrator/venv/bin/orchestrator", "serve"]
    options = dict(zip(exec_start[3::2], exec_start[4::2]))
    assert options["--data"] == "/var/lib/orchestrator" and options["--host"] == "127.0.0.1" and options["--port"] == "8080"
    assert options["--public-url"] == "${ORCHESTRATOR_PUBLIC_URL}"
    # hardening that does not break UDP media
    assert s.get("PrivateNetwork", "no") == "no" and "IPAddressDeny" not in s
    families = s["RestrictAddressFamilies"].split()
    assert {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"} <= set(families)  # netlink: getifaddrs()
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
                "ProtectKernelModules", "ProtectControlGroups", "RestrictNamespaces", "LockPersonality",
                "RestrictSUIDSGID"):
        assert s[key] == "yes", key
    # W^X would break every media connection (see test_w_x_memory_would_break_dtls below)
    assert s.get("MemoryDenyWriteExecute", "no") == "no"
    assert s["ProtectSystem"] == "strict" and s["CapabilityBoundingSet"] == "" and s["SystemCallArchitectures"] == "native"
    assert UNIT_SETTINGS["Install"]["WantedBy"] == ["multi-user.target"]


def test_the_environment_template_defines_what_the_unit_uses():
    env = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    used = set(re.findall(r"\$\{?([A-Z_]+)\}?", SERVICE["ExecStart"]))
    assert used <= set(env), used - set(env)
    for secret in ("ORCHESTRATOR_OPERATOR_TOKEN", "ORCHESTRATOR_SECRET_KEY", "ORCHESTRATOR_TURN_SECRET", "ORCHESTRATOR_CONFIG"):
        assert secret in env, secret
    assert env["ORCHESTRATOR_PUBLIC_URL"].startswith("https://")
    assert "--turn-url" in env["ORCHESTRATOR_OPTIONS"] and "--turn-ttl" in env["ORCHESTRATOR_OPTIONS"]


def _runnable_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart's program pointed at one that exists here (the venv is not installed)."""
    unit = tmp_path / "orchestrator.service"
    text = UNIT.read_text(encoding="utf-8")
    assert "/opt/orchestrator/venv/bin/orchestrator" in text
    unit.write_text(text.replace("/opt/orchestrator/venv/bin/orchestrator", shutil.which("true") or "/bin/true"), encoding="utf-8")
    return unit


def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    analyze = need("systemd-analyze", "systemd")
    result = subprocess.run([analyze, "verify", "--man=no", str(_runnable_copy(tmp_path))], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # unknown keys and bad values are only warnings: there must be none
    assert result.stderr.strip() == "" and result.stdout.strip() == "", result.stderr + result.stdout


def test_systemd_analyze_security_rates_the_unit_ok(tmp_path):
    analyze = need("systemd-analyze", "systemd")
    result = subprocess.run([analyze, "security", "--offline=yes", "--man=no", "--threshold=20", str(_runnable_copy(tmp_path))],
                            capture_output=True, text=True, timeout=60)
    overall = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", result.stdout)
    assert overall, result.stdout + result.stderr
    assert result.returncode == 0 and float(overall.group(1)) <= 2.0, overall.group(0)


@functools.cache
def syscall_set(group: str) -> frozenset[str]:
    """The system calls of a systemd set such as @system-service, nested sets expanded."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True, text=True, check=True).stdout
    names: set[str] = set()
    for line in out.splitlines()[1:]:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        names |= syscall_set(line) if line.startswith("@") else {line}
    return frozenset(names)


def allowed_syscalls() -> set[str]:
    """What the unit's SystemCallFilter= lines leave allowed."""
    allowed: set[str] = set()
    for value in UNIT_SETTINGS["Service"]["SystemCallFilter"]:
        deny = value.startswith("~")
        names = set()
        for item in value.lstrip("~").split():
            names |= syscall_set(item) if item.startswith("@") else {item}
        allowed = allowed - names if deny else allowed | names
    # always allowed by systemd (systemd.exec(5), SystemCallFilter=)
    return allowed | {"execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn"}


# MemoryDenyWriteExecute=yes as the kernel itself offers it (Linux 6.3+): prctl(PR_SET_MDWE,
# PR_MDWE_REFUSE_EXEC_GAIN) refuses writable+executable mappings from then on.
W_X = """
import ctypes
_libc = ctypes.CDLL(None, use_errno=True)
if _libc.prctl(65, 1, 0, 0, 0) != 0 or _libc.prctl(66, 0, 0, 0, 0) != 1:
    raise SystemExit(f"PR_SET_MDWE failed: errno {ctypes.get_errno()}")
"""


def _mdwe_supported() -> bool:
    code = "import ctypes,sys; l=ctypes.CDLL(None); sys.exit(0 if l.prctl(65,1,0,0,0)==0 else 1)"
    return subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_w_x_memory_would_break_dtls():
    """Why the unit has no MemoryDenyWriteExecute=yes. If this starts failing, pyOpenSSL/cffi no
    longer need W+X memory: then add MemoryDenyWriteExecute=yes to the unit."""
    if not _mdwe_supported():
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3 or newer)")
    code = W_X + (
        "from OpenSSL import SSL\n"  # what aiortc's DTLS transport does for every connection
        "try:\n"
        "    SSL.Context(SSL.DTLS_METHOD).set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *a: True)\n"
        "except MemoryError as e:\n"
        "    print('refused:', e)\n"
        "else:\n"
        "    print('works')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refused: Cannot allocate write+execute memory for ffi.callback()"), result.stdout


async def test_a_session_runs_under_the_units_system_call_filter(tmp_path, sample_conf):
    strace = need("strace", "strace")
    need("systemd-analyze", "systemd")
    restrict_host_addresses(["127.0.0.1"])  # the agents here: loopback only
    port, pid_file, summary = free_port(), tmp_path / "server.pid", tmp_path / "syscalls.txt"
    prelude = (W_X if SERVICE.get("MemoryDenyWriteExecute") == "yes" else "") + (
        f"import os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n")
    code = (prelude +
            "\nimport sys\nfrom orchestrator.cli import main\nsys.argv[0] = 'orchestrator'\nmain()\n")
    env = {**os.environ, "ORCHESTRATOR_OPERATOR_TOKEN": OPERATOR_TOKEN, "ORCHESTRATOR_SECRET_KEY": SECRET.decode(),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    args = [strace, "-f", "-qq", "-c", "-o", str(summary), "--", sys.executable, "-c", code, "serve", str(SAMPLE),
            "--port", str(port), "--data", str(tmp_path / "data"), "--ice-address", "127.0.0.1"]
    out = tmp_path / "server.log"
    with open(out, "wb") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await wait_healthy(base, 30, interval=0.1,
                               give_up=lambda: out.read_text() if proc.poll() is not None else None)
            async with http.get(base + "/api/links", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}) as r:
                links = await r.json()
            live = Live(sample_conf, base, None, http)
            live.link = links.__getitem__
            try:
                try:
                    await live.join(["main", "pinghu"], timeout=30)
                except AssertionError:
                    raise AssertionError([h.log.getvalue()[-1500:] for h in live.agents.values()]) from None
                await wait_for(lambda: live.agents["pinghu"].agent.stats.seen == "main", 10, "the program at pinghu")
                await live.command({"type": "take", "venue": "pinghu"})
                await wait_for(lambda: live.agents["main"].agent.stats.seen == "pinghu", 10, "the take at main")
                # graceful stop, as systemd does it (SIGTERM to the main process)
                os.kill(int(pid_file.read_text()), 15)
                await wait_for(lambda: proc.poll() is not None, 15, "the server to stop on SIGTERM")
            finally:
                await live.stop_agents()
        assert proc.returncode == 0, out.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            stop(proc)
    used = {line.split()[-1] for line in summary.read_text().splitlines()
            if re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+\d+", line)}
    assert {"sendto", "recvfrom", "epoll_wait"} & used, summary.read_text()
    used.discard("total")
    if os.geteuid() == 0:
        # SQLite, and only when run as root, hands its new -wal/-shm files to the database's
        # owner with fchown (errors ignored); the service runs as its own user
        used.discard("fchown")
    forbidden = used - allowed_syscalls()
    assert forbidden == set(), f"system calls the unit's SystemCallFilter= would refuse: {sorted(forbidden)}"
