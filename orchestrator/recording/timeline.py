"""What happened during the recording, from the session's events: segments, takes, captions.

`RecordingTimeline` reads the session's events (the whole log, then each new command's)
and keeps what a person needs to find a moment in the recording: every agenda segment
with its on-air venue (the file's chapters), every take and fallback of the program, and
every caption. Its `document` is the recording's sidecar JSON: each entry has its time
in seconds since the recording started (the files' own timestamps) and the wall-clock
time in the conference's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..conference import Conference
from ..core import events as e
from ..sentences import fallback
from ..wording import Clock
from .matroska import Chapter


@dataclass
class _Segment:
    id: str
    title: str
    venue: str  # on air when the segment started
    start: float
    end: float | None = None


@dataclass(frozen=True)
class _Take:
    at: float
    venue: str
    previous: str
    reason: str  # TakeReason, or "fallback"
    segment: str | None
    note: str = ""


@dataclass(frozen=True)
class _Caption:
    at: float
    text: str | None  # None: the caption was cleared
    kind: str | None


@dataclass(frozen=True)
class _Run:
    start: float
    stop: float | None = None
    reason: str | None = None
    detail: str = ""


@dataclass
class RecordingTimeline:
    conference: Conference
    on_air: str = ""
    current: _Segment | None = None
    segments: list[_Segment] = field(default_factory=list)
    takes: list[_Take] = field(default_factory=list)
    captions: list[_Caption] = field(default_factory=list)
    runs: list[_Run] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.on_air = self.conference.main_venue.id
        self.clock = Clock(self.conference.conference.timezone)

    @property
    def origin(self) -> float | None:
        """When the recording first started (its timeline's zero); None: it never has."""
        return self.runs[0].start if self.runs else None

    def add(self, event: e.Event) -> None:
        if isinstance(event, e.SegmentStarted):
            segment = self.conference.segment_by_id[event.segment]
            self.current = _Segment(segment.id, segment.title, self.on_air, event.at)
            self.segments.append(self.current)
        elif isinstance(event, (e.SegmentEnded, e.SessionEnded)) and self.current is not None:
            self.current.end = event.at
            self.current = None
        elif isinstance(event, e.VenueTookAir):
            self._on_air(event.at, _Take(event.at, event.venue, event.previous, event.reason.value, self._segment()))
        elif isinstance(event, e.ProgramFellBack):
            self._on_air(event.at, _Take(event.at, event.venue, event.previous, "fallback", self._segment(),
                                          fallback(self.conference.conference.language, event.reason, event.reason_params)))
        elif isinstance(event, e.CaptionChanged):
            caption = event.caption
            self.captions.append(_Caption(event.at, caption.text if caption else None,
                                          caption.kind.value if caption else None))
        elif isinstance(event, e.RecordingStarted):
            self.runs.append(_Run(event.at))
        elif isinstance(event, e.RecordingStopped) and self.runs:
            self.runs[-1] = _Run(self.runs[-1].start, event.at, event.reason, event.detail)

    def _segment(self) -> str | None:
        return self.current.id if self.current is not None else None

    def _on_air(self, at: float, take: _Take) -> None:
        self.on_air = take.venue
        self.takes.append(take)
        if self.current is not None and self.current.start == at:
            self.current.venue = take.venue  # the venue the segment itself put on air

    # ------------------------------------------------------------ chapters

    def chapter_title(self, segment: _Segment) -> str:
        """The segment's title, and the on-air venue's name unless the title already says it."""
        venue = self.conference.venue_by_id[segment.venue].name
        return segment.title if venue in segment.title else f"{segment.title} · {venue}"

    def chapters(self, first_s: float, last_s: float) -> list[Chapter]:
        """The segments that overlap [first_s, last_s] on the recording's timeline, cut to it."""
        origin = self.origin
        if origin is None:
            return []
        chapters = []
        for segment in self.segments:
            start = max(segment.start - origin, first_s)
            end = min(segment.end - origin if segment.end is not None else last_s, last_s)
            if end > start:
                chapters.append(Chapter(round(start, 3), round(end, 3), self.chapter_title(segment)))
        return chapters

    # ------------------------------------------------------------ the sidecar

    def document(self, parts: list[dict[str, Any]]) -> dict[str, Any]:
        """The sidecar JSON: the recording's parts, runs, segments, takes and captions."""
        origin = self.origin
        assert origin is not None, "a recording that never started has no sidecar"
        conf = self.conference
        venues = conf.venue_by_id

        def when(at: float) -> dict[str, Any]:
            return {"at_s": round(max(at - origin, 0.0), 3), "time": self.clock.time(at), "wall": self.clock.iso(at)}

        captions = [c for c in self.captions if c.at >= origin]
        before = [c for c in self.captions if c.at < origin]
        if before:  # the caption shown when the recording started
            captions.insert(0, _Caption(origin, before[-1].text, before[-1].kind))
        return {
            "conference": {"id": conf.conference.id, "title": conf.conference.title,
                           "timezone": conf.conference.timezone},
            "started": {"unix": origin, **when(origin)},
            "parts": parts,
            "runs": [
                {"start": when(run.start), "stop": when(run.stop) if run.stop is not None else None,
                 "stop_reason": run.reason, **({"detail": run.detail} if run.detail else {})}
                for run in self.runs
            ],
            "segments": [
                {"segment": s.id, "title": s.title, "chapter": self.chapter_title(s), "venue": s.venue,
                 "venue_name": venues[s.venue].name, "start": when(max(s.start, origin)),
                 "end": when(s.end) if s.end is not None else None}
                for s in self.segments if s.end is None or s.end > origin
            ],
            "takes": [
                {**when(t.at), "venue": t.venue, "venue_name": venues[t.venue].name, "previous": t.previous,
                 "reason": t.reason, "segment": t.segment, **({"note": t.note} if t.note else {})}
                for t in self.takes if t.at >= origin
            ],
            "captions": [{**when(c.at), "text": c.text, "kind": c.kind} for c in captions],
        }
