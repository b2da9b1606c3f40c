"""Deciders: check a command against the state and emit the events that answer it.

A decider gets a `Decision`: the command, `now`, the conference and the state as it
stands after what the decider has emitted so far (emitting applies the event at once,
so a decider can build on its own events: a take, then the microphone changes it
implies). `reject(code, **params)` refuses the command; since the state is
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
- a called roll call calls the listed venues one at a time, in the file's order; the
  called venue is on air while its time runs, so a manual take waits until the roll call
  is paused or finished; a venue not connected when its turn comes is absent, one that
  does not answer in time is `no_answer`; when nobody is left to call it finishes and
  the program goes back to the segment's venue;
- one polling run at a time; program polling steps the program, so a manual take stops
  it first; a called roll call and program polling exclude each other; a segment change
  stops polling, and resets the main venue's return to what the new segment says;
- the floor queue is ordered by request time and never holds a venue twice;
- the program is recorded only while the session runs: ending the session stops the
  recording; a recorder that cannot write stops it too (with the reason), never the session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NoReturn, TypeVar

from ..conference import (
    ALL_BRANCHES,
    DEFAULT_PAGE_EVERY_S,
    Conference,
    PollingTarget,
    ReturnMode,
    RollCallMode,
    Segment,
    SegmentKind,
    WallLayout,
)
from ..hints import closest
from . import commands as c
from . import events as e
from . import timers
from .apply import apply
from .errors import CommandRejected, Param
from .main_return import wall_pages
from .state import (
    LinkQuality,
    MainReturnState,
    PollingState,
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

# Who finishes a roll call: the operator, leaving its segment, or nobody being left to call.
FinishedBy = Literal["operator", "segment", "nobody_left"]

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
    c.PauseRollCall: _RUNNING,
    c.ResumeRollCall: _RUNNING,
    c.SkipRollCallVenue: _RUNNING,
    c.StartPolling: _RUNNING,
    c.PausePolling: _RUNNING,
    c.ResumePolling: _RUNNING,
    c.StopPolling: _RUNNING,
    c.SetMainReturn: _BEFORE_END,
    c.StartRecording: _RUNNING,
    c.StopRecording: _RUNNING,
    c.RecordingFailed: _RUNNING,
    c.JoinVenue: _ANY,
    c.LeaveVenue: _ANY,
    c.ReportLink: _ANY,
    c.ReportMediaNodeLost: _ANY,
    c.ReportMediaNodeBack: _ANY,
    c.Tick: _ANY,  # never refused: the runtime sends it whatever the phase
    c.RecordServerStart: _BEFORE_END,  # a server started on an ended session's log records nothing
}

# A command in the wrong session phase: the refusal's code.
WRONG_PHASE: dict[SessionPhase, str] = {
    _S: "session_not_started",
    _R: "session_already_running",
    _E: "session_ended",
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

    def reject(self, code: str, **params: Param) -> NoReturn:
        """Refuse the command: `code` says why, `params` are the reason's values (sentences:
        `orchestrator.sentences`, in the reader's language)."""
        values = self.command.model_dump(mode="json", exclude={"type"})
        action_params = {k: v for k, v in values.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}
        raise CommandRejected(code, params, action=self.command.type, action_params=action_params)

    # ------------------------------------------------------------ lookups

    @property
    def main(self) -> str:
        return self.conference.main_venue.id

    def venue(self, venue: str) -> VenueState:
        found = self.state.venues.get(venue)
        if found is None:
            suggestion = closest(venue, self.state.venues)
            self.reject("unknown_venue", venue=venue, suggestion=suggestion)
        return found

    def connected_venue(self, venue: str) -> VenueState:
        found = self.venue(venue)
        if not found.connected:
            self.reject("not_connected", venue=venue)
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
            self.reject("not_a_roll_call", segment=segment.id)
        rc = self.state.roll_calls.get(segment.id)
        if rc is None:
            self.reject("roll_call_not_started", segment=segment.id)
        if running and rc.phase is not RollCallPhase.RUNNING:
            self.reject("roll_call_finished", segment=segment.id)
        return rc

    def called_roll_call(self) -> RollCallState:
        """The current segment's running roll call, which must be a called one."""
        rc = self.roll_call(running=True)
        if rc.mode is not RollCallMode.CALLED:
            self.reject("roll_call_not_called_mode",
                        segment=rc.segment)
        return rc

    def running_call(self) -> RollCallState | None:
        """The current segment's called roll call while it runs (paused or not)."""
        rc = timers.running_roll_call(self.state)
        return rc if rc is not None and rc.mode is RollCallMode.CALLED else None

    def program_polling(self) -> PollingState | None:
        polling = self.state.polling
        return polling if polling is not None and polling.target is PollingTarget.PROGRAM else None

    def polling(self) -> PollingState:
        if self.state.polling is None:
            self.reject("polling_not_running")
        return self.state.polling

    def branch_list(self, venues: list[str] | None) -> tuple[str, ...]:
        """Venues to cycle or show: known branch venues, each once; None: every branch venue."""
        if venues is None:
            if not self.conference.branch_ids:
                self.reject("no_branch_venues")
            return self.conference.branch_ids
        for i, venue in enumerate(venues):
            self.venue(venue)
            if venue == self.main:
                self.reject("main_venue_listed", venue=venue)
            if venue in venues[:i]:
                self.reject("duplicate_venue", venue=venue)
        return tuple(venues)

    def refuse_while_call_runs(self) -> None:
        """A manual take would take the program from the called venue."""
        rc = self.running_call()
        if rc is not None and not rc.paused:
            self.reject("roll_call_in_progress", segment=rc.segment, calling=rc.calling)

    def roll_call_entry(self, rc: RollCallState, venue: str) -> RollCallEntry:
        self.venue(venue)
        entry = rc.entries.get(venue)
        if entry is None:
            self.reject("not_on_roll_call",
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

    def fall_back(self, from_venue: str, reason: e.FallbackReason, *, rejoin: bool = True, **params: Param) -> None:
        """The program to the main venue, saying why (`reason`, a code, and its `params`)."""
        previous = self.state.on_air
        self.emit(e.ProgramFellBack(at=self.now, venue=self.main, from_venue=from_venue, previous=previous,
                                    reason=reason, reason_params=params, rejoin=rejoin))
        self.mics_follow_take(previous, self.main)

    def segment_venue_on_air(self, segment: Segment) -> None:
        """The segment's venue on air, or the fallback (saying why) when it is not connected."""
        wanted = self.conference.segment_venue(segment)
        if wanted != self.main and not self.state.venues[wanted].connected:
            self.fall_back(wanted, "segment_venue_not_connected", segment=segment.id, venue=wanted)
        else:
            self.put_on_air(wanted, e.TakeReason.SEGMENT)

    def mics_follow_take(self, previous: str, venue: str) -> None:
        if self.state.venues[venue].muted:
            self.emit(e.MicrophoneUnmuted(at=self.now, venue=venue))
        if previous not in (venue, self.main) and not self.state.venues[previous].muted:
            self.emit(e.MicrophoneMuted(at=self.now, venue=previous))

    def take_checks(self, venue: VenueState, confirm: bool) -> None:
        if not venue.connected:
            self.reject("not_connected", venue=venue.id)
        if self.state.on_air == venue.id:
            self.reject("already_on_air", venue=venue.id)
        if venue.link is LinkQuality.POOR and not confirm:
            self.reject(
                "link_poor_needs_confirm",
                venue=venue.id, loss_pct=venue.loss_pct, rtt_ms=venue.rtt_ms,
            )

    def leave_segment(self, status: e.SegmentEndStatus) -> None:
        """End the current segment; a roll call still running there is finished first, polling stopped."""
        current = self.state.current
        assert current is not None
        rc = self.state.roll_calls.get(current)
        if rc is not None and rc.phase is RollCallPhase.RUNNING:
            self.finish_roll_call(rc, by="segment")
        if self.state.polling is not None:
            self.stop_polling("segment")
        self.emit(e.SegmentEnded(at=self.now, segment=current, status=status))

    def finish_roll_call(self, rc: RollCallState, by: FinishedBy) -> None:
        """Record every venue still open (`_OPEN_AT_FINISH`) and close the roll call."""
        for venue, entry in rc.entries.items():
            recorded = _OPEN_AT_FINISH.get((rc.mode, entry.status, by))
            if recorded is not None:
                status, note = recorded
                self.emit(e.RollCallMarked(at=self.now, segment=rc.segment, venue=venue, status=status,
                                           by="session", note=note))
        done = self.state.roll_calls[rc.segment]
        self.emit(e.RollCallFinished(at=self.now, segment=rc.segment, present=done.count(RollCallStatus.PRESENT),
                                     absent=done.count(RollCallStatus.ABSENT),
                                     no_answer=done.count(RollCallStatus.NO_ANSWER)))

    # ------------------------------------------------------------ called roll call

    def call(self, segment: str, venue: str) -> None:
        """Call `venue`: its time starts and it goes on air (its microphone opens)."""
        rc = self.state.roll_calls[segment]
        assert rc.per_venue is not None
        self.emit(e.RollCallCalled(at=self.now, segment=segment, venue=venue, deadline=self.now + rc.per_venue))
        self.put_on_air(venue, e.TakeReason.ROLL_CALL)

    def call_next(self, segment: str) -> None:
        """Call the next waiting venue in the file's order; nobody left: finish, back to the segment's venue.

        Paused: nothing (resuming calls the next). A venue not connected when its turn
        comes is recorded absent and the call moves on.
        """
        rc = self.state.roll_calls[segment]
        if rc.paused:
            return
        for venue in self.conference.roll_call_venues(self.conference.segment_by_id[segment]):
            if rc.entries[venue].status is not RollCallStatus.WAITING:
                continue
            if self.state.venues[venue].connected:
                self.call(segment, venue)
                return
            self.emit(e.RollCallMarked(at=self.now, segment=segment, venue=venue, status="absent", by="session",
                                       note="not_connected_when_called"))
        self.finish_roll_call(self.state.roll_calls[segment], by="nobody_left")
        self.segment_venue_on_air(self.conference.segment_by_id[segment])

    # ------------------------------------------------------------ polling and the main venue's return

    def start_polling(self, target: PollingTarget, venues: tuple[str, ...], dwell: float, segment: str | None) -> None:
        self.emit(e.PollingStarted(at=self.now, target=target, venues=venues, dwell=dwell, segment=segment))
        if target is PollingTarget.MAIN_RETURN:
            self.emit(e.MainReturnChanged(at=self.now, mode=e.MainReturnMode.POLLING))
        self.polling_step()

    def polling_step(self) -> None:
        """On to the next connected venue of the rotation (on the program for program polling).

        None connected: the step is recorded with no venue, nothing shown changes, and
        the next try is a dwell later.
        """
        polling = self.state.polling
        assert polling is not None
        count = len(polling.venues)
        next_at = self.now + polling.dwell
        for k in range(1, count + 1):
            index = (polling.index + k) % count
            venue = polling.venues[index]
            if self.state.venues[venue].connected:
                self.emit(e.PollingStepped(at=self.now, venue=venue, index=index, next_at=next_at))
                if polling.target is PollingTarget.PROGRAM:
                    self.put_on_air(venue, e.TakeReason.POLLING)
                return
        self.emit(e.PollingStepped(at=self.now, venue=None, index=polling.index, next_at=next_at))

    def stop_polling(self, reason: e.PollingStopReason, *, restore: bool = True) -> None:
        """Stop the polling run; main-return polling gives the return back to what it replaced."""
        polling = self.state.polling
        assert polling is not None
        self.emit(e.PollingStopped(at=self.now, reason=reason))
        if restore and polling.return_to is not None:
            self.set_main_return(polling.return_to)

    def set_main_return(self, wanted: MainReturnState) -> None:
        """Emit the change if `wanted` differs from what the return is set to (a wall pages from now)."""
        if _setting(wanted) == _setting(self.state.main_return):
            return
        next_page_at = self.now + wanted.page_every if wanted.page_every is not None else None
        self.emit(e.MainReturnChanged(at=self.now, mode=wanted.mode, venue=wanted.venue, layout=wanted.layout,
                                      venues=wanted.venues, page_every=wanted.page_every, next_page_at=next_page_at))

    def segment_main_return(self, segment: Segment) -> MainReturnState:
        """What the segment's `main_return` option asks for (the program when it has none)."""
        option = segment.main_return
        if option is None:
            return MainReturnState()
        return return_setting(option.mode, option.venue, option.layout,
                              None if option.venues in (None, ALL_BRANCHES) else tuple(option.venues),
                              option.page_every)

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

        self.segment_venue_on_air(segment)
        open_mics = {self.state.on_air, self.main}
        for v in list(self.state.venues.values()):
            if v.id in open_mics and v.muted:
                self.emit(e.MicrophoneUnmuted(at=now, venue=v.id))
            elif v.id not in open_mics and not v.muted:
                self.emit(e.MicrophoneMuted(at=now, venue=v.id))
        caption = self.default_caption(segment)
        if caption != self.state.caption or self.state.caption_override:
            self.emit(e.CaptionChanged(at=now, caption=caption))
        self.set_main_return(self.segment_main_return(segment))
        polling = segment.polling
        venues = self.conference.listed_branches(polling.venues) if polling else ()
        if polling is not None and venues:
            self.start_polling(polling.target, venues, polling.dwell, segment=segment.id)


# A roll call's open entries when it finishes: (mode, status, finished by) -> (recorded status, note).
_OPEN_AT_FINISH: dict[tuple[RollCallMode, RollCallStatus, FinishedBy], tuple[Literal["absent", "no_answer"], str]] = {
    (RollCallMode.CHECK, RollCallStatus.PENDING, "operator"): ("absent", "no_answer"),
    (RollCallMode.CHECK, RollCallStatus.PENDING, "segment"): ("absent", "no_answer_by_segment_end"),
    (RollCallMode.CALLED, RollCallStatus.PENDING, "operator"): ("no_answer", "no_answer_by_finish"),
    (RollCallMode.CALLED, RollCallStatus.WAITING, "operator"): ("no_answer", "not_called_by_finish"),
    (RollCallMode.CALLED, RollCallStatus.PENDING, "segment"): ("no_answer", "no_answer_by_segment_end"),
    (RollCallMode.CALLED, RollCallStatus.WAITING, "segment"): ("no_answer", "not_called_by_segment_end"),
}


def _setting(mr: MainReturnState) -> tuple:
    """What the return is set to, without where its paging stands."""
    return (mr.mode, mr.venue, mr.layout, mr.venues, mr.page_every)


def return_setting(mode: ReturnMode, venue: str | None, layout: WallLayout | None, venues: tuple[str, ...] | None,
                   page_every: float | None) -> MainReturnState:
    """A main-return setting from the file's or the operator's words (a wall pages every 20 s unless told)."""
    wall = mode is ReturnMode.WALL
    return MainReturnState(mode=e.MainReturnMode(mode.value), venue=venue, layout=layout, venues=venues,
                           page_every=(page_every or DEFAULT_PAGE_EVERY_S) if wall else None)


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
    if d.state.polling is not None:
        d.stop_polling("session_ended")
    if d.state.current is not None:
        d.leave_segment("done")
    for seg in d.state.segments:
        if seg.status is SegmentStatus.PENDING:
            d.emit(e.SegmentSkipped(at=d.now, segment=seg.id))
    for request in d.state.floor_queue:
        d.emit(e.HandLowered(at=d.now, venue=request.venue, reason="session_ended"))
    d.set_main_return(MainReturnState())
    if d.state.recording is not None and d.state.recording.active:
        d.emit(e.RecordingStopped(at=d.now, reason="session_ended"))
    d.emit(e.SessionEnded(at=d.now))


@_decides(c.NextSegment)
def next_segment(d: Decision, cmd: c.NextSegment) -> None:
    i, segment = d.current_segment()
    if i + 1 >= len(d.conference.agenda):
        d.reject("last_segment", segment=segment.id)
    d.enter_segment(i + 1)


@_decides(c.PreviousSegment)
def previous_segment(d: Decision, cmd: c.PreviousSegment) -> None:
    i, segment = d.current_segment()
    if i == 0:
        d.reject("first_segment", segment=segment.id)
    d.enter_segment(i - 1)


@_decides(c.GotoSegment)
def goto_segment(d: Decision, cmd: c.GotoSegment) -> None:
    target = d.index.get(cmd.segment)
    if target is None:
        suggestion = closest(cmd.segment, d.index)
        d.reject("unknown_segment",
                 segment=cmd.segment, suggestion=suggestion)
    if cmd.segment == d.state.current:
        d.reject("already_current_segment", segment=cmd.segment)
    d.enter_segment(target)


# ---------------------------------------------------------------- program and floor


def _manual_take(d: Decision, venue: VenueState, confirm: bool, reason: e.TakeReason) -> None:
    """The operator puts a venue on air (a take or a floor grant): it stops program polling."""
    d.take_checks(venue, confirm)
    d.refuse_while_call_runs()
    if d.program_polling() is not None:
        d.stop_polling("take")
    d.put_on_air(venue.id, reason)


@_decides(c.Take)
def take(d: Decision, cmd: c.Take) -> None:
    _manual_take(d, d.venue(cmd.venue), cmd.confirm, e.TakeReason.TAKE)


@_decides(c.GrantFloor)
def grant_floor(d: Decision, cmd: c.GrantFloor) -> None:
    venue = d.venue(cmd.venue)
    if d.floor_position(cmd.venue) is None:
        d.reject("floor_not_requested", venue=cmd.venue)
    _manual_take(d, venue, cmd.confirm, e.TakeReason.FLOOR)


@_decides(c.RaiseHand)
def raise_hand(d: Decision, cmd: c.RaiseHand) -> None:
    d.connected_venue(cmd.venue)
    if d.state.on_air == cmd.venue:
        d.reject("on_air", venue=cmd.venue)
    if d.floor_position(cmd.venue) is not None:
        d.reject("hand_already_raised", venue=cmd.venue)
    d.emit(e.HandRaised(at=d.now, venue=cmd.venue))


def _lower_hand(d: Decision, venue: str, by: Literal["venue", "operator"]) -> None:
    d.venue(venue)
    if d.floor_position(venue) is None:
        d.reject("hand_not_raised", venue=venue)
    d.emit(e.HandLowered(at=d.now, venue=venue, reason=by))


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
        d.reject("already_muted", venue=cmd.venue)
    d.emit(e.MicrophoneMuted(at=d.now, venue=cmd.venue))


@_decides(c.UnmuteVenue)
def unmute_venue(d: Decision, cmd: c.UnmuteVenue) -> None:
    if not d.venue(cmd.venue).muted:
        d.reject("not_muted", venue=cmd.venue)
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
        d.reject("caption_not_overridden")
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
        d.reject("not_a_roll_call", segment=segment.id)
    existing = d.state.roll_calls.get(segment.id)
    if existing is not None:
        d.reject("roll_call_already_started",
                 segment=segment.id, phase=existing.phase.value)
    listed = d.conference.roll_call_venues(segment)
    if segment.roll_call_mode is RollCallMode.CALLED:
        if d.program_polling() is not None:
            d.reject("polling_in_progress")
        d.emit(e.RollCallStarted(at=d.now, segment=segment.id, venues=listed, mode=RollCallMode.CALLED,
                                 per_venue=segment.roll_call_per_venue))
        d.call_next(segment.id)
        return
    d.emit(e.RollCallStarted(at=d.now, segment=segment.id, venues=listed, mode=RollCallMode.CHECK))
    for venue in listed:
        if d.state.venues[venue].connected:
            d.emit(e.RollCallPrompted(at=d.now, segment=segment.id, venue=venue))
        else:
            d.emit(e.RollCallMarked(at=d.now, segment=segment.id, venue=venue, status="absent", by="session",
                                    note="not_connected_at_start"))


@_decides(c.AnswerRollCall)
def answer_roll_call(d: Decision, cmd: c.AnswerRollCall) -> None:
    rc = d.roll_call(running=True)
    entry = d.roll_call_entry(rc, cmd.venue)
    if rc.mode is RollCallMode.CALLED:
        if rc.calling != cmd.venue:
            d.reject("roll_call_not_your_turn",
                     venue=cmd.venue, calling=rc.calling)
        d.emit(e.RollCallAnswered(at=d.now, segment=rc.segment, venue=cmd.venue, picture_ok=cmd.picture_ok,
                                  sound_ok=cmd.sound_ok))
        d.call_next(rc.segment)
        return
    if entry.status is not RollCallStatus.PENDING:
        d.reject("roll_call_not_asking",
                 venue=cmd.venue, status=entry.status.value)
    d.emit(e.RollCallAnswered(at=d.now, segment=rc.segment, venue=cmd.venue, picture_ok=cmd.picture_ok,
                              sound_ok=cmd.sound_ok))


@_decides(c.MarkRollCall)
def mark_roll_call(d: Decision, cmd: c.MarkRollCall) -> None:
    rc = d.roll_call(running=False)
    entry = d.roll_call_entry(rc, cmd.venue)
    if entry.status.value == cmd.status.value:
        d.reject("roll_call_already_recorded",
                 venue=cmd.venue, status=entry.status.value)
    d.emit(e.RollCallMarked(at=d.now, segment=rc.segment, venue=cmd.venue, status=cmd.status.value, by="operator"))
    if rc.calling == cmd.venue:
        d.call_next(rc.segment)


@_decides(c.RetryRollCall)
def retry_roll_call(d: Decision, cmd: c.RetryRollCall) -> None:
    """Check mode: prompt the venue again. Called mode: call it now (reopening a finished roll call)."""
    rc = d.roll_call(running=False)
    if rc.mode is RollCallMode.CHECK:
        rc = d.roll_call(running=True)
    d.roll_call_entry(rc, cmd.venue)
    d.connected_venue(cmd.venue)
    if rc.mode is RollCallMode.CHECK:
        d.emit(e.RollCallPrompted(at=d.now, segment=rc.segment, venue=cmd.venue))
        return
    if rc.paused:
        d.reject("roll_call_paused", segment=rc.segment)
    if d.program_polling() is not None:
        d.reject("polling_in_progress")
    if rc.phase is RollCallPhase.FINISHED:
        d.emit(e.RollCallReopened(at=d.now, segment=rc.segment, venue=cmd.venue))
    elif rc.calling is not None and rc.calling != cmd.venue:
        d.emit(e.RollCallRequeued(at=d.now, segment=rc.segment, venue=rc.calling, reason="recall"))
    d.call(rc.segment, cmd.venue)


@_decides(c.FinishRollCall)
def finish_roll_call(d: Decision, cmd: c.FinishRollCall) -> None:
    rc = d.roll_call(running=True)
    d.finish_roll_call(rc, by="operator")
    if rc.mode is RollCallMode.CALLED:
        d.segment_venue_on_air(d.current_segment()[1])


@_decides(c.PauseRollCall)
def pause_roll_call(d: Decision, cmd: c.PauseRollCall) -> None:
    rc = d.called_roll_call()
    if rc.paused:
        d.reject("roll_call_already_paused", segment=rc.segment)
    left = max(rc.call_deadline - d.now, 0.0) if rc.call_deadline is not None else None
    d.emit(e.RollCallPaused(at=d.now, segment=rc.segment, left=left))


@_decides(c.ResumeRollCall)
def resume_roll_call(d: Decision, cmd: c.ResumeRollCall) -> None:
    rc = d.called_roll_call()
    if not rc.paused:
        d.reject("roll_call_not_paused", segment=rc.segment)
    if rc.calling is None:
        d.emit(e.RollCallResumed(at=d.now, segment=rc.segment, deadline=None))
        d.call_next(rc.segment)
        return
    d.emit(e.RollCallResumed(at=d.now, segment=rc.segment, deadline=d.now + (rc.call_left or 0.0)))
    d.put_on_air(rc.calling, e.TakeReason.ROLL_CALL)


@_decides(c.SkipRollCallVenue)
def skip_roll_call_venue(d: Decision, cmd: c.SkipRollCallVenue) -> None:
    rc = d.called_roll_call()
    if rc.calling is None:
        d.reject("roll_call_nobody_called", segment=rc.segment)
    d.emit(e.RollCallMarked(at=d.now, segment=rc.segment, venue=rc.calling, status="no_answer", by="operator",
                            note="skipped"))
    d.call_next(rc.segment)


# ---------------------------------------------------------------- polling and the main venue's return


@_decides(c.StartPolling)
def start_polling(d: Decision, cmd: c.StartPolling) -> None:
    if d.state.polling is not None:
        d.reject("polling_already_running",
                 target=d.state.polling.target.value)
    if cmd.target is PollingTarget.PROGRAM:
        rc = d.running_call()
        if rc is not None:
            d.reject("roll_call_in_progress", segment=rc.segment)
    d.start_polling(cmd.target, d.branch_list(cmd.venues), cmd.dwell_s, segment=None)


@_decides(c.PausePolling)
def pause_polling(d: Decision, cmd: c.PausePolling) -> None:
    polling = d.polling()
    if polling.paused:
        d.reject("polling_already_paused")
    assert polling.next_at is not None
    d.emit(e.PollingPaused(at=d.now, left=max(polling.next_at - d.now, 0.0)))


@_decides(c.ResumePolling)
def resume_polling(d: Decision, cmd: c.ResumePolling) -> None:
    """The polling goes on where it was: its venue back on the program, or the next one if it left."""
    polling = d.polling()
    if not polling.paused:
        d.reject("polling_not_paused")
    d.emit(e.PollingResumed(at=d.now, next_at=d.now + (polling.left or 0.0)))
    current = polling.current
    if current is None or not d.state.venues[current].connected:
        d.polling_step()
    elif polling.target is PollingTarget.PROGRAM:
        d.put_on_air(current, e.TakeReason.POLLING)


@_decides(c.StopPolling)
def stop_polling(d: Decision, cmd: c.StopPolling) -> None:
    d.polling()
    d.stop_polling("operator")


@_decides(c.SetMainReturn)
def set_main_return(d: Decision, cmd: c.SetMainReturn) -> None:
    options = {"venue": cmd.venue, "layout": cmd.layout, "venues": cmd.venues, "page_every_s": cmd.page_every_s}
    allowed = _RETURN_OPTIONS[cmd.mode]
    for name, value in options.items():
        if value is not None and name not in allowed:
            d.reject("main_return_option_not_for_mode",
                     option=name, mode=cmd.mode.value)
    venues = None
    if cmd.mode is ReturnMode.SINGLE:
        if cmd.venue is None:
            d.reject("main_return_venue_missing")
        d.venue(cmd.venue)
        if cmd.venue == d.main:
            d.reject("main_venue_listed", venue=cmd.venue, option="venue")
        d.connected_venue(cmd.venue)
    elif cmd.mode is ReturnMode.WALL:
        if cmd.layout is None:
            d.reject("main_return_layout_missing")
        venues = d.branch_list(cmd.venues) if cmd.venues is not None else None
    wanted = return_setting(cmd.mode, cmd.venue, cmd.layout, venues, cmd.page_every_s)
    polling = d.state.polling
    if polling is not None and polling.target is PollingTarget.MAIN_RETURN:
        d.stop_polling("main_return", restore=False)
    elif _setting(wanted) == _setting(d.state.main_return):
        d.reject("main_return_unchanged",
                 mode=cmd.mode.value)
    d.set_main_return(wanted)


_RETURN_OPTIONS: dict[ReturnMode, frozenset[str]] = {
    ReturnMode.PROGRAM: frozenset(),
    ReturnMode.SINGLE: frozenset({"venue"}),
    ReturnMode.WALL: frozenset({"layout", "venues", "page_every_s"}),
}


@_decides(c.Tick)
def tick(d: Decision, cmd: c.Tick) -> None:
    """Whatever is due at `now` (see `timers`): a called venue's time, a polling step, a wall page."""
    due = timers.call_due_at(d.state)
    if due is not None and due <= d.now:
        rc = d.running_call()
        assert rc is not None and rc.calling is not None and rc.per_venue is not None
        d.emit(e.RollCallMarked(at=d.now, segment=rc.segment, venue=rc.calling, status="no_answer", by="session",
                                note="no_answer_in_time",
                                note_params={"within_s": rc.per_venue}))
        d.call_next(rc.segment)
    due = timers.polling_due_at(d.state)
    if due is not None and due <= d.now:
        d.polling_step()
    due = timers.wall_due_at(d.state, d.conference)
    if due is not None and due <= d.now:
        mr = d.state.main_return
        assert mr.page_every is not None
        d.emit(e.WallPaged(at=d.now, page=(mr.page + 1) % wall_pages(d.state, d.conference),
                           next_at=d.now + mr.page_every))


# ---------------------------------------------------------------- recording


def _recording_runs(d: Decision) -> None:
    if d.state.recording is None or not d.state.recording.active:
        d.reject("recording_not_running")


@_decides(c.StartRecording)
def start_recording(d: Decision, cmd: c.StartRecording) -> None:
    if d.state.recording is not None and d.state.recording.active:
        d.reject("recording_already_running")
    d.emit(e.RecordingStarted(at=d.now))


@_decides(c.StopRecording)
def stop_recording(d: Decision, cmd: c.StopRecording) -> None:
    _recording_runs(d)
    d.emit(e.RecordingStopped(at=d.now, reason="operator"))


@_decides(c.RecordingFailed)
def recording_failed(d: Decision, cmd: c.RecordingFailed) -> None:
    _recording_runs(d)
    d.emit(e.RecordingStopped(at=d.now, reason=cmd.failure, detail=cmd.detail))


# ---------------------------------------------------------------- awards


@_decides(c.NextAward)
def next_award(d: Decision, cmd: c.NextAward) -> None:
    _, segment = d.current_segment()
    if segment.kind is not SegmentKind.AWARD_PRESENTATION:
        d.reject("not_an_award_presentation",
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
        d.reject("already_connected", venue=cmd.venue)
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
            if rc.mode is RollCallMode.CALLED:
                # it waits for its turn, after the venue being called now (a reopened roll call
                # calls only the venues the operator recalls)
                if not rc.reopened:
                    d.emit(e.RollCallRequeued(at=d.now, segment=segment.id, venue=cmd.venue, reason="rejoined"))
            else:
                d.emit(e.RollCallPrompted(at=d.now, segment=segment.id, venue=cmd.venue))


@_decides(c.LeaveVenue)
def leave_venue(d: Decision, cmd: c.LeaveVenue) -> None:
    d.connected_venue(cmd.venue)
    d.emit(e.VenueLeft(at=d.now, venue=cmd.venue, reason=cmd.reason))
    if d.floor_position(cmd.venue) is not None:
        d.emit(e.HandLowered(at=d.now, venue=cmd.venue, reason="disconnected"))
    rc = d.running_call()
    called = rc is not None and rc.calling == cmd.venue
    polled = d.state.polling is not None and d.state.polling.current == cmd.venue
    if d.state.on_air == cmd.venue and cmd.venue != d.main:
        # a called or polled venue does not come back on air when it rejoins: the call or polling moves on
        moves_on = called or (polled and d.program_polling() is not None)
        d.fall_back(cmd.venue, "venue_disconnected", rejoin=not moves_on, venue=cmd.venue, left=cmd.reason)
    if called:
        assert rc is not None
        d.emit(e.RollCallMarked(at=d.now, segment=rc.segment, venue=cmd.venue, status="absent", by="session",
                                note="disconnected_while_called"))
        d.call_next(rc.segment)
    polling = d.state.polling
    if polled and polling is not None and not polling.paused:
        d.polling_step()


@_decides(c.RecordServerStart)
def record_server_start(d: Decision, cmd: c.RecordServerStart) -> None:
    connected = tuple(v for v, vs in d.state.venues.items() if vs.connected)
    d.emit(e.ServerStarted(at=d.now, venues_connected=connected, restart_grace_s=cmd.restart_grace_s))


@_decides(c.ReportMediaNodeLost)
def report_media_node_lost(d: Decision, cmd: c.ReportMediaNodeLost) -> None:
    d.emit(e.MediaNodeLost(at=d.now, node=cmd.node, venues=tuple(cmd.venues), reason=cmd.reason))


@_decides(c.ReportMediaNodeBack)
def report_media_node_back(d: Decision, cmd: c.ReportMediaNodeBack) -> None:
    lost = d.state.media_nodes.get(cmd.node)
    if lost is not None and lost.back_at is None:  # a node that was never lost, or is back already, is no news
        d.emit(e.MediaNodeBack(at=d.now, node=cmd.node))


@_decides(c.ReportLink)
def report_link(d: Decision, cmd: c.ReportLink) -> None:
    venue = d.connected_venue(cmd.venue)
    poor = cmd.loss_pct >= POOR_LOSS_PCT or cmd.rtt_ms >= POOR_RTT_MS
    good = cmd.loss_pct < RECOVERED_LOSS_PCT and cmd.rtt_ms < RECOVERED_RTT_MS
    if venue.link is LinkQuality.GOOD and poor:
        d.emit(e.VenueLinkDegraded(at=d.now, venue=cmd.venue, loss_pct=cmd.loss_pct, rtt_ms=cmd.rtt_ms))
    elif venue.link is LinkQuality.POOR and good:
        d.emit(e.VenueLinkRecovered(at=d.now, venue=cmd.venue))


assert set(ALLOWED_PHASES) == set(DECIDERS), "every command needs a phase rule and a decider"
