"""The conference: what a conference file describes, as frozen pydantic models.

This is what the session core imports. Reading a file (YAML, line numbers, error
messages) is `orchestrator.config`'s job; the core never imports it.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)
from pydantic_core import PydanticCustomError

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
DURATION_RE = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
START_RE = re.compile(r"^(?P<h>[01]\d|2[0-3]):(?P<m>[0-5]\d)$")


# --------------------------------------------------------------------------- values


def _slug(value: Any) -> str:
    if not isinstance(value, str) or not SLUG_RE.match(value):
        raise PydanticCustomError(
            "slug",
            "'{value}' is not a valid id: use lowercase letters, digits and single hyphens",
            {"value": value},
        )
    return value


def parse_duration(value: Any) -> int:
    """'90s' | '5m' | '1h30m' -> seconds (> 0)."""
    match = DURATION_RE.match(value) if isinstance(value, str) else None
    if not match or not any(match.groupdict().values()):
        raise PydanticCustomError(
            "duration",
            "'{value}' is not a duration: write it like 90s, 5m or 1h30m",
            {"value": value},
        )
    parts = {k: int(v or 0) for k, v in match.groupdict().items()}
    seconds = parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    if seconds <= 0:
        raise PydanticCustomError("duration", "a planned duration must be longer than zero", {})
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds -> '1h30m', '5m', '90s' style (the file's own notation)."""
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    return out or "0s"


def _start(value: Any) -> dt.time:
    match = START_RE.match(value) if isinstance(value, str) else None
    if not match:
        raise PydanticCustomError(
            "start_time", "'{value}' is not a start time: write it as \"HH:MM\" (24-hour)", {"value": value}
        )
    return dt.time(int(match["h"]), int(match["m"]))


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise PydanticCustomError(
            "timezone", "unknown time zone '{value}' (use an IANA name such as 'Asia/Shanghai')", {"value": value}
        ) from None
    return value


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        raise PydanticCustomError("date", "'{value}' is not a date: write it as YYYY-MM-DD", {"value": str(value)})
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("date", "'{value}' is not a date: write it as YYYY-MM-DD", {"value": value})


Slug = Annotated[str, BeforeValidator(_slug)]
Duration = Annotated[int, BeforeValidator(parse_duration)]
StartTime = Annotated[dt.time, BeforeValidator(_start)]
TimeZoneName = Annotated[str, BeforeValidator(_timezone)]
IsoDate = Annotated[dt.date, BeforeValidator(_date)]
Text = Annotated[str, AfterValidator(lambda s: s.strip()), Field(min_length=1)]


class VenueRole(str, Enum):
    MAIN = "main"
    BRANCH = "branch"


class VenueKind(str, Enum):
    COUNTY = "county"
    COUNTY_CITY = "county_city"
    DISTRICT = "district"
    DEVELOPMENT_ZONE = "development_zone"
    PORT_AREA = "port_area"
    DEPARTMENT = "department"
    OTHER = "other"


class SegmentKind(str, Enum):
    PRESIDING = "presiding"
    ROLL_CALL = "roll_call"
    SPEECH = "speech"
    AWARD_ANNOUNCEMENT = "award_announcement"
    AWARD_PRESENTATION = "award_presentation"
    CLOSING = "closing"
    BREAK = "break"

    @property
    def is_award(self) -> bool:
        return self in (SegmentKind.AWARD_ANNOUNCEMENT, SegmentKind.AWARD_PRESENTATION)


ALL_BRANCHES = "all-branches"


class RollCallMode(str, Enum):
    """How a roll call asks: each venue in turn, on air (`called`), or all at once (`check`)."""

    CALLED = "called"
    CHECK = "check"


class PollingTarget(str, Enum):
    """What site polling cycles: the program (everyone sees it) or only the main venue's return."""

    PROGRAM = "program"
    MAIN_RETURN = "main_return"


class ReturnMode(str, Enum):
    """What the main venue's return shows: the program, one venue, or a wall of venues."""

    PROGRAM = "program"
    SINGLE = "single"
    WALL = "wall"


class WallLayout(str, Enum):
    L2X2 = "2x2"
    L3X3 = "3x3"
    L4X4 = "4x4"

    @property
    def tiles(self) -> int:
        side = int(self.value[0])
        return side * side


DEFAULT_ROLL_CALL_MODE = RollCallMode.CALLED
DEFAULT_PER_VENUE_S = 10
DEFAULT_POLLING_DWELL_S = 15
POLLING_DWELL_RANGE_S = (10, 120)
DEFAULT_PAGE_EVERY_S = 20
PAGE_EVERY_RANGE_S = (5, 600)


def _polling_target(value: Any) -> Any:
    """The file writes `main-return` (like `all-branches`); `main_return` is accepted too."""
    if value == "main-return":
        return PollingTarget.MAIN_RETURN
    if value not in ("program", "main_return"):
        raise PydanticCustomError("enum", "'{value}' is not one of {expected}",
                                  {"value": value, "expected": "'program' or 'main-return'"})
    return value


PollingTargetName = Annotated[PollingTarget, BeforeValidator(_polling_target)]


# --------------------------------------------------------------------------- models


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConferenceInfo(_Model):
    id: Slug
    title: Text
    date: IsoDate
    start: StartTime
    timezone: TimeZoneName


class Venue(_Model):
    id: Slug
    name: Text
    role: VenueRole
    kind: VenueKind | None = None


class Recipient(_Model):
    name: Text
    venue: Slug | None = None


class Award(_Model):
    id: Slug
    title: Text
    recipients: list[Recipient] = Field(min_length=1)


class SegmentPolling(_Model):
    """`polling: {target: main-return, dwell: 15s, venues: all-branches}` on an agenda item."""

    target: PollingTargetName
    dwell: Duration = DEFAULT_POLLING_DWELL_S
    venues: Literal["all-branches"] | list[Slug] = ALL_BRANCHES


class SegmentMainReturn(_Model):
    """`main_return: {mode: wall, layout: 3x3, venues: all-branches, page_every: 20s}` or `{mode: single, venue: x}`."""

    mode: ReturnMode
    venue: Slug | None = None  # single only
    layout: WallLayout | None = None  # wall only (required there)
    venues: Literal["all-branches"] | list[Slug] | None = None  # wall only; default all-branches
    page_every: Duration | None = None  # wall only; default 20s


class Segment(_Model):
    id: Slug
    kind: SegmentKind
    title: Text
    speaker: Text | None = None
    venue: Slug | None = None
    planned: Duration
    venues: Literal["all-branches"] | list[Slug] | None = None
    awards: list[Slug] | None = None
    mode: RollCallMode | None = None  # roll_call only; default called
    per_venue: Duration | None = None  # roll_call only (called mode): time to answer; default 10s
    polling: SegmentPolling | None = None  # polling that starts with the segment
    main_return: SegmentMainReturn | None = None  # the main venue's return while the segment runs

    @property
    def roll_call_mode(self) -> RollCallMode:
        return self.mode or DEFAULT_ROLL_CALL_MODE

    @property
    def roll_call_per_venue(self) -> int:
        return self.per_venue or DEFAULT_PER_VENUE_S


class Conference(_Model):
    """A validated conference file. Build it with `load_conference` or `parse_conference`."""

    conference: ConferenceInfo
    venues: list[Venue] = Field(min_length=1)
    awards: list[Award] = Field(default_factory=list)
    agenda: list[Segment] = Field(min_length=1)

    @cached_property
    def main_venue(self) -> Venue:
        return next(v for v in self.venues if v.role is VenueRole.MAIN)

    @cached_property
    def branch_ids(self) -> tuple[str, ...]:
        return tuple(v.id for v in self.venues if v.role is VenueRole.BRANCH)

    @cached_property
    def venue_by_id(self) -> dict[str, Venue]:
        return {v.id: v for v in self.venues}

    @cached_property
    def award_by_id(self) -> dict[str, Award]:
        return {a.id: a for a in self.awards}

    @cached_property
    def segment_by_id(self) -> dict[str, Segment]:
        return {s.id: s for s in self.agenda}

    def segment_venue(self, segment: Segment) -> str:
        """The venue a segment is on air from (the main venue unless the file says otherwise)."""
        return segment.venue or self.main_venue.id

    def roll_call_venues(self, segment: Segment) -> tuple[str, ...]:
        return self.listed_branches(segment.venues)

    def listed_branches(self, venues: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
        """`all-branches` (or nothing) -> every branch venue in file order; a list as it is."""
        if venues is None or venues == ALL_BRANCHES:
            return self.branch_ids
        return tuple(venues)

    @cached_property
    def starts_at(self) -> dt.datetime:
        """Scheduled start, as an aware datetime in the conference's time zone."""
        info = self.conference
        return dt.datetime.combine(info.date, info.start, tzinfo=ZoneInfo(info.timezone))

    @property
    def planned_total(self) -> int:
        return sum(s.planned for s in self.agenda)
