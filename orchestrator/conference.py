"""The conference: what a conference file describes, as frozen pydantic models.

This is what the session core imports. Reading a file (YAML, line numbers, error
messages) is `orchestrator.config`'s job; the core never imports it.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import Enum
from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from .hints import DID_YOU_MEAN
from .i18n import LANGUAGES, N_, Language, either, normalise, phrase, refusal
from .text import check_text, describe_char, shown

# Limits no real conference reaches (a provincial meeting has about a thousand venues).
# The README's "Limits" list says the same; a refusal names the limit it hit.
MAX_ID_CHARS = 64  # the commands' venue and segment references have the same limit
MAX_TEXT_CHARS = 200  # titles, names, speakers (as an operator's caption)
MAX_VENUES = 5000
MAX_AWARDS = 500  # award lists
MAX_RECIPIENTS = 2000  # per award list
MAX_SEGMENTS = 1000
MAX_SEGMENT_SECONDS = 24 * 3600
MAX_AGENDA_SECONDS = 48 * 3600
FIRST_DATE, LAST_DATE = dt.date(2000, 1, 1), dt.date(2100, 12, 31)

# ASCII only: `\d` would take ５ or ١ for digits.
SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
DURATION_RE = re.compile(r"(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?")
START_RE = re.compile(r"(?P<h>[01][0-9]|2[0-3]):(?P<m>[0-5][0-9])")
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
TIMEZONE_RE = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*")


# --------------------------------------------------------------------------- values

# Said of a value by the models and by the loader (for pydantic's own errors).
MUST_NOT_BE_EMPTY = N_("must not be empty")
NOT_ONE_OF = N_("'{value}' is not one of {expected}")


def _slug(value: Any) -> str:
    if isinstance(value, str):
        check_text(value, MAX_ID_CHARS)
        if SLUG_RE.fullmatch(value):
            return value
    odd = next((ch for ch in value if not ch.isascii()), None) if isinstance(value, str) else None
    why = phrase(N_(" ({char} at character {position})"), char=describe_char(odd), position=value.index(odd) + 1) \
        if odd else ""
    raise refusal("slug", phrase(N_("'{value}' is not a valid id{why}: use lowercase letters, digits and single hyphens"),
                                 value=shown(value), why=why))


def parse_duration(value: Any) -> int:
    """'90s' | '5m' | '1h30m' -> seconds (> 0, at most MAX_SEGMENT_SECONDS)."""
    match = DURATION_RE.fullmatch(value) if isinstance(value, str) and len(value) <= 20 else None
    if not match or not any(match.groupdict().values()):
        raise refusal("duration", phrase(N_("'{value}' is not a duration: write it like 90s, 5m or 1h30m"),
                                         value=shown(value)))
    parts = {k: int(v or 0) for k, v in match.groupdict().items()}
    seconds = parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    if seconds <= 0:
        raise refusal("duration", phrase(N_("a planned duration must be longer than zero")))
    if seconds > MAX_SEGMENT_SECONDS:
        raise refusal("duration", phrase(N_("'{value}' is too long for one segment (the limit is {limit})"),
                                         value=value, limit=format_duration(MAX_SEGMENT_SECONDS)))
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds -> '1h30m', '5m', '90s' style (the file's own notation)."""
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    return out or "0s"


def _language(value: Any) -> Language:
    if isinstance(value, str) and value in LANGUAGES:
        return value
    meant = normalise(value) if isinstance(value, str) and len(value) <= MAX_ID_CHARS else None
    raise refusal("language", phrase(N_("'{value}' is not a supported language: use {choices}{hint}"),
                                     value=shown(value), choices=either(LANGUAGES),
                                     hint=phrase(DID_YOU_MEAN, suggestion=meant) if meant else ""))


def _start(value: Any) -> dt.time:
    match = START_RE.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise refusal("start_time", phrase(N_("'{value}' is not a start time: write it as \"HH:MM\" (24-hour)"),
                                           value=shown(value)))
    return dt.time(int(match["h"]), int(match["m"]))


def _timezone(value: Any) -> str:
    if isinstance(value, str) and len(value) <= MAX_ID_CHARS and TIMEZONE_RE.fullmatch(value):
        try:
            ZoneInfo(value)
            return value
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise refusal("timezone", phrase(N_("unknown time zone '{value}' (use an IANA name such as 'Asia/Shanghai')"),
                                     value=shown(value)))


def _date(value: Any) -> dt.date:
    date = None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        date = value
    elif isinstance(value, str) and DATE_RE.fullmatch(value):
        try:
            date = dt.date.fromisoformat(value)
        except ValueError:
            pass
    if date is None:
        raise refusal("date", phrase(N_("'{value}' is not a date: write it as YYYY-MM-DD"), value=shown(value)))
    if not FIRST_DATE <= date <= LAST_DATE:
        raise refusal("date", phrase(N_("{value} is out of range: a conference is held from {first} to {last}"),
                                     value=date.isoformat(), first=FIRST_DATE.isoformat(), last=LAST_DATE.isoformat()))
    return date


_TEXT_SPACE = " \t\r\n\u3000"  # stripped from both ends of a text (a title on the next line, a stray space)


def _text(value: str) -> str:
    value = check_text(value.strip(_TEXT_SPACE), MAX_TEXT_CHARS)
    if not value:
        raise refusal("text_empty", phrase(MUST_NOT_BE_EMPTY))
    return value


Slug = Annotated[str, BeforeValidator(_slug)]
Duration = Annotated[int, BeforeValidator(parse_duration)]
StartTime = Annotated[dt.time, BeforeValidator(_start)]
TimeZoneName = Annotated[str, BeforeValidator(_timezone)]
LanguageTag = Annotated[Language, BeforeValidator(_language)]
IsoDate = Annotated[dt.date, BeforeValidator(_date)]
Text = Annotated[str, AfterValidator(_text)]
VenueIds = Annotated[list[Slug], Field(max_length=MAX_VENUES)]


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


ALL_BRANCHES: Literal["all-branches"] = "all-branches"


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


DEFAULT_ROLL_CALL_MODE = RollCallMode.CALLED  # the server drives it: its timer, the venues' prompts
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
        raise refusal("enum", phrase(NOT_ONE_OF, value=shown(value), expected=either(("program", "main-return"))))
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
    # the language of the pages, the session's sentences, the CLI and the documents
    # (a reader may choose the other one: see orchestrator/i18n.py)
    language: LanguageTag = "en"


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
    recipients: list[Recipient] = Field(min_length=1, max_length=MAX_RECIPIENTS)


class SegmentPolling(_Model):
    """`polling: {target: main-return, dwell: 15s, venues: all-branches}` on an agenda item."""

    target: PollingTargetName
    dwell: Duration = DEFAULT_POLLING_DWELL_S
    venues: Literal["all-branches"] | VenueIds = ALL_BRANCHES


class SegmentMainReturn(_Model):
    """`main_return: {mode: wall, layout: 3x3, venues: all-branches, page_every: 20s}` or `{mode: single, venue: x}`."""

    mode: ReturnMode
    venue: Slug | None = None  # single only
    layout: WallLayout | None = None  # wall only (required there)
    venues: Literal["all-branches"] | VenueIds | None = None  # wall only; default all-branches
    page_every: Duration | None = None  # wall only; default 20s


class Segment(_Model):
    id: Slug
    kind: SegmentKind
    title: Text
    speaker: Text | None = None
    venue: Slug | None = None
    planned: Duration
    venues: Literal["all-branches"] | VenueIds | None = None
    awards: Annotated[list[Slug], Field(max_length=MAX_AWARDS)] | None = None
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
    venues: list[Venue] = Field(min_length=1, max_length=MAX_VENUES)
    awards: list[Award] = Field(default_factory=list, max_length=MAX_AWARDS)
    agenda: list[Segment] = Field(min_length=1, max_length=MAX_SEGMENTS)

    @field_validator("agenda")
    @classmethod
    def _agenda_fits(cls, agenda: list[Segment]) -> list[Segment]:
        total = sum(s.planned for s in agenda)
        if total > MAX_AGENDA_SECONDS:
            raise refusal("agenda_too_long", phrase(N_("the agenda is planned to last {total} (the limit is {limit})"),
                                                    total=format_duration(total), limit=format_duration(MAX_AGENDA_SECONDS)))
        return agenda

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

    @cached_property
    def planned_end(self) -> dt.datetime:
        """When the agenda ends as planned, in the conference's time zone (wall-clock aware)."""
        end = self.starts_at.astimezone(dt.UTC) + dt.timedelta(seconds=self.planned_total)
        return end.astimezone(self.starts_at.tzinfo)
