"""Events: what happened (past tense `type`), the only thing that changes session state.

Every event carries `at` (unix seconds, passed in by the caller). The durable log stores
events; replaying them through `Session.apply` rebuilds the state exactly.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


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
    SEGMENT = "segment"  # a segment started with this venue
    FLOOR = "floor"  # a floor request was granted
    REJOINED = "rejoined"  # the segment's venue came back after a fallback


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
    status: Literal["done", "pending"]


class SegmentSkipped(_Event):
    type: Literal["segment_skipped"] = "segment_skipped"
    segment: str


class VenueTookAir(_Event):
    type: Literal["venue_took_air"] = "venue_took_air"
    venue: str
    previous: str
    reason: TakeReason


class ProgramFellBack(_Event):
    """The program went to the main venue because `from_venue` could not be on air."""

    type: Literal["program_fell_back"] = "program_fell_back"
    venue: str
    from_venue: str
    previous: str
    reason: str


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
    type: Literal["roll_call_started"] = "roll_call_started"
    segment: str
    venues: tuple[str, ...]


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
    status: Literal["present", "absent"]
    by: Literal["operator", "session"]
    note: str = ""


class RollCallFinished(_Event):
    type: Literal["roll_call_finished"] = "roll_call_finished"
    segment: str
    present: int
    absent: int


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


class CaptionChanged(_Event):
    type: Literal["caption_changed"] = "caption_changed"
    caption: Caption | None
    override: bool = False


Event = Annotated[
    Union[
        SessionStarted, SessionEnded, SegmentStarted, SegmentEnded, SegmentSkipped,
        VenueTookAir, ProgramFellBack, VenueJoined, VenueLeft, VenueLinkDegraded,
        VenueLinkRecovered, MicrophoneMuted, MicrophoneUnmuted, RollCallStarted,
        RollCallPrompted, RollCallAnswered, RollCallMarked, RollCallFinished,
        AwardPresented, HandRaised, HandLowered, CaptionChanged, LinkRevoked,
    ],
    Field(discriminator="type"),
]

event_adapter: TypeAdapter[Event] = TypeAdapter(Event)
