"""Appliers: `apply(state, event) -> state`, the only code that changes session state.

One named function per event type, each building the next state from the previous one
without touching it (the state is immutable; containers are rebuilt, never changed in
place). Live handling and replay both come through `apply`, so a replayed session
equals the live one. An event that does not fit raises `ReplayError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..conference import PollingTarget, RollCallMode
from . import events as e
from .errors import ReplayError
from .state import (
    ROLL_CALL_TRANSITIONS,
    SEGMENT_TRANSITIONS,
    SESSION_TRANSITIONS,
    AwardPosition,
    FloorRequest,
    LinkQuality,
    MainReturnState,
    MediaNodeState,
    PollingState,
    RecordingState,
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

E = TypeVar("E", bound=e._Event)
Applier = Callable[[SessionState, Any], SessionState]
APPLIERS: dict[type, Applier] = {}


def apply(state: SessionState, event: e.Event) -> SessionState:
    """The state after `event`. Raises ReplayError if the event does not fit the state."""
    try:
        return APPLIERS[type(event)](state, event)
    except KeyError as exc:
        raise ReplayError(f"it names '{exc.args[0]}', which this conference does not have") from exc
    except ValueError as exc:
        raise ReplayError(str(exc)) from exc


def _applies(kind: type[E]) -> Callable[[Callable[[SessionState, E], SessionState]], Callable[[SessionState, E], SessionState]]:
    def register(fn: Callable[[SessionState, E], SessionState]) -> Callable[[SessionState, E], SessionState]:
        APPLIERS[kind] = fn
        return fn

    return register


# ---------------------------------------------------------------- small pieces


def _phase(state: SessionState, to: SessionPhase, **changes: Any) -> SessionState:
    if to not in SESSION_TRANSITIONS[state.phase]:
        raise ValueError(f"session cannot go from {state.phase.value} to {to.value}")
    return state.model_copy(update={"phase": to, **changes})


def _segment_index(state: SessionState, segment: str) -> int:
    for i, seg in enumerate(state.segments):
        if seg.id == segment:
            return i
    raise KeyError(segment)


def _with_segment(state: SessionState, segment: str, to: SegmentStatus, **changes: Any) -> SessionState:
    i = _segment_index(state, segment)
    seg = state.segments[i]
    if to not in SEGMENT_TRANSITIONS[seg.status]:
        raise ValueError(f"segment '{seg.id}' cannot go from {seg.status.value} to {to.value}")
    segments = list(state.segments)
    segments[i] = seg.model_copy(update={"status": to, **changes})
    return state.model_copy(update={"segments": segments})


def _with_venue(state: SessionState, venue: str, **changes: Any) -> SessionState:
    updated = state.venues[venue].model_copy(update=changes)
    return state.model_copy(update={"venues": {**state.venues, venue: updated}})


def _with_roll_call(state: SessionState, segment: str, **changes: Any) -> SessionState:
    rc = state.roll_calls[segment].model_copy(update=changes)
    return state.model_copy(update={"roll_calls": {**state.roll_calls, segment: rc}})


def _with_polling(state: SessionState, **changes: Any) -> SessionState:
    if state.polling is None:
        raise ValueError("no polling is running")
    return state.model_copy(update={"polling": state.polling.model_copy(update=changes)})


def _with_roll_call_entry(
    state: SessionState, segment: str, venue: str, to: RollCallStatus | None = None, **changes: Any
) -> SessionState:
    rc = state.roll_calls[segment]
    entry = rc.entries[venue]
    if to is not None:
        if to not in ROLL_CALL_TRANSITIONS[entry.status]:
            raise ValueError(f"roll call of '{venue}' cannot go from {entry.status.value} to {to.value}")
        changes["status"] = to
    rc = rc.model_copy(update={"entries": {**rc.entries, venue: entry.model_copy(update=changes)}})
    if rc.calling == venue and changes.get("status") not in (None, RollCallStatus.PENDING):
        rc = rc.model_copy(update={"calling": None, "call_deadline": None, "call_left": None})
    return state.model_copy(update={"roll_calls": {**state.roll_calls, segment: rc}})


# ---------------------------------------------------------------- session and segments


@_applies(e.SessionStarted)
def session_started(state: SessionState, ev: e.SessionStarted) -> SessionState:
    return _phase(state, SessionPhase.RUNNING, started_at=ev.at)


@_applies(e.SessionEnded)
def session_ended(state: SessionState, ev: e.SessionEnded) -> SessionState:
    return _phase(state, SessionPhase.ENDED, ended_at=ev.at, current=None, fallback_from=None)


@_applies(e.SegmentStarted)
def segment_started(state: SessionState, ev: e.SegmentStarted) -> SessionState:
    seg = state.segments[_segment_index(state, ev.segment)]
    started = seg.started_at if seg.started_at is not None else ev.at
    state = _with_segment(state, ev.segment, SegmentStatus.RUNNING, started_at=started, resumed_at=ev.at)
    return state.model_copy(update={"current": ev.segment, "fallback_from": None})


@_applies(e.SegmentEnded)
def segment_ended(state: SessionState, ev: e.SegmentEnded) -> SessionState:
    seg = state.segments[_segment_index(state, ev.segment)]
    state = _with_segment(
        state, ev.segment, SegmentStatus(ev.status), elapsed=seg.elapsed_at(ev.at), ended_at=ev.at, resumed_at=None
    )
    return state.model_copy(update={"current": None})


@_applies(e.SegmentSkipped)
def segment_skipped(state: SessionState, ev: e.SegmentSkipped) -> SessionState:
    return _with_segment(state, ev.segment, SegmentStatus.SKIPPED)


# ---------------------------------------------------------------- program


@_applies(e.VenueTookAir)
def venue_took_air(state: SessionState, ev: e.VenueTookAir) -> SessionState:
    state.venues[ev.venue]
    return state.model_copy(update={"on_air": ev.venue, "fallback_from": None})


@_applies(e.ProgramFellBack)
def program_fell_back(state: SessionState, ev: e.ProgramFellBack) -> SessionState:
    state.venues[ev.venue]
    return state.model_copy(update={"on_air": ev.venue, "fallback_from": ev.from_venue if ev.rejoin else None})


@_applies(e.CaptionChanged)
def caption_changed(state: SessionState, ev: e.CaptionChanged) -> SessionState:
    return state.model_copy(update={"caption": ev.caption, "caption_override": ev.override})


# ---------------------------------------------------------------- venues


@_applies(e.VenueJoined)
def venue_joined(state: SessionState, ev: e.VenueJoined) -> SessionState:
    return _with_venue(state, ev.venue, connected=True, joined_at=ev.at, link=LinkQuality.GOOD, loss_pct=None, rtt_ms=None)


@_applies(e.VenueLeft)
def venue_left(state: SessionState, ev: e.VenueLeft) -> SessionState:
    return _with_venue(state, ev.venue, connected=False, left_at=ev.at, left_reason=ev.reason)


@_applies(e.VenueLinkDegraded)
def venue_link_degraded(state: SessionState, ev: e.VenueLinkDegraded) -> SessionState:
    return _with_venue(state, ev.venue, link=LinkQuality.POOR, loss_pct=ev.loss_pct, rtt_ms=ev.rtt_ms)


@_applies(e.VenueLinkRecovered)
def venue_link_recovered(state: SessionState, ev: e.VenueLinkRecovered) -> SessionState:
    return _with_venue(state, ev.venue, link=LinkQuality.GOOD, loss_pct=None, rtt_ms=None)


@_applies(e.MicrophoneMuted)
def microphone_muted(state: SessionState, ev: e.MicrophoneMuted) -> SessionState:
    return _with_venue(state, ev.venue, muted=True)


@_applies(e.MicrophoneUnmuted)
def microphone_unmuted(state: SessionState, ev: e.MicrophoneUnmuted) -> SessionState:
    return _with_venue(state, ev.venue, muted=False)


@_applies(e.MediaNodeLost)
def media_node_lost(state: SessionState, ev: e.MediaNodeLost) -> SessionState:
    # its venues' leaving is recorded by their own events
    nodes = {**state.media_nodes, ev.node: MediaNodeState(lost_at=ev.at, venues=len(ev.venues))}
    return state.model_copy(update={"media_nodes": nodes})


@_applies(e.MediaNodeBack)
def media_node_back(state: SessionState, ev: e.MediaNodeBack) -> SessionState:
    lost = state.media_nodes.get(ev.node)
    if lost is None:
        return state
    nodes = {**state.media_nodes, ev.node: lost.model_copy(update={"back_at": ev.at})}
    return state.model_copy(update={"media_nodes": nodes})


@_applies(e.LinkRevoked)
def link_revoked(state: SessionState, ev: e.LinkRevoked) -> SessionState:
    return _with_venue(state, ev.venue, links_revoked_at=ev.at)


# ---------------------------------------------------------------- roll call


@_applies(e.RollCallStarted)
def roll_call_started(state: SessionState, ev: e.RollCallStarted) -> SessionState:
    _segment_index(state, ev.segment)
    for venue in ev.venues:
        state.venues[venue]
    first = RollCallStatus.WAITING if ev.mode is RollCallMode.CALLED else RollCallStatus.PENDING
    entries = {v: RollCallEntry(venue=v, status=first) for v in ev.venues}
    rc = RollCallState(segment=ev.segment, started_at=ev.at, entries=entries, mode=ev.mode, per_venue=ev.per_venue)
    return state.model_copy(update={"roll_calls": {**state.roll_calls, ev.segment: rc}})


@_applies(e.RollCallPrompted)
def roll_call_prompted(state: SessionState, ev: e.RollCallPrompted) -> SessionState:
    return _with_roll_call_entry(
        state, ev.segment, ev.venue, RollCallStatus.PENDING,
        prompted_at=ev.at, at=None, picture_ok=None, sound_ok=None, by=None, note="", note_params={},
    )


@_applies(e.RollCallAnswered)
def roll_call_answered(state: SessionState, ev: e.RollCallAnswered) -> SessionState:
    return _with_roll_call_entry(
        state, ev.segment, ev.venue, RollCallStatus.PRESENT,
        at=ev.at, picture_ok=ev.picture_ok, sound_ok=ev.sound_ok, by="venue",
    )


@_applies(e.RollCallMarked)
def roll_call_marked(state: SessionState, ev: e.RollCallMarked) -> SessionState:
    return _with_roll_call_entry(state, ev.segment, ev.venue, RollCallStatus(ev.status), at=ev.at, by=ev.by,
                                 note=ev.note, note_params=ev.note_params)


@_applies(e.RollCallFinished)
def roll_call_finished(state: SessionState, ev: e.RollCallFinished) -> SessionState:
    return _with_roll_call(state, ev.segment, phase=RollCallPhase.FINISHED, finished_at=ev.at, calling=None,
                           call_deadline=None, paused=False, call_left=None)


@_applies(e.RollCallCalled)
def roll_call_called(state: SessionState, ev: e.RollCallCalled) -> SessionState:
    state = _with_roll_call_entry(
        state, ev.segment, ev.venue, RollCallStatus.PENDING,
        prompted_at=ev.at, at=None, picture_ok=None, sound_ok=None, by=None, note="", note_params={},
    )
    return _with_roll_call(state, ev.segment, calling=ev.venue, call_deadline=ev.deadline, paused=False,
                           call_left=None)


@_applies(e.RollCallRequeued)
def roll_call_requeued(state: SessionState, ev: e.RollCallRequeued) -> SessionState:
    return _with_roll_call_entry(state, ev.segment, ev.venue, RollCallStatus.WAITING, at=None, by=None, note="",
                                 note_params={})


@_applies(e.RollCallPaused)
def roll_call_paused(state: SessionState, ev: e.RollCallPaused) -> SessionState:
    return _with_roll_call(state, ev.segment, paused=True, call_left=ev.left, call_deadline=None)


@_applies(e.RollCallResumed)
def roll_call_resumed(state: SessionState, ev: e.RollCallResumed) -> SessionState:
    return _with_roll_call(state, ev.segment, paused=False, call_left=None, call_deadline=ev.deadline)


@_applies(e.RollCallReopened)
def roll_call_reopened(state: SessionState, ev: e.RollCallReopened) -> SessionState:
    if state.roll_calls[ev.segment].phase is not RollCallPhase.FINISHED:
        raise ValueError(f"the roll call of '{ev.segment}' is not finished")
    return _with_roll_call(state, ev.segment, phase=RollCallPhase.RUNNING, finished_at=None, reopened=True)


# ---------------------------------------------------------------- polling and the main venue's return


@_applies(e.PollingStarted)
def polling_started(state: SessionState, ev: e.PollingStarted) -> SessionState:
    if state.polling is not None:
        raise ValueError("a polling run is already running")
    for venue in ev.venues:
        state.venues[venue]
    return_to = state.main_return if ev.target is PollingTarget.MAIN_RETURN else None
    polling = PollingState(target=ev.target, venues=ev.venues, dwell=ev.dwell, segment=ev.segment, return_to=return_to)
    return state.model_copy(update={"polling": polling})


@_applies(e.PollingStepped)
def polling_stepped(state: SessionState, ev: e.PollingStepped) -> SessionState:
    return _with_polling(state, current=ev.venue, index=ev.index, next_at=ev.next_at)


@_applies(e.PollingPaused)
def polling_paused(state: SessionState, ev: e.PollingPaused) -> SessionState:
    return _with_polling(state, paused=True, left=ev.left, next_at=None)


@_applies(e.PollingResumed)
def polling_resumed(state: SessionState, ev: e.PollingResumed) -> SessionState:
    return _with_polling(state, paused=False, left=None, next_at=ev.next_at)


@_applies(e.PollingStopped)
def polling_stopped(state: SessionState, ev: e.PollingStopped) -> SessionState:
    if state.polling is None:
        raise ValueError("no polling is running")
    return state.model_copy(update={"polling": None})


@_applies(e.MainReturnChanged)
def main_return_changed(state: SessionState, ev: e.MainReturnChanged) -> SessionState:
    for venue in (ev.venue, *(ev.venues or ())):
        if venue is not None:
            state.venues[venue]
    main_return = MainReturnState(mode=ev.mode, venue=ev.venue, layout=ev.layout, venues=ev.venues,
                                  page_every=ev.page_every, next_page_at=ev.next_page_at)
    return state.model_copy(update={"main_return": main_return})


@_applies(e.WallPaged)
def wall_paged(state: SessionState, ev: e.WallPaged) -> SessionState:
    if state.main_return.mode is not e.MainReturnMode.WALL:
        raise ValueError("the main venue's return is not a wall")
    return state.model_copy(update={"main_return": state.main_return.model_copy(
        update={"page": ev.page, "next_page_at": ev.next_at})})


# ---------------------------------------------------------------- recording


@_applies(e.RecordingStarted)
def recording_started(state: SessionState, ev: e.RecordingStarted) -> SessionState:
    before = state.recording
    if before is not None and before.active:
        raise ValueError("the program is already being recorded")
    started = before.started_at if before is not None else ev.at
    return state.model_copy(update={"recording": RecordingState(active=True, started_at=started, resumed_at=ev.at)})


@_applies(e.RecordingStopped)
def recording_stopped(state: SessionState, ev: e.RecordingStopped) -> SessionState:
    if state.recording is None or not state.recording.active:
        raise ValueError("the program is not being recorded")
    stopped = state.recording.model_copy(update={"active": False, "stopped_at": ev.at, "stop_reason": ev.reason,
                                                 "detail": ev.detail})
    return state.model_copy(update={"recording": stopped})


# ---------------------------------------------------------------- awards and floor


@_applies(e.AwardPresented)
def award_presented(state: SessionState, ev: e.AwardPresented) -> SessionState:
    position = AwardPosition(award_index=ev.award_index, recipient_index=ev.recipient_index)
    return state.model_copy(update={"award_positions": {**state.award_positions, ev.segment: position}})


@_applies(e.HandRaised)
def hand_raised(state: SessionState, ev: e.HandRaised) -> SessionState:
    state.venues[ev.venue]
    return state.model_copy(update={"floor_queue": (*state.floor_queue, FloorRequest(venue=ev.venue, at=ev.at))})


@_applies(e.HandLowered)
def hand_lowered(state: SessionState, ev: e.HandLowered) -> SessionState:
    return state.model_copy(update={"floor_queue": tuple(r for r in state.floor_queue if r.venue != ev.venue)})


@_applies(e.ServerStarted)
def server_started(state: SessionState, ev: e.ServerStarted) -> SessionState:
    unknown = [venue for venue in ev.venues_connected if venue not in state.venues]
    if unknown:
        raise KeyError(unknown[0])
    return state  # a fact for the record: the session goes on as it was


def initial_state(conference_id: str, segments: list[str], venues: list[str], main: str) -> SessionState:
    """A scheduled session: every segment pending, the main venue on air, branch microphones closed."""
    return SessionState(
        conference=conference_id,
        segments=[SegmentState(id=s) for s in segments],
        on_air=main,
        venues={v: VenueState(id=v, muted=v != main) for v in venues},
    )


assert len(APPLIERS) == len(e.Event.__args__[0].__args__), "every event needs an applier"
