"""Random command sequences (hypothesis): invariants hold after every step, rejected
commands change nothing, and replaying the events rebuilds an equal session."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.config import Conference
from orchestrator.core import CommandRejected, Session
from orchestrator.core import commands as c
from orchestrator.core.state import RollCallStatus, SessionState
from tests.conftest import SMALL_YAML

from orchestrator.config import parse_conference

CONF: Conference = parse_conference(SMALL_YAML, "small.yaml")
VENUES = [v.id for v in CONF.venues] + ["nowhere"]
SEGMENTS = [s.id for s in CONF.agenda] + ["nothing"]

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
)
delay = st.floats(min_value=0, max_value=120)
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
)


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


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps())
def test_invariants_hold_and_rejections_change_nothing(sequence):
    session = Session(CONF)
    now = 1_000.0
    log = []
    for command, dt in sequence:
        now += dt
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
    assert Session.replay(CONF, log).state == session.state


def test_the_invariant_checker_can_fail():
    """A state that breaks the rules is caught (so the property above can fail)."""
    session = Session(CONF)
    bad = session.state.model_copy(update={"on_air": "pinghu"})  # not connected, not the main venue
    try:
        check_invariants(bad, CONF)
    except AssertionError:
        return
    raise AssertionError("the invariant checker accepted a disconnected on-air venue")
