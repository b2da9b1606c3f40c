"""`orchestrator archive`: a new session on the same conference, with real servers and real SQLite files."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from orchestrator.event_log import log_path
from tests.conftest import SMALL_YAML
from tests.support.live import OPERATOR_TOKEN, free_port, server_process

SHANGHAI = ZoneInfo("Asia/Shanghai")


def orchestrator(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True, text=True, timeout=60)


class Server:
    """`orchestrator serve` in its own process, driven over its operator API."""

    def __init__(self, config: Path, data: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = server_process(config, data, self.port)
        deadline = time.monotonic() + 30
        while not self._healthy():
            assert self.proc.poll() is None, self.proc.communicate()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, ConnectionError):
            return False

    def api(self, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.base + path, data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {OPERATOR_TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read())

    def stop(self) -> str:
        """Stop it (SIGTERM) and return what it printed."""
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, out
        return out


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_YAML)
    return path


def local(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, SHANGHAI)


def companions(path: Path) -> list[Path]:
    return [p for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


def test_an_ended_session_is_archived_and_the_next_server_starts_a_new_one(tmp_path, config):
    data = tmp_path / "var"
    log = log_path(data, "small")
    server = Server(config, data)
    try:
        server.api("/api/commands", {"type": "start_session"})
        server.api("/api/commands", {"type": "next_segment"})
        server.api("/api/commands", {"type": "end_session"})
        # while a server holds the log: refused, nothing moved
        refused = orchestrator("archive", str(config), "--data", str(data))
        assert refused.returncode == 1
        assert refused.stderr == (f"orchestrator archive: {log}: the event log is in use by another process (a server "
                                  "running on this data folder?); nothing was archived\n")
        assert log.exists() and not (data / "archive").exists()
    finally:
        server.stop()
    with sqlite3.connect(log) as db:
        rows = db.execute("SELECT at, type, payload FROM events ORDER BY seq").fetchall()
    db.close()
    ended_at = next(at for at, kind, _ in rows if kind == "session_ended")

    # the server says how to start a new session when its log holds an ended one
    again = Server(config, data)
    printed = again.stop()
    assert (f"The event log holds a session that ended at {local(ended_at):%Y-%m-%d %H:%M:%S} (Asia/Shanghai); "
            f"to start a new session, stop the server and run: orchestrator archive {config} --data {data}") in printed

    done = orchestrator("archive", str(config), "--data", str(data))
    assert done.returncode == 0, done.stderr
    stamp = f"{local(rows[0][0]):%Y-%m-%d-%H%M%S}"
    archived = data / "archive" / f"small.{stamp}.events.sqlite3"
    assert done.stdout.splitlines()[0] == f"Archived the session of 'small' ({len(rows)} events) as {archived}."
    assert not log.exists() and companions(log) == [] and companions(archived) == []
    # one self-contained file: readable read-only, every event in it
    db = sqlite3.connect(f"{archived.as_uri()}?mode=ro", uri=True)
    assert db.execute("SELECT at, type, payload FROM events ORDER BY seq").fetchall() == rows
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    db.close()

    listed = orchestrator("archive", str(config), "--data", str(data), "--list")
    assert listed.returncode == 0, listed.stderr
    (line,) = [x for x in listed.stdout.splitlines() if archived.name in x]
    first, last = local(rows[0][0]), local(rows[-1][0])
    assert line.split() == [archived.name, f"{first:%Y-%m-%d}", str(len(rows)), f"{first:%H:%M:%S}", f"{last:%H:%M:%S}",
                            "2", "of", "7", "segments,", "ended"]

    shown = orchestrator("archive", str(config), "--data", str(data), "--show", stamp)
    assert shown.returncode == 0, shown.stderr
    started_at = next(at for at, kind, _ in rows if kind == "session_started")
    lines = shown.stdout.splitlines()
    assert lines[0] == str(archived)
    assert f"  session       started {local(started_at):%H:%M:%S}, ended {local(ended_at):%H:%M:%S}" in lines
    titles = {"opening": "Opening", "roll-call": "Roll call"}
    assert [x for x in lines if x.startswith("    ")] == [
        f"    {local(at):%H:%M:%S}  {json.loads(p)['segment']}: {titles[json.loads(p)['segment']]}"
        for at, kind, p in rows if kind == "segment_started"
    ]

    # a new session: the next server starts from "scheduled", and says nothing about an ended one
    fresh = Server(config, data)
    try:
        assert fresh.api("/api/state")["phase"] == "scheduled"
    finally:
        printed = fresh.stop()
    assert "ended at" not in printed


def test_an_archive_is_never_overwritten(tmp_path, config):
    data = tmp_path / "var"
    server = Server(config, data)
    try:
        server.api("/api/commands", {"type": "start_session"})
    finally:
        server.stop()
    assert orchestrator("archive", str(config), "--data", str(data)).returncode == 0
    (archived,) = (data / "archive").iterdir()
    shutil.copy(archived, log_path(data, "small"))  # the same session put back as the current log
    before = archived.read_bytes()
    again = orchestrator("archive", str(config), "--data", str(data))
    assert again.returncode == 1
    assert again.stderr == (f"orchestrator archive: {archived} already exists; {log_path(data, 'small')} was left "
                            "where it is\n")
    assert archived.read_bytes() == before and log_path(data, "small").exists()


def test_archive_says_when_there_is_nothing_to_archive_or_show(tmp_path, config):
    data = tmp_path / "var"
    nothing = orchestrator("archive", str(config), "--data", str(data))
    assert (nothing.returncode, nothing.stdout) == (1, "")
    assert nothing.stderr == f"orchestrator archive: there is no event log of conference 'small' in {data}: nothing to archive\n"
    listed = orchestrator("archive", str(config), "--data", str(data), "--list")
    assert listed.stdout == f"No archived sessions of 'small' in {data / 'archive'}.\n"
    shown = orchestrator("archive", str(config), "--data", str(data), "--show", "2025-02-05-143000")
    assert shown.returncode == 1
    assert shown.stderr == (f"orchestrator archive: there is no archived session '2025-02-05-143000' in "
                            f"{data / 'archive'} (archived: none yet)\n")
