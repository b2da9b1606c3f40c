"""Build the minutes from a session's events: pure, no clock or disk (`now` is passed in).

The events are replayed through `Session.apply` (the one replay path), so each is read
against the state it changed: who was on air before a take, which venues a restart found
connected. The minutes stop at the session's end: venues hanging up afterwards are not
part of the meeting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..conference import Conference
from ..core import Session
from ..core import events as e
from ..core.state import ROLL_CALL_STATUSES, SessionPhase, SessionState
from ..i18n import N_, Language, duration, ntranslate, translate
from ..sentences import leave_reason, note
from .model import (
    AwardRecord,
    CaptionRecord,
    ConferenceInfo,
    FaultRecord,
    FloorRecord,
    MicrophoneRecord,
    Minutes,
    OnAirRecord,
    RollCallEntryRecord,
    RollCallRecord,
    SegmentRecord,
    SegmentRef,
    ServerStartRecord,
    Span,
    VenueRecord,
    VenueRef,
)

REASON_WORDS = {
    "start": N_("session start"),
    "segment": N_("the segment's venue"),
    "take": N_("operator's take"),
    "floor": N_("floor granted"),
    "roll_call": N_("called in the roll call"),
    "polling": N_("polling"),
    "rejoined": N_("back after rejoining"),
    "fallback": N_("fallback"),
}
"""How a venue came on air, in words (renderers use these)."""

HAND_OUTCOMES = {
    "venue": "withdrawn",
    "operator": "dismissed",
    "granted": "granted",
    "taken": "taken",
    "disconnected": "disconnected",
    "session_ended": "session_ended",
}


@dataclass
class _Interval:
    """From `start` to `end` (None: still going)."""

    start: float
    end: float | None = None


@dataclass
class _Open:
    """An on-air record whose end is not known yet."""

    at: float
    venue: str
    previous: str | None
    reason: str
    cause: str
    segment: str | None


@dataclass
class _Builder:
    """Reads the events once, in order, keeping what the minutes need; `finish` makes them."""

    conference: Conference
    lang: Language = "en"  # the language of the minutes' words
    session: Session = field(init=False)
    events: int = 0
    last_at: float | None = None
    batch_at: float | None = None  # the events of one command share their time
    batch: list[str] = field(default_factory=list)  # the types seen in it so far
    left: dict[str, e.VenueLeft] = field(default_factory=dict)  # each venue's last disconnection
    connected: dict[str, list[_Interval]] = field(default_factory=dict)  # by venue
    poor: dict[str, list[_Interval]] = field(default_factory=dict)  # by venue
    first_joined: dict[str, float] = field(default_factory=dict)
    runs: dict[str, list[_Interval]] = field(default_factory=dict)  # by segment
    on_air: list[_Open] = field(default_factory=list)
    awards: list[AwardRecord] = field(default_factory=list)
    floor: list[dict] = field(default_factory=list)
    microphones: list[dict] = field(default_factory=list)
    captions: list[CaptionRecord] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)
    server_starts: list[ServerStartRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.session = Session(self.conference)

    # ------------------------------------------------------------ words

    def venue(self, venue: str) -> VenueRef:
        return VenueRef(id=venue, name=self.conference.venue_by_id[venue].name)

    def name(self, venue: str) -> str:
        return self.conference.venue_by_id[venue].name

    def segment(self, segment: str | None) -> SegmentRef | None:
        if segment is None:
            return None
        return SegmentRef(id=segment, title=self.conference.segment_by_id[segment].title)

    def fault(self, at: float, kind: str, venue: str | None, detail: str) -> None:
        self.faults.append(FaultRecord(at=at, kind=kind, venue=self.venue(venue) if venue else None, detail=detail))

    # ------------------------------------------------------------ events

    def _(self, msgid: str, **params: object) -> str:
        return translate(self.lang, msgid, **params)

    def add(self, event: e.Event) -> None:
        before = self.session.state
        self.session.apply(event)  # ReplayError: the log does not fit the conference
        if event.at != self.batch_at:
            self.batch_at, self.batch = event.at, []
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event, before)
        self.batch.append(event.type)
        self.events += 1
        self.last_at = event.at

    def session_started(self, ev: e.SessionStarted, before: SessionState) -> None:
        self.take(ev.at, before.on_air, None, "start", "")

    def segment_started(self, ev: e.SegmentStarted, before: SessionState) -> None:
        self.runs.setdefault(ev.segment, []).append(_Interval(ev.at))
        last = self.on_air[-1] if self.on_air else None
        if last is not None and last.reason == "start" and last.segment is None:
            last.segment = ev.segment  # the session starts with its first segment

    def segment_ended(self, ev: e.SegmentEnded, before: SessionState) -> None:
        self.runs[ev.segment][-1].end = ev.at

    def venue_took_air(self, ev: e.VenueTookAir, before: SessionState) -> None:
        cause = ""
        if ev.reason is e.TakeReason.REJOINED:
            cause = self._(N_("{venue} rejoined"), venue=self.name(ev.venue))
        self.take(ev.at, ev.venue, ev.previous, ev.reason.value, cause)

    def program_fell_back(self, ev: e.ProgramFellBack, before: SessionState) -> None:
        cause = self.fallback_cause(ev)
        self.take(ev.at, ev.venue, ev.previous, "fallback", cause)
        self.fault(ev.at, "fallback", ev.from_venue,
                   self._(N_("the program fell back to {venue}: {cause}"), venue=self.name(ev.venue), cause=cause))

    def fallback_cause(self, ev: e.ProgramFellBack) -> str:
        left = self.left.get(ev.from_venue)
        if left is not None and left.at == ev.at:
            return self._(N_("{venue} disconnected ({why})"), venue=self.name(ev.from_venue),
                          why=leave_reason(self.lang, left.reason))
        return self._(N_("{venue} was not connected"), venue=self.name(ev.from_venue))

    def take(self, at: float, venue: str, previous: str | None, reason: str, cause: str) -> None:
        last = self.on_air[-1] if self.on_air else None
        if last is not None and last.reason == "start" and last.at == at:
            self.on_air.pop()  # the first segment's own venue, at the same moment
            previous = last.previous
        self.on_air.append(_Open(at, venue, previous, reason, cause, self.session.state.current))

    def venue_joined(self, ev: e.VenueJoined, before: SessionState) -> None:
        self.first_joined.setdefault(ev.venue, ev.at)
        self.connected.setdefault(ev.venue, []).append(_Interval(ev.at))
        left = self.left.get(ev.venue)
        if left is not None:
            self.fault(ev.at, "rejoined", ev.venue, self._(N_("back after {time}"), time=duration(self.lang, ev.at - left.at)))

    def venue_left(self, ev: e.VenueLeft, before: SessionState) -> None:
        self.left[ev.venue] = ev
        _close(self.connected.get(ev.venue), ev.at)
        _close(self.poor.get(ev.venue), ev.at)  # a new connection starts good
        self.fault(ev.at, "disconnected", ev.venue, leave_reason(self.lang, ev.reason))

    def venue_link_degraded(self, ev: e.VenueLinkDegraded, before: SessionState) -> None:
        self.poor.setdefault(ev.venue, []).append(_Interval(ev.at))
        self.fault(ev.at, "link_degraded", ev.venue, self._(N_("loss {loss} %, round trip {rtt} ms"),
                                                            loss=f"{ev.loss_pct:.1f}", rtt=f"{ev.rtt_ms:.0f}"))

    def venue_link_recovered(self, ev: e.VenueLinkRecovered, before: SessionState) -> None:
        _close(self.poor.get(ev.venue), ev.at)
        self.fault(ev.at, "link_recovered", ev.venue, self._(N_("the link is good again")))

    def link_revoked(self, ev: e.LinkRevoked, before: SessionState) -> None:
        self.fault(ev.at, "link_revoked", ev.venue, self._(N_("the operator revoked its join links; it was cut off")))

    def microphone(self, ev: e.MicrophoneMuted | e.MicrophoneUnmuted, before: SessionState) -> None:
        last = self.microphones[-1] if self.microphones else None
        if last is None or last["at"] != ev.at:
            if "segment_started" in self.batch:
                cause = "segment start"
            elif {"venue_took_air", "program_fell_back"} & set(self.batch):
                cause = "on-air change"
            else:
                cause = "operator"
            last = {"at": ev.at, "opened": [], "closed": [], "cause": cause}
            self.microphones.append(last)
        last["closed" if isinstance(ev, e.MicrophoneMuted) else "opened"].append(self.venue(ev.venue))

    def caption_changed(self, ev: e.CaptionChanged, before: SessionState) -> None:
        caption = ev.caption
        self.captions.append(CaptionRecord(at=ev.at, text=caption.text if caption else None,
                                           kind=caption.kind.value if caption else None, override=ev.override))

    def award_presented(self, ev: e.AwardPresented, before: SessionState) -> None:
        self.awards.append(AwardRecord(
            at=ev.at, segment=self.segment(ev.segment), award=ev.award,
            category=self.conference.award_by_id[ev.award].title, recipient=ev.recipient,
            venue=self.venue(ev.venue) if ev.venue else None,
        ))

    def hand_raised(self, ev: e.HandRaised, before: SessionState) -> None:
        self.floor.append({"venue": self.venue(ev.venue), "raised_at": ev.at, "outcome": "waiting", "closed_at": None})

    def hand_lowered(self, ev: e.HandLowered, before: SessionState) -> None:
        request = next(r for r in reversed(self.floor) if r["venue"].id == ev.venue and r["outcome"] == "waiting")
        request.update(outcome=HAND_OUTCOMES[ev.reason], closed_at=ev.at)

    def server_started(self, ev: e.ServerStarted, before: SessionState) -> None:
        restart = self.last_at is not None
        names = [self.name(v) for v in ev.venues_connected]
        self.server_starts.append(ServerStartRecord(
            at=ev.at, restart=restart, previous_event_at=self.last_at,
            venues_connected=[self.venue(v) for v in ev.venues_connected], restart_grace_s=ev.restart_grace_s,
        ))
        if restart:
            assert self.last_at is not None
            detail = self._(N_("the server started again; the previous process last wrote {time} earlier"),
                            time=duration(self.lang, ev.at - self.last_at))
            grace = duration(self.lang, ev.restart_grace_s)
            venues = ntranslate(self.lang, "{n} venue", "{n} venues", len(names))
            if len(names) == len(self.conference.venues):
                detail += self._(N_("; all {venues} were connected then and had {time} to come back"),
                                 venues=venues, time=grace)
            elif names:
                detail += self._(N_("; {venues} connected then had {time} to come back: {names}"),
                                 venues=venues, time=grace, names=self._(N_(", ")).join(names))
            self.fault(ev.at, "server_restarted", None, detail)

    def media_node_lost(self, ev: e.MediaNodeLost, before: SessionState) -> None:
        names = [self.name(v) for v in ev.venues]
        detail = self._(N_("media node {node} stopped answering"), node=ev.node)
        if names:
            detail += self._(N_("; {venues} moved to the other nodes: {names}"),
                             venues=ntranslate(self.lang, "{n} venue", "{n} venues", len(names)),
                             names=self._(N_(", ")).join(names))
        self.fault(ev.at, "media_node_lost", None, detail)

    def media_node_back(self, ev: e.MediaNodeBack, before: SessionState) -> None:
        self.fault(ev.at, "media_node_back", None,
                   self._(N_("media node {node} answers again; new venues join it"), node=ev.node))

    # ------------------------------------------------------------ the end

    def finish(self, now: float) -> Minutes:
        conf, st = self.conference, self.session.state
        up_to = st.ended_at if st.ended_at is not None else max(now, self.last_at or now)
        start = st.started_at
        return Minutes(
            conference=ConferenceInfo(
                id=conf.conference.id, title=conf.conference.title, date=conf.conference.date.isoformat(),
                timezone=conf.conference.timezone, language=self.lang, main_venue=self.venue(conf.main_venue.id),
                planned_start=conf.starts_at.timestamp(), planned_end=conf.starts_at.timestamp() + conf.planned_total,
                planned_s=conf.planned_total,
            ),
            status=st.phase.value,
            written_at=now,
            up_to=up_to,
            started_at=start,
            ended_at=st.ended_at,
            events=self.events,
            venues=[self.venue_record(v.id, start, up_to) for v in conf.venues],
            segments=self.segment_records(up_to),
            on_air=self.on_air_records(up_to),
            roll_calls=self.roll_call_records(),
            awards=self.awards,
            floor=[FloorRecord(**r) for r in self.floor],
            microphones=[MicrophoneRecord(**m) for m in self.microphones],
            captions=self.captions,
            faults=self.faults,
            server_starts=self.server_starts,
        )

    def venue_record(self, venue: str, start: float | None, up_to: float) -> VenueRecord:
        connected = _during(self.connected.get(venue, []), start, up_to)
        disconnections = sum(1 for span in self.connected.get(venue, []) if span.end is not None
                             and start is not None and start <= span.end < up_to)
        return VenueRecord(
            venue=self.venue(venue), role=self.conference.venue_by_id[venue].role.value,
            present=bool(connected), first_joined_at=self.first_joined.get(venue),
            connected_s=round(sum(s.end - s.start for s in connected), 3),
            disconnections=disconnections, connected_at_end=self.session.state.venues[venue].connected,
            connected=connected, poor_link=_during(self.poor.get(venue, []), start, up_to),
        )

    def on_air_records(self, up_to: float) -> list[OnAirRecord]:
        records = []
        for i, o in enumerate(self.on_air):
            until = self.on_air[i + 1].at if i + 1 < len(self.on_air) else up_to
            records.append(OnAirRecord(
                at=o.at, until=until, venue=self.venue(o.venue),
                previous=self.venue(o.previous) if o.previous else None, reason=o.reason, cause=o.cause,
                segment=self.segment(o.segment),
            ))
        return records

    def segment_records(self, up_to: float) -> list[SegmentRecord]:
        conf, st = self.conference, self.session.state
        timing = self.session.timing(up_to)
        on_air = self.on_air_records(up_to)
        records = []
        for i, (seg, ss, row) in enumerate(zip(conf.agenda, st.segments, timing.segments, strict=True)):
            runs = [(run.start, run.end if run.end is not None else up_to) for run in self.runs.get(seg.id, [])]
            seen: list[VenueRef] = []
            for o in on_air:
                if any((o.at < b and o.until > a) or o.at == a for a, b in runs):
                    if not seen or seen[-1] != o.venue:
                        seen.append(o.venue)
            records.append(SegmentRecord(
                index=i + 1, segment=self.segment(seg.id), kind=seg.kind.value, speaker=seg.speaker,
                venue=self.venue(conf.segment_venue(seg)), status=ss.status.value, planned_s=seg.planned,
                actual_s=round(row.elapsed, 3), overrun_s=round(row.overrun, 3), started_at=ss.started_at,
                ended_at=ss.ended_at if ss.status.value != "running" else None, runs=len(runs), on_air=seen,
            ))
        return records

    def roll_call_records(self) -> list[RollCallRecord]:
        records = []
        for segment, rc in self.session.state.roll_calls.items():
            records.append(RollCallRecord(
                segment=self.segment(segment), mode=rc.mode.value, started_at=rc.started_at,
                finished_at=rc.finished_at,
                counts={s.value: rc.count(s) for s in ROLL_CALL_STATUSES[rc.mode]},
                entries=[
                    RollCallEntryRecord(
                        venue=self.venue(venue), status=entry.status.value, picture_ok=entry.picture_ok,
                        sound_ok=entry.sound_ok, asked_at=entry.prompted_at, recorded_at=entry.at,
                        recorded_by=entry.by, note=note(self.lang, entry.note, entry.note_params),
                    )
                    for venue, entry in rc.entries.items()
                ],
            ))
        return records


def _close(spans: list[_Interval] | None, at: float) -> None:
    if spans and spans[-1].end is None:
        spans[-1].end = at


def _during(spans: list[_Interval], start: float | None, up_to: float) -> list[Span]:
    """The parts of `spans` (open ones run on) between the session's start and `up_to`."""
    if start is None:
        return []
    clipped = [(max(span.start, start), min(span.end if span.end is not None else up_to, up_to)) for span in spans]
    return [Span(start=a, end=b) for a, b in clipped if b > a]


_HANDLERS: dict[type, Callable[[_Builder, Any, SessionState], None]] = {
    e.SessionStarted: _Builder.session_started,
    e.SegmentStarted: _Builder.segment_started,
    e.SegmentEnded: _Builder.segment_ended,
    e.VenueTookAir: _Builder.venue_took_air,
    e.ProgramFellBack: _Builder.program_fell_back,
    e.VenueJoined: _Builder.venue_joined,
    e.VenueLeft: _Builder.venue_left,
    e.VenueLinkDegraded: _Builder.venue_link_degraded,
    e.VenueLinkRecovered: _Builder.venue_link_recovered,
    e.LinkRevoked: _Builder.link_revoked,
    e.MicrophoneMuted: _Builder.microphone,
    e.MicrophoneUnmuted: _Builder.microphone,
    e.CaptionChanged: _Builder.caption_changed,
    e.AwardPresented: _Builder.award_presented,
    e.HandRaised: _Builder.hand_raised,
    e.HandLowered: _Builder.hand_lowered,
    e.ServerStarted: _Builder.server_started,
    e.MediaNodeLost: _Builder.media_node_lost,
    e.MediaNodeBack: _Builder.media_node_back,
}


def build_minutes(conference: Conference, events: Iterable[e.Event], now: float, lang: Language | None = None) -> Minutes:
    """The minutes of the session these events record, up to its end or to `now`, in `lang`
    (default: the conference's language).

    Raises ReplayError at the first event that does not fit the conference."""
    builder = _Builder(conference, lang or conference.conference.language)
    for event in events:
        builder.add(event)
        if builder.session.state.phase is SessionPhase.ENDED:
            break
    return builder.finish(now)
