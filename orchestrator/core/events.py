"""Events: what happened (past tense `type`), the only thing that changes session state.

Every event carries `at` (unix seconds, passed in by the caller). The durable log stores
events; replaying them through `Session.apply` rebuilds the state exactly.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ..conference import PollingTarget, RollCallMode, WallLayout
from .errors import Param


class CaptionKind(str, Enum):
    SPEAKER = "speaker"
    AWARD_LIST = "award_list"
    AWARD = "award"
    OVERRIDE = "override"


class Caption(BaseModel):
    """The lower third every venue shows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: CaptionKind
    text: str
    award: str | None = None  # award id (award captions)
    category: str | None = None  # award title
    recipient: str | None = None
    venue: str | None = None


class TakeReason(str, Enum):
    TAKE = "take"  # the operator's take
    SEGMENT = "segment"  # the segment's own venue: the segment started, or a called roll call ended
    FLOOR = "floor"  # a floor request was granted
    REJOINED = "rejoined"  # the segment's venue came back after a fallback
    ROLL_CALL = "roll_call"  # a called roll call called this venue
    POLLING = "polling"  # program polling reached this venue


class MainReturnMode(str, Enum):
    """What the main venue's return shows (the file and SetMainReturn choose the first three)."""

    PROGRAM = "program"  # the program, like every venue
    SINGLE = "single"  # one branch venue
    WALL = "wall"  # tiles of the connected venues, paged
    POLLING = "polling"  # main-return polling runs: the venue it is on


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at: float


class SessionStarted(_Event):
    type: Literal["session_started"] = "session_started"


class SessionEnded(_Event):
    type: Literal["session_ended"] = "session_ended"


class SegmentStarted(_Event):
    type: Literal["segment_started"] = "segment_started"
    segment: str


class SegmentEnded(_Event):
    """The segment stopped running: `done`, or back to `pending` when the operator went back."""

    type: Literal["segment_ended"] = "segment_ended"
    segment: str
    status: SegmentEndStatus


class SegmentSkipped(_Event):
    type: Literal["segment_skipped"] = "segment_skipped"
    segment: str


class VenueTookAir(_Event):
    type: Literal["venue_took_air"] = "venue_took_air"
    venue: str
    previous: str
    reason: TakeReason


# Why the program fell back: "venue_disconnected" (params: venue, left: why it left) or
# "segment_venue_not_connected" (params: segment, venue); in logs written before the codes,
# an English sentence (the sentences are `orchestrator.sentences.fallback`'s).
FallbackReason = str


class ProgramFellBack(_Event):
    """The program went to the main venue because `from_venue` could not be on air.

    `rejoin`: `from_venue` goes back on air if it rejoins in this segment (not so for a
    venue that a called roll call or polling had put on air: they move on).
    """

    type: Literal["program_fell_back"] = "program_fell_back"
    venue: str
    from_venue: str
    previous: str
    reason: FallbackReason
    reason_params: dict[str, Param] = {}
    rejoin: bool = True


class VenueJoined(_Event):
    type: Literal["venue_joined"] = "venue_joined"
    venue: str


class VenueLeft(_Event):
    type: Literal["venue_left"] = "venue_left"
    venue: str
    reason: str


class VenueLinkDegraded(_Event):
    type: Literal["venue_link_degraded"] = "venue_link_degraded"
    venue: str
    loss_pct: float
    rtt_ms: float


class VenueLinkRecovered(_Event):
    type: Literal["venue_link_recovered"] = "venue_link_recovered"
    venue: str


class MicrophoneMuted(_Event):
    type: Literal["microphone_muted"] = "microphone_muted"
    venue: str


class MicrophoneUnmuted(_Event):
    type: Literal["microphone_unmuted"] = "microphone_unmuted"
    venue: str


class RollCallStarted(_Event):
    """A roll call began: `check` prompts every venue at once; `called` calls them in turn."""

    type: Literal["roll_call_started"] = "roll_call_started"
    segment: str
    venues: tuple[str, ...]
    mode: RollCallMode = RollCallMode.CHECK
    per_venue: float | None = None  # called: seconds each venue has to answer


class RollCallPrompted(_Event):
    """A venue is asked to confirm it is present (again, on a retry)."""

    type: Literal["roll_call_prompted"] = "roll_call_prompted"
    segment: str
    venue: str


class RollCallAnswered(_Event):
    type: Literal["roll_call_answered"] = "roll_call_answered"
    segment: str
    venue: str
    picture_ok: bool
    sound_ok: bool


class RollCallMarked(_Event):
    """The operator (by="operator") or the session (by="session") recorded a status."""

    type: Literal["roll_call_marked"] = "roll_call_marked"
    segment: str
    venue: str
    status: Literal["present", "absent", "no_answer"]
    by: Literal["operator", "session"]
    # a code of `orchestrator.sentences.NOTES` ("skipped", "no_answer_in_time", ...) with its
    # `note_params`; in logs written before the codes, an English note
    note: str = ""
    note_params: dict[str, Param] = {}


class RollCallFinished(_Event):
    type: Literal["roll_call_finished"] = "roll_call_finished"
    segment: str
    present: int
    absent: int
    no_answer: int = 0


class RollCallCalled(_Event):
    """Called roll call: `venue` is called (and goes on air); it has until `deadline` to answer."""

    type: Literal["roll_call_called"] = "roll_call_called"
    segment: str
    venue: str
    deadline: float


class RollCallRequeued(_Event):
    """Called roll call: `venue` waits to be called (again): interrupted by a recall, or it rejoined."""

    type: Literal["roll_call_requeued"] = "roll_call_requeued"
    segment: str
    venue: str
    reason: Literal["recall", "rejoined"]


class RollCallPaused(_Event):
    """Called roll call: the timer stopped; the called venue had `left` seconds (None: nobody called)."""

    type: Literal["roll_call_paused"] = "roll_call_paused"
    segment: str
    left: float | None


class RollCallResumed(_Event):
    """Called roll call: the timer runs again; the called venue has until `deadline` (None: nobody called)."""

    type: Literal["roll_call_resumed"] = "roll_call_resumed"
    segment: str
    deadline: float | None


class RollCallReopened(_Event):
    """A finished called roll call runs again to recall one venue; it finishes again afterwards."""

    type: Literal["roll_call_reopened"] = "roll_call_reopened"
    segment: str
    venue: str


class PollingStarted(_Event):
    """Site polling began: `venues` in turn, `dwell` seconds each. `segment`: started by that segment."""

    type: Literal["polling_started"] = "polling_started"
    target: PollingTarget
    venues: tuple[str, ...]
    dwell: float
    segment: str | None = None


class PollingStepped(_Event):
    """Polling moved to `venue` (None: no listed venue is connected; nothing shown changes)."""

    type: Literal["polling_stepped"] = "polling_stepped"
    venue: str | None
    index: int  # where the rotation stands in the polling's venues (unchanged when venue is None)
    next_at: float


class PollingPaused(_Event):
    type: Literal["polling_paused"] = "polling_paused"
    left: float  # seconds that were left before the next step


class PollingResumed(_Event):
    type: Literal["polling_resumed"] = "polling_resumed"
    next_at: float


PollingStopReason = Literal["operator", "take", "segment", "session_ended", "main_return"]
SegmentEndStatus = Literal["done", "pending"]


class PollingStopped(_Event):
    type: Literal["polling_stopped"] = "polling_stopped"
    reason: PollingStopReason


class MainReturnChanged(_Event):
    """What the main venue receives changed (see `core.main_return.main_return_view`)."""

    type: Literal["main_return_changed"] = "main_return_changed"
    mode: MainReturnMode
    venue: str | None = None  # single
    layout: WallLayout | None = None  # wall
    venues: tuple[str, ...] | None = None  # wall: the listed venues (None: every branch venue)
    page_every: float | None = None  # wall
    next_page_at: float | None = None  # wall


class WallPaged(_Event):
    """The main venue's wall turned to `page` (of the connected venues)."""

    type: Literal["wall_paged"] = "wall_paged"
    page: int
    next_at: float


class AwardPresented(_Event):
    type: Literal["award_presented"] = "award_presented"
    segment: str
    award: str
    award_index: int
    recipient_index: int
    recipient: str
    venue: str | None


class HandRaised(_Event):
    type: Literal["hand_raised"] = "hand_raised"
    venue: str


class HandLowered(_Event):
    type: Literal["hand_lowered"] = "hand_lowered"
    venue: str
    reason: Literal["venue", "operator", "granted", "taken", "disconnected", "session_ended"]


class LinkRevoked(_Event):
    """Join links of `venue` issued before `at` no longer work."""

    type: Literal["link_revoked"] = "link_revoked"
    venue: str


class MediaNodeLost(_Event):
    """A media node (`node`: its API's URL) was lost; `venues` had their media there and were
    told to reconnect (they come back on the remaining nodes)."""

    type: Literal["media_node_lost"] = "media_node_lost"
    node: str
    venues: tuple[str, ...] = ()
    reason: str = ""


class MediaNodeBack(_Event):
    """A lost media node (`node`: its API's URL) answers again: new venues may join it."""

    type: Literal["media_node_back"] = "media_node_back"
    node: str


class ServerStarted(_Event):
    """A server process opened this log: the first start, or a restart that continues the session.

    `venues_connected`: the venues the log showed connected then (after a restart, they have
    `restart_grace_s` to come back before they are recorded as gone)."""

    type: Literal["server_started"] = "server_started"
    venues_connected: tuple[str, ...] = ()
    restart_grace_s: float = 0.0


class RecordingStarted(_Event):
    """The program is recorded from now on (the first start is where the recording's timeline begins)."""

    type: Literal["recording_started"] = "recording_started"


RecordingStopReason = Literal["operator", "session_ended", "disk_full", "unwritable", "error"]


class RecordingStopped(_Event):
    """The recording stopped: by the operator, with the session, or because the recorder could not write."""

    type: Literal["recording_stopped"] = "recording_stopped"
    reason: RecordingStopReason
    detail: str = ""


class CaptionChanged(_Event):
    type: Literal["caption_changed"] = "caption_changed"
    caption: Caption | None
    override: bool = False


Event = Annotated[
    SessionStarted | SessionEnded | SegmentStarted | SegmentEnded | SegmentSkipped | VenueTookAir | ProgramFellBack | VenueJoined | VenueLeft | VenueLinkDegraded | VenueLinkRecovered | MicrophoneMuted | MicrophoneUnmuted | RollCallStarted | RollCallPrompted | RollCallAnswered | RollCallMarked | RollCallFinished | AwardPresented | HandRaised | HandLowered | CaptionChanged | LinkRevoked | RollCallCalled | RollCallRequeued | RollCallPaused | RollCallResumed | RollCallReopened | PollingStarted | PollingStepped | PollingPaused | PollingResumed | PollingStopped | MainReturnChanged | WallPaged | ServerStarted | RecordingStarted | RecordingStopped | MediaNodeLost | MediaNodeBack,
    Field(discriminator="type"),
]

event_adapter: TypeAdapter[Event] = TypeAdapter(Event)
