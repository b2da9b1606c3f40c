"""Control-room features of the session core: the called roll call, site polling and the
main venue's return (pure: no I/O, a fake clock; time passes through `Tick`)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchestrator.conference import PollingTarget, ReturnMode, WallLayout
from orchestrator.config import parse_conference
from orchestrator.core import CommandRejected, Session, main_return_view
from orchestrator.core import commands as c
from orchestrator.core import events as e
from orchestrator.core.state import RollCallPhase, RollCallStatus

CONTROL_YAML = """\
conference: {id: control, title: "Control room test", date: 2025-02-05, start: "14:30", timezone: Asia/Shanghai}
venues:
  - {id: main, name: "Theatre", role: main}
  - {id: pinghu, name: "Pinghu City", role: branch, kind: county_city}
  - {id: haiyan, name: "Haiyan County", role: branch, kind: county}
  - {id: nanhu, name: "Nanhu District", role: branch, kind: district}
  - {id: xiuzhou, name: "Xiuzhou District", role: branch, kind: district}
  - {id: jiashan, name: "Jiashan County", role: branch, kind: county}
agenda:
  - {id: opening, kind: presiding, title: "Opening", planned: 2m}
  - {id: roll-call, kind: roll_call, title: "Roll call", venues: [pinghu, haiyan, nanhu], mode: called, per_venue: 10s, planned: 3m}
  - {id: check, kind: roll_call, title: "Self-check", venues: [pinghu, nanhu], mode: check, planned: 2m}
  - {id: report, kind: speech, title: "Report", planned: 10m, polling: {target: main-return, dwell: 15s, venues: [nanhu, pinghu]}}
  - {id: wall, kind: speech, title: "Wall", planned: 5m, main_return: {mode: wall, layout: 2x2, page_every: 20s}}
  - {id: single, kind: speech, title: "Single", planned: 5m, main_return: {mode: single, venue: pinghu}}
  - {id: closing, kind: closing, title: "Close", planned: 1m}
"""
CONF = parse_conference(CONTROL_YAML, "control.yaml")
BRANCHES = ("pinghu", "haiyan", "nanhu", "xiuzhou", "jiashan")


def types(events) -> list[str]:
    return [ev.type for ev in events]


def of(events, kind):
    return [ev for ev in events if isinstance(ev, kind)]


class Run:
    """A session and a fake clock; every command goes through `do`, which also keeps the log."""

    def __init__(self, *joined: str, start: float = 1_738_737_000.0):
        self.session = Session(CONF)
        self.now = start
        self.log: list[e.Event] = []
        for venue in ("main", *joined):
            self.do(c.JoinVenue(venue=venue))

    @property
    def st(self):
        return self.session.state

    def do(self, command, after: float = 0.0) -> list[e.Event]:
        self.now += after
        events = self.session.handle(command, self.now)
        self.log.extend(events)
        return events

    def tick(self, after: float) -> list[e.Event]:
        return self.do(c.Tick(), after)

    def refused(self, command) -> CommandRejected:
        before = self.st
        with pytest.raises(CommandRejected) as info:
            self.session.handle(command, self.now)
        assert self.st is before, "a refused command changes nothing"
        return info.value

    def goto(self, segment: str) -> list[e.Event]:
        if self.st.phase.value == "scheduled":
            self.do(c.StartSession())
        return self.do(c.GotoSegment(segment=segment))

    def rc(self, segment: str = "roll-call"):
        return self.st.roll_calls[segment]

    def entry(self, venue: str, segment: str = "roll-call"):
        return self.rc(segment).entries[venue]

    def replayed(self) -> None:
        assert Session.replay(CONF, self.log).state == self.st, "replaying the log rebuilds the same state"


def roll_call(*joined: str) -> Run:
    run = Run(*joined)
    run.goto("roll-call")
    return run


# ------------------------------------------------------------------ called roll call


def test_called_roll_call_records_absent_and_no_answer_and_each_called_venue_is_on_air():
    run = roll_call("pinghu", "nanhu")  # haiyan never joins
    on_air_while_called: list[tuple[str, str]] = []

    def note_call() -> None:
        rc = run.rc()
        if rc.calling is not None:
            on_air_while_called.append((rc.calling, run.st.on_air))

    events = run.do(c.StartRollCall(), after=1)
    started = of(events, e.RollCallStarted)[0]
    assert (started.mode.value, started.per_venue, started.venues) == ("called", 10, ("pinghu", "haiyan", "nanhu"))
    assert types(events) == ["roll_call_started", "roll_call_called", "venue_took_air", "microphone_unmuted"]
    assert of(events, e.VenueTookAir)[0].reason is e.TakeReason.ROLL_CALL
    assert {v: x.status for v, x in run.rc().entries.items()} == {
        "pinghu": RollCallStatus.PENDING, "haiyan": RollCallStatus.WAITING, "nanhu": RollCallStatus.WAITING}
    assert run.session.next_deadline() == run.now + 10
    note_call()

    run.do(c.AnswerRollCall(venue="pinghu", picture_ok=True, sound_ok=True), after=3)
    note_call()
    assert run.entry("haiyan").status is RollCallStatus.ABSENT
    assert (run.entry("haiyan").by, run.entry("haiyan").note) == ("session", "not_connected_when_called")
    assert run.rc().calling == "nanhu" and not run.st.venues["nanhu"].muted and run.st.venues["pinghu"].muted

    assert run.tick(9.9) == [], "nothing is due before the venue's ten seconds are up"
    note_call()
    events = run.tick(0.1)
    assert types(events)[:2] == ["roll_call_marked", "roll_call_finished"]
    nanhu = run.entry("nanhu")
    assert (nanhu.status, nanhu.by, nanhu.note) == (RollCallStatus.NO_ANSWER, "session", "no_answer_in_time")
    assert nanhu.note_params == {"within_s": 10}
    finished = of(events, e.RollCallFinished)[0]
    assert (finished.present, finished.absent, finished.no_answer) == (1, 1, 1)
    assert run.st.on_air == "main", "the program goes back to the segment's venue"
    assert of(events, e.VenueTookAir)[0].reason is e.TakeReason.SEGMENT
    assert run.rc().phase is RollCallPhase.FINISHED and run.session.next_deadline() is None
    assert on_air_while_called == [("pinghu", "pinghu"), ("nanhu", "nanhu"), ("nanhu", "nanhu")]
    run.replayed()


def test_answer_by_a_venue_that_is_not_called_is_refused():
    run = roll_call("pinghu", "nanhu")
    run.do(c.StartRollCall())
    exc = run.refused(c.AnswerRollCall(venue="nanhu", picture_ok=True, sound_ok=True))
    assert (exc.code, exc.params) == ("roll_call_not_your_turn", {"venue": "nanhu", "calling": "pinghu"})
    assert str(exc) == ("cannot record the roll-call answer of 'nanhu': it is not its turn "
                        "('pinghu' is being called)")


def test_skip_and_operator_mark_move_on_to_the_next_venue():
    run = roll_call("pinghu", "haiyan", "nanhu")
    run.do(c.StartRollCall())
    events = run.do(c.SkipRollCallVenue(), after=2)
    assert types(events)[:2] == ["roll_call_marked", "roll_call_called"]
    pinghu = run.entry("pinghu")
    assert (pinghu.status, pinghu.by, pinghu.note) == (RollCallStatus.NO_ANSWER, "operator", "skipped")
    assert run.rc().calling == "haiyan" and run.st.on_air == "haiyan"

    run.do(c.MarkRollCall(venue="haiyan", status=c.RollCallMark.PRESENT), after=2)
    assert (run.entry("haiyan").status, run.entry("haiyan").by) == (RollCallStatus.PRESENT, "operator")
    assert run.rc().calling == "nanhu" and run.st.on_air == "nanhu"
    assert run.rc().call_deadline == run.now + 10, "the next venue gets its full time"
    run.replayed()


def test_recall_interrupts_the_called_venue_which_waits_for_its_turn_again():
    run = roll_call("pinghu", "haiyan", "nanhu")
    run.do(c.StartRollCall())
    events = run.do(c.RetryRollCall(venue="nanhu"), after=4)
    assert types(events)[:3] == ["roll_call_requeued", "roll_call_called", "venue_took_air"]
    assert run.entry("pinghu").status is RollCallStatus.WAITING
    assert run.rc().calling == "nanhu" and run.st.on_air == "nanhu"
    run.do(c.AnswerRollCall(venue="nanhu", picture_ok=True, sound_ok=False), after=1)
    assert run.rc().calling == "pinghu", "the first waiting venue in the file's order is called next"
    run.replayed()


def test_recall_after_the_finish_reopens_the_roll_call_for_that_venue_only():
    run = roll_call("pinghu", "nanhu")
    run.do(c.StartRollCall())
    run.do(c.FinishRollCall(), after=5)
    assert run.entry("nanhu").note == "not_called_by_finish"
    assert run.entry("pinghu").note == "no_answer_by_finish"
    assert run.st.on_air == "main"

    assert (run.entry("haiyan").status, run.entry("haiyan").note) == (
        RollCallStatus.NO_ANSWER, "not_called_by_finish")

    events = run.do(c.JoinVenue(venue="haiyan"), after=30)
    assert types(events) == ["venue_joined"], "a finished roll call does not call late venues by itself"
    events = run.do(c.RetryRollCall(venue="haiyan"))
    assert types(events)[:3] == ["roll_call_reopened", "roll_call_called", "venue_took_air"]
    assert run.rc().phase is RollCallPhase.RUNNING and run.st.on_air == "haiyan"
    events = run.do(c.AnswerRollCall(venue="haiyan", picture_ok=True, sound_ok=True), after=2)
    assert "roll_call_finished" in types(events)
    assert run.rc().phase is RollCallPhase.FINISHED and run.st.on_air == "main"
    assert [run.entry(v).status for v in ("pinghu", "haiyan", "nanhu")] == [
        RollCallStatus.NO_ANSWER, RollCallStatus.PRESENT, RollCallStatus.NO_ANSWER]
    run.replayed()


def test_a_reopened_roll_call_calls_only_the_recalled_venue():
    run = roll_call("pinghu", "nanhu")
    run.do(c.StartRollCall())
    run.do(c.AnswerRollCall(venue="pinghu", picture_ok=True, sound_ok=True))  # haiyan: absent when called
    run.do(c.FinishRollCall())
    run.do(c.RetryRollCall(venue="nanhu"), after=10)
    assert types(run.do(c.JoinVenue(venue="haiyan"))) == ["venue_joined"], "haiyan is not called by itself"
    run.do(c.AnswerRollCall(venue="nanhu", picture_ok=True, sound_ok=True))
    assert run.rc().phase is RollCallPhase.FINISHED and run.entry("haiyan").status is RollCallStatus.ABSENT


def test_pause_stops_the_timer_and_resume_gives_back_the_time_left():
    run = roll_call("pinghu", "nanhu")
    run.do(c.StartRollCall())
    events = run.do(c.PauseRollCall(), after=4)
    assert of(events, e.RollCallPaused)[0].left == 6
    assert run.session.next_deadline() is None, "a paused call is not due"
    run.do(c.Take(venue="nanhu"), after=1)  # allowed while paused
    assert run.tick(100) == []
    assert run.refused(c.RetryRollCall(venue="nanhu")).code == "roll_call_paused"

    events = run.do(c.ResumeRollCall(), after=1)
    assert types(events)[:2] == ["roll_call_resumed", "venue_took_air"]
    assert run.st.on_air == "pinghu", "the called venue is back on air"
    assert run.session.next_deadline() == run.now + 6
    assert run.tick(5.9) == []
    assert of(run.tick(0.1), e.RollCallMarked)[0].status == "no_answer"
    run.replayed()


def test_a_manual_take_or_floor_waits_while_a_call_runs():
    run = roll_call("pinghu", "nanhu")
    run.do(c.RaiseHand(venue="nanhu"))
    run.do(c.StartRollCall())
    exc = run.refused(c.Take(venue="nanhu"))
    assert exc.code == "roll_call_in_progress"
    assert str(exc) == ("cannot take venue 'nanhu': the called roll call of 'roll-call' holds the program "
                        "(calling 'pinghu'); pause or finish it first")
    assert run.refused(c.GrantFloor(venue="nanhu")).code == "roll_call_in_progress"
    run.do(c.PauseRollCall())
    run.do(c.GrantFloor(venue="nanhu"))
    assert run.st.on_air == "nanhu"


def test_the_called_venue_disconnecting_falls_back_and_the_next_is_called_at_once():
    run = roll_call("pinghu", "haiyan", "nanhu")
    run.do(c.StartRollCall())
    events = run.do(c.LeaveVenue(venue="pinghu", reason="heartbeat lost"), after=3)
    assert [t for t in types(events) if not t.startswith("microphone")] == [
        "venue_left", "program_fell_back", "roll_call_marked", "roll_call_called", "venue_took_air"]
    assert of(events, e.ProgramFellBack)[0].rejoin is False
    assert (run.entry("pinghu").status, run.entry("pinghu").note) == (RollCallStatus.ABSENT, "disconnected_while_called")
    assert run.rc().calling == "haiyan" and run.st.on_air == "haiyan"

    events = run.do(c.JoinVenue(venue="pinghu"), after=2)
    assert types(events) == ["venue_joined", "roll_call_requeued"], "it waits for its turn, it is not put on air"
    assert run.st.on_air == "haiyan" and run.entry("pinghu").status is RollCallStatus.WAITING
    run.do(c.AnswerRollCall(venue="haiyan", picture_ok=True, sound_ok=True))
    assert run.rc().calling == "pinghu", "back in the file's order, pinghu comes before nanhu"
    run.replayed()


def test_the_last_called_venue_disconnecting_finishes_and_does_not_come_back_on_air():
    run = roll_call("nanhu")
    run.do(c.StartRollCall())  # pinghu and haiyan are absent; nanhu is called
    run.do(c.LeaveVenue(venue="nanhu"), after=1)
    assert run.rc().phase is RollCallPhase.FINISHED and run.st.on_air == "main"
    assert run.st.fallback_from is None
    run.do(c.JoinVenue(venue="nanhu"), after=1)
    assert run.st.on_air == "main", "a venue that dropped while called does not retake the program"


def test_leaving_the_segment_finishes_a_called_roll_call_with_notes():
    run = roll_call("pinghu", "nanhu")
    run.do(c.StartRollCall())
    events = run.do(c.NextSegment(), after=5)
    marked = {ev.venue: ev.note for ev in of(events, e.RollCallMarked)}
    assert marked == {"pinghu": "no_answer_by_segment_end", "haiyan": "not_called_by_segment_end",
                      "nanhu": "not_called_by_segment_end"}
    assert {ev.status for ev in of(events, e.RollCallMarked)} == {"no_answer"}
    assert types(events).index("roll_call_finished") < types(events).index("segment_ended")
    assert run.rc().phase is RollCallPhase.FINISHED


def test_called_roll_call_refusals_have_their_own_codes():
    run = roll_call("pinghu")
    assert run.refused(c.PauseRollCall()).code == "roll_call_not_started"
    run.do(c.StartRollCall())
    assert run.refused(c.ResumeRollCall()).code == "roll_call_not_paused"
    run.do(c.PauseRollCall())
    assert run.refused(c.PauseRollCall()).code == "roll_call_already_paused"
    run.do(c.LeaveVenue(venue="pinghu"))  # the called venue drops while paused: nobody is called
    assert run.rc().calling is None and run.rc().paused
    assert run.refused(c.SkipRollCallVenue()).code == "roll_call_nobody_called"
    run.do(c.JoinVenue(venue="pinghu"))
    run.do(c.ResumeRollCall())
    assert run.rc().calling == "pinghu", "resuming with nobody called calls the next waiting venue"

    run.do(c.GotoSegment(segment="check"))
    run.do(c.StartRollCall())
    assert run.rc("check").mode.value == "check"
    for command in (c.PauseRollCall(), c.ResumeRollCall(), c.SkipRollCallVenue()):
        assert run.refused(command).code == "roll_call_not_called_mode"


def test_check_mode_is_unchanged():
    run = Run("pinghu")
    run.goto("check")
    events = run.do(c.StartRollCall())
    assert types(events) == ["roll_call_started", "roll_call_prompted", "roll_call_marked"]
    assert of(events, e.RollCallStarted)[0].mode.value == "check"
    assert run.st.on_air == "main"
    assert run.session.next_deadline() is None
    run.do(c.Take(venue="pinghu"))  # nothing holds the program in a check roll call


def test_called_roll_call_and_program_polling_exclude_each_other():
    run = roll_call("pinghu")
    run.do(c.StartPolling(target=PollingTarget.PROGRAM, dwell_s=10))
    assert run.refused(c.StartRollCall()).code == "polling_in_progress"
    run.do(c.StopPolling())
    run.do(c.StartRollCall())
    exc = run.refused(c.StartPolling(target=PollingTarget.PROGRAM, dwell_s=10))
    assert exc.code == "roll_call_in_progress"
    run.do(c.PauseRollCall())
    assert run.refused(c.StartPolling(target=PollingTarget.PROGRAM, dwell_s=10)).code == "roll_call_in_progress"
    run.do(c.StartPolling(target=PollingTarget.MAIN_RETURN, dwell_s=10))  # the main venue's return is free


# ------------------------------------------------------------------ polling


def test_program_polling_steps_on_tick_and_skips_disconnected_venues():
    run = Run("pinghu", "nanhu")
    run.do(c.StartSession())
    events = run.do(c.StartPolling(target=PollingTarget.PROGRAM, dwell_s=10), after=1)
    started = of(events, e.PollingStarted)[0]
    assert started.venues == BRANCHES and started.segment is None
    assert of(events, e.PollingStepped)[0].venue == "pinghu"
    assert of(events, e.VenueTookAir)[0].reason is e.TakeReason.POLLING and run.st.on_air == "pinghu"
    assert run.session.next_deadline() == run.now + 10

    assert run.tick(9) == []
    run.tick(1)
    assert run.st.on_air == "nanhu", "haiyan is not connected: skipped"
    assert not run.st.venues["nanhu"].muted and run.st.venues["pinghu"].muted
    run.tick(10)
    assert run.st.on_air == "pinghu", "round again"
    run.replayed()


def test_polling_with_nobody_connected_changes_nothing_and_tries_again_after_a_dwell():
    run = Run()
    run.do(c.StartSession())
    events = run.do(c.StartPolling(target=PollingTarget.PROGRAM, venues=["haiyan", "nanhu"], dwell_s=20))
    stepped = of(events, e.PollingStepped)[0]
    assert stepped.venue is None and stepped.next_at == run.now + 20
    assert run.st.on_air == "main" and "venue_took_air" not in types(events)
    run.do(c.JoinVenue(venue="nanhu"), after=5)
    assert run.st.on_air == "main"
    run.tick(15)
    assert run.st.on_air == "nanhu"


def test_a_manual_take_stops_program_polling_first():
    run = Run("pinghu", "nanhu", "haiyan")
    run.do(c.StartSession())
    run.do(c.StartPolling(target=PollingTarget.PROGRAM, dwell_s=10))
    events = run.do(c.Take(venue="haiyan"), after=3)
    assert types(events)[:2] == ["polling_stopped", "venue_took_air"]
    assert of(events, e.PollingStopped)[0].reason == "take"
    assert run.st.polling is None and run.st.on_air == "haiyan"
    assert run.session.next_deadline() is None

    run.do(c.StartPolling(target=PollingTarget.PROGRAM, dwell_s=10))
    run.do(c.RaiseHand(venue="nanhu"))
    events = run.do(c.GrantFloor(venue="nanhu"))
    assert types(events)[0] == "polling_stopped" and run.st.on_air == "nanhu"


def test_main_return_polling_leaves_the_program_alone_and_gives_the_return_back():
    run = Run("pinghu", "nanhu", "haiyan")
    run.do(c.StartSession())
    run.do(c.SetMainReturn(mode=ReturnMode.WALL, layout=WallLayout.L3X3))
    events = run.do(c.StartPolling(target=PollingTarget.MAIN_RETURN, venues=["nanhu", "pinghu"], dwell_s=30))
    assert "venue_took_air" not in types(events) and run.st.on_air == "main"
    assert run.st.main_return.mode is e.MainReturnMode.POLLING
    view = main_return_view(run.st, CONF)
    assert (view.shows, view.venue) == (ReturnMode.SINGLE, "nanhu")
    run.tick(30)
    assert main_return_view(run.st, CONF).venue == "pinghu" and run.st.on_air == "main"
    run.do(c.Take(venue="haiyan"))
    assert run.st.polling is not None, "a take does not stop main-return polling"
    events = run.do(c.StopPolling())
    assert types(events) == ["polling_stopped", "main_return_changed"]
    assert run.st.main_return.mode is e.MainReturnMode.WALL and run.st.main_return.layout is WallLayout.L3X3
    run.replayed()


def test_a_segment_change_stops_polling_and_a_segment_can_start_its_own():
    run = Run("pinghu", "nanhu")
    run.do(c.StartSession())
    run.do(c.StartPolling(target=PollingTarget.PROGRAM, dwell_s=10))
    events = run.do(c.GotoSegment(segment="report"), after=2)
    assert of(events, e.PollingStopped)[0].reason == "segment"
    assert types(events).index("polling_stopped") < types(events).index("segment_ended")
    started = of(events, e.PollingStarted)[0]
    assert (started.target, started.venues, started.dwell, started.segment) == (
        PollingTarget.MAIN_RETURN, ("nanhu", "pinghu"), 15, "report")
    assert run.st.on_air == "main" and main_return_view(run.st, CONF).venue == "nanhu"

    events = run.do(c.NextSegment(), after=20)
    assert of(events, e.PollingStopped)[0].reason == "segment" and run.st.polling is None
    assert run.st.main_return.mode is e.MainReturnMode.WALL, "the wall segment sets its own return"
    run.replayed()


def test_pause_and_resume_polling():
    run = Run("pinghu", "nanhu")
    run.do(c.StartSession())
    run.do(c.StartPolling(target=PollingTarget.PROGRAM, dwell_s=10))
    assert of(run.do(c.PausePolling(), after=4), e.PollingPaused)[0].left == 6
    assert run.session.next_deadline() is None and run.tick(60) == []
    events = run.do(c.ResumePolling(), after=1)
    assert of(events, e.PollingResumed)[0].next_at == run.now + 6
    assert run.st.on_air == "pinghu"
    run.tick(6)
    assert run.st.on_air == "nanhu"


def test_the_polled_venue_dropping_moves_polling_on_at_once_and_it_does_not_retake_the_program():
    run = Run("pinghu", "nanhu")
    run.do(c.StartSession())
    run.do(c.StartPolling(target=PollingTarget.PROGRAM, dwell_s=10))
    events = run.do(c.LeaveVenue(venue="pinghu"), after=2)
    assert [t for t in types(events) if not t.startswith("microphone")] == [
        "venue_left", "program_fell_back", "polling_stepped", "venue_took_air"]
    assert run.st.on_air == "nanhu" and run.st.polling.next_at == run.now + 10
    run.do(c.PausePolling())
    run.do(c.JoinVenue(venue="pinghu"))
    assert run.st.on_air == "nanhu"


def test_polling_refusals_have_their_own_codes():
    run = Run("pinghu")
    run.do(c.StartSession())
    for command in (c.PausePolling(), c.ResumePolling(), c.StopPolling()):
        assert run.refused(command).code == "polling_not_running"
    exc = run.refused(c.StartPolling(target=PollingTarget.PROGRAM, venues=["pinghu", "main"], dwell_s=10))
    assert (exc.code, exc.params) == ("main_venue_listed", {"venue": "main"})
    exc = run.refused(c.StartPolling(target=PollingTarget.PROGRAM, venues=["pinghu", "pinghu"], dwell_s=10))
    assert exc.code == "duplicate_venue"
    exc = run.refused(c.StartPolling(target=PollingTarget.PROGRAM, venues=["pinhu"], dwell_s=10))
    assert (exc.code, exc.params["suggestion"]) == ("unknown_venue", "pinghu")
    run.do(c.StartPolling(target=PollingTarget.MAIN_RETURN, dwell_s=10))
    exc = run.refused(c.StartPolling(target=PollingTarget.PROGRAM, dwell_s=10))
    assert exc.code == "polling_already_running"
    assert str(exc) == ("cannot start polling on the program: polling on the main venue's return is already running; "
                        "stop it first")
    assert run.refused(c.ResumePolling()).code == "polling_not_paused"
    run.do(c.PausePolling())
    assert run.refused(c.PausePolling()).code == "polling_already_paused"
    for dwell in (9, 121):
        with pytest.raises(ValidationError):
            c.command_adapter.validate_python({"type": "start_polling", "target": "program", "dwell_s": dwell})


# ------------------------------------------------------------------ the main venue's return


def test_the_wall_lists_connected_venues_only_and_pages_on_tick():
    run = Run("pinghu", "nanhu", "xiuzhou", "jiashan")  # haiyan is not connected
    run.goto("wall")
    view = main_return_view(run.st, CONF)
    assert (view.shows, view.layout, view.tiles, view.pages) == (
        ReturnMode.WALL, WallLayout.L2X2, ("pinghu", "nanhu", "xiuzhou", "jiashan"), 1)
    assert run.session.next_deadline() is None, "one page: nothing to turn"

    run.do(c.JoinVenue(venue="haiyan"), after=5)
    view = main_return_view(run.st, CONF)
    assert (view.tiles, view.page, view.pages) == (("pinghu", "haiyan", "nanhu", "xiuzhou"), 0, 2)
    assert run.session.next_deadline() == run.st.main_return.next_page_at
    events = run.tick(15)
    assert of(events, e.WallPaged)[0].page == 1 and of(events, e.WallPaged)[0].next_at == run.now + 20
    assert main_return_view(run.st, CONF).tiles == ("jiashan",)
    run.tick(20)
    assert main_return_view(run.st, CONF).page == 0

    run.do(c.LeaveVenue(venue="nanhu"))
    assert main_return_view(run.st, CONF).tiles == ("pinghu", "haiyan", "xiuzhou", "jiashan")
    run.replayed()


def test_segments_set_the_return_and_a_segment_change_resets_it():
    run = Run("nanhu")
    run.goto("wall")
    events = run.do(c.NextSegment())
    changed = of(events, e.MainReturnChanged)[0]
    assert (changed.mode, changed.venue) == (e.MainReturnMode.SINGLE, "pinghu")
    view = main_return_view(run.st, CONF)
    assert (view.mode, view.shows) == (e.MainReturnMode.SINGLE, ReturnMode.PROGRAM), "pinghu is not connected"
    run.do(c.JoinVenue(venue="pinghu"))
    assert main_return_view(run.st, CONF).venue == "pinghu"
    run.do(c.NextSegment())
    assert run.st.main_return.mode is e.MainReturnMode.PROGRAM
    assert main_return_view(run.st, CONF).shows is ReturnMode.PROGRAM


def test_set_main_return_and_its_refusals():
    run = Run("pinghu", "nanhu")
    run.do(c.StartSession())
    events = run.do(c.SetMainReturn(mode=ReturnMode.SINGLE, venue="nanhu"))
    assert types(events) == ["main_return_changed"] and main_return_view(run.st, CONF).venue == "nanhu"
    cases = [
        (c.SetMainReturn(mode=ReturnMode.SINGLE), "main_return_venue_missing"),
        (c.SetMainReturn(mode=ReturnMode.SINGLE, venue="haiyan"), "not_connected"),
        (c.SetMainReturn(mode=ReturnMode.SINGLE, venue="main"), "main_venue_listed"),
        (c.SetMainReturn(mode=ReturnMode.SINGLE, venue="nanhu"), "main_return_unchanged"),
        (c.SetMainReturn(mode=ReturnMode.WALL), "main_return_layout_missing"),
        (c.SetMainReturn(mode=ReturnMode.WALL, layout=WallLayout.L2X2, venue="nanhu"),
         "main_return_option_not_for_mode"),
        (c.SetMainReturn(mode=ReturnMode.PROGRAM, page_every_s=30), "main_return_option_not_for_mode"),
        (c.SetMainReturn(mode=ReturnMode.WALL, layout=WallLayout.L2X2, venues=["nanhu", "nanhu"]), "duplicate_venue"),
        (c.SetMainReturn(mode=ReturnMode.WALL, layout=WallLayout.L2X2, venues=["nowhere"]), "unknown_venue"),
    ]
    for command, code in cases:
        assert run.refused(command).code == code, command
    exc = run.refused(c.SetMainReturn(mode=ReturnMode.PROGRAM, venue="nanhu"))
    assert str(exc) == "cannot set the main venue's return to program: 'venue' does not go with mode program"

    run.do(c.StartPolling(target=PollingTarget.MAIN_RETURN, dwell_s=10))
    events = run.do(c.SetMainReturn(mode=ReturnMode.WALL, layout=WallLayout.L4X4, venues=["nanhu", "pinghu"],
                                    page_every_s=30))
    assert types(events) == ["polling_stopped", "main_return_changed"]
    assert of(events, e.PollingStopped)[0].reason == "main_return"
    assert main_return_view(run.st, CONF).tiles == ("nanhu", "pinghu"), "the wall keeps the order it was given"
    run.replayed()


def test_ending_the_session_stops_polling_and_resets_the_return():
    run = Run("pinghu")
    run.goto("report")  # main-return polling starts with the segment
    events = run.do(c.EndSession(), after=10)
    assert of(events, e.PollingStopped)[0].reason == "session_ended"
    assert run.st.polling is None and run.st.main_return.mode is e.MainReturnMode.PROGRAM
    assert run.session.next_deadline() is None
    assert run.tick(100) == [], "after the end nothing is due"
    run.replayed()


def test_tick_is_never_refused():
    run = Run()
    assert run.tick(1) == []
    run.do(c.StartSession())
    run.do(c.EndSession())
    assert run.tick(1) == []


def test_operator_state_counts_the_statuses_of_the_roll_call_mode():
    from orchestrator.protocol import wire
    from orchestrator.web.views import operator_state

    run = roll_call("pinghu")
    run.do(c.StartRollCall())
    state = wire(operator_state(run.session, {}, run.now))
    assert state["roll_call"]["counts"] == {"waiting": 2, "pending": 1, "present": 0, "absent": 0, "no_answer": 0}
    assert (state["roll_call"]["mode"], state["roll_call"]["calling"]) == ("called", "pinghu")
    run.do(c.GotoSegment(segment="check"))
    run.do(c.StartRollCall())
    assert wire(operator_state(run.session, {}, run.now))["roll_call"]["counts"] == {"pending": 1, "present": 0, "absent": 1}
