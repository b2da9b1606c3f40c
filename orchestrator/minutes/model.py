"""The minutes as data: what happened in a session, in meeting terms.

Times are unix seconds (`at`); `Minutes.conference.timezone` names the zone the
renderers show them in. Every venue is given by id and name (`VenueRef`), so people read
names and machines keep ids.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VenueRef(_Record):
    id: str
    name: str


class SegmentRef(_Record):
    id: str
    title: str


class ConferenceInfo(_Record):
    id: str
    title: str
    date: str  # the planned day, YYYY-MM-DD
    timezone: str  # IANA name: the zone every time is shown in
    language: str = "en"  # the language the minutes' words are in
    main_venue: VenueRef
    planned_start: float
    planned_end: float
    planned_s: float


class Span(_Record):
    start: float
    end: float


class VenueRecord(_Record):
    venue: VenueRef
    role: Literal["main", "branch"]
    present: bool  # connected at some time while the session ran
    first_joined_at: float | None  # the first time it connected (before the session too)
    connected_s: float  # seconds connected while the session ran
    disconnections: int  # while the session ran
    connected_at_end: bool
    connected: list[Span]  # while the session ran
    poor_link: list[Span]  # while the session ran


class SegmentRecord(_Record):
    index: int  # from 1, in the agenda's order
    segment: SegmentRef
    kind: str
    speaker: str | None
    venue: VenueRef  # on air from, per the conference file
    status: Literal["pending", "running", "done", "skipped"]
    planned_s: float
    actual_s: float
    overrun_s: float  # seconds past planned (0 when within)
    started_at: float | None  # first start
    ended_at: float | None  # last end (None while it runs)
    runs: int  # how many times it ran (the operator may go back to it)
    on_air: list[VenueRef]  # who was on air while it ran, in order


TakeReason = Literal["start", "segment", "take", "floor", "roll_call", "polling", "rejoined", "fallback"]


class OnAirRecord(_Record):
    """A venue went on air (or was on air when the session started)."""

    at: float
    until: float  # the next change, or the end of the minutes
    venue: VenueRef
    previous: VenueRef | None
    reason: TakeReason
    cause: str  # in words: why (a fallback's cause, the venue that rejoined...)
    segment: SegmentRef | None


class RollCallEntryRecord(_Record):
    venue: VenueRef
    status: Literal["waiting", "pending", "present", "absent", "no_answer"]
    picture_ok: bool | None
    sound_ok: bool | None
    asked_at: float | None  # prompted (check) or called (called), the last time
    recorded_at: float | None
    recorded_by: Literal["venue", "operator", "session"] | None
    note: str


class RollCallRecord(_Record):
    segment: SegmentRef
    mode: Literal["check", "called"]
    started_at: float
    finished_at: float | None
    counts: dict[str, int]  # every status a roll call of its mode records
    entries: list[RollCallEntryRecord]  # in the roll call's order


class AwardRecord(_Record):
    at: float
    segment: SegmentRef
    award: str  # award id
    category: str  # the award's title
    recipient: str
    venue: VenueRef | None


FloorOutcome = Literal["waiting", "granted", "taken", "dismissed", "withdrawn", "disconnected", "session_ended"]


class FloorRecord(_Record):
    venue: VenueRef
    raised_at: float
    outcome: FloorOutcome
    closed_at: float | None


class MicrophoneRecord(_Record):
    """The microphones one command opened and closed."""

    at: float
    opened: list[VenueRef]
    closed: list[VenueRef]
    cause: Literal["operator", "segment start", "on-air change"]


class CaptionRecord(_Record):
    at: float
    text: str | None  # None: no caption
    kind: str | None
    override: bool  # typed by the operator


FaultKind = Literal["disconnected", "rejoined", "fallback", "link_degraded", "link_recovered", "link_revoked",
                    "server_restarted", "media_node_lost", "media_node_back"]


class FaultRecord(_Record):
    at: float
    kind: FaultKind
    venue: VenueRef | None
    detail: str  # in words, with names


class ServerStartRecord(_Record):
    at: float
    restart: bool  # the log held events already: a previous process wrote it
    previous_event_at: float | None
    venues_connected: list[VenueRef]  # as the log showed them: after a restart, given the grace period
    restart_grace_s: float


class Minutes(_Record):
    conference: ConferenceInfo
    status: Literal["scheduled", "running", "ended"]
    written_at: float
    up_to: float  # the minutes cover the log up to here: the session's end, or when they were written
    started_at: float | None
    ended_at: float | None
    events: int  # events read from the log
    venues: list[VenueRecord]
    segments: list[SegmentRecord]
    on_air: list[OnAirRecord]
    roll_calls: list[RollCallRecord]
    awards: list[AwardRecord]
    floor: list[FloorRecord]
    microphones: list[MicrophoneRecord]
    captions: list[CaptionRecord]
    faults: list[FaultRecord]
    server_starts: list[ServerStartRecord]

    @property
    def present(self) -> list[VenueRecord]:
        return [v for v in self.venues if v.present]

    @property
    def duration_s(self) -> float | None:
        return self.up_to - self.started_at if self.started_at is not None else None
