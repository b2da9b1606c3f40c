"""Commands: what someone asks the session to do (imperative, snake_case `type`).

Three sources, three unions, so an adapter can only parse what its speaker may say:

- `OperatorCommand`: the console and `POST /api/commands`;
- `VenueCommand`: a venue's own requests; the adapter fills `venue` from the
  authenticated connection, never from the message;
- `SystemCommand`: facts the server observes (a venue joined, left, its link changed,
  the server itself started, the recorder failed)
  and the passing of time (`Tick`, about once a second or at `Session.next_deadline()`).

`Command` is all of them, for the core and the log.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

from ..conference import PAGE_EVERY_RANGE_S, POLLING_DWELL_RANGE_S, PollingTarget, ReturnMode, WallLayout
from ..text import check_text


class RollCallMark(str, Enum):
    PRESENT = "present"
    ABSENT = "absent"


class _Command(BaseModel):
    # strict: JSON `"confirm": "yes"` or `1` is not true; an enumeration takes its string value
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# Every text a command carries is real, visible, one-line text (orchestrator.text):
# it reaches the log, the console and, for a caption, every venue. Checked before
# pydantic's own str handling, which would refuse a lone surrogate without saying where.
CheckedText = BeforeValidator(lambda value: check_text(value) if isinstance(value, str) else value)
VenueRef = Annotated[str, Field(min_length=1, max_length=64), CheckedText]
SegmentRef = Annotated[str, Field(min_length=1, max_length=64), CheckedText]


# ---------------------------------------------------------------- operator


class StartSession(_Command):
    type: Literal["start_session"] = "start_session"


class EndSession(_Command):
    type: Literal["end_session"] = "end_session"


class NextSegment(_Command):
    type: Literal["next_segment"] = "next_segment"


class PreviousSegment(_Command):
    type: Literal["previous_segment"] = "previous_segment"


class GotoSegment(_Command):
    type: Literal["goto_segment"] = "goto_segment"
    segment: SegmentRef


class Take(_Command):
    """Put a venue on air. `confirm` accepts a venue whose link is poor."""

    type: Literal["take"] = "take"
    venue: VenueRef
    confirm: bool = False


class StartRollCall(_Command):
    type: Literal["start_roll_call"] = "start_roll_call"


class MarkRollCall(_Command):
    type: Literal["mark_roll_call"] = "mark_roll_call"
    venue: VenueRef
    status: Annotated[RollCallMark, Field(strict=False)]


class RetryRollCall(_Command):
    type: Literal["retry_roll_call"] = "retry_roll_call"
    venue: VenueRef


class FinishRollCall(_Command):
    type: Literal["finish_roll_call"] = "finish_roll_call"


class PauseRollCall(_Command):
    """Called roll call: stop the timer (the operator may take other venues meanwhile)."""

    type: Literal["pause_roll_call"] = "pause_roll_call"


class ResumeRollCall(_Command):
    """Called roll call: the called venue goes back on air with the time it had left."""

    type: Literal["resume_roll_call"] = "resume_roll_call"


class SkipRollCallVenue(_Command):
    """Called roll call: record the called venue `no_answer` and call the next."""

    type: Literal["skip_roll_call_venue"] = "skip_roll_call_venue"


VenueList = Annotated[list[VenueRef], Field(min_length=1, max_length=500)]


class StartPolling(_Command):
    """Cycle branch venues (`venues`, default every branch venue) on the program or the main venue's return."""

    type: Literal["start_polling"] = "start_polling"
    target: Annotated[PollingTarget, Field(strict=False)]
    venues: VenueList | None = None
    dwell_s: Annotated[float, Field(ge=POLLING_DWELL_RANGE_S[0], le=POLLING_DWELL_RANGE_S[1])]


class PausePolling(_Command):
    type: Literal["pause_polling"] = "pause_polling"


class ResumePolling(_Command):
    type: Literal["resume_polling"] = "resume_polling"


class StopPolling(_Command):
    type: Literal["stop_polling"] = "stop_polling"


class SetMainReturn(_Command):
    """What the main venue receives: the program, one venue (`venue`), or a wall (`layout`, `venues`, `page_every_s`)."""

    type: Literal["set_main_return"] = "set_main_return"
    mode: Annotated[ReturnMode, Field(strict=False)]
    venue: VenueRef | None = None
    layout: Annotated[WallLayout, Field(strict=False)] | None = None
    venues: VenueList | None = None  # wall: default every branch venue
    page_every_s: Annotated[float, Field(ge=PAGE_EVERY_RANGE_S[0], le=PAGE_EVERY_RANGE_S[1])] | None = None


class NextAward(_Command):
    type: Literal["next_award"] = "next_award"


class GrantFloor(_Command):
    """Give the floor to a venue that raised its hand: it goes on air."""

    type: Literal["grant_floor"] = "grant_floor"
    venue: VenueRef
    confirm: bool = False


class DismissHand(_Command):
    type: Literal["dismiss_hand"] = "dismiss_hand"
    venue: VenueRef


class MuteVenue(_Command):
    type: Literal["mute_venue"] = "mute_venue"
    venue: VenueRef


class UnmuteVenue(_Command):
    type: Literal["unmute_venue"] = "unmute_venue"
    venue: VenueRef


class MuteAllButOnAir(_Command):
    type: Literal["mute_all_but_on_air"] = "mute_all_but_on_air"


class SetCaption(_Command):
    """Override the caption (lower third) every venue shows."""

    type: Literal["set_caption"] = "set_caption"
    text: Annotated[str, Field(min_length=1, max_length=200), CheckedText]


class RevokeLink(_Command):
    """Revoke a venue's join links: links issued before now stop working; the venue is cut off."""

    type: Literal["revoke_link"] = "revoke_link"
    venue: VenueRef


class ResetCaption(_Command):
    """Drop the override: back to the segment's own caption."""

    type: Literal["reset_caption"] = "reset_caption"


class StartRecording(_Command):
    """Record the program (its video and audio as the venues receive them) from now on."""

    type: Literal["start_recording"] = "start_recording"


class StopRecording(_Command):
    type: Literal["stop_recording"] = "stop_recording"


# ---------------------------------------------------------------- venue


class AnswerRollCall(_Command):
    type: Literal["answer_roll_call"] = "answer_roll_call"
    venue: VenueRef
    picture_ok: bool
    sound_ok: bool


class RaiseHand(_Command):
    type: Literal["raise_hand"] = "raise_hand"
    venue: VenueRef


class LowerHand(_Command):
    type: Literal["lower_hand"] = "lower_hand"
    venue: VenueRef


# ---------------------------------------------------------------- system


class JoinVenue(_Command):
    type: Literal["join_venue"] = "join_venue"
    venue: VenueRef


class LeaveVenue(_Command):
    type: Literal["leave_venue"] = "leave_venue"
    venue: VenueRef
    reason: Annotated[str, Field(max_length=200), CheckedText] = "left"


class Tick(_Command):
    """Time passes: what is due (a called venue's time, a polling step, a wall page) happens."""

    type: Literal["tick"] = "tick"


class RecordServerStart(_Command):
    """A server process opened the log (the runtime says so once, at its start)."""

    type: Literal["record_server_start"] = "record_server_start"
    restart_grace_s: Annotated[float, Field(ge=0)] = 0.0


RecordingFailure = Literal["disk_full", "unwritable", "error"]


class RecordingFailed(_Command):
    """The recorder cannot go on writing (`detail` says what it met); the recording stops, the session goes on."""

    type: Literal["recording_failed"] = "recording_failed"
    failure: RecordingFailure
    detail: Annotated[str, Field(max_length=500), CheckedText] = ""


class ReportMediaNodeLost(_Command):
    """A media node (a Janus) was lost: `venues` had their media there and are told to reconnect."""

    type: Literal["report_media_node_lost"] = "report_media_node_lost"
    node: Annotated[str, Field(min_length=1, max_length=200), CheckedText]
    venues: Annotated[list[VenueRef], Field(max_length=500)] = []
    reason: Annotated[str, Field(max_length=200), CheckedText] = ""


class ReportMediaNodeBack(_Command):
    """A lost media node answers again: new venues may join it."""

    type: Literal["report_media_node_back"] = "report_media_node_back"
    node: Annotated[str, Field(min_length=1, max_length=200), CheckedText]


class ReportLink(_Command):
    """Link measurements for a venue (from RTCP); the core decides poor / recovered."""

    type: Literal["report_link"] = "report_link"
    venue: VenueRef
    loss_pct: Annotated[float, Field(ge=0, le=100)]
    rtt_ms: Annotated[float, Field(ge=0)]


OperatorCommand = Annotated[
    StartSession | EndSession | NextSegment | PreviousSegment | GotoSegment | Take | StartRollCall | MarkRollCall | RetryRollCall | FinishRollCall | NextAward | GrantFloor | DismissHand | MuteVenue | UnmuteVenue | MuteAllButOnAir | SetCaption | ResetCaption | RevokeLink | PauseRollCall | ResumeRollCall | SkipRollCallVenue | StartPolling | PausePolling | ResumePolling | StopPolling | SetMainReturn | StartRecording | StopRecording,
    Field(discriminator="type"),
]
VenueCommand = Annotated[AnswerRollCall | RaiseHand | LowerHand, Field(discriminator="type")]
SystemCommand = Annotated[
    JoinVenue | LeaveVenue | ReportLink | Tick | RecordServerStart | RecordingFailed | ReportMediaNodeLost |
    ReportMediaNodeBack,
    Field(discriminator="type"),
]
Command = Annotated[
    OperatorCommand | VenueCommand | SystemCommand,
    Field(discriminator="type"),
]

operator_command_adapter: TypeAdapter[OperatorCommand] = TypeAdapter(OperatorCommand)
venue_command_adapter: TypeAdapter[VenueCommand] = TypeAdapter(VenueCommand)
command_adapter: TypeAdapter[Command] = TypeAdapter(Command)
