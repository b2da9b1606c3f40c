"""The durable event log on a real SQLite file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings

from orchestrator.core import CommandRejected, Session
from orchestrator.core import commands as c
from orchestrator.event_log import EventLog, LogError, log_path
from tests.unit.test_core_properties import CONF, resolve, steps


def test_events_get_sequence_numbers_and_survive_reopening(tmp_path, small_conf):
    path = log_path(tmp_path, small_conf.conference.id)
    session = Session(small_conf)
    with EventLog(path, "small") as log:
        assert log.append(session.handle(c.JoinVenue(venue="main"), 10.0)) == 1
        assert log.append(session.handle(c.StartSession(), 11.0), command_id="cmd-1") == 4
        assert log.has_command("cmd-1") and not log.has_command("cmd-2")
    with EventLog(path, "small") as log:
        rows = list(log.read())
        assert [seq for seq, _ in rows] == [1, 2, 3, 4]
        assert [ev.type for _, ev in rows] == ["venue_joined", "session_started", "segment_started", "caption_changed"]
        assert rows[1][1].at == 11.0
        assert log.replay(small_conf).state == session.state
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps())
def test_replay_from_disk_equals_the_live_session(tmp_path_factory, sequence):
    path = tmp_path_factory.mktemp("log") / "small.sqlite3"
    live = Session(CONF)
    now = 0.0
    with EventLog(path, "small") as log:
        for step, dt in sequence:
            command, now = resolve(live, step, now + dt)
            try:
                log.append(live.handle(command, now))
            except CommandRejected:
                pass
    with EventLog(path, "small") as log:
        assert log.replay(CONF).state == live.state


def test_a_log_of_another_conference_is_refused_and_kept(tmp_path):
    path = tmp_path / "log.sqlite3"
    with EventLog(path, "jiaxing-2025") as log:
        log.append(Session(CONF).handle(c.JoinVenue(venue="main"), 1.0))
    before = path.read_bytes()
    with pytest.raises(LogError, match="belongs to conference 'jiaxing-2025', not 'small'; it was left untouched"):
        EventLog(path, "small")
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "content",
    [b"this is not a database" * 100, b"SQLite format 3\x00" + b"\x00\xff" * 3000],
    ids=["text", "damaged-header"],
)
def test_a_corrupt_file_is_refused_and_never_overwritten(tmp_path, content):
    path = tmp_path / "log.sqlite3"
    path.write_bytes(content)
    with pytest.raises(LogError, match="left untouched"):
        EventLog(path, "small")
    assert path.read_bytes() == content


def test_a_foreign_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(LogError, match="not an orchestrator event log"):
        EventLog(path, "small")


def test_an_event_that_does_not_fit_the_conference_is_reported(tmp_path, small_conf, sample_conf):
    path = tmp_path / "log.sqlite3"
    with EventLog(path, "small") as log:
        session = Session(small_conf)
        log.append(session.handle(c.JoinVenue(venue="pinghu"), 1.0))
        log.append(session.handle(c.JoinVenue(venue="main"), 1.0))
        log.append(session.handle(c.StartSession(), 2.0))
        log.append(session.handle(c.GotoSegment(segment="speech-haiyan"), 3.0))
    renamed = small_conf.model_copy(update={"agenda": small_conf.agenda[:5]})
    with EventLog(path, "small") as log, pytest.raises(LogError, match=r"event #11 \(segment_started\) does not fit the conference file: it names 'speech-haiyan', which"):
        log.replay(renamed)


WRITER = textwrap.dedent(
    """
    import sys
    from orchestrator.config import load_conference
    from orchestrator.core import Session, commands as c
    from orchestrator.event_log import EventLog
    conf = load_conference(sys.argv[1])
    session = Session(conf)
    log = EventLog(sys.argv[2], conf.conference.id)
    venues = [v.id for v in conf.venues]
    n = 0
    while True:
        v = venues[n % len(venues)]
        cmd = c.LeaveVenue(venue=v) if session.state.venues[v].connected else c.JoinVenue(venue=v)
        seq = log.append(session.handle(cmd, float(n)))
        print(seq, flush=True)  # the acknowledgement
        n += 1
        if not sys.stdin.readline():  # lockstep: the test says when to write the next one
            break
    """
)


@pytest.mark.parametrize("kill_after", [5, 200])
def test_sigkill_while_appending_loses_nothing_acknowledged(tmp_path, kill_after):
    path = tmp_path / "log.sqlite3"
    from tests.conftest import SAMPLE

    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(SAMPLE), str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    acknowledged = 0
    for _ in range(kill_after):
        line = proc.stdout.readline()
        assert line, "writer died"
        acknowledged = int(line)
        proc.stdin.write("next\n")
        proc.stdin.flush()
    # the kill lands while the writer is busy with the next, unacknowledged command
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stdin.close()

    from orchestrator.config import load_conference

    conf = load_conference(SAMPLE)
    with EventLog(path, conf.conference.id) as log:
        last = log.last_seq()
        assert acknowledged <= last <= acknowledged + 1, "at most the one unacknowledged command is lost or kept"
        session = log.replay(conf)
        seqs = [seq for seq, _ in log.read()]
        assert seqs == list(range(1, last + 1))
    # one event per command: venue i was toggled once for every n < last with n % 10 == i
    venues = [v.id for v in conf.venues]
    expected = {v: len(range(i, last, len(venues))) % 2 == 1 for i, v in enumerate(venues)}
    assert {v: s.connected for v, s in session.state.venues.items()} == expected


HOLDER = textwrap.dedent(
    """
    import sys
    from orchestrator.event_log import EventLog
    log = EventLog(sys.argv[1], "small")
    print("open", flush=True)
    sys.stdin.readline()
    """
)


def test_a_log_held_by_another_process_is_refused_until_that_process_ends(tmp_path):
    path = tmp_path / "log.sqlite3"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert holder.stdout.readline() == "open\n"
        with pytest.raises(LogError) as refused:
            EventLog(path, "small")
        assert str(refused.value) == (f"{path}: the event log is in use by another process (a server running on this "
                                      "data folder?)")
    finally:
        holder.kill()  # killed, not closed: the kernel drops the lock
        holder.wait()
        holder.stdout.close()
        holder.stdin.close()
    with EventLog(path, "small") as log:
        assert log.last_seq() == 0
