"""The session core, behaviour by behaviour (pure: no I/O, a fake clock)."""

from __future__ import annotations

import pytest

from orchestrator.core import CommandRejected, Session, SessionPhase
from orchestrator.core import commands as c
from orchestrator.core import events as e
from orchestrator.core.state import LinkQuality, RollCallPhase, RollCallStatus, SegmentStatus


def types(events) -> list[str]:
    return [ev.type for ev in events]


@pytest.fixture
def session(small_conf) -> Session:
    return Session(small_conf)


def join(session: Session, now: float, *venues: str) -> None:
    for v in venues:
        session.handle(c.JoinVenue(venue=v), now)


def rejected(session: Session, command, now: float) -> str:
    before = session.state.model_copy(deep=True)
    with pytest.raises(CommandRejected) as info:
        session.handle(command, now)
    assert session.state == before, "a rejected command must change nothing"
    return str(info.value)


def running(session: Session, now: float, *venues: str) -> Session:
    join(session, now, "main", *venues)
    session.handle(c.StartSession(), now)
    return session


# ------------------------------------------------------------------ lifecycle


def test_start_runs_the_first_segment_with_its_caption(session, clock):
    events = running(session, clock.now).state
    st = session.state
    assert st.phase is SessionPhase.RUNNING and st.started_at == clock.now
    assert st.current == "opening"
    assert st.segments[0].status is SegmentStatus.RUNNING
    assert st.caption.text == "The Mayor" and st.caption.kind is e.CaptionKind.SPEAKER
    assert events.on_air == "main"


def test_commands_in_the_wrong_phase_say_so(session, clock):
    assert rejected(session, c.NextSegment(), clock.now) == "cannot go to the next segment: the session has not started"
    running(session, clock.now)
    assert rejected(session, c.StartSession(), clock.now) == "cannot start the session: the session is already running"
    session.handle(c.EndSession(), clock.advance(10))
    assert rejected(session, c.Take(venue="main"), clock.now) == "cannot take venue 'main': the session has ended"


def test_next_previous_goto_and_statuses(session, clock):
    running(session, clock.now, "pinghu")
    session.handle(c.NextSegment(), clock.advance(60))
    assert [s.status for s in session.state.segments[:2]] == [SegmentStatus.DONE, SegmentStatus.RUNNING]

    events = session.handle(c.GotoSegment(segment="speech-pinghu"), clock.advance(60))
    assert types(events)[:4] == ["segment_ended", "segment_skipped", "segment_skipped", "segment_started"]
    assert session.state.segments[2].status is SegmentStatus.SKIPPED
    assert session.state.on_air == "pinghu"

    session.handle(c.PreviousSegment(), clock.advance(30))
    st = session.state
    assert st.current == "present" and st.segments[3].status is SegmentStatus.RUNNING
    assert st.segments[4].status is SegmentStatus.PENDING, "stepping back leaves the segment to be run again"
    assert st.segments[4].elapsed == 30
    assert st.on_air == "main"

    assert rejected(session, c.GotoSegment(segment="present"), clock.now) == (
        "cannot go to segment 'present': it is already the current segment"
    )
    assert rejected(session, c.GotoSegment(segment="closin"), clock.now) == (
        "cannot go to segment 'closin': there is no segment 'closin' in the agenda (did you mean 'closing'?)"
    )
    session.handle(c.GotoSegment(segment="closing"), clock.now)
    assert rejected(session, c.NextSegment(), clock.now) == (
        "cannot go to the next segment: 'closing' is the last segment; end the session instead"
    )


def test_first_segment_has_no_previous(session, clock):
    running(session, clock.now)
    assert rejected(session, c.PreviousSegment(), clock.now) == (
        "cannot go back to the previous segment: 'opening' is the first segment"
    )


def test_end_session_skips_what_was_not_run(session, clock):
    running(session, clock.now)
    session.handle(c.EndSession(), clock.advance(100))
    st = session.state
    assert st.phase is SessionPhase.ENDED and st.current is None
    assert st.segments[0].status is SegmentStatus.DONE and st.segments[0].elapsed == 100
    assert all(s.status is SegmentStatus.SKIPPED for s in st.segments[1:])


# ------------------------------------------------------------------ take and program


def test_segment_start_applies_venue_and_microphone_defaults(session, clock):
    running(session, clock.now, "pinghu", "haiyan", "nanhu")
    session.handle(c.UnmuteVenue(venue="nanhu"), clock.now)
    session.handle(c.GotoSegment(segment="speech-pinghu"), clock.advance(1))
    st = session.state
    assert st.on_air == "pinghu"
    assert {v.id for v in st.venues.values() if not v.muted} == {"main", "pinghu"}


def test_take_rules(session, clock):
    running(session, clock.now, "pinghu")
    assert rejected(session, c.Take(venue="haiyan"), clock.now) == "cannot take venue 'haiyan': it is not connected"
    assert rejected(session, c.Take(venue="pinhu"), clock.now) == (
        "cannot take venue 'pinhu': there is no venue 'pinhu' in this conference (did you mean 'pinghu'?)"
    )
    assert rejected(session, c.Take(venue="main"), clock.now) == "cannot take venue 'main': it is already on air"
    events = session.handle(c.Take(venue="pinghu"), clock.now)
    assert types(events) == ["venue_took_air", "microphone_unmuted"]
    assert events[0].reason is e.TakeReason.TAKE and events[0].previous == "main"
    join(session, clock.now, "haiyan")
    events = session.handle(c.Take(venue="haiyan"), clock.now)
    assert types(events) == ["venue_took_air", "microphone_unmuted", "microphone_muted"]
    assert events[2].venue == "pinghu", "the previous branch's microphone closes"


def test_take_before_the_session_starts_is_allowed_for_checks(session, clock):
    join(session, clock.now, "main", "pinghu")
    session.handle(c.Take(venue="pinghu"), clock.now)
    assert session.state.on_air == "pinghu"


def test_on_air_venue_dropping_falls_back_to_main_and_comes_back(session, clock):
    running(session, clock.now, "pinghu")
    session.handle(c.GotoSegment(segment="speech-pinghu"), clock.now)
    events = session.handle(c.LeaveVenue(venue="pinghu", reason="heartbeat lost"), clock.advance(5))
    fell = next(ev for ev in events if isinstance(ev, e.ProgramFellBack))
    assert fell.venue == "main" and fell.from_venue == "pinghu"
    assert (fell.reason, fell.reason_params) == ("venue_disconnected", {"venue": "pinghu", "left": "heartbeat lost"})
    assert session.state.on_air == "main"
    events = session.handle(c.JoinVenue(venue="pinghu"), clock.advance(3))
    took = next(ev for ev in events if isinstance(ev, e.VenueTookAir))
    assert took.reason is e.TakeReason.REJOINED and session.state.on_air == "pinghu"


def test_rejoin_does_not_override_a_later_take(session, clock):
    running(session, clock.now, "pinghu", "nanhu")
    session.handle(c.GotoSegment(segment="speech-pinghu"), clock.now)
    session.handle(c.LeaveVenue(venue="pinghu"), clock.now)
    session.handle(c.Take(venue="nanhu"), clock.now)
    events = session.handle(c.JoinVenue(venue="pinghu"), clock.now)
    assert types(events) == ["venue_joined"]
    assert session.state.on_air == "nanhu"


def test_segment_from_an_absent_venue_falls_back_and_says_why(session, clock):
    running(session, clock.now, "pinghu")
    events = session.handle(c.GotoSegment(segment="speech-haiyan"), clock.now)
    fell = next(ev for ev in events if isinstance(ev, e.ProgramFellBack))
    assert fell.from_venue == "haiyan"
    assert (fell.reason, fell.reason_params) == ("segment_venue_not_connected",
                                                 {"segment": "speech-haiyan", "venue": "haiyan"})
    assert session.state.on_air == "main"
    # the late venue goes on air when it arrives in its own segment
    session.handle(c.JoinVenue(venue="haiyan"), clock.now)
    assert session.state.on_air == "haiyan"


def test_poor_link_guardrail_and_recovery(session, clock):
    running(session, clock.now, "pinghu")
    assert session.handle(c.ReportLink(venue="pinghu", loss_pct=1.0, rtt_ms=40), clock.now) == []
    events = session.handle(c.ReportLink(venue="pinghu", loss_pct=8.0, rtt_ms=120), clock.now)
    assert types(events) == ["venue_link_degraded"]
    assert session.handle(c.ReportLink(venue="pinghu", loss_pct=9.0, rtt_ms=120), clock.now) == [], "no repeat"
    assert rejected(session, c.Take(venue="pinghu"), clock.now) == (
        "cannot take venue 'pinghu': its link is poor (loss 8.0%, round trip 120 ms); confirm to put it on air anyway"
    )
    session.handle(c.Take(venue="pinghu", confirm=True), clock.now)
    assert session.state.on_air == "pinghu"
    # hysteresis: 3% is not yet recovered, 1% is
    assert session.handle(c.ReportLink(venue="pinghu", loss_pct=3.0, rtt_ms=100), clock.now) == []
    assert types(session.handle(c.ReportLink(venue="pinghu", loss_pct=1.0, rtt_ms=100), clock.now)) == [
        "venue_link_recovered"
    ]
    assert session.state.venues["pinghu"].link is LinkQuality.GOOD


def test_presence_errors(session, clock):
    join(session, clock.now, "pinghu")
    assert rejected(session, c.JoinVenue(venue="pinghu"), clock.now) == (
        "cannot record that 'pinghu' joined: it is already connected"
    )
    assert rejected(session, c.LeaveVenue(venue="haiyan"), clock.now) == (
        "cannot record that 'haiyan' left: it is not connected"
    )
    assert rejected(session, c.ReportLink(venue="haiyan", loss_pct=0, rtt_ms=0), clock.now).endswith("not connected")


# ------------------------------------------------------------------ roll call


def test_roll_call_full_cycle(session, clock):
    running(session, clock.now, "pinghu", "nanhu")
    assert rejected(session, c.StartRollCall(), clock.now) == (
        "cannot start the roll call: segment 'opening' is not a roll call"
    )
    session.handle(c.NextSegment(), clock.advance(120))
    events = session.handle(c.StartRollCall(), clock.advance(1))
    assert types(events) == ["roll_call_started", "roll_call_prompted", "roll_call_marked", "roll_call_prompted"]
    rc = session.state.roll_calls["roll-call"]
    assert rc.entries["haiyan"].status is RollCallStatus.ABSENT, "absent at the start shows as absent"
    assert rc.entries["haiyan"].note == "not_connected_at_start"

    session.handle(c.AnswerRollCall(venue="pinghu", picture_ok=True, sound_ok=False), clock.advance(2))
    entry = session.state.roll_calls["roll-call"].entries["pinghu"]
    assert (entry.status, entry.picture_ok, entry.sound_ok, entry.at, entry.by) == (
        RollCallStatus.PRESENT, True, False, clock.now, "venue"
    )
    assert rejected(session, c.AnswerRollCall(venue="pinghu", picture_ok=True, sound_ok=True), clock.now) == (
        "cannot record the roll-call answer of 'pinghu': it is not being asked (recorded present)"
    )
    # retry asks again and clears the old result
    session.handle(c.RetryRollCall(venue="pinghu"), clock.now)
    assert session.state.roll_calls["roll-call"].entries["pinghu"].status is RollCallStatus.PENDING
    session.handle(c.AnswerRollCall(venue="pinghu", picture_ok=True, sound_ok=True), clock.advance(1))

    # a late venue is asked when it arrives
    events = session.handle(c.JoinVenue(venue="haiyan"), clock.now)
    assert types(events) == ["venue_joined", "roll_call_prompted"]

    assert rejected(session, c.RetryRollCall(venue="xiuzhou"), clock.now) == (
        "cannot retry the roll call of 'xiuzhou': there is no venue 'xiuzhou' in this conference"
    )
    session.handle(c.MarkRollCall(venue="nanhu", status=c.RollCallMark.PRESENT), clock.now)
    events = session.handle(c.FinishRollCall(), clock.advance(5))
    assert types(events) == ["roll_call_marked", "roll_call_finished"]
    assert events[0].venue == "haiyan" and events[0].note == "no_answer"
    assert (events[1].present, events[1].absent) == (2, 1)
    rc = session.state.roll_calls["roll-call"]
    assert rc.phase is RollCallPhase.FINISHED
    assert rejected(session, c.RetryRollCall(venue="haiyan"), clock.now) == (
        "cannot retry the roll call of 'haiyan': the roll call of 'roll-call' has finished"
    )
    # the operator can still correct the record after the finish
    session.handle(c.MarkRollCall(venue="haiyan", status=c.RollCallMark.PRESENT), clock.now)
    assert session.state.roll_calls["roll-call"].entries["haiyan"].by == "operator"
    assert rejected(session, c.StartRollCall(), clock.now) == (
        "cannot start the roll call: the roll call of 'roll-call' is already finished; retry a venue instead"
    )


def test_roll_call_of_the_main_venue_is_refused(session, clock):
    running(session, clock.now, "pinghu")
    session.handle(c.NextSegment(), clock.now)
    session.handle(c.StartRollCall(), clock.now)
    assert rejected(session, c.MarkRollCall(venue="main", status=c.RollCallMark.PRESENT), clock.now) == (
        "cannot mark 'main' present: 'main' is not on the roll call of 'roll-call'"
    )


# ------------------------------------------------------------------ awards


def test_award_announcement_and_presentation_step_by_step(session, clock):
    running(session, clock.now)
    assert rejected(session, c.NextAward(), clock.now) == (
        "cannot advance the awards: segment 'opening' is not an award presentation"
    )
    session.handle(c.GotoSegment(segment="announce"), clock.now)
    assert session.state.caption.kind is e.CaptionKind.AWARD_LIST
    assert session.state.caption.text == "Advanced collectives · Model villages"
    session.handle(c.NextSegment(), clock.now)
    shown = []
    for _ in range(3):
        events = session.handle(c.NextAward(), clock.advance(20))
        presented, caption = events
        assert isinstance(presented, e.AwardPresented) and isinstance(caption, e.CaptionChanged)
        shown.append((caption.caption.category, caption.caption.recipient, caption.caption.venue))
    assert shown == [
        ("Advanced collectives", "SAMPLE: Unit A", "pinghu"),
        ("Advanced collectives", "SAMPLE: Unit B", None),
        ("Model villages", "SAMPLE: Village C", "nanhu"),
    ]
    assert rejected(session, c.NextAward(), clock.now) == (
        "cannot advance the awards: all 3 presentations of the 2 awards of 'present' have been made"
    )


# ------------------------------------------------------------------ floor


def test_floor_queue_in_request_order_and_grant_puts_on_air(session, clock):
    running(session, clock.now, "pinghu", "nanhu", "haiyan")
    session.handle(c.RaiseHand(venue="nanhu"), clock.advance(1))
    session.handle(c.RaiseHand(venue="pinghu"), clock.advance(1))
    session.handle(c.RaiseHand(venue="haiyan"), clock.advance(1))
    assert [r.venue for r in session.state.floor_queue] == ["nanhu", "pinghu", "haiyan"]
    assert rejected(session, c.RaiseHand(venue="nanhu"), clock.now) == (
        "cannot raise the hand of 'nanhu': it has already asked for the floor"
    )
    session.handle(c.LowerHand(venue="pinghu"), clock.now)
    events = session.handle(c.GrantFloor(venue="haiyan"), clock.now)
    assert types(events) == ["hand_lowered", "venue_took_air", "microphone_unmuted"]
    assert session.state.on_air == "haiyan"
    assert [r.venue for r in session.state.floor_queue] == ["nanhu"]
    assert rejected(session, c.GrantFloor(venue="pinghu"), clock.now) == (
        "cannot give the floor to 'pinghu': 'pinghu' has not asked for the floor"
    )
    assert rejected(session, c.RaiseHand(venue="haiyan"), clock.now) == "cannot raise the hand of 'haiyan': it is on air"
    session.handle(c.LeaveVenue(venue="nanhu"), clock.now)
    assert session.state.floor_queue == (), "a venue that leaves drops out of the queue"


def test_dismiss_hand(session, clock):
    running(session, clock.now, "pinghu")
    assert rejected(session, c.DismissHand(venue="pinghu"), clock.now) == (
        "cannot dismiss the raised hand of 'pinghu': its hand is not raised"
    )
    session.handle(c.RaiseHand(venue="pinghu"), clock.now)
    assert session.handle(c.DismissHand(venue="pinghu"), clock.now)[0].reason == "operator"


# ------------------------------------------------------------------ microphones and captions


def test_microphones(session, clock):
    running(session, clock.now, "pinghu", "nanhu")
    assert session.state.venues["pinghu"].muted and not session.state.venues["main"].muted
    session.handle(c.UnmuteVenue(venue="pinghu"), clock.now)
    session.handle(c.UnmuteVenue(venue="nanhu"), clock.now)
    assert rejected(session, c.UnmuteVenue(venue="nanhu"), clock.now) == "cannot unmute 'nanhu': it is not muted"
    events = session.handle(c.MuteAllButOnAir(), clock.now)
    assert sorted(ev.venue for ev in events) == ["nanhu", "pinghu"]
    assert rejected(session, c.MuteVenue(venue="nanhu"), clock.now) == "cannot mute 'nanhu': it is already muted"


def test_caption_override_and_reset(session, clock):
    running(session, clock.now)
    session.handle(c.SetCaption(text="Please stand for the anthem"), clock.now)
    assert session.state.caption.kind is e.CaptionKind.OVERRIDE and session.state.caption_override
    session.handle(c.ResetCaption(), clock.now)
    assert session.state.caption.text == "The Mayor" and not session.state.caption_override
    assert rejected(session, c.ResetCaption(), clock.now) == "cannot reset the caption: the caption is not overridden"


# ------------------------------------------------------------------ timing


def test_timing_elapsed_overrun_and_projected_end(session, clock, small_conf):
    scheduled = small_conf.starts_at.timestamp()
    total = small_conf.planned_total
    before = session.timing(scheduled - 600)
    assert before.projected_end == scheduled + total == before.planned_end

    clock.now = scheduled + 300  # five minutes late
    running(session, clock.now)
    t = session.timing(clock.advance(60))
    assert t.current.elapsed == 60 and t.current.remaining == 60 and t.current.overrun == 0
    assert t.projected_end == clock.now + total - 60

    t = session.timing(clock.advance(100))  # opening planned 2m, now at 160 s
    assert t.current.overrun == 40 and t.current.remaining == 0
    assert t.projected_end == clock.now + total - 120, "an overrun pushes the projected end"

    session.handle(c.NextSegment(), clock.now)
    t = session.timing(clock.now)
    assert t.segments[0].status == "done" and t.segments[0].elapsed == 160
    assert t.projected_end == clock.now + total - 120


def test_revoking_links_is_recorded_and_survives_replay(session, clock):
    join(session, clock.now, "pinghu")
    events = session.handle(c.RevokeLink(venue="pinghu"), clock.advance(5))
    assert types(events) == ["link_revoked"]
    assert session.state.venues["pinghu"].links_revoked_at == clock.now
    assert Session.replay(session.conference, events).state.venues["pinghu"].links_revoked_at == clock.now
    assert rejected(session, c.RevokeLink(venue="pinghuu"), clock.now).startswith(
        "cannot revoke the links of 'pinghuu': there is no venue 'pinghuu'"
    )


# ------------------------------------------------------------------ refusal codes and immutability


def refusal(session: Session, command, now: float) -> CommandRejected:
    with pytest.raises(CommandRejected) as info:
        session.handle(command, now)
    return info.value


def test_refusals_carry_a_code_and_the_values_a_sentence_needs(session, clock):
    assert refusal(session, c.NextSegment(), clock.now).code == "session_not_started"
    running(session, clock.now, "pinghu")
    exc = refusal(session, c.Take(venue="haiyann"), clock.now)
    assert (exc.code, exc.params) == ("unknown_venue", {"venue": "haiyann", "suggestion": "haiyan"})
    exc = refusal(session, c.Take(venue="haiyan"), clock.now)
    assert (exc.code, exc.params) == ("not_connected", {"venue": "haiyan"})
    session.handle(c.ReportLink(venue="pinghu", loss_pct=12.5, rtt_ms=80), clock.now)
    exc = refusal(session, c.Take(venue="pinghu"), clock.now)
    assert exc.code == "link_poor_needs_confirm" and exc.params == {"venue": "pinghu", "loss_pct": 12.5, "rtt_ms": 80}
    assert "its link is poor (loss 12.5%" in str(exc)
    exc = refusal(session, c.GotoSegment(segment="closng"), clock.now)
    assert (exc.code, exc.params["suggestion"]) == ("unknown_segment", "closing")


def test_the_state_cannot_be_changed_from_outside(session, clock):
    running(session, clock.now)
    state = session.state
    with pytest.raises(ValueError):
        state.on_air = "pinghu"  # type: ignore[misc]
    with pytest.raises(ValueError):
        state.venues["pinghu"].connected = True  # type: ignore[misc]
    session.handle(c.JoinVenue(venue="pinghu"), clock.now)
    assert not state.venues["pinghu"].connected, "a state once handed out never changes"
    assert session.state.venues["pinghu"].connected


def test_leaving_a_roll_call_segment_finishes_its_roll_call(session, clock):
    running(session, clock.now, "pinghu", "nanhu")
    session.handle(c.NextSegment(), clock.advance(60))
    session.handle(c.StartRollCall(), clock.advance(1))
    session.handle(c.AnswerRollCall(venue="pinghu", picture_ok=True, sound_ok=True), clock.advance(1))
    events = session.handle(c.NextSegment(), clock.advance(30))
    assert types(events)[:3] == ["roll_call_marked", "roll_call_finished", "segment_ended"]
    marked = events[0]
    assert (marked.venue, marked.status, marked.by) == ("nanhu", "absent", "session")
    assert marked.note == "no_answer_by_segment_end"
    rc = session.state.roll_calls["roll-call"]
    assert rc.phase is RollCallPhase.FINISHED and (events[1].present, events[1].absent) == (1, 2)
    # the record can still be corrected afterwards
    session.handle(c.GotoSegment(segment="roll-call"), clock.advance(5))
    session.handle(c.MarkRollCall(venue="nanhu", status=c.RollCallMark.PRESENT), clock.now)
    assert session.state.roll_calls["roll-call"].entries["nanhu"].status is RollCallStatus.PRESENT


def test_ending_the_session_during_a_roll_call_finishes_it(session, clock):
    running(session, clock.now, "pinghu")
    session.handle(c.NextSegment(), clock.advance(60))
    session.handle(c.StartRollCall(), clock.advance(1))
    events = session.handle(c.EndSession(), clock.advance(10))
    assert "roll_call_finished" in types(events)
    assert session.state.roll_calls["roll-call"].phase is RollCallPhase.FINISHED


# ------------------------------------------------------------------ the server's own starts


def test_a_server_start_is_recorded_with_the_venues_the_log_shows_connected(session, clock):
    (first,) = session.handle(c.RecordServerStart(restart_grace_s=15), clock.now)
    assert first == e.ServerStarted(at=clock.now, venues_connected=(), restart_grace_s=15)
    running(session, clock.advance(5), "pinghu")
    before = session.state
    (again,) = session.handle(c.RecordServerStart(restart_grace_s=15), clock.advance(60))
    assert again.venues_connected == ("main", "pinghu")
    assert session.state == before, "a server start changes nothing in the session"
    session.handle(c.EndSession(), clock.advance(10))
    assert rejected(session, c.RecordServerStart(), clock.now) == "cannot record the server's start: the session has ended"
