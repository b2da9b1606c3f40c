"""Helpers for the deployment tests: the shipped files, rendered for loopback; processes
(nginx, turnserver) started in the foreground and always stopped; a self-signed certificate."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SITE = DEPLOY / "nginx" / "orchestrator.conf"
TURN_CONF = DEPLOY / "coturn" / "turnserver.conf"
UNIT = DEPLOY / "systemd" / "orchestrator.service"
ENV_EXAMPLE = DEPLOY / "systemd" / "orchestrator.env.example"
CONTAINERFILE = DEPLOY / "container" / "Containerfile"


def need(binary: str, package: str) -> str:
    """The path of a Debian-packaged tool; in CI (CI set) its absence fails, elsewhere it skips."""
    path = shutil.which(binary) or next((p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}") if os.access(p, os.X_OK)), None)
    if path is None:
        message = f"{binary} is needed for this test: apt-get install {package}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


# ------------------------------------------------------------------ certificate


@dataclass
class Certificate:
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.cert))


def self_signed(folder: Path, address: str = "127.0.0.1") -> Certificate:
    """A self-signed certificate for `address` (SAN IP), with its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_path.chmod(0o600)
    return Certificate(cert_path, key_path)


# ------------------------------------------------------------------ rendering the shipped files


def replace_all(text: str, replacements: list[tuple[str, str]], source: Path) -> str:
    """Apply each (old, new); every `old` must occur, so the shipped file and the test agree."""
    for old, new in replacements:
        if old not in text:
            raise AssertionError(f"{source.name}: expected to find {old!r} to render it for the test")
        text = text.replace(old, new)
    return text


def render_site(*, tls_port: int, http_port: int, upstream_port: int, cert: Certificate, logs: Path) -> str:
    """deploy/nginx/orchestrator.conf with loopback ports, the test certificate and log paths."""
    text = SITE.read_text(encoding="utf-8")
    # the IPv6 listeners are dropped: loopback IPv4 only
    text = "\n".join(line for line in text.splitlines() if not re.match(r"\s*listen \[::\]", line)) + "\n"
    origin = f"127.0.0.1:{tls_port}"
    return replace_all(text, [
        ("/etc/letsencrypt/live/meet.example.org/fullchain.pem", str(cert.cert)),
        ("/etc/letsencrypt/live/meet.example.org/privkey.pem", str(cert.key)),
        ("return 301 https://meet.example.org$request_uri", f"return 301 https://{origin}$request_uri"),
        ("wss://meet.example.org", f"wss://{origin}"),
        ("server_name meet.example.org;", "server_name 127.0.0.1;"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{tls_port} ssl http2;"),
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};"),
        ("/var/log/nginx/", f"{logs}/"),
        ("root /var/www/letsencrypt;", f"root {logs}/acme;"),
    ], SITE)


def nginx_main_conf(folder: Path, site: Path) -> str:
    """A main nginx.conf of our own (pid, logs and temp files in `folder`) that includes the site."""
    temp = folder / "temp"
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (temp / sub).mkdir(parents=True, exist_ok=True)
    user = "user root root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"  client_body_temp_path {temp}/body; proxy_temp_path {temp}/proxy; fastcgi_temp_path {temp}/fastcgi;\n"
        f"  uwsgi_temp_path {temp}/uwsgi; scgi_temp_path {temp}/scgi;\n"
        "  include /etc/nginx/mime.types;\n"
        f"  include {site};\n"
        "}\n"
    )


TEST_TURN_KEYS = {
    "listening-ip", "listening-port", "tls-listening-port", "relay-ip", "external-ip", "cert", "pkey",
    "static-auth-secret", "realm", "allowed-peer-ip", "min-port", "max-port", "syslog", "log-file", "pidfile",
    "no-dtls", "simple-log",
}


def turn_conf_lines(text: str) -> list[tuple[str, str | None]]:
    """(key, value) for each setting of a turnserver.conf (value None for a flag)."""
    settings = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        settings.append((key.strip(), value.strip() if _ else None))
    return settings


def render_turn_conf(*, port: int, tls_port: int, relay_ports: tuple[int, int], secret: str, cert: Certificate,
                     folder: Path, media_server: str = "127.0.0.1") -> str:
    """deploy/coturn/turnserver.conf for loopback: our addresses, ports, secret, certificate
    and log; the media server (127.0.0.1 here) is the one loopback peer allowed."""
    shipped = turn_conf_lines(TURN_CONF.read_text(encoding="utf-8"))
    kept = [(k, v) for k, v in shipped if k not in TEST_TURN_KEYS]
    test = [
        ("listening-ip", "127.0.0.1"), ("relay-ip", "127.0.0.1"),
        ("listening-port", str(port)), ("tls-listening-port", str(tls_port)),
        ("alt-listening-port", "0"), ("alt-tls-listening-port", "0"),
        ("min-port", str(relay_ports[0])), ("max-port", str(relay_ports[1])),
        ("cert", str(cert.cert)), ("pkey", str(cert.key)), ("no-dtls", None),
        ("static-auth-secret", secret), ("realm", "orchestrator.test"),
        # the media server is on loopback in the tests: coturn refuses loopback peers unless
        # told otherwise; the shipped denied 127.0.0.0/8 then leaves only the allowed address
        ("allow-loopback-peers", None), ("allowed-peer-ip", media_server),
        ("log-file", str(folder / "turn.log")), ("simple-log", None), ("no-stdout-log", None),
        ("verbose", None), ("pidfile", str(folder / "turnserver.pid")),
    ]
    return "\n".join(k if v is None else f"{k}={v}" for k, v in kept + test) + "\n"


# ------------------------------------------------------------------ processes


def wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    """Wait until something accepts TCP connections on host:port (fail early if `process` died)."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with status {process.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not listen on {host}:{port} within {timeout} s") from None
            time.sleep(0.05)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Stop a process we started (its whole process group), and reap it."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def start(args: list[str], log: Path) -> subprocess.Popen:
    """Start `args` in its own process group (so `stop` reaches its children too)."""
    out = open(log, "ab")
    try:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        out.close()
