"""The session state machine.

Theory of operation
-------------------
`Session.handle(command, now)` first checks the command against the session phase
(`ALLOWED_PHASES`, a table), then a decider for the command type checks it against the
state and *emits* events. Emitting applies the event to the state at once, so a decider
can build on what it already emitted (a take, then the microphone changes it implies).
The first emit works on a copy of the state; if the decider then raises, the copy is
thrown away, so a rejected command never changes anything. `handle` returns the events.

`Session.apply(event)` is the only code that changes state, and `Session.replay` is
`apply` over a log: a replayed session equals the live one.

Rules the deciders hold to:

- the program is always on one venue: the on-air venue is connected, or it is the main
  venue (the fallback); when the on-air venue drops, the program falls back and says why;
  if the segment's venue comes back in the same segment, it goes back on air;
- starting a segment puts its venue on air and opens only the on-air and main venues'
  microphones; a take opens the new venue's microphone and closes the previous one's;
- a roll call records every listed venue: venues not connected at the start are absent,
  never silently skipped; finishing records the silent ones as absent;
- the floor queue is ordered by request time and never holds a venue twice.

Time is passed in (`now`, unix seconds); the core never reads a clock.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..conference import Conference, Segment, SegmentKind
from . import commands as c
from . import events as e
from .errors import CommandRejected, ReplayError
from .state import (
    ROLL_CALL_TRANSITIONS,
    SEGMENT_TRANSITIONS,
    SESSION_TRANSITIONS,
    AwardPosition,
    FloorRequest,
    LinkQuality,
    RollCallEntry,
    RollCallPhase,
    RollCallState,
    RollCallStatus,
    SegmentState,
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

_PHASE_SAYS = {
    _S: "the session has not started",
    _R: "the session is already running",
    _E: "the session has ended",
}

C = TypeVar("C")
_DECIDERS: dict[type, Callable[[Session, Any, float], None]] = {}
_APPLIERS: dict[type, Callable[[Session, Any], None]] = {}


def _decides(kind: type[C]):
    def register(fn: Callable[[Session, C, float], None]):
        _DECIDERS[kind] = fn
        return fn

    return register


def _applies(kind: type):
    def register(fn):
        _APPLIERS[kind] = fn
        return fn

    return register


@dataclass(frozen=True)
class SegmentTiming:
    id: str
    status: str
    planned: float
    elapsed: float
    remaining: float
    overrun: float  # seconds past planned (0 when within)


@dataclass(frozen=True)
class SessionTiming:
    now: float
    segments: tuple[SegmentTiming, ...]
    current: SegmentTiming | None
    planned_end: float  # scheduled start + total planned
    projected_end: float  # from now and what remains


class Session:
    """A conference's live session. Drive it with `handle`; rebuild it with `replay`."""

    def __init__(self, conference: Conference):
        self.conference = conference
        main = conference.main_venue.id
        self._state = SessionState(
            conference=conference.conference.id,
            segments=[SegmentState(id=s.id) for s in conference.agenda],
            on_air=main,
            venues={v.id: VenueState(id=v.id, muted=v.id != main) for v in conference.venues},
        )
        self._index = {s.id: i for i, s in enumerate(conference.agenda)}
        self._backup: SessionState | None = None
        self._emitted: list[e.Event] | None = None

    # ------------------------------------------------------------ public API

    @property
    def state(self) -> SessionState:
        """The current state (do not mutate; use `snapshot()` for a copy to keep)."""
        return self._state

    def snapshot(self) -> SessionState:
        return self._state.model_copy(deep=True)

    @classmethod
    def replay(cls, conference: Conference, events: Iterable[e.Event]) -> Session:
        session = cls(conference)
        for event in events:
            session.apply(event)
        return session

    def handle(self, command: c.Command, now: float) -> list[e.Event]:
        """Decide and apply one command. Raises CommandRejected (state unchanged)."""
        kind = type(command)
        phase = self._state.phase
        if phase not in ALLOWED_PHASES[kind]:
            self._reject(command, _PHASE_SAYS[phase])
        self._emitted, self._backup = [], None
        try:
            _DECIDERS[kind](self, command, now)
        except BaseException:
            if self._backup is not None:
                self._state = self._backup
            raise
        finally:
            emitted, self._emitted, self._backup = self._emitted, None, None
        return emitted

    def apply(self, event: e.Event) -> None:
        """Change the state by one event (live or replayed)."""
        try:
            _APPLIERS[type(event)](self, event)
        except KeyError as exc:
            raise ReplayError(f"it names '{exc.args[0]}', which this conference does not have") from exc
        except ValueError as exc:
            raise ReplayError(str(exc)) from exc

    def timing(self, now: float) -> SessionTiming:
        st = self._state
        rows = []
        for seg, cfg in zip(st.segments, self.conference.agenda):
            elapsed = seg.elapsed_at(now)
            open_ = seg.status in (SegmentStatus.PENDING, SegmentStatus.RUNNING)
            rows.append(
                SegmentTiming(
                    id=seg.id,
                    status=seg.status.value,
                    planned=cfg.planned,
                    elapsed=elapsed,
                    remaining=max(cfg.planned - elapsed, 0.0) if open_ else 0.0,
                    overrun=max(elapsed - cfg.planned, 0.0),
                )
            )
        scheduled = self.conference.starts_at.timestamp()
        planned_end = scheduled + self.conference.planned_total
        if st.phase is SessionPhase.SCHEDULED:
            projected = max(now, scheduled) + self.conference.planned_total
        elif st.phase is SessionPhase.RUNNING:
            projected = now + sum(r.remaining for r in rows)
        else:
            projected = st.ended_at or now
        current = rows[self._index[st.current]] if st.current else None
        return SessionTiming(now, tuple(rows), current, planned_end, projected)

    # ------------------------------------------------------------ helpers

    def _emit(self, event: e.Event) -> None:
        assert self._emitted is not None, "emit outside handle()"
        if self._backup is None:
            self._backup = self._state
            self._state = self._state.model_copy(deep=True)
        self.apply(event)
        self._emitted.append(event)

    def _reject(self, command: Any, why: str) -> None:
        raise CommandRejected(f"cannot {DOING[type(command)](command)}: {why}")

    @property
    def _main(self) -> str:
        return self.conference.main_venue.id

    def _venue(self, command: Any, venue: str) -> VenueState:
        found = self._state.venues.get(venue)
        if found is None:
            close = difflib.get_close_matches(venue, list(self._state.venues), n=1, cutoff=0.7)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            self._reject(command, f"there is no venue '{venue}' in this conference{hint}")
        return found

    def _current_segment(self) -> tuple[int, Segment]:
        assert self._state.current is not None
        i = self._index[self._state.current]
        return i, self.conference.agenda[i]

    def _default_caption(self, segment: Segment) -> e.Caption | None:
        if segment.kind is SegmentKind.AWARD_ANNOUNCEMENT and segment.awards:
            titles = [self.conference.award_by_id[a].title for a in segment.awards]
            return e.Caption(kind=e.CaptionKind.AWARD_LIST, text=" · ".join(titles))
        if segment.speaker:
            return e.Caption(kind=e.CaptionKind.SPEAKER, text=segment.speaker, venue=self.conference.segment_venue(segment))
        return None

    def _put_on_air(self, venue: str, now: float, reason: e.TakeReason) -> None:
        """Take `venue` (its raised hand is answered), open its microphone, close the previous branch's."""
        previous = self._state.on_air
        if self._floor_position(venue) is not None:
            self._emit(e.HandLowered(at=now, venue=venue, reason="taken" if reason is not e.TakeReason.FLOOR else "granted"))
        if venue != previous:
            self._emit(e.VenueTookAir(at=now, venue=venue, previous=previous, reason=reason))
        self._mics_follow_take(previous, venue, now)

    def _fall_back(self, from_venue: str, now: float, why: str) -> None:
        previous = self._state.on_air
        self._emit(e.ProgramFellBack(at=now, venue=self._main, from_venue=from_venue, previous=previous, reason=why))
        self._mics_follow_take(previous, self._main, now)

    def _mics_follow_take(self, previous: str, venue: str, now: float) -> None:
        venues = self._state.venues
        if venues[venue].muted:
            self._emit(e.MicrophoneUnmuted(at=now, venue=venue))
        if previous not in (venue, self._main) and not venues[previous].muted:
            self._emit(e.MicrophoneMuted(at=now, venue=previous))

    def _enter_segment(self, target: int, now: float) -> None:
        st = self._state
        going_back = st.current is not None and target < self._index[st.current]
        if st.current is not None:
            self._emit(e.SegmentEnded(at=now, segment=st.current, status="pending" if going_back else "done"))
            first_jumped = self._index[st.current] + 1
        else:
            first_jumped = 0
        for seg in st.segments[first_jumped:target]:
            if seg.status is SegmentStatus.PENDING:
                self._emit(e.SegmentSkipped(at=now, segment=seg.id))
        segment = self.conference.agenda[target]
        self._emit(e.SegmentStarted(at=now, segment=segment.id))

        wanted = self.conference.segment_venue(segment)
        if wanted != self._main and not st.venues[wanted].connected:
            self._fall_back(wanted, now, f"segment '{segment.id}' is on air from '{wanted}', which is not connected")
        else:
            self._put_on_air(wanted, now, e.TakeReason.SEGMENT)
        open_mics = {st.on_air, self._main}
        for v in st.venues.values():
            if v.id in open_mics and v.muted:
                self._emit(e.MicrophoneUnmuted(at=now, venue=v.id))
            elif v.id not in open_mics and not v.muted:
                self._emit(e.MicrophoneMuted(at=now, venue=v.id))
        caption = self._default_caption(segment)
        if caption != st.caption or st.caption_override:
            self._emit(e.CaptionChanged(at=now, caption=caption))

    def _take_checks(self, command: Any, venue: VenueState, confirm: bool) -> None:
        if not venue.connected:
            self._reject(command, "it is not connected")
        if self._state.on_air == venue.id:
            self._reject(command, "it is already on air")
        if venue.link is LinkQuality.POOR and not confirm:
            self._reject(
                command,
                f"its link is poor (loss {venue.loss_pct:.1f}%, round trip {venue.rtt_ms:.0f} ms); "
                "confirm to put it on air anyway",
            )

    def _roll_call(self, command: Any, *, running: bool) -> RollCallState:
        st = self._state
        _, segment = self._current_segment()
        if segment.kind is not SegmentKind.ROLL_CALL:
            self._reject(command, f"segment '{segment.id}' is not a roll call")
        rc = st.roll_calls.get(segment.id)
        if rc is None:
            self._reject(command, f"the roll call of '{segment.id}' has not started")
        if running and rc.phase is not RollCallPhase.RUNNING:
            self._reject(command, f"the roll call of '{segment.id}' has finished")
        return rc

    def _roll_call_entry(self, command: Any, rc: RollCallState, venue: str) -> RollCallEntry:
        self._venue(command, venue)
        entry = rc.entries.get(venue)
        if entry is None:
            self._reject(command, f"'{venue}' is not on the roll call of '{rc.segment}'")
        return entry

    def _floor_position(self, venue: str) -> int | None:
        return next((i for i, r in enumerate(self._state.floor_queue) if r.venue == venue), None)


# ---------------------------------------------------------------- deciders


@_decides(c.StartSession)
def _start_session(s: Session, cmd: c.StartSession, now: float) -> None:
    s._emit(e.SessionStarted(at=now))
    s._enter_segment(0, now)


@_decides(c.EndSession)
def _end_session(s: Session, cmd: c.EndSession, now: float) -> None:
    st = s._state
    if st.current is not None:
        s._emit(e.SegmentEnded(at=now, segment=st.current, status="done"))
    for seg in st.segments:
        if seg.status is SegmentStatus.PENDING:
            s._emit(e.SegmentSkipped(at=now, segment=seg.id))
    for request in list(st.floor_queue):
        s._emit(e.HandLowered(at=now, venue=request.venue, reason="session_ended"))
    s._emit(e.SessionEnded(at=now))


@_decides(c.NextSegment)
def _next_segment(s: Session, cmd: c.NextSegment, now: float) -> None:
    i, segment = s._current_segment()
    if i + 1 >= len(s.conference.agenda):
        s._reject(cmd, f"'{segment.id}' is the last segment; end the session instead")
    s._enter_segment(i + 1, now)


@_decides(c.PreviousSegment)
def _previous_segment(s: Session, cmd: c.PreviousSegment, now: float) -> None:
    i, segment = s._current_segment()
    if i == 0:
        s._reject(cmd, f"'{segment.id}' is the first segment")
    s._enter_segment(i - 1, now)


@_decides(c.GotoSegment)
def _goto_segment(s: Session, cmd: c.GotoSegment, now: float) -> None:
    target = s._index.get(cmd.segment)
    if target is None:
        close = difflib.get_close_matches(cmd.segment, list(s._index), n=1, cutoff=0.7)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        s._reject(cmd, f"there is no segment '{cmd.segment}' in the agenda{hint}")
    if cmd.segment == s._state.current:
        s._reject(cmd, "it is already the current segment")
    s._enter_segment(target, now)


@_decides(c.Take)
def _take(s: Session, cmd: c.Take, now: float) -> None:
    venue = s._venue(cmd, cmd.venue)
    s._take_checks(cmd, venue, cmd.confirm)
    s._put_on_air(cmd.venue, now, e.TakeReason.TAKE)


@_decides(c.GrantFloor)
def _grant_floor(s: Session, cmd: c.GrantFloor, now: float) -> None:
    venue = s._venue(cmd, cmd.venue)
    if s._floor_position(cmd.venue) is None:
        s._reject(cmd, f"'{cmd.venue}' has not asked for the floor")
    s._take_checks(cmd, venue, cmd.confirm)
    s._put_on_air(cmd.venue, now, e.TakeReason.FLOOR)


@_decides(c.RaiseHand)
def _raise_hand(s: Session, cmd: c.RaiseHand, now: float) -> None:
    venue = s._venue(cmd, cmd.venue)
    if not venue.connected:
        s._reject(cmd, "it is not connected")
    if s._state.on_air == cmd.venue:
        s._reject(cmd, "it is on air")
    if s._floor_position(cmd.venue) is not None:
        s._reject(cmd, "it has already asked for the floor")
    s._emit(e.HandRaised(at=now, venue=cmd.venue))


def _lower(s: Session, cmd: c.LowerHand | c.DismissHand, now: float, by: str) -> None:
    s._venue(cmd, cmd.venue)
    if s._floor_position(cmd.venue) is None:
        s._reject(cmd, "its hand is not raised")
    s._emit(e.HandLowered(at=now, venue=cmd.venue, reason=by))


_decides(c.LowerHand)(lambda s, cmd, now: _lower(s, cmd, now, "venue"))
_decides(c.DismissHand)(lambda s, cmd, now: _lower(s, cmd, now, "operator"))


@_decides(c.MuteVenue)
def _mute(s: Session, cmd: c.MuteVenue, now: float) -> None:
    if s._venue(cmd, cmd.venue).muted:
        s._reject(cmd, "it is already muted")
    s._emit(e.MicrophoneMuted(at=now, venue=cmd.venue))


@_decides(c.UnmuteVenue)
def _unmute(s: Session, cmd: c.UnmuteVenue, now: float) -> None:
    if not s._venue(cmd, cmd.venue).muted:
        s._reject(cmd, "it is not muted")
    s._emit(e.MicrophoneUnmuted(at=now, venue=cmd.venue))


@_decides(c.MuteAllButOnAir)
def _mute_all_but_on_air(s: Session, cmd: c.MuteAllButOnAir, now: float) -> None:
    for v in list(s._state.venues.values()):
        if v.id != s._state.on_air and not v.muted:
            s._emit(e.MicrophoneMuted(at=now, venue=v.id))


@_decides(c.SetCaption)
def _set_caption(s: Session, cmd: c.SetCaption, now: float) -> None:
    s._emit(e.CaptionChanged(at=now, caption=e.Caption(kind=e.CaptionKind.OVERRIDE, text=cmd.text), override=True))


@_decides(c.ResetCaption)
def _reset_caption(s: Session, cmd: c.ResetCaption, now: float) -> None:
    if not s._state.caption_override:
        s._reject(cmd, "the caption is not overridden")
    caption = s._default_caption(s._current_segment()[1]) if s._state.current else None
    s._emit(e.CaptionChanged(at=now, caption=caption))


@_decides(c.RevokeLink)
def _revoke_link(s: Session, cmd: c.RevokeLink, now: float) -> None:
    """The venue's links stop working; if it is connected, it will be cut off (and leave)."""
    s._venue(cmd, cmd.venue)
    s._emit(e.LinkRevoked(at=now, venue=cmd.venue))


@_decides(c.StartRollCall)
def _start_roll_call(s: Session, cmd: c.StartRollCall, now: float) -> None:
    _, segment = s._current_segment()
    if segment.kind is not SegmentKind.ROLL_CALL:
        s._reject(cmd, f"segment '{segment.id}' is not a roll call")
    existing = s._state.roll_calls.get(segment.id)
    if existing is not None:
        s._reject(cmd, f"the roll call of '{segment.id}' is already {existing.phase.value}; retry a venue instead")
    listed = s.conference.roll_call_venues(segment)
    s._emit(e.RollCallStarted(at=now, segment=segment.id, venues=listed))
    for venue in listed:
        if s._state.venues[venue].connected:
            s._emit(e.RollCallPrompted(at=now, segment=segment.id, venue=venue))
        else:
            s._emit(
                e.RollCallMarked(
                    at=now, segment=segment.id, venue=venue, status="absent", by="session",
                    note="not connected when the roll call started",
                )
            )


@_decides(c.AnswerRollCall)
def _answer_roll_call(s: Session, cmd: c.AnswerRollCall, now: float) -> None:
    rc = s._roll_call(cmd, running=True)
    entry = s._roll_call_entry(cmd, rc, cmd.venue)
    if entry.status is not RollCallStatus.PENDING:
        s._reject(cmd, f"it is not being asked (recorded {entry.status.value})")
    s._emit(
        e.RollCallAnswered(at=now, segment=rc.segment, venue=cmd.venue, picture_ok=cmd.picture_ok, sound_ok=cmd.sound_ok)
    )


@_decides(c.MarkRollCall)
def _mark_roll_call(s: Session, cmd: c.MarkRollCall, now: float) -> None:
    rc = s._roll_call(cmd, running=False)
    entry = s._roll_call_entry(cmd, rc, cmd.venue)
    if entry.status.value == cmd.status.value:
        s._reject(cmd, f"it is already recorded {entry.status.value}")
    s._emit(e.RollCallMarked(at=now, segment=rc.segment, venue=cmd.venue, status=cmd.status.value, by="operator"))


@_decides(c.RetryRollCall)
def _retry_roll_call(s: Session, cmd: c.RetryRollCall, now: float) -> None:
    rc = s._roll_call(cmd, running=True)
    s._roll_call_entry(cmd, rc, cmd.venue)
    if not s._state.venues[cmd.venue].connected:
        s._reject(cmd, "it is not connected")
    s._emit(e.RollCallPrompted(at=now, segment=rc.segment, venue=cmd.venue))


@_decides(c.FinishRollCall)
def _finish_roll_call(s: Session, cmd: c.FinishRollCall, now: float) -> None:
    rc = s._roll_call(cmd, running=True)
    for entry in list(rc.entries.values()):
        if entry.status is RollCallStatus.PENDING:
            s._emit(
                e.RollCallMarked(at=now, segment=rc.segment, venue=entry.venue, status="absent", by="session", note="no answer")
            )
    rc = s._state.roll_calls[rc.segment]
    s._emit(
        e.RollCallFinished(
            at=now, segment=rc.segment, present=rc.count(RollCallStatus.PRESENT), absent=rc.count(RollCallStatus.ABSENT)
        )
    )


@_decides(c.NextAward)
def _next_award(s: Session, cmd: c.NextAward, now: float) -> None:
    _, segment = s._current_segment()
    if segment.kind is not SegmentKind.AWARD_PRESENTATION:
        s._reject(cmd, f"segment '{segment.id}' is not an award presentation")
    awards = [s.conference.award_by_id[a] for a in segment.awards or ()]
    pos = s._state.award_positions.get(segment.id)
    if pos is None:
        a, r = 0, 0
    elif pos.recipient_index + 1 < len(awards[pos.award_index].recipients):
        a, r = pos.award_index, pos.recipient_index + 1
    else:
        a, r = pos.award_index + 1, 0
    if a >= len(awards):
        total = sum(len(x.recipients) for x in awards)
        s._reject(cmd, f"all {total} awards of '{segment.id}' have been presented")
    award, recipient = awards[a], awards[a].recipients[r]
    s._emit(
        e.AwardPresented(
            at=now, segment=segment.id, award=award.id, award_index=a, recipient_index=r,
            recipient=recipient.name, venue=recipient.venue,
        )
    )
    caption = e.Caption(
        kind=e.CaptionKind.AWARD, text=f"{award.title}: {recipient.name}", award=award.id,
        category=award.title, recipient=recipient.name, venue=recipient.venue,
    )
    s._emit(e.CaptionChanged(at=now, caption=caption))


@_decides(c.JoinVenue)
def _join_venue(s: Session, cmd: c.JoinVenue, now: float) -> None:
    venue = s._venue(cmd, cmd.venue)
    if venue.connected:
        s._reject(cmd, "it is already connected")
    s._emit(e.VenueJoined(at=now, venue=cmd.venue))
    st = s._state
    if st.fallback_from == cmd.venue:
        s._put_on_air(cmd.venue, now, e.TakeReason.REJOINED)
    if st.phase is not SessionPhase.RUNNING:
        return
    _, segment = s._current_segment()
    rc = st.roll_calls.get(segment.id)
    if rc and rc.phase is RollCallPhase.RUNNING:
        entry = rc.entries.get(cmd.venue)
        if entry is not None and entry.status is RollCallStatus.ABSENT and entry.by == "session":
            s._emit(e.RollCallPrompted(at=now, segment=segment.id, venue=cmd.venue))


@_decides(c.LeaveVenue)
def _leave_venue(s: Session, cmd: c.LeaveVenue, now: float) -> None:
    venue = s._venue(cmd, cmd.venue)
    if not venue.connected:
        s._reject(cmd, "it is not connected")
    s._emit(e.VenueLeft(at=now, venue=cmd.venue, reason=cmd.reason))
    if s._floor_position(cmd.venue) is not None:
        s._emit(e.HandLowered(at=now, venue=cmd.venue, reason="disconnected"))
    if s._state.on_air == cmd.venue and cmd.venue != s._main:
        s._fall_back(cmd.venue, now, f"'{cmd.venue}' disconnected ({cmd.reason})")


@_decides(c.ReportLink)
def _report_link(s: Session, cmd: c.ReportLink, now: float) -> None:
    venue = s._venue(cmd, cmd.venue)
    if not venue.connected:
        s._reject(cmd, "it is not connected")
    poor = cmd.loss_pct >= POOR_LOSS_PCT or cmd.rtt_ms >= POOR_RTT_MS
    good = cmd.loss_pct < RECOVERED_LOSS_PCT and cmd.rtt_ms < RECOVERED_RTT_MS
    if venue.link is LinkQuality.GOOD and poor:
        s._emit(e.VenueLinkDegraded(at=now, venue=cmd.venue, loss_pct=cmd.loss_pct, rtt_ms=cmd.rtt_ms))
    elif venue.link is LinkQuality.POOR and good:
        s._emit(e.VenueLinkRecovered(at=now, venue=cmd.venue))


# ---------------------------------------------------------------- appliers


def _phase(s: Session, to: SessionPhase) -> None:
    if to not in SESSION_TRANSITIONS[s._state.phase]:
        raise ValueError(f"session cannot go from {s._state.phase.value} to {to.value}")
    s._state.phase = to


def _segment_status(seg: SegmentState, to: SegmentStatus) -> None:
    if to not in SEGMENT_TRANSITIONS[seg.status]:
        raise ValueError(f"segment '{seg.id}' cannot go from {seg.status.value} to {to.value}")
    seg.status = to


def _segment(s: Session, segment_id: str) -> SegmentState:
    return s._state.segments[s._index[segment_id]]


@_applies(e.SessionStarted)
def _(s: Session, ev: e.SessionStarted) -> None:
    _phase(s, SessionPhase.RUNNING)
    s._state.started_at = ev.at


@_applies(e.SessionEnded)
def _(s: Session, ev: e.SessionEnded) -> None:
    _phase(s, SessionPhase.ENDED)
    s._state.ended_at = ev.at
    s._state.current = None
    s._state.fallback_from = None


@_applies(e.SegmentStarted)
def _(s: Session, ev: e.SegmentStarted) -> None:
    seg = _segment(s, ev.segment)
    _segment_status(seg, SegmentStatus.RUNNING)
    seg.started_at = seg.started_at if seg.started_at is not None else ev.at
    seg.resumed_at = ev.at
    s._state.current = ev.segment
    s._state.fallback_from = None


@_applies(e.SegmentEnded)
def _(s: Session, ev: e.SegmentEnded) -> None:
    seg = _segment(s, ev.segment)
    seg.elapsed = seg.elapsed_at(ev.at)
    _segment_status(seg, SegmentStatus(ev.status))
    seg.ended_at, seg.resumed_at = ev.at, None
    s._state.current = None


@_applies(e.SegmentSkipped)
def _(s: Session, ev: e.SegmentSkipped) -> None:
    _segment_status(_segment(s, ev.segment), SegmentStatus.SKIPPED)


@_applies(e.VenueTookAir)
def _(s: Session, ev: e.VenueTookAir) -> None:
    s._state.venues[ev.venue]  # noqa: B018 - must exist
    s._state.on_air = ev.venue
    s._state.fallback_from = None


@_applies(e.ProgramFellBack)
def _(s: Session, ev: e.ProgramFellBack) -> None:
    s._state.on_air = ev.venue
    s._state.fallback_from = ev.from_venue


@_applies(e.VenueJoined)
def _(s: Session, ev: e.VenueJoined) -> None:
    v = s._state.venues[ev.venue]
    v.connected, v.joined_at = True, ev.at
    v.link, v.loss_pct, v.rtt_ms = LinkQuality.GOOD, None, None


@_applies(e.VenueLeft)
def _(s: Session, ev: e.VenueLeft) -> None:
    v = s._state.venues[ev.venue]
    v.connected, v.left_at, v.left_reason = False, ev.at, ev.reason


@_applies(e.VenueLinkDegraded)
def _(s: Session, ev: e.VenueLinkDegraded) -> None:
    v = s._state.venues[ev.venue]
    v.link, v.loss_pct, v.rtt_ms = LinkQuality.POOR, ev.loss_pct, ev.rtt_ms


@_applies(e.VenueLinkRecovered)
def _(s: Session, ev: e.VenueLinkRecovered) -> None:
    v = s._state.venues[ev.venue]
    v.link, v.loss_pct, v.rtt_ms = LinkQuality.GOOD, None, None


@_applies(e.MicrophoneMuted)
def _(s: Session, ev: e.MicrophoneMuted) -> None:
    s._state.venues[ev.venue].muted = True


@_applies(e.MicrophoneUnmuted)
def _(s: Session, ev: e.MicrophoneUnmuted) -> None:
    s._state.venues[ev.venue].muted = False


@_applies(e.RollCallStarted)
def _(s: Session, ev: e.RollCallStarted) -> None:
    entries = {v: RollCallEntry(venue=v, status=RollCallStatus.PENDING) for v in ev.venues}
    s._state.roll_calls[ev.segment] = RollCallState(segment=ev.segment, started_at=ev.at, entries=entries)


def _roll_call_status(entry: RollCallEntry, to: RollCallStatus) -> None:
    if to not in ROLL_CALL_TRANSITIONS[entry.status]:
        raise ValueError(f"roll call of '{entry.venue}' cannot go from {entry.status.value} to {to.value}")
    entry.status = to


@_applies(e.RollCallPrompted)
def _(s: Session, ev: e.RollCallPrompted) -> None:
    entry = s._state.roll_calls[ev.segment].entries[ev.venue]
    _roll_call_status(entry, RollCallStatus.PENDING)
    entry.prompted_at = ev.at
    entry.at = entry.picture_ok = entry.sound_ok = entry.by = None
    entry.note = ""


@_applies(e.RollCallAnswered)
def _(s: Session, ev: e.RollCallAnswered) -> None:
    entry = s._state.roll_calls[ev.segment].entries[ev.venue]
    _roll_call_status(entry, RollCallStatus.PRESENT)
    entry.at, entry.picture_ok, entry.sound_ok, entry.by = ev.at, ev.picture_ok, ev.sound_ok, "venue"


@_applies(e.RollCallMarked)
def _(s: Session, ev: e.RollCallMarked) -> None:
    entry = s._state.roll_calls[ev.segment].entries[ev.venue]
    _roll_call_status(entry, RollCallStatus(ev.status))
    entry.at, entry.by, entry.note = ev.at, ev.by, ev.note


@_applies(e.RollCallFinished)
def _(s: Session, ev: e.RollCallFinished) -> None:
    rc = s._state.roll_calls[ev.segment]
    rc.phase, rc.finished_at = RollCallPhase.FINISHED, ev.at


@_applies(e.AwardPresented)
def _(s: Session, ev: e.AwardPresented) -> None:
    s._state.award_positions[ev.segment] = AwardPosition(award_index=ev.award_index, recipient_index=ev.recipient_index)


@_applies(e.HandRaised)
def _(s: Session, ev: e.HandRaised) -> None:
    s._state.floor_queue.append(FloorRequest(venue=ev.venue, at=ev.at))


@_applies(e.HandLowered)
def _(s: Session, ev: e.HandLowered) -> None:
    queue = s._state.floor_queue
    queue[:] = [r for r in queue if r.venue != ev.venue]


@_applies(e.LinkRevoked)
def _(s: Session, ev: e.LinkRevoked) -> None:
    s._state.venues[ev.venue].links_revoked_at = ev.at


@_applies(e.CaptionChanged)
def _(s: Session, ev: e.CaptionChanged) -> None:
    s._state.caption, s._state.caption_override = ev.caption, ev.override


assert set(ALLOWED_PHASES) == set(_DECIDERS) == set(DOING), "every command needs a phase rule, a decider and a sentence"
assert len(_APPLIERS) == len(e.Event.__args__[0].__args__), "every event needs an applier"  # type: ignore[attr-defined]
