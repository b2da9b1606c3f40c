"""Session state: immutable data; `apply(state, event)` returns the next state.

The state is a tree of frozen pydantic models, so it serialises for the API, compares by
value (a replayed session equals the live one) and can be handed to any adapter without
a copy: nobody can change it behind the core's back. Appliers never change a container
in place either; they build new ones (`model_copy(update=...)`). Status fields are
Enums; which transitions are legal is written down as data (`SEGMENT_TRANSITIONS`,
`ROLL_CALL_TRANSITIONS`).
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

from ..conference import PollingTarget, RollCallMode, WallLayout
from .errors import Param
from .events import Caption, MainReturnMode, RecordingStopReason


class SessionPhase(str, Enum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    ENDED = "ended"


class SegmentStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"


class LinkQuality(str, Enum):
    GOOD = "good"
    POOR = "poor"


class RollCallPhase(str, Enum):
    RUNNING = "running"
    FINISHED = "finished"


class RollCallStatus(str, Enum):
    WAITING = "waiting"  # called roll call: not called yet
    PENDING = "pending"  # prompted (check) or being called (called), no answer yet
    PRESENT = "present"
    ABSENT = "absent"
    NO_ANSWER = "no_answer"  # called roll call: connected, but did not answer in time (or was skipped)


SESSION_TRANSITIONS: dict[SessionPhase, frozenset[SessionPhase]] = {
    SessionPhase.SCHEDULED: frozenset({SessionPhase.RUNNING}),
    SessionPhase.RUNNING: frozenset({SessionPhase.ENDED}),
    SessionPhase.ENDED: frozenset(),
}

SEGMENT_TRANSITIONS: dict[SegmentStatus, frozenset[SegmentStatus]] = {
    SegmentStatus.PENDING: frozenset({SegmentStatus.RUNNING, SegmentStatus.SKIPPED}),
    # back to pending when the operator steps back to an earlier segment
    SegmentStatus.RUNNING: frozenset({SegmentStatus.DONE, SegmentStatus.PENDING}),
    SegmentStatus.DONE: frozenset({SegmentStatus.RUNNING}),
    SegmentStatus.SKIPPED: frozenset({SegmentStatus.RUNNING}),
}

_W, _P, _Y, _A, _N = (RollCallStatus.WAITING, RollCallStatus.PENDING, RollCallStatus.PRESENT,
                      RollCallStatus.ABSENT, RollCallStatus.NO_ANSWER)
ROLL_CALL_TRANSITIONS: dict[RollCallStatus, frozenset[RollCallStatus]] = {
    # called: its turn (pending), not connected then (absent), never called (no_answer), marked by the operator
    _W: frozenset({_P, _A, _N, _Y}),
    # answered or marked; no answer in time; interrupted by a recall (waiting); asked again
    _P: frozenset({_Y, _A, _N, _W, _P}),
    _Y: frozenset({_A, _P}),
    # a venue recorded absent by the session that rejoins a called roll call waits for its turn again
    _A: frozenset({_Y, _P, _W}),
    _N: frozenset({_Y, _A, _P}),
}


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SegmentState(_State):
    id: str
    status: SegmentStatus = SegmentStatus.PENDING
    started_at: float | None = None  # first start
    ended_at: float | None = None  # last end
    elapsed: float = 0.0  # accumulated over finished runs
    resumed_at: float | None = None  # start of the current run

    def elapsed_at(self, now: float) -> float:
        running = now - self.resumed_at if self.status is SegmentStatus.RUNNING and self.resumed_at else 0.0
        return self.elapsed + max(running, 0.0)


class VenueState(_State):
    id: str
    connected: bool = False
    muted: bool = False
    link: LinkQuality = LinkQuality.GOOD
    loss_pct: float | None = None  # as reported when the link turned poor
    rtt_ms: float | None = None
    joined_at: float | None = None
    left_at: float | None = None
    left_reason: str | None = None
    links_revoked_at: float | None = None  # join links issued before this are refused


class RollCallEntry(_State):
    venue: str
    status: RollCallStatus
    at: float | None = None  # when the status was recorded
    prompted_at: float | None = None
    picture_ok: bool | None = None
    sound_ok: bool | None = None
    by: str | None = None  # "venue" | "operator" | "session"
    note: str = ""  # a code (see RollCallMarked)
    note_params: dict[str, Param] = {}


# The statuses a roll call of each mode records (a check roll call never waits nor times out).
ROLL_CALL_STATUSES: dict[RollCallMode, tuple[RollCallStatus, ...]] = {
    RollCallMode.CHECK: (RollCallStatus.PENDING, RollCallStatus.PRESENT, RollCallStatus.ABSENT),
    RollCallMode.CALLED: tuple(RollCallStatus),
}


class RollCallState(_State):
    segment: str
    phase: RollCallPhase = RollCallPhase.RUNNING
    started_at: float
    finished_at: float | None = None
    entries: dict[str, RollCallEntry] = Field(default_factory=dict)
    mode: RollCallMode = RollCallMode.CHECK
    per_venue: float | None = None  # called: seconds each venue has to answer
    calling: str | None = None  # called: the venue being called now
    call_deadline: float | None = None  # called: when the call runs out (None while paused)
    paused: bool = False
    call_left: float | None = None  # called, paused: the time the called venue had left
    reopened: bool = False  # called: running again after its finish, for the venues the operator recalls

    @property
    def call_running(self) -> bool:
        """A called venue is on air and its time runs (the roll call holds the program)."""
        return self.phase is RollCallPhase.RUNNING and self.calling is not None and not self.paused

    def count(self, status: RollCallStatus) -> int:
        return sum(1 for e in self.entries.values() if e.status is status)


class MainReturnState(_State):
    """What the main venue's return is set to (what it shows now: `core.main_return.main_return_view`)."""

    mode: MainReturnMode = MainReturnMode.PROGRAM
    venue: str | None = None  # single
    layout: WallLayout | None = None  # wall
    venues: tuple[str, ...] | None = None  # wall: the listed venues (None: every branch venue)
    page_every: float | None = None  # wall
    page: int = 0  # wall: the page shown (taken modulo the pages there are now)
    next_page_at: float | None = None  # wall


class PollingState(_State):
    """A polling run: `venues` in turn, `dwell` seconds each, on the program or the main venue's return."""

    target: PollingTarget
    venues: tuple[str, ...]
    dwell: float
    segment: str | None = None  # the segment that started it
    index: int = -1  # where the rotation stands in `venues`
    current: str | None = None  # the venue shown (None: none was connected at the last step)
    next_at: float | None = None  # the next step (None while paused)
    paused: bool = False
    left: float | None = None  # paused: seconds that were left before the next step
    return_to: MainReturnState | None = None  # main-return polling: the return it replaced


class RecordingState(_State):
    """The program's recording: whether it runs, and how it last stopped."""

    active: bool
    started_at: float  # the first start: the recording's timeline begins here
    resumed_at: float  # the start of the current (or last) run
    stopped_at: float | None = None
    stop_reason: RecordingStopReason | None = None
    detail: str = ""


class MediaNodeState(_State):
    """A media node (a Janus) that was lost: when, with how many venues, and when it was back (None: not yet)."""

    lost_at: float
    venues: int  # the venues that had their media there (told to reconnect on the other nodes)
    back_at: float | None = None


class AwardPosition(_State):
    award_index: int
    recipient_index: int


class FloorRequest(_State):
    venue: str
    at: float


class SessionState(_State):
    conference: str
    phase: SessionPhase = SessionPhase.SCHEDULED
    started_at: float | None = None
    ended_at: float | None = None
    current: str | None = None  # id of the running segment
    segments: list[SegmentState]
    on_air: str
    # the venue the program fell back from in this segment; it goes back on air when it rejoins
    fallback_from: str | None = None
    venues: dict[str, VenueState]
    floor_queue: tuple[FloorRequest, ...] = ()
    roll_calls: dict[str, RollCallState] = Field(default_factory=dict)
    award_positions: dict[str, AwardPosition] = Field(default_factory=dict)
    caption: Caption | None = None
    caption_override: bool = False
    polling: PollingState | None = None
    main_return: MainReturnState = Field(default_factory=MainReturnState)
    recording: RecordingState | None = None  # None: never recorded
    media_nodes: dict[str, MediaNodeState] = Field(default_factory=dict)  # the nodes lost this session, by URL
