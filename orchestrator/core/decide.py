"""Deciders: check a command against the state and emit the events that answer it.

A decider gets a `Decision`: the command, `now`, the conference and the state as it
stands after what the decider has emitted so far (emitting applies the event at once,
so a decider can build on its own events: a take, then the microphone changes it
implies). `reject(code, why, **params)` refuses the command; since the state is
immutable, a refused command leaves nothing behind.

Rules the deciders hold to:

- the program is always on one venue: the on-air venue is connected, or it is the main
  venue (the fallback); when the on-air venue drops, the program falls back and says why;
  if the segment's venue comes back in the same segment, it goes back on air;
- starting a segment puts its venue on air and opens only the on-air and main venues'
  microphones; a take opens the new venue's microphone and closes the previous one's;
- a roll call records every listed venue: venues not connected at the start are absent,
  never silently skipped; finishing (or leaving its segment) records the silent ones as
  absent, so no roll call stays open;
- the floor queue is ordered by request time and never holds a venue twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from ..conference import Conference, Segment, SegmentKind
from ..hints import closest
from . import commands as c
from . import events as e
from .apply import apply
from .errors import CommandRejected, Param
from .state import (
    LinkQuality,
    RollCallEntry,
    RollCallPhase,
    RollCallState,
    RollCallStatus,
    SegmentStatus,
    SessionPhase,
    SessionState,
    VenueState,
)

# Link guard thresholds, with hysteresis so a flapping link does not flood the log.
POOR_LOSS_PCT = 5.0
POOR_RTT_MS = 500.0
RECOVERED_LOSS_PCT = 2.0
RECOVERED_RTT_MS = 300.0

_S, _R, _E = SessionPhase.SCHEDULED, SessionPhase.RUNNING, SessionPhase.ENDED
_ANY = frozenset({_S, _R, _E})
_BEFORE_END = frozenset({_S, _R})
_RUNNING = frozenset({_R})

# Which session phases accept which commands.
ALLOWED_PHASES: dict[type, frozenset[SessionPhase]] = {
    c.StartSession: frozenset({_S}),
    c.EndSession: _RUNNING,
    c.NextSegment: _RUNNING,
    c.PreviousSegment: _RUNNING,
    c.GotoSegment: _RUNNING,
    c.Take: _BEFORE_END,
    c.StartRollCall: _RUNNING,
    c.MarkRollCall: _RUNNING,
    c.RetryRollCall: _RUNNING,
    c.FinishRollCall: _RUNNING,
    c.AnswerRollCall: _RUNNING,
    c.NextAward: _RUNNING,
    c.GrantFloor: _RUNNING,
    c.DismissHand: _RUNNING,
    c.RaiseHand: _RUNNING,
    c.LowerHand: _RUNNING,
    c.MuteVenue: _BEFORE_END,
    c.UnmuteVenue: _BEFORE_END,
    c.MuteAllButOnAir: _BEFORE_END,
    c.SetCaption: _BEFORE_END,
    c.ResetCaption: _BEFORE_END,
    c.RevokeLink: _ANY,
    c.JoinVenue: _ANY,
    c.LeaveVenue: _ANY,
    c.ReportLink: _ANY,
}

# What a command is trying to do, for the first half of a rejection sentence.
DOING: dict[type, Callable[[Any], str]] = {
    c.StartSession: lambda _: "start the session",
    c.EndSession: lambda _: "end the session",
    c.NextSegment: lambda _: "go to the next segment",
    c.PreviousSegment: lambda _: "go back to the previous segment",
    c.GotoSegment: lambda cmd: f"go to segment '{cmd.segment}'",
    c.Take: lambda cmd: f"take venue '{cmd.venue}'",
    c.StartRollCall: lambda _: "start the roll call",
    c.MarkRollCall: lambda cmd: f"mark '{cmd.venue}' {cmd.status.value}",
    c.RetryRollCall: lambda cmd: f"retry the roll call of '{cmd.venue}'",
    c.FinishRollCall: lambda _: "finish the roll call",
    c.AnswerRollCall: lambda cmd: f"record the roll-call answer of '{cmd.venue}'",
    c.NextAward: lambda _: "advance the awards",
    c.GrantFloor: lambda cmd: f"give the floor to '{cmd.venue}'",
    c.DismissHand: lambda cmd: f"dismiss the raised hand of '{cmd.venue}'",
    c.RaiseHand: lambda cmd: f"raise the hand of '{cmd.venue}'",
    c.LowerHand: lambda cmd: f"lower the hand of '{cmd.venue}'",
    c.MuteVenue: lambda cmd: f"mute '{cmd.venue}'",
    c.UnmuteVenue: lambda cmd: f"unmute '{cmd.venue}'",
    c.MuteAllButOnAir: lambda _: "mute all venues but the one on air",
    c.SetCaption: lambda _: "set the caption",
    c.ResetCaption: lambda _: "reset the caption",
    c.RevokeLink: lambda cmd: f"revoke the links of '{cmd.venue}'",
    c.JoinVenue: lambda cmd: f"record that '{cmd.venue}' joined",
    c.LeaveVenue: lambda cmd: f"record that '{cmd.venue}' left",
    c.ReportLink: lambda cmd: f"record the link of '{cmd.venue}'",
}

# A command in the wrong session phase: (code, sentence).
WRONG_PHASE: dict[SessionPhase, tuple[str, str]] = {
    _S: ("session_not_started", "the session has not started"),
    _R: ("session_already_running", "the session is already running"),
    _E: ("session_ended", "the session has ended"),
}


class Decision:
    """One command being decided: the state so far, `emit` and `reject`, and the shared rules."""

    def __init__(self, conference: Conference, index: dict[str, int], state: SessionState, command: Any, now: float):
        self.conference = conference
        self.index = index
        self.state = state
        self.command = command
        self.now = now
        self.events: list[e.Event] = []

    # ------------------------------------------------------------ the two verbs

    def emit(self, event: e.Event) -> None:
        self.state = apply(self.state, event)
        self.events.append(event)

    def reject(self, code: str, why: str, **params: Param) -> NoReturn:
        raise CommandRejected(f"cannot {DOING[type(self.command)](self.command)}: {why}", code, params)

    # ------------------------------------------------------------ lookups

    @property
    def main(self) -> str:
        return self.conference.main_venue.id

    def venue(self, venue: str) -> VenueState:
        found = self.state.venues.get(venue)
        if found is None:
            suggestion = closest(venue, self.state.venues)
            hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
            self.reject("unknown_venue", f"there is no venue '{venue}' in this conference{hint}",
                        venue=venue, suggestion=suggestion)
        return found

    def connected_venue(self, venue: str) -> VenueState:
        found = self.venue(venue)
        if not found.connected:
            self.reject("not_connected", "it is not connected", venue=venue)
        return found

    def current_segment(self) -> tuple[int, Segment]:
        assert self.state.current is not None, "a running session always has a current segment"
        i = self.index[self.state.current]
        return i, self.conference.agenda[i]

    def floor_position(self, venue: str) -> int | None:
        return next((i for i, r in enumerate(self.state.floor_queue) if r.venue == venue), None)

    def roll_call(self, *, running: bool) -> RollCallState:
        _, segment = self.current_segment()
        if segment.kind is not SegmentKind.ROLL_CALL:
            self.reject("not_a_roll_call", f"segment '{segment.id}' is not a roll call", segment=segment.id)
        rc = self.state.roll_calls.get(segment.id)
        if rc is None:
            self.reject("roll_call_not_started", f"the roll call of '{segment.id}' has not started", segment=segment.id)
        if running and rc.phase is not RollCallPhase.RUNNING:
            self.reject("roll_call_finished", f"the roll call of '{segment.id}' has finished", segment=segment.id)
        return rc

    def roll_call_entry(self, rc: RollCallState, venue: str) -> RollCallEntry:
        self.venue(venue)
        entry = rc.entries.get(venue)
        if entry is None:
            self.reject("not_on_roll_call", f"'{venue}' is not on the roll call of '{rc.segment}'",
                        venue=venue, segment=rc.segment)
        return entry

    def default_caption(self, segment: Segment) -> e.Caption | None:
        if segment.kind is SegmentKind.AWARD_ANNOUNCEMENT and segment.awards:
            titles = [self.conference.award_by_id[a].title for a in segment.awards]
            return e.Caption(kind=e.CaptionKind.AWARD_LIST, text=" · ".join(titles))
        if segment.speaker:
            return e.Caption(kind=e.CaptionKind.SPEAKER, text=segment.speaker, venue=self.conference.segment_venue(segment))
        return None

    # ------------------------------------------------------------ shared rules

    def put_on_air(self, venue: str, reason: e.TakeReason) -> None:
        """Take `venue` (its raised hand is answered), open its microphone, close the previous branch's."""
        previous = self.state.on_air
        if self.floor_position(venue) is not None:
            lowered = "taken" if reason is not e.TakeReason.FLOOR else "granted"
            self.emit(e.HandLowered(at=self.now, venue=venue, reason=lowered))
        if venue != previous:
            self.emit(e.VenueTookAir(at=self.now, venue=venue, previous=previous, reason=reason))
        self.mics_follow_take(previous, venue)

    def fall_back(self, from_venue: str, why: str) -> None:
        previous = self.state.on_air
        self.emit(e.ProgramFellBack(at=self.now, venue=self.main, from_venue=from_venue, previous=previous, reason=why))
        self.mics_follow_take(previous, self.main)

    def mics_follow_take(self, previous: str, venue: str) -> None:
        if self.state.venues[venue].muted:
            self.emit(e.MicrophoneUnmuted(at=self.now, venue=venue))
        if previous not in (venue, self.main) and not self.state.venues[previous].muted:
            self.emit(e.MicrophoneMuted(at=self.now, venue=previous))

    def take_checks(self, venue: VenueState, confirm: bool) -> None:
        if not venue.connected:
            self.reject("not_connected", "it is not connected", venue=venue.id)
        if self.state.on_air == venue.id:
            self.reject("already_on_air", "it is already on air", venue=venue.id)
        if venue.link is LinkQuality.POOR and not confirm:
            self.reject(
                "link_poor_needs_confirm",
                f"its link is poor (loss {venue.loss_pct or 0:.1f}%, round trip {venue.rtt_ms or 0:.0f} ms); "
                "confirm to put it on air anyway",
                venue=venue.id, loss_pct=venue.loss_pct, rtt_ms=venue.rtt_ms,
            )

    def leave_segment(self, status: str) -> None:
        """End the current segment; a roll call still running there is finished first."""
        current = self.state.current
        assert current is not None
        rc = self.state.roll_calls.get(current)
        if rc is not None and rc.phase is RollCallPhase.RUNNING:
            self.finish_roll_call(rc, note="no answer before the segment ended")
        self.emit(e.SegmentEnded(at=self.now, segment=current, status=status))  # type: ignore[arg-type]

    def finish_roll_call(self, rc: RollCallState, note: str) -> None:
        for entry in rc.entries.values():
            if entry.status is RollCallStatus.PENDING:
                self.emit(e.RollCallMarked(at=self.now, segment=rc.segment, venue=entry.venue, status="absent",
                                           by="session", note=note))
        done = self.state.roll_calls[rc.segment]
        self.emit(e.RollCallFinished(at=self.now, segment=rc.segment, present=done.count(RollCallStatus.PRESENT),
                                     absent=done.count(RollCallStatus.ABSENT)))

    def enter_segment(self, target: int) -> None:
        now = self.now
        st = self.state
        going_back = st.current is not None and target < self.index[st.current]
        if st.current is not None:
            first_jumped = self.index[st.current] + 1
            self.leave_segment("pending" if going_back else "done")
        else:
            first_jumped = 0
        for seg in self.state.segments[first_jumped:target]:
            if seg.status is SegmentStatus.PENDING:
                self.emit(e.SegmentSkipped(at=now, segment=seg.id))
        segment = self.conference.agenda[target]
        self.emit(e.SegmentStarted(at=now, segment=segment.id))

        wanted = self.conference.segment_venue(segment)
        if wanted != self.main and not self.state.venues[wanted].connected:
            self.fall_back(wanted, f"segment '{segment.id}' is on air from '{wanted}', which is not connected")
        else:
            self.put_on_air(wanted, e.TakeReason.SEGMENT)
        open_mics = {self.state.on_air, self.main}
        for v in list(self.state.venues.values()):
            if v.id in open_mics and v.muted:
                self.emit(e.MicrophoneUnmuted(at=now, venue=v.id))
            elif v.id not in open_mics and not v.muted:
                self.emit(e.MicrophoneMuted(at=now, venue=v.id))
        caption = self.default_caption(segment)
        if caption != self.state.caption or self.state.caption_override:
            self.emit(e.CaptionChanged(at=now, caption=caption))


C = TypeVar("C")
Decider = Callable[[Decision, Any], None]
DECIDERS: dict[type, Decider] = {}


def _decides(kind: type[C]) -> Callable[[Callable[[Decision, C], None]], Callable[[Decision, C], None]]:
    def register(fn: Callable[[Decision, C], None]) -> Callable[[Decision, C], None]:
        DECIDERS[kind] = fn
        return fn

    return register


# ---------------------------------------------------------------- session and agenda


@_decides(c.StartSession)
def start_session(d: Decision, cmd: c.StartSession) -> None:
    d.emit(e.SessionStarted(at=d.now))
    d.enter_segment(0)


@_decides(c.EndSession)
def end_session(d: Decision, cmd: c.EndSession) -> None:
    if d.state.current is not None:
        d.leave_segment("done")
    for seg in d.state.segments:
        if seg.status is SegmentStatus.PENDING:
            d.emit(e.SegmentSkipped(at=d.now, segment=seg.id))
    for request in d.state.floor_queue:
        d.emit(e.HandLowered(at=d.now, venue=request.venue, reason="session_ended"))
    d.emit(e.SessionEnded(at=d.now))


@_decides(c.NextSegment)
def next_segment(d: Decision, cmd: c.NextSegment) -> None:
    i, segment = d.current_segment()
    if i + 1 >= len(d.conference.agenda):
        d.reject("last_segment", f"'{segment.id}' is the last segment; end the session instead", segment=segment.id)
    d.enter_segment(i + 1)


@_decides(c.PreviousSegment)
def previous_segment(d: Decision, cmd: c.PreviousSegment) -> None:
    i, segment = d.current_segment()
    if i == 0:
        d.reject("first_segment", f"'{segment.id}' is the first segment", segment=segment.id)
    d.enter_segment(i - 1)


@_decides(c.GotoSegment)
def goto_segment(d: Decision, cmd: c.GotoSegment) -> None:
    target = d.index.get(cmd.segment)
    if target is None:
        suggestion = closest(cmd.segment, d.index)
        hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
        d.reject("unknown_segment", f"there is no segment '{cmd.segment}' in the agenda{hint}",
                 segment=cmd.segment, suggestion=suggestion)
    if cmd.segment == d.state.current:
        d.reject("already_current_segment", "it is already the current segment", segment=cmd.segment)
    d.enter_segment(target)


# ---------------------------------------------------------------- program and floor


@_decides(c.Take)
def take(d: Decision, cmd: c.Take) -> None:
    d.take_checks(d.venue(cmd.venue), cmd.confirm)
    d.put_on_air(cmd.venue, e.TakeReason.TAKE)


@_decides(c.GrantFloor)
def grant_floor(d: Decision, cmd: c.GrantFloor) -> None:
    venue = d.venue(cmd.venue)
    if d.floor_position(cmd.venue) is None:
        d.reject("floor_not_requested", f"'{cmd.venue}' has not asked for the floor", venue=cmd.venue)
    d.take_checks(venue, cmd.confirm)
    d.put_on_air(cmd.venue, e.TakeReason.FLOOR)


@_decides(c.RaiseHand)
def raise_hand(d: Decision, cmd: c.RaiseHand) -> None:
    d.connected_venue(cmd.venue)
    if d.state.on_air == cmd.venue:
        d.reject("on_air", "it is on air", venue=cmd.venue)
    if d.floor_position(cmd.venue) is not None:
        d.reject("hand_already_raised", "it has already asked for the floor", venue=cmd.venue)
    d.emit(e.HandRaised(at=d.now, venue=cmd.venue))


def _lower_hand(d: Decision, venue: str, by: str) -> None:
    d.venue(venue)
    if d.floor_position(venue) is None:
        d.reject("hand_not_raised", "its hand is not raised", venue=venue)
    d.emit(e.HandLowered(at=d.now, venue=venue, reason=by))  # type: ignore[arg-type]


@_decides(c.LowerHand)
def lower_hand(d: Decision, cmd: c.LowerHand) -> None:
    _lower_hand(d, cmd.venue, "venue")


@_decides(c.DismissHand)
def dismiss_hand(d: Decision, cmd: c.DismissHand) -> None:
    _lower_hand(d, cmd.venue, "operator")


# ---------------------------------------------------------------- microphones and captions


@_decides(c.MuteVenue)
def mute_venue(d: Decision, cmd: c.MuteVenue) -> None:
    if d.venue(cmd.venue).muted:
        d.reject("already_muted", "it is already muted", venue=cmd.venue)
    d.emit(e.MicrophoneMuted(at=d.now, venue=cmd.venue))


@_decides(c.UnmuteVenue)
def unmute_venue(d: Decision, cmd: c.UnmuteVenue) -> None:
    if not d.venue(cmd.venue).muted:
        d.reject("not_muted", "it is not muted", venue=cmd.venue)
    d.emit(e.MicrophoneUnmuted(at=d.now, venue=cmd.venue))


@_decides(c.MuteAllButOnAir)
def mute_all_but_on_air(d: Decision, cmd: c.MuteAllButOnAir) -> None:
    for v in list(d.state.venues.values()):
        if v.id != d.state.on_air and not v.muted:
            d.emit(e.MicrophoneMuted(at=d.now, venue=v.id))


@_decides(c.SetCaption)
def set_caption(d: Decision, cmd: c.SetCaption) -> None:
    caption = e.Caption(kind=e.CaptionKind.OVERRIDE, text=cmd.text)
    d.emit(e.CaptionChanged(at=d.now, caption=caption, override=True))


@_decides(c.ResetCaption)
def reset_caption(d: Decision, cmd: c.ResetCaption) -> None:
    if not d.state.caption_override:
        d.reject("caption_not_overridden", "the caption is not overridden")
    caption = d.default_caption(d.current_segment()[1]) if d.state.current else None
    d.emit(e.CaptionChanged(at=d.now, caption=caption))


@_decides(c.RevokeLink)
def revoke_link(d: Decision, cmd: c.RevokeLink) -> None:
    """The venue's links stop working; if it is connected, it will be cut off (and leave)."""
    d.venue(cmd.venue)
    d.emit(e.LinkRevoked(at=d.now, venue=cmd.venue))


# ---------------------------------------------------------------- roll call


@_decides(c.StartRollCall)
def start_roll_call(d: Decision, cmd: c.StartRollCall) -> None:
    _, segment = d.current_segment()
    if segment.kind is not SegmentKind.ROLL_CALL:
        d.reject("not_a_roll_call", f"segment '{segment.id}' is not a roll call", segment=segment.id)
    existing = d.state.roll_calls.get(segment.id)
    if existing is not None:
        d.reject("roll_call_already_started",
                 f"the roll call of '{segment.id}' is already {existing.phase.value}; retry a venue instead",
                 segment=segment.id, phase=existing.phase.value)
    listed = d.conference.roll_call_venues(segment)
    d.emit(e.RollCallStarted(at=d.now, segment=segment.id, venues=listed))
    for venue in listed:
        if d.state.venues[venue].connected:
            d.emit(e.RollCallPrompted(at=d.now, segment=segment.id, venue=venue))
        else:
            d.emit(e.RollCallMarked(at=d.now, segment=segment.id, venue=venue, status="absent", by="session",
                                    note="not connected when the roll call started"))


@_decides(c.AnswerRollCall)
def answer_roll_call(d: Decision, cmd: c.AnswerRollCall) -> None:
    rc = d.roll_call(running=True)
    entry = d.roll_call_entry(rc, cmd.venue)
    if entry.status is not RollCallStatus.PENDING:
        d.reject("roll_call_not_asking", f"it is not being asked (recorded {entry.status.value})",
                 venue=cmd.venue, status=entry.status.value)
    d.emit(e.RollCallAnswered(at=d.now, segment=rc.segment, venue=cmd.venue, picture_ok=cmd.picture_ok,
                              sound_ok=cmd.sound_ok))


@_decides(c.MarkRollCall)
def mark_roll_call(d: Decision, cmd: c.MarkRollCall) -> None:
    rc = d.roll_call(running=False)
    entry = d.roll_call_entry(rc, cmd.venue)
    if entry.status.value == cmd.status.value:
        d.reject("roll_call_already_recorded", f"it is already recorded {entry.status.value}",
                 venue=cmd.venue, status=entry.status.value)
    d.emit(e.RollCallMarked(at=d.now, segment=rc.segment, venue=cmd.venue, status=cmd.status.value, by="operator"))


@_decides(c.RetryRollCall)
def retry_roll_call(d: Decision, cmd: c.RetryRollCall) -> None:
    rc = d.roll_call(running=True)
    d.roll_call_entry(rc, cmd.venue)
    d.connected_venue(cmd.venue)
    d.emit(e.RollCallPrompted(at=d.now, segment=rc.segment, venue=cmd.venue))


@_decides(c.FinishRollCall)
def finish_roll_call(d: Decision, cmd: c.FinishRollCall) -> None:
    d.finish_roll_call(d.roll_call(running=True), note="no answer")


# ---------------------------------------------------------------- awards


@_decides(c.NextAward)
def next_award(d: Decision, cmd: c.NextAward) -> None:
    _, segment = d.current_segment()
    if segment.kind is not SegmentKind.AWARD_PRESENTATION:
        d.reject("not_an_award_presentation", f"segment '{segment.id}' is not an award presentation",
                 segment=segment.id)
    awards = [d.conference.award_by_id[a] for a in segment.awards or ()]
    pos = d.state.award_positions.get(segment.id)
    if pos is None:
        a, r = 0, 0
    elif pos.recipient_index + 1 < len(awards[pos.award_index].recipients):
        a, r = pos.award_index, pos.recipient_index + 1
    else:
        a, r = pos.award_index + 1, 0
    if a >= len(awards):
        total = sum(len(x.recipients) for x in awards)
        d.reject("awards_all_presented",
                 f"all {total} presentations of the {len(awards)} awards of '{segment.id}' have been made",
                 segment=segment.id, presentations=total, awards=len(awards))
    award, recipient = awards[a], awards[a].recipients[r]
    d.emit(e.AwardPresented(at=d.now, segment=segment.id, award=award.id, award_index=a, recipient_index=r,
                            recipient=recipient.name, venue=recipient.venue))
    caption = e.Caption(kind=e.CaptionKind.AWARD, text=f"{award.title}: {recipient.name}", award=award.id,
                        category=award.title, recipient=recipient.name, venue=recipient.venue)
    d.emit(e.CaptionChanged(at=d.now, caption=caption))


# ---------------------------------------------------------------- what the server observes


@_decides(c.JoinVenue)
def join_venue(d: Decision, cmd: c.JoinVenue) -> None:
    if d.venue(cmd.venue).connected:
        d.reject("already_connected", "it is already connected", venue=cmd.venue)
    d.emit(e.VenueJoined(at=d.now, venue=cmd.venue))
    if d.state.fallback_from == cmd.venue:
        d.put_on_air(cmd.venue, e.TakeReason.REJOINED)
    if d.state.phase is not SessionPhase.RUNNING:
        return
    _, segment = d.current_segment()
    rc = d.state.roll_calls.get(segment.id)
    if rc and rc.phase is RollCallPhase.RUNNING:
        entry = rc.entries.get(cmd.venue)
        if entry is not None and entry.status is RollCallStatus.ABSENT and entry.by == "session":
            d.emit(e.RollCallPrompted(at=d.now, segment=segment.id, venue=cmd.venue))


@_decides(c.LeaveVenue)
def leave_venue(d: Decision, cmd: c.LeaveVenue) -> None:
    d.connected_venue(cmd.venue)
    d.emit(e.VenueLeft(at=d.now, venue=cmd.venue, reason=cmd.reason))
    if d.floor_position(cmd.venue) is not None:
        d.emit(e.HandLowered(at=d.now, venue=cmd.venue, reason="disconnected"))
    if d.state.on_air == cmd.venue and cmd.venue != d.main:
        d.fall_back(cmd.venue, f"'{cmd.venue}' disconnected ({cmd.reason})")


@_decides(c.ReportLink)
def report_link(d: Decision, cmd: c.ReportLink) -> None:
    venue = d.connected_venue(cmd.venue)
    poor = cmd.loss_pct >= POOR_LOSS_PCT or cmd.rtt_ms >= POOR_RTT_MS
    good = cmd.loss_pct < RECOVERED_LOSS_PCT and cmd.rtt_ms < RECOVERED_RTT_MS
    if venue.link is LinkQuality.GOOD and poor:
        d.emit(e.VenueLinkDegraded(at=d.now, venue=cmd.venue, loss_pct=cmd.loss_pct, rtt_ms=cmd.rtt_ms))
    elif venue.link is LinkQuality.POOR and good:
        d.emit(e.VenueLinkRecovered(at=d.now, venue=cmd.venue))


assert set(ALLOWED_PHASES) == set(DECIDERS) == set(DOING), "every command needs a phase rule, a decider and a sentence"
