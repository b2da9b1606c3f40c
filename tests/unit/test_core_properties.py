"""Random command sequences (hypothesis): invariants hold after every step, rejected
commands change nothing, and replaying the events rebuilds an equal session.

Time passes between commands, and `Tick`s come at random times or exactly when
`next_deadline()` says something is due, so called roll calls time out, polling steps
and the wall pages in the middle of everything else."""

from __future__ import annotations

import copy
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.conference import PollingTarget, ReturnMode, WallLayout
from orchestrator.config import Conference, parse_conference
from orchestrator.core import CommandRejected, Session, main_return_view
from orchestrator.core import commands as c
from orchestrator.core import events as e
from orchestrator.core.state import RollCallPhase, RollCallStatus, SessionState
from tests.conftest import SMALL_YAML


def _control_room_yaml() -> str:
    """The small conference with more branch venues, a called and a check roll call, polling and walls."""
    text = SMALL_YAML
    for old, new in [
        ('  - {id: nanhu, name: "Nanhu District", role: branch, kind: district}\n', (
            '  - {id: nanhu, name: "Nanhu District", role: branch, kind: district}\n'
            '  - {id: xiuzhou, name: "Xiuzhou District", role: branch, kind: district}\n'
            '  - {id: jiashan, name: "Jiashan County", role: branch, kind: county}\n')),
        ("planned: 3m, mode: check}", (
            "planned: 3m, mode: called, per_venue: 10s, venues: [pinghu, haiyan, nanhu, jiashan],"
            " polling: {target: main-return, dwell: 10s}}\n"
            '  - {id: check, kind: roll_call, title: "Self-check", planned: 2m, mode: check}')),
        ("speaker: \"Leader of Pinghu\", venue: pinghu, planned: 5m}",
         "speaker: \"Leader of Pinghu\", venue: pinghu, planned: 5m, main_return: {mode: wall, layout: 2x2, page_every: 20s}}"),
        ("venue: haiyan, planned: 90s}", "venue: haiyan, planned: 90s, polling: {target: program, dwell: 10s}}"),
        ("title: \"Close\", planned: 1m}", "title: \"Close\", planned: 1m, main_return: {mode: single, venue: nanhu}}"),
    ]:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


CONF: Conference = parse_conference(_control_room_yaml(), "control-room.yaml")
VENUES = [v.id for v in CONF.venues] + ["nowhere"]
SEGMENTS = [s.id for s in CONF.agenda] + ["nothing"]
DUE = "tick when due"  # a step: Tick at the session's next deadline
ANSWER = "the called venue answers"  # a step: AnswerRollCall from the venue being called (if any)
BRANCHES = list(CONF.branch_ids)

venue = st.sampled_from(VENUES)
body_commands = st.one_of(
    st.just(c.NextSegment()),
    st.just(c.PreviousSegment()),
    st.builds(c.GotoSegment, segment=st.sampled_from(SEGMENTS)),
    st.builds(c.Take, venue=venue, confirm=st.booleans()),
    st.just(c.StartRollCall()),
    st.builds(c.MarkRollCall, venue=venue, status=st.sampled_from(c.RollCallMark)),
    st.builds(c.RetryRollCall, venue=venue),
    st.just(c.FinishRollCall()),
    st.builds(c.AnswerRollCall, venue=venue, picture_ok=st.booleans(), sound_ok=st.booleans()),
    st.just(c.NextAward()),
    st.builds(c.GrantFloor, venue=venue, confirm=st.booleans()),
    st.builds(c.DismissHand, venue=venue),
    st.builds(c.RaiseHand, venue=venue),
    st.builds(c.LowerHand, venue=venue),
    st.builds(c.MuteVenue, venue=venue),
    st.builds(c.UnmuteVenue, venue=venue),
    st.just(c.MuteAllButOnAir()),
    st.builds(c.SetCaption, text=st.sampled_from(["Anthem", "Break"])),
    st.just(c.ResetCaption()),
    st.builds(c.RevokeLink, venue=venue),
    # presence is the most common thing that happens: weight it up
    st.builds(c.JoinVenue, venue=venue),
    st.builds(c.JoinVenue, venue=venue),
    st.builds(c.LeaveVenue, venue=venue, reason=st.just("dropped")),
    st.builds(c.ReportLink, venue=venue, loss_pct=st.sampled_from([0.0, 3.0, 10.0]), rtt_ms=st.sampled_from([20.0, 600.0])),
    # the control room
    st.just(c.PauseRollCall()),
    st.just(c.ResumeRollCall()),
    st.just(c.SkipRollCallVenue()),
    st.builds(c.StartPolling, target=st.sampled_from(PollingTarget),
              venues=st.none() | st.lists(venue, min_size=1, max_size=4), dwell_s=st.sampled_from([10.0, 15.0, 120.0])),
    st.just(c.PausePolling()),
    st.just(c.ResumePolling()),
    st.just(c.StopPolling()),
    st.builds(c.SetMainReturn, mode=st.sampled_from(ReturnMode), venue=st.none() | venue,
              layout=st.none() | st.sampled_from(WallLayout), venues=st.none() | st.lists(venue, min_size=1, max_size=5),
              page_every_s=st.none() | st.sampled_from([5.0, 20.0])),
    st.builds(c.SetMainReturn, mode=st.just(ReturnMode.WALL), layout=st.just(WallLayout.L2X2),
              page_every_s=st.sampled_from([5.0, 20.0])),
    st.just(c.StartRecording()),
    st.just(c.StopRecording()),
    st.builds(c.RecordingFailed, failure=st.sampled_from(["disk_full", "unwritable", "error"])),
    # time passes: weight it up
    st.just(c.Tick()),
    st.just(c.Tick()),
    st.just(DUE),
    st.just(DUE),
)
delay = st.floats(min_value=0, max_value=120) | st.floats(min_value=0, max_value=12)
# short scripts that reach deep states (a running roll call, an award, a granted floor)
body_steps = st.one_of(
    body_commands.map(lambda cmd: [cmd]),
    st.just([c.GotoSegment(segment="roll-call"), c.StartRollCall()]),
    st.lists(venue, min_size=1, max_size=3).map(
        lambda vs: [c.GotoSegment(segment="roll-call"), c.StartRollCall()]
        + [c.AnswerRollCall(venue=v, picture_ok=True, sound_ok=True) for v in vs]
        + [c.FinishRollCall()]
    ),
    venue.map(lambda v: [c.AnswerRollCall(venue=v, picture_ok=True, sound_ok=v != "haiyan")]),
    st.just([c.GotoSegment(segment="present"), c.NextAward(), c.NextAward()]),
    venue.map(lambda v: [c.RaiseHand(venue=v), c.GrantFloor(venue=v)]),
    st.just([c.GotoSegment(segment="speech-pinghu")]),
    # a called roll call: answers, skips, recalls, pauses, venues leaving and joining, time running out
    st.lists(st.one_of(
        st.just(ANSWER),
        venue.map(lambda v: c.AnswerRollCall(venue=v, picture_ok=True, sound_ok=True)),
        venue.map(lambda v: c.RetryRollCall(venue=v)),
        venue.map(lambda v: c.MarkRollCall(venue=v, status=c.RollCallMark.PRESENT)),
        venue.map(lambda v: c.LeaveVenue(venue=v)),
        venue.map(lambda v: c.JoinVenue(venue=v)),
        st.sampled_from([c.SkipRollCallVenue(), c.FinishRollCall(), DUE, c.Tick()]),
        st.just([c.PauseRollCall(), DUE, c.ResumeRollCall()]),
        # the operator tries to take the program during the call, and during a pause
        venue.map(lambda v: [c.Take(venue=v, confirm=True)]),
        venue.map(lambda v: [c.RaiseHand(venue=v), c.GrantFloor(venue=v, confirm=True)]),
        venue.map(lambda v: [c.PauseRollCall(), c.Take(venue=v, confirm=True), DUE, c.ResumeRollCall()]),
    ), max_size=10).flatmap(lambda rest: st.lists(st.sampled_from(BRANCHES), max_size=4, unique=True).map(
        lambda joining: [*(c.JoinVenue(venue=v) for v in joining), c.GotoSegment(segment="roll-call"),
                         c.StartRollCall(), *(cmd for x in rest for cmd in (x if isinstance(x, list) else [x]))])),
    # recall during the call and after the finish; the called venue dropping and rejoining
    st.tuples(venue, venue).map(lambda vv: [
        *(c.JoinVenue(venue=v) for v in ("pinghu", "haiyan", "nanhu")), c.GotoSegment(segment="roll-call"),
        c.StartRollCall(), c.RetryRollCall(venue=vv[0]), ANSWER, c.LeaveVenue(venue="pinghu"), DUE,
        c.JoinVenue(venue="pinghu"), ANSWER, c.FinishRollCall(), c.RetryRollCall(venue=vv[1]), DUE, ANSWER]),
    st.just([c.GotoSegment(segment="check"), c.StartRollCall()]),
    st.sampled_from(PollingTarget).map(lambda t: [c.StartPolling(target=t, dwell_s=10.0), DUE, DUE]),
    # a take (or a granted floor) while polling runs
    st.tuples(st.sampled_from(PollingTarget), venue).map(
        lambda tv: [c.StartPolling(target=tv[0], dwell_s=10.0), DUE, c.Take(venue=tv[1], confirm=True)]),
    st.tuples(st.sampled_from(PollingTarget), venue).map(
        lambda tv: [c.StartPolling(target=tv[0], dwell_s=10.0), c.RaiseHand(venue=tv[1]),
                    c.GrantFloor(venue=tv[1], confirm=True)]),
    st.just([c.GotoSegment(segment="speech-haiyan"), DUE, c.PausePolling(), DUE, c.ResumePolling(), DUE]),
    # everyone joins: the 2x2 wall has two pages; then someone leaves
    venue.map(lambda v: [*(c.JoinVenue(venue=b) for b in BRANCHES), c.GotoSegment(segment="speech-pinghu"),
                         DUE, DUE, c.LeaveVenue(venue=v), DUE]),
)


def resolve(session: Session, step, now: float) -> tuple[c.Command, float]:
    """A generated step as the command to send, and when: DUE and ANSWER depend on the session."""
    if step == DUE:
        return c.Tick(), max(now, session.next_deadline() or now)
    if step == ANSWER:
        rc = session.state.roll_calls.get(session.state.current or "")
        calling = rc.calling if rc is not None else None
        return c.AnswerRollCall(venue=calling or "pinghu", picture_ok=True, sound_ok=now % 2 < 1), now
    return step, now


@st.composite
def steps(draw):
    """Mostly: some venues join, the session starts, things happen, maybe it ends."""
    joins = [(c.JoinVenue(venue=v), 0.0) for v in draw(st.lists(venue, max_size=5, unique=True))]
    start = [(c.StartSession(), draw(delay))] if draw(st.integers(0, 9)) else []
    body = [(cmd, draw(delay)) for step in draw(st.lists(body_steps, max_size=40)) for cmd in step]
    end = [(c.EndSession(), draw(delay))] if draw(st.booleans()) else []
    after = draw(st.lists(st.tuples(body_commands, delay), max_size=5))
    return joins + start + body + end + after


def check_invariants(state: SessionState, conf: Conference) -> None:
    main = conf.main_venue.id
    connected = {v for v, vs in state.venues.items() if vs.connected}
    # exactly one venue on air, and it is connected or it is the main venue (fallback)
    assert state.on_air in state.venues
    assert state.venues[state.on_air].connected or state.on_air == main
    # at most one running segment, and it is the current one
    running = [s.id for s in state.segments if s.status.value == "running"]
    assert running == ([state.current] if state.current else [])
    # roll-call counts add up
    for rc in state.roll_calls.values():
        counts = sum(rc.count(s) for s in RollCallStatus)
        assert counts == len(rc.entries) == len(conf.roll_call_venues(conf.segment_by_id[rc.segment]))
    # the floor queue: no duplicates, in request order, only connected venues
    queue = [r.venue for r in state.floor_queue]
    assert len(queue) == len(set(queue))
    assert [r.at for r in state.floor_queue] == sorted(r.at for r in state.floor_queue)
    assert all(state.venues[v].connected for v in queue)
    assert state.on_air not in queue or state.phase.value != "running"
    # the program is recorded only while the session runs
    recording = state.recording
    assert recording is None or not recording.active or state.phase.value == "running"
    assert recording is None or recording.started_at <= recording.resumed_at

    # a called roll call: the called venue is on air while its call runs unpaused; one venue at a time
    for rc in state.roll_calls.values():
        open_ = [v for v, x in rc.entries.items() if x.status in (RollCallStatus.PENDING, RollCallStatus.WAITING)]
        if rc.phase is RollCallPhase.FINISHED:
            assert rc.calling is None and rc.call_deadline is None and (rc.mode.value == "check" or not open_)
            continue
        assert rc.segment == state.current, "only the current segment's roll call runs"
        if rc.mode.value == "check":
            assert rc.calling is None and RollCallStatus.WAITING not in {x.status for x in rc.entries.values()}
            continue
        pending = [v for v, x in rc.entries.items() if x.status is RollCallStatus.PENDING]
        assert pending == ([rc.calling] if rc.calling else []), "only the called venue is asked"
        if not rc.paused:
            assert rc.calling is not None, "a running, unpaused called roll call is always calling someone"
            assert state.on_air == rc.calling and rc.calling in connected, "the called venue is on air"
            assert rc.call_deadline is not None
        else:
            assert rc.call_deadline is None

    # polling: one run at a time (a single slot), over branch venues; program polling shows its venue
    polling = state.polling
    if polling is not None:
        assert polling.venues and set(polling.venues) <= set(conf.branch_ids)
        assert (polling.next_at is None) == polling.paused
        if polling.target is PollingTarget.PROGRAM:
            assert not any(rc.mode.value == "called" and rc.phase is RollCallPhase.RUNNING
                           for rc in state.roll_calls.values()), "a called roll call and program polling exclude each other"
            if not polling.paused and polling.current in connected:
                assert state.on_air == polling.current
    polling_return = polling is not None and polling.target is PollingTarget.MAIN_RETURN
    assert (state.main_return.mode is e.MainReturnMode.POLLING) == polling_return

    # the main venue's return shows connected venues only: the wall's, in the file's order
    view = main_return_view(state, conf)
    if view.shows is ReturnMode.WALL:
        listed = conf.listed_branches(state.main_return.venues)
        assert view.tiles and set(view.tiles) <= connected, "the wall lists connected venues only"
        assert list(view.tiles) == [v for v in listed if v in view.tiles] and len(view.tiles) <= view.layout.tiles
        assert 0 <= view.page < view.pages
    elif view.shows is ReturnMode.SINGLE:
        assert view.venue in connected and view.venue != main
    else:
        assert view.venue == state.on_air


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps())
def test_invariants_hold_and_rejections_change_nothing(sequence):
    session = Session(CONF)
    now = 1_000.0
    log = []
    for command, dt in sequence:
        command, now = resolve(session, command, now + dt)
        previous = session.state
        before = previous.model_copy(deep=True)
        try:
            events = session.handle(command, now)
        except CommandRejected as exc:
            assert session.state is previous and session.state == before
            assert str(exc).startswith("cannot ")
            assert exc.code != "rejected" and exc.code.isidentifier(), "every refusal carries its own code"
            continue
        assert previous == before, "applying events must never change an earlier state in place"
        log.extend(events)
        check_invariants(session.state, CONF)
        assert session.timing(now).projected_end >= now or session.state.phase.value != "running"
        if isinstance(command, (c.Take, c.GrantFloor)) and previous.polling is not None:
            kinds = [ev.type for ev in events]
            if previous.polling.target is PollingTarget.PROGRAM:
                assert session.state.polling is None, "a manual take stops program polling"
                assert kinds.index("polling_stopped") < kinds.index("venue_took_air")
            else:
                assert "polling_stopped" not in kinds, "a take leaves main-return polling alone"
        check_deadline(session, now)
    assert Session.replay(CONF, log).state == session.state


def check_deadline(session: Session, now: float) -> None:
    """What `next_deadline` announces, a Tick then does (the runtime never spins), and it moves on."""
    due = session.next_deadline()
    if due is None:
        return
    probe = copy.copy(session)  # the state is immutable: the probe's Tick leaves `session` as it is
    at = max(now, due)
    assert probe.handle(c.Tick(), at), f"next_deadline said {due}, but a Tick at {at} did nothing"
    after = probe.next_deadline()
    assert after is None or after > at


def test_the_invariant_checker_can_fail():
    """A state that breaks the rules is caught (so the property above can fail)."""
    session = Session(CONF)
    bad = session.state.model_copy(update={"on_air": "pinghu"})  # not connected, not the main venue
    try:
        check_invariants(bad, CONF)
    except AssertionError:
        return
    raise AssertionError("the invariant checker accepted a disconnected on-air venue")


def _called_roll_call_running() -> Session:
    session = Session(CONF)
    for v in ("main", "pinghu", "nanhu"):
        session.handle(c.JoinVenue(venue=v), 0.0)
    session.handle(c.StartSession(), 0.0)
    session.handle(c.GotoSegment(segment="roll-call"), 0.0)
    session.handle(c.StartRollCall(), 0.0)
    check_invariants(session.state, CONF)
    return session


def test_the_checker_catches_a_called_venue_off_air():
    state = _called_roll_call_running().state
    assert state.roll_calls["roll-call"].calling == "pinghu"
    bad = state.model_copy(update={"on_air": "nanhu"})  # a take slipped through during the call
    try:
        check_invariants(bad, CONF)
    except AssertionError as exc:
        assert "the called venue is on air" in str(exc)
        return
    raise AssertionError("the invariant checker accepted a called venue that is not on air")


def test_the_checker_catches_a_wall_listing_a_disconnected_venue(monkeypatch):
    from orchestrator.core.main_return import MainReturnView

    state = _called_roll_call_running().state

    def leaky_wall(state, conf):
        return MainReturnView(e.MainReturnMode.WALL, ReturnMode.WALL, layout=WallLayout.L2X2,
                              tiles=("pinghu", "haiyan"), page=0, pages=1)  # haiyan is not connected

    monkeypatch.setattr(sys.modules[__name__], "main_return_view", leaky_wall)
    try:
        check_invariants(state, CONF)
    except AssertionError as exc:
        assert "connected venues only" in str(exc)
        return
    raise AssertionError("the invariant checker accepted a wall with a disconnected venue")
