"""What a rehearsal records while it runs, and what the checks find.

Times are unix seconds from `time.time()`: the server's event times, the venue agents'
log lines and the rehearsal's own records all come from the same clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..config import Conference
from ..core.events import Event
from ..i18n import Language, Phrase
from .drills import Drills, Drop
from .plan import Plan, Step


@dataclass
class CommandRecord:
    """One operator command the rehearsal sent, and the server's answer (its events)."""

    command: dict[str, Any]
    sent: float  # unix time
    answered: float
    status: int
    events: list[Event] = field(default_factory=list)
    error: str | None = None
    code: str | None = None  # why it was refused, for programs (e.g. link_poor_needs_confirm)


class Finding(BaseModel):
    """Something the system did not do as it should. `message` is the English sentence;
    `phrase` says it in another language (absent from records written before it was)."""

    model_config = ConfigDict(frozen=True)

    kind: str  # switch_late, switch_missing, wrong_venue_seen, caption_missing, ...
    segment: str | None
    venue: str | None
    message: str
    at: float
    phrase: Phrase | None = None

    @classmethod
    def of(cls, kind: str, segment: str | None, venue: str | None, said: Phrase, at: float) -> Finding:
        return cls(kind=kind, segment=segment, venue=venue, message=said.say(), at=at, phrase=said)

    def say(self, lang: Language, names: Mapping[str, str] | None = None) -> str:
        return self.phrase.say(lang, names) if self.phrase else self.message


class DrillOutcome(BaseModel):
    """What happened because of a drill (expected behaviour, not a finding); `message` and
    `phrase` as a finding's."""

    model_config = ConfigDict(frozen=True)

    drill: str  # absent | drop | loss
    venue: str
    segment: str | None
    message: str
    at: float
    phrase: Phrase | None = None

    @classmethod
    def of(cls, drill: str, venue: str, segment: str | None, said: Phrase, at: float) -> DrillOutcome:
        return cls(drill=drill, venue=venue, segment=segment, message=said.say(), at=at, phrase=said)

    def say(self, lang: Language, names: Mapping[str, str] | None = None) -> str:
        return self.phrase.say(lang, names) if self.phrase else self.message


@dataclass
class FrameCount:
    """A venue agent's program frame counter at a segment's start and end."""

    agent_start: int  # which start of the simulated venue (a drop starts a new agent)
    start: int
    end: int | None = None
    end_agent_start: int | None = None


@dataclass
class SegmentRun:
    step: Step
    started: float  # the command that started it was sent
    start_answered: float
    ended: float | None = None  # the command that ended it was sent
    frames: dict[str, FrameCount] = field(default_factory=dict)


@dataclass
class DropRun:
    drop: Drop
    down_at: float
    up_at: float | None = None  # a new agent was started


@dataclass
class Recording:
    conference: Conference
    plan: Plan
    drills: Drills
    heartbeat_timeout_s: float
    commands: list[CommandRecord]
    server_events: list[Event]  # from the operator socket
    logs: dict[str, list[dict[str, Any]]]  # venue -> agent log lines (drills marked in them)
    segments: list[SegmentRun] = field(default_factory=list)
    drops: list[DropRun] = field(default_factory=list)
    roll_calls: dict[str, dict[str, Any]] = field(default_factory=dict)  # as the server reports them
    max_loss_pct: dict[str, float] = field(default_factory=dict)
    poor_link: set[str] = field(default_factory=set)
    media_nodes: dict[str, str] = field(default_factory=dict)  # media node id -> its host (Janus)
    venue_nodes: dict[str, list[str]] = field(default_factory=dict)  # venue -> the media nodes it was on, in turn
    session_started: float | None = None
    session_ended: float | None = None

    @property
    def main(self) -> str:
        return self.conference.main_venue.id
