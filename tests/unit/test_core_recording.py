"""The core's rules for the program's recording (pure: no I/O, a fake clock)."""

from __future__ import annotations

import pytest

from orchestrator.core import CommandRejected, Session
from orchestrator.core import commands as c
from orchestrator.core import events as e
from orchestrator.core.errors import ReplayError
from orchestrator.text import shown


@pytest.fixture
def session(small_conf, clock) -> Session:
    session = Session(small_conf)
    session.handle(c.JoinVenue(venue="main"), clock.now)
    return session


def refused(session: Session, command, now: float) -> CommandRejected:
    before = session.state
    with pytest.raises(CommandRejected) as info:
        session.handle(command, now)
    assert session.state is before
    return info.value


def test_recording_runs_only_while_the_session_runs(session, clock):
    exc = refused(session, c.StartRecording(), clock.now)
    assert (exc.code, str(exc)) == ("session_not_started", "cannot start recording the program: the session has not started")
    session.handle(c.StartSession(), clock.now)
    started = clock.advance(1)
    assert session.handle(c.StartRecording(), started) == [e.RecordingStarted(at=started)]
    assert session.state.recording.active and session.state.recording.started_at == started

    exc = refused(session, c.StartRecording(), clock.now)
    assert exc.code == "recording_already_running"
    assert str(exc) == "cannot start recording the program: the program is already being recorded"

    ended = clock.advance(60)
    events = session.handle(c.EndSession(), ended)
    assert [ev.type for ev in events][-2:] == ["recording_stopped", "session_ended"]
    assert events[-2] == e.RecordingStopped(at=ended, reason="session_ended")
    recording = session.state.recording
    assert (recording.active, recording.stopped_at, recording.stop_reason) == (False, ended, "session_ended")


def test_the_operator_stops_and_starts_again_on_the_same_timeline(session, clock):
    session.handle(c.StartSession(), clock.now)
    first = clock.now
    session.handle(c.StartRecording(), first)
    exc = refused(session, c.StartSession(), clock.now)
    assert exc.code == "session_already_running"
    session.handle(c.StopRecording(), clock.advance(30))
    assert session.state.recording.stop_reason == "operator"
    exc = refused(session, c.StopRecording(), clock.now)
    assert (exc.code, str(exc)) == ("recording_not_running",
                                    "cannot stop recording the program: the program is not being recorded")
    again = clock.advance(30)
    session.handle(c.StartRecording(), again)
    recording = session.state.recording
    assert (recording.active, recording.started_at, recording.resumed_at, recording.stop_reason) == (True, first, again, None)
    # ending the session without a recording running emits no stop
    session.handle(c.StopRecording(), clock.advance(1))
    assert "recording_stopped" not in [ev.type for ev in session.handle(c.EndSession(), clock.advance(1))]


def test_a_failing_recorder_stops_the_recording_with_its_reason_and_the_session_goes_on(session, clock):
    session.handle(c.StartSession(), clock.now)
    exc = refused(session, c.RecordingFailed(failure="disk_full"), clock.now)
    assert exc.code == "recording_not_running"
    session.handle(c.StartRecording(), clock.now)
    failed = clock.advance(5)
    events = session.handle(c.RecordingFailed(failure="disk_full", detail="No space left on device"), failed)
    assert events == [e.RecordingStopped(at=failed, reason="disk_full", detail="No space left on device")]
    assert session.state.recording.detail == "No space left on device"
    assert session.state.phase.value == "running"
    session.handle(c.NextSegment(), clock.advance(1))  # the session goes on


def test_the_commands_parse_from_their_speakers_only():
    assert c.operator_command_adapter.validate_python({"type": "start_recording"}) == c.StartRecording()
    assert c.operator_command_adapter.validate_python({"type": "stop_recording"}) == c.StopRecording()
    with pytest.raises(ValueError):
        c.operator_command_adapter.validate_python({"type": "recording_failed", "failure": "disk_full"})
    with pytest.raises(ValueError):
        c.command_adapter.validate_python({"type": "recording_failed", "failure": "bored"})
    assert c.command_adapter.validate_python({"type": "recording_failed", "failure": "error"}) == c.RecordingFailed(
        failure="error")
    # the recorder quotes what it met as `shown` text: a file name with a control character still goes in
    with pytest.raises(ValueError):
        c.RecordingFailed(failure="unwritable", detail="Permission denied: /rec/\x1bpart.webm")
    assert c.RecordingFailed(failure="unwritable", detail=shown("Permission denied: /rec/\x1bpart.webm", 400)).detail == (
        "Permission denied: /rec/\\x1bpart.webm")


def test_replay_rebuilds_the_recording_and_refuses_a_log_that_does_not_fit(small_conf, clock):
    session = Session(small_conf)
    log = [*session.handle(c.StartSession(), clock.now), *session.handle(c.StartRecording(), clock.advance(1))]
    log += session.handle(c.RecordingFailed(failure="unwritable", detail="read-only"), clock.advance(1))
    assert Session.replay(small_conf, log).state == session.state
    with pytest.raises(ReplayError, match="not being recorded"):
        Session.replay(small_conf, [*log, e.RecordingStopped(at=clock.now, reason="operator")])
    with pytest.raises(ReplayError, match="already being recorded"):
        Session.replay(small_conf, [*log[:-1], e.RecordingStarted(at=clock.now)])
