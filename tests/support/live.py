"""A live session for tests: the real server (in-process or as a process) and real venue agents."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from orchestrator.config import Conference
from orchestrator.media import restrict_host_addresses
from orchestrator.media.sfu import MediaServer
from orchestrator.operator_client import CommandAnswer, OperatorClient
from orchestrator.protocol import wire
from orchestrator.runtime import MediaFactory
from orchestrator.settings import ServerSettings
from orchestrator.web.app import RUNTIME, create_app
from orchestrator.web.auth import JoinTokens
from venues.agent import VenueAgent

OPERATOR_TOKEN = "operator-test-token"
SECRET = b"test-secret-key-that-is-long-enough-for-hs256-and-even-for-hs512!"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> float:
    """Wait until `predicate()` holds; returns the seconds it took. Fails with `what`."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)
    return time.monotonic() - start


@dataclass
class AgentHandle:
    venue: str
    agent: VenueAgent
    log: io.StringIO
    task: asyncio.Task

    def events(self, kind: str | None = None) -> list[dict]:
        lines = [json.loads(line) for line in self.log.getvalue().splitlines()]
        return [e for e in lines if kind is None or e["event"] == kind]


@dataclass
class Live:
    conference: Conference
    base_url: str
    tokens: JoinTokens
    http: aiohttp.ClientSession
    server_app: web.Application | None = None
    agents: dict[str, AgentHandle] = field(default_factory=dict)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {OPERATOR_TOKEN}"}

    @property
    def operator(self) -> OperatorClient:
        return OperatorClient(self.http, self.base_url, OPERATOR_TOKEN)

    def link(self, venue: str) -> str:
        return self.tokens.link(self.base_url, venue)

    async def command(self, command: dict, expect: int = 200) -> CommandAnswer:
        """A command (its `id`, if any, is sent as the command id); asserts the status."""
        command = dict(command)
        answer = await self.operator.command(command, command.pop("id", None))
        assert answer.status == expect, answer
        return answer

    async def state(self) -> dict:
        """`GET /api/state`, parsed with the protocol's model, as JSON."""
        return wire(await self.operator.state())

    async def wait_for_state(self, predicate: Callable[[dict], bool], timeout: float, what: str) -> dict:
        """Poll `GET /api/state` until `predicate(state)` holds; returns that state."""
        start = time.monotonic()
        while True:
            state = await self.state()
            if predicate(state):
                return state
            if time.monotonic() - start > timeout:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; last state: {state}")
            await asyncio.sleep(0.05)

    def start_agent(self, venue: str, **kwargs) -> AgentHandle:
        log = io.StringIO()
        agent = VenueAgent(self.link(venue), log_file=log, seed=hash(venue) & 0xFFFF, **kwargs)
        handle = AgentHandle(venue, agent, log, asyncio.ensure_future(agent.run()))
        self.agents[venue] = handle
        return handle

    async def join(self, venues: list[str], timeout: float = 15) -> None:
        for venue in venues:
            if venue not in self.agents:
                self.start_agent(venue)
        await wait_for(lambda: all(self.agents[v].agent.connected.is_set() for v in venues), timeout, f"{venues} to join")

    async def stop_agents(self) -> None:
        for handle in self.agents.values():
            handle.agent.stop()
        await asyncio.gather(*(h.task for h in self.agents.values()), return_exceptions=True)


def embedded_media(app: web.Application) -> MediaServer:
    """The server's media plane, the embedded SFU (for tests that look inside it)."""
    media = app[RUNTIME].media
    assert isinstance(media, MediaServer), type(media)
    return media


def settings_for(data_dir: Path, **overrides) -> ServerSettings:
    return ServerSettings(data_dir=data_dir, operator_token=OPERATOR_TOKEN, secret_key=SECRET.decode(), **overrides)


async def start_live(
    conference: Conference, data_dir: Path, make_media: MediaFactory | None = None, **overrides
) -> tuple[Live, TestServer]:
    """The server on loopback (with `make_media`'s media plane, if given; settings `overrides`)."""
    restrict_host_addresses(["127.0.0.1"])
    server = TestServer(create_app(conference, settings_for(data_dir, **overrides), make_media), host="127.0.0.1")
    await server.start_server()
    base = f"http://127.0.0.1:{server.port}"
    tokens = JoinTokens(SECRET, conference.conference.id, set(conference.venue_by_id))
    return Live(conference, base, tokens, aiohttp.ClientSession(), server.app), server


@contextlib.asynccontextmanager
async def running_live(
    conference: Conference, data_dir: Path, make_media: MediaFactory | None = None, **overrides
) -> AsyncIterator[Live]:
    """`start_live` for the length of a `with`: the venue agents, the client and the server closed after."""
    live, server = await start_live(conference, data_dir, make_media, **overrides)
    try:
        yield live
    finally:
        await live.stop_agents()
        await live.http.close()
        await server.close()


def stop_processes(procs: list[subprocess.Popen]) -> None:
    """Kill what still runs of `procs`, wait for each and close its pipes."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def server_process(config: Path, data_dir: Path, port: int, *extra: str, python_prelude: str = "",
                   output: Path | None = None) -> subprocess.Popen:
    """`orchestrator serve` as its own process (optionally with a test prelude run first); its
    output in pipes, or appended to the file `output` (a long run fills a pipe nobody reads)."""
    code = python_prelude + "\nimport sys\nfrom orchestrator.cli import main\nsys.argv[0] = 'orchestrator'\nmain()\n"
    env = {**os.environ, "ORCHESTRATOR_OPERATOR_TOKEN": OPERATOR_TOKEN, "ORCHESTRATOR_SECRET_KEY": SECRET.decode(),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = [sys.executable, "-c", code, "serve", str(config), "--port", str(port), "--data", str(data_dir),
               "--ice-address", "127.0.0.1", *extra]
    if output is None:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with output.open("a") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
