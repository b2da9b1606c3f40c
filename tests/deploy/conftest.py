from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from tests.deploy.support import (
    Certificate,
    need,
    nginx_main_conf,
    render_site,
    self_signed,
    start,
    stop,
    wait_for_port,
)
from tests.support.live import Live, free_port, start_live


@dataclass
class Proxied:
    """The orchestrator (in-process) behind nginx running deploy/nginx/orchestrator.conf."""

    live: Live
    server: TestServer
    cert: Certificate
    tls_port: int
    http_port: int
    folder: Path
    check_output: str
    agents: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    def link(self, venue: str) -> str:
        return self.live.tokens.link(self.url, venue)

    def access_log(self) -> str:
        path = self.folder / "logs" / "orchestrator.access.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""


@pytest.fixture
async def proxied(sample_conf, tmp_path):
    nginx = need("nginx", "nginx")
    cert = self_signed(tmp_path / "tls")
    tls_port, http_port = free_port(), free_port()
    live, server = await start_live(sample_conf, tmp_path, public_url=f"https://127.0.0.1:{tls_port}")
    folder = tmp_path / "nginx"
    (folder / "logs").mkdir(parents=True)
    process = None
    try:
        site = folder / "orchestrator.conf"
        site.write_text(render_site(tls_port=tls_port, http_port=http_port, upstream_port=server.port, cert=cert,
                                    logs=folder / "logs"), encoding="utf-8")
        main = folder / "nginx.conf"
        main.write_text(nginx_main_conf(folder, site), encoding="utf-8")
        args = [nginx, "-p", str(folder), "-c", str(main), "-e", str(folder / "error.log")]
        check = subprocess.run([*args, "-t"], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, f"nginx -t refused the site:\n{check.stderr}"
        process = start([*args, "-g", "daemon off;"], folder / "stdout.log")
        wait_for_port(tls_port, process, "nginx")
        wait_for_port(http_port, process, "nginx")
        yield Proxied(live, server, cert, tls_port, http_port, folder, check.stderr)
    finally:
        await live.stop_agents()
        if process is not None:
            stop(process)
        await live.http.close()
        await server.close()
