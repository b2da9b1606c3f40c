"""The rehearsal report: `report.json` (these models) and `report.html` (one self-contained page).

In `report.json` times are seconds since the session started (`at_s`); the session's
start is given as unix seconds and as ISO text in the conference's time zone (`timezone`),
as are the start and end of the whole rehearsal. The roll-call record keeps the server's
unix seconds. `ReportText` says it all in words for people: counted nouns, venue names,
and wall-clock times in the conference's time zone, the date said once.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel

from ..core.events import AwardPresented
from ..i18n import N_, Language, Phrase, duration, negotiate, ntranslate, translate
from ..sentences import STATUS_WORDS
from ..wording import Clock
from .records import DrillOutcome, Finding, Recording
from .timeline import draw_timeline
from .verifier import SegmentCheck, epochs, return_epochs, session_events


class OnAirSpan(BaseModel):
    venue: str
    cause: str
    from_s: float
    to_s: float


class ReturnSpan(BaseModel):
    """What the main venue's return showed, when it was not the program."""

    shows: str  # single | wall
    mode: str  # single | polling | wall
    venue: str | None
    layout: str | None
    tiles: list[str]
    from_s: float
    to_s: float


class SwitchReport(BaseModel):
    at_s: float
    on_air: str
    cause: str
    latencies_s: dict[str, float | None]  # per receiving venue whose view changed; None: never shown
    max_s: float | None


class CallReport(BaseModel):
    """One call of a called roll call."""

    venue: str
    at_s: float  # called
    ended_at_s: float  # answered, ran out, skipped, recalled, paused or finished
    outcome: str  # the venue's status after the call
    on_air: bool  # the program showed the called venue
    latencies_s: dict[str, float | None]  # per venue whose picture had to change: seconds to show it


class WallReport(BaseModel):
    """One page of the main venue's wall."""

    at_s: float
    layout: str | None
    tiles: list[str]
    cause: str
    latencies_s: dict[int, float | None]  # slot -> seconds to show its venue (slots that changed)


class CaptionReport(BaseModel):
    at_s: float
    kind: str
    text: str
    delivered: int
    expected: int
    missing: list[str]
    max_latency_s: float | None


class SegmentReport(BaseModel):
    index: int
    id: str
    kind: str
    title: str
    venue: str  # on air from, per the conference file
    planned_s: float
    target_s: float  # planned / speed, stretched where needed
    actual_s: float  # wall-clock seconds it ran
    actual_scaled_s: float  # actual_s x speed: the conference time it stands for
    started_at_s: float
    ended_at_s: float
    on_air: list[OnAirSpan]
    switches: list[SwitchReport]
    returns: list[SwitchReport] = []  # the main venue's own picture, when its return is not the program
    walls: list[WallReport] = []
    calls: list[CallReport] = []
    captions: list[CaptionReport]
    fps: dict[str, float]  # program frames per second each venue received
    findings: int


class Outcome(BaseModel):
    segment: str | None
    message: str  # in English; `phrase` says it in the report's language
    at_s: float
    phrase: Phrase | None = None


class DrillReport(BaseModel):
    kind: str  # absent | drop | loss
    venue: str
    spec: str
    down_at_s: float | None = None  # drops: when the venue dropped ...
    up_at_s: float | None = None  # ... and when it came back
    outcomes: list[Outcome]


class AwardReport(BaseModel):
    """One presentation: an award handed to one recipient."""

    segment: str
    award: str
    title: str  # the award's title
    recipient: str
    venue: str | None  # the recipient's venue, if the file names one
    at_s: float
    caption_delivered: int | None  # venues that showed its caption (None: no caption checked) ...
    caption_expected: int | None  # ... of the venues connected


class FindingReport(BaseModel):
    kind: str
    segment: str | None
    venue: str | None
    message: str  # in English; `phrase` says it in the report's language
    at_s: float
    phrase: Phrase | None = None


class Summary(BaseModel):
    passed: bool
    findings: int
    findings_by_kind: dict[str, int]
    segments: int
    switches: int  # changes of the on-air venue checked at the venues: takes and fallbacks
    takes: int  # a venue put on air (segment start, operator's take, floor, return after a rejoin)
    fallbacks: int  # the program fell back to the main venue
    switch_measurements: int  # one per switch and venue whose picture had to change
    switch_measurements_within_threshold: int
    switch_measurements_never_shown: int
    switch_latency_median_s: float | None
    switch_latency_max_s: float | None
    roll_call_calls: int = 0  # calls of called roll calls ...
    roll_call_calls_on_air: int = 0  # ... with the called venue on air
    return_switches: int = 0  # the main venue's return changing its picture (a venue, polling) ...
    return_switches_measured: int = 0  # ... measured there (its picture had to change) ...
    return_measured_within_threshold: int = 0  # ... shown within the threshold
    wall_pages: int = 0  # wall pages shown at the main venue ...
    wall_tiles: int = 0  # ... tiles measured in their slots ...
    wall_tiles_within_threshold: int = 0  # ... shown within the threshold
    awards_presented: int  # presentations (one per recipient) ...
    awards: int  # ... of this many awards
    captions: int
    caption_deliveries: int
    caption_deliveries_expected: int
    broken_frames: int
    min_fps: float | None


class Report(BaseModel):
    conference: dict[str, Any]
    speed: float
    threshold_s: float
    drills: list[str]
    timezone: str  # the conference's (IANA name): the ISO times below carry its offset
    started_at: str
    ended_at: str
    session_started_at: str  # at_s counts from here ...
    session_started_unix: float  # ... in unix seconds
    duration_s: float  # the whole rehearsal, joining and stopping included
    session_s: float  # from start_session to end_session
    cpu: dict[str, float]  # this process (server and simulated venues)
    venues: list[dict[str, Any]]
    media_nodes: list[dict[str, Any]] = []  # the media plane's nodes (Janus), each with the venues it carried
    segments: list[SegmentReport]
    main_return: list[ReturnSpan] = []  # the main venue's return, when it was not the program
    roll_calls: dict[str, Any]  # as the server reports them (times in unix seconds)
    awards: list[AwardReport]
    drill_outcomes: list[DrillReport]
    findings: list[FindingReport]
    summary: Summary

    @property
    def exit_code(self) -> int:
        return 0 if self.summary.passed else 1


def build_report(
    rec: Recording, checks: list[SegmentCheck], findings: list[Finding], outcomes: list[DrillOutcome],
    *, started: float, ended: float, cpu_s: float, config_path: str | None,
) -> Report:
    t0 = rec.session_started or started
    end = rec.session_ended or ended
    all_findings = sorted([*findings, *(f for c in checks for f in c.findings)], key=lambda f: f.at)
    all_outcomes = [*outcomes, *(o for c in checks for o in c.outcomes)]
    spans = [
        OnAirSpan(venue=e.on_air, cause=e.cause, from_s=round(max(e.start, t0) - t0, 3), to_s=round(min(e.end, end) - t0, 3))
        for e in epochs(rec) if e.end > t0 and e.start < end
    ]
    by_segment = {c.segment: c for c in checks}
    segments = [
        _segment(rec, run, by_segment.get(run.step.id), spans, t0, end, all_findings) for run in rec.segments
    ]
    switches = [sw for s in segments for sw in s.switches]
    calls = [c for s in segments for c in s.calls]
    returns = [r for s in segments for r in s.returns]
    walls = [w for s in segments for w in s.walls]
    tiles = [x for w in walls for x in w.latencies_s.values()]
    within = rec.plan.threshold_s
    measured = [x for sw in switches for x in sw.latencies_s.values()]
    latencies = [x for x in measured if x is not None]
    captions = [c for s in segments for c in s.captions]
    fps = [v for s in segments for v in s.fps.values()]
    broken = sum(1 for entries in rec.logs.values() for e in entries if e["event"] == "broken_frame")
    by_kind = Counter(f.kind for f in all_findings)
    awards = _awards(rec, t0, segments)
    summary = Summary(
        passed=not all_findings,
        findings=len(all_findings),
        findings_by_kind=dict(sorted(by_kind.items())),
        segments=len(segments),
        switches=len(switches),
        takes=sum(1 for sw in switches if sw.cause != "fallback"),
        fallbacks=sum(1 for sw in switches if sw.cause == "fallback"),
        switch_measurements=len(measured),
        switch_measurements_within_threshold=sum(1 for x in latencies if x <= rec.plan.threshold_s),
        switch_measurements_never_shown=len(measured) - len(latencies),
        switch_latency_median_s=round(statistics.median(latencies), 3) if latencies else None,
        switch_latency_max_s=round(max(latencies), 3) if latencies else None,
        roll_call_calls=len(calls),
        roll_call_calls_on_air=sum(1 for c in calls if c.on_air),
        return_switches=len(returns),
        return_switches_measured=sum(1 for r in returns if r.latencies_s),
        return_measured_within_threshold=sum(
            1 for r in returns if r.latencies_s and all(x is not None and x <= within for x in r.latencies_s.values())),
        wall_pages=len(walls),
        wall_tiles=len(tiles),
        wall_tiles_within_threshold=sum(1 for x in tiles if x is not None and x <= within),
        awards_presented=len(awards),
        awards=len({a.award for a in awards}),
        captions=len(captions),
        caption_deliveries=sum(c.delivered for c in captions),
        caption_deliveries_expected=sum(c.expected for c in captions),
        broken_frames=broken,
        min_fps=min(fps) if fps else None,
    )
    conf = rec.conference
    clock = Clock(conf.conference.timezone)
    return Report(
        conference={"id": conf.conference.id, "title": conf.conference.title, "file": config_path,
                    "main_venue": rec.main, "planned_s": conf.planned_total, "language": conf.conference.language},
        speed=rec.plan.speed,
        threshold_s=rec.plan.threshold_s,
        drills=rec.drills.describe(),
        timezone=clock.zone,
        started_at=clock.iso(started),
        ended_at=clock.iso(ended),
        session_started_at=clock.iso(t0),
        session_started_unix=t0,
        duration_s=round(ended - started, 2),
        session_s=round(end - t0, 2),
        cpu={"process_s": round(cpu_s, 2), "cores": round(cpu_s / max(ended - started, 1e-6), 3)},
        venues=[
            {"id": v.id, "name": v.name, "role": v.role.value, "simulated": v.id in rec.logs,
             "drills": rec.drills.for_venue(v.id), "media_nodes": rec.venue_nodes.get(v.id, [])}
            for v in conf.venues
        ],
        media_nodes=[{"id": node, "host": host,
                      "venues": [v.id for v in conf.venues if node in rec.venue_nodes.get(v.id, [])]}
                     for node, host in rec.media_nodes.items()],
        segments=segments,
        main_return=[
            ReturnSpan(shows=r.shows, mode=r.mode, venue=r.venue, layout=r.layout, tiles=list(r.tiles),
                       from_s=round(max(r.start, t0) - t0, 3), to_s=round(min(r.end, end) - t0, 3))
            for r in return_epochs(rec) if r.shows != "program" and r.end > t0 and r.start < end
        ],
        roll_calls=rec.roll_calls,
        awards=awards,
        drill_outcomes=_drills(rec, all_outcomes, t0),
        findings=[
            FindingReport(kind=f.kind, segment=f.segment, venue=f.venue, message=f.message, at_s=round(f.at - t0, 3),
                          phrase=f.phrase)
            for f in all_findings
        ],
        summary=summary,
    )


def _segment(rec, run, check: SegmentCheck | None, spans, t0, session_end, findings) -> SegmentReport:
    step = run.step
    ended = run.ended if run.ended is not None else session_end
    a, b = run.started - t0, ended - t0
    return SegmentReport(
        index=step.index,
        id=step.id,
        kind=step.kind.value,
        title=step.segment.title,
        venue=step.venue,
        planned_s=step.segment.planned,
        target_s=round(step.target_s, 3),
        actual_s=round(ended - run.started, 3),
        actual_scaled_s=round((ended - run.started) * rec.plan.speed, 1),
        started_at_s=round(a, 3),
        ended_at_s=round(b, 3),
        on_air=[
            s.model_copy(update={"from_s": max(s.from_s, round(a, 3)), "to_s": min(s.to_s, round(b, 3))})
            for s in spans if min(s.to_s, b) - max(s.from_s, a) > 0.001
        ],
        switches=[_switch(sw, t0) for sw in (check.switches if check else [])],
        returns=[_switch(sw, t0) for sw in (check.returns if check else [])],
        walls=[
            WallReport(at_s=round(w.at - t0, 3), layout=w.layout, tiles=list(w.tiles), cause=w.cause,
                       latencies_s={slot: None if x is None else round(x, 3) for slot, x in sorted(w.latencies.items())})
            for w in (check.walls if check else [])
        ],
        calls=[
            CallReport(venue=c.venue, at_s=round(c.at - t0, 3), ended_at_s=round(c.ended - t0, 3), outcome=c.outcome,
                       on_air=c.on_air,
                       latencies_s={v: None if x is None else round(x, 3) for v, x in sorted(c.latencies.items())})
            for c in (check.calls if check else [])
        ],
        captions=[
            CaptionReport(
                at_s=round(c.at - t0, 3), kind=c.kind, text=c.text, delivered=len(c.delivered),
                expected=len(c.delivered) + len(c.missing), missing=c.missing,
                max_latency_s=round(max(c.delivered.values()), 3) if c.delivered else None,
            )
            for c in (check.captions if check else [])
        ],
        fps=dict(sorted(check.fps.items())) if check else {},
        findings=sum(1 for f in findings if f.segment == step.id),
    )


def _switch(sw, t0: float) -> SwitchReport:
    shown = [x for x in sw.latencies.values() if x is not None]
    return SwitchReport(
        at_s=round(sw.at - t0, 3), on_air=sw.on_air, cause=sw.cause,
        latencies_s={v: None if x is None else round(x, 3) for v, x in sorted(sw.latencies.items())},
        max_s=round(max(shown), 3) if shown else None,
    )


def _drills(rec: Recording, outcomes: list[DrillOutcome], t0: float) -> list[DrillReport]:
    def matching(kind: str, venue: str, segment: str | None = None) -> list[Outcome]:
        return [
            Outcome(segment=o.segment, message=o.message, at_s=round(o.at - t0, 3), phrase=o.phrase)
            for o in sorted(outcomes, key=lambda o: o.at)
            if o.drill == kind and o.venue == venue and (segment is None or o.segment == segment)
        ]

    drills = [DrillReport(kind="absent", venue=v, spec=f"--absent {v}", outcomes=matching("absent", v))
              for v in sorted(rec.drills.absent)]
    drills += [DrillReport(kind="no-answer", venue=v, spec=f"--no-answer {v}", outcomes=matching("no-answer", v))
               for v in sorted(rec.drills.silent)]
    for drop in rec.drills.drops:
        run = next((r for r in rec.drops if r.drop == drop), None)
        drills.append(DrillReport(
            kind="drop", venue=drop.venue, spec=f"--drop {drop.spec}",
            down_at_s=round(run.down_at - t0, 3) if run else None,
            up_at_s=round(run.up_at - t0, 3) if run and run.up_at else None,
            outcomes=matching("drop", drop.venue, drop.segment),
        ))
    drills += [DrillReport(kind="loss", venue=v, spec=f"--loss {v}:{pct:g}", outcomes=matching("loss", v))
               for v, pct in rec.drills.loss.items()]
    return drills


def _awards(rec: Recording, t0: float, segments: list[SegmentReport]) -> list[AwardReport]:
    titles = {a.id: a.title for a in rec.conference.awards}
    # the award's caption is changed by the same command, at the same time
    captions = {(s.id, c.at_s): c for s in segments for c in s.captions if c.kind == "award"}
    awards = []
    for e in session_events(rec):
        if not isinstance(e, AwardPresented):
            continue
        at_s = round(e.at - t0, 3)
        caption = captions.get((e.segment, at_s))
        awards.append(AwardReport(
            segment=e.segment, award=e.award, title=titles.get(e.award, e.award), recipient=e.recipient,
            venue=e.venue, at_s=at_s, caption_delivered=caption.delivered if caption else None,
            caption_expected=caption.expected if caption else None,
        ))
    return awards


CAUSE_WORDS = {
    "segment": N_("segment start"),
    "take": N_("take"),
    "floor": N_("floor given"),
    "rejoined": N_("back after rejoining"),
    "fallback": N_("fallback"),
    "initial": N_("at the start"),
    "roll_call": N_("called"),
    "polling": N_("polling step"),
    "main_return": N_("return set"),
    "wall_page": N_("next page"),
    "presence": N_("a venue came or went"),
}


KIND_WORDS = {"presiding": N_("presiding"), "roll_call": N_("roll call"), "speech": N_("speech"),
              "award_announcement": N_("award announcement"), "award_presentation": N_("award presentation"),
              "closing": N_("closing"), "break": N_("break")}
ROLE_WORDS = {"main": N_("main"), "branch": N_("branch")}
BY_WORDS = {"venue": N_("venue"), "operator": N_("operator"), "session": N_("session")}


class ReportText:
    """The report in words, for the page and the terminal: computed from its figures, never
    assumed; in the conference's language unless `lang` says otherwise."""

    def __init__(self, report: Report, lang: Language | None = None):
        self.report = report
        self.lang: Language = lang or negotiate(report.conference.get("language"))
        self.clock = Clock(report.timezone)
        self.t0 = report.session_started_unix
        self.names = {v["id"]: v["name"] for v in report.venues}
        self.titles = {s.id: s.title for s in report.segments}
        self.day = self.clock.date(self.t0)

    def _(self, msgid: str, **params: object) -> str:
        return translate(self.lang, msgid, **params)

    def n(self, singular: str, plural: str, n: int) -> str:
        return ntranslate(self.lang, singular, plural, n)

    def time(self, t: float) -> str:
        """A unix time as wall-clock time ('14:31:05'); with the date when not the session's day."""
        return self.clock.time(t) if self.clock.date(t) == self.day else self.clock.stamp(t)

    def at(self, at_s: float) -> str:
        """Seconds since the session started, as wall-clock time."""
        return self.time(self.t0 + at_s)

    def venue(self, venue: str | None) -> str:
        return "-" if venue is None else self.names.get(venue, venue)

    def said(self, item: FindingReport | Outcome) -> str:
        """A finding's or a drill outcome's sentence in the report's language (as written when it has no phrase)."""
        return item.phrase.say(self.lang, self.names) if item.phrase else item.message

    def segment(self, segment: str) -> str:
        """'Roll call (roll-call)': the title, and the id the findings and the file use."""
        title = self.titles.get(segment)
        return self._(N_("{title} ({id})"), title=title, id=segment) if title else segment

    def kind(self, kind: str) -> str:
        """A segment's kind in words ('roll call', 点名)."""
        return self._(KIND_WORDS[kind]) if kind in KIND_WORDS else kind.replace("_", " ")

    def role(self, role: str) -> str:
        return self._(ROLE_WORDS[role]) if role in ROLE_WORDS else role

    def by(self, by: str | None) -> str:
        """Who recorded a roll-call status: the venue, the operator or the session."""
        return self._(BY_WORDS[by]) if by in BY_WORDS else (by or "-")

    def status(self, status: str) -> str:
        return self._(STATUS_WORDS[status]) if status in STATUS_WORDS else status.replace("_", " ")

    def roll_call_counts(self, roll_call: dict[str, Any]) -> str:
        """'8 present, 1 absent': every status the record counts, in the server's order."""
        counts = [self._(N_("{n} {status}"), n=n, status=self.status(status))
                  for status, n in roll_call.get("counts", {}).items() if n]
        return self._(N_(", ")).join(counts) or self._(N_("no venues"))

    def when(self) -> str:
        """'2025-02-05, 14:30:00 to 14:52:11 (Asia/Shanghai, UTC+08:00)': the date once."""
        r = self.report
        start = dt.datetime.fromisoformat(r.started_at).timestamp()
        end = dt.datetime.fromisoformat(r.ended_at).timestamp()
        return self._(N_("{date}, {start} to {end} ({zone})"), date=self.clock.date(start), start=self.time(start),
                      end=self.time(end), zone=self.clock.zone_label(start))

    def cause(self, cause: str) -> str:
        """How a switch came about, in words."""
        return self._(CAUSE_WORDS[cause]) if cause in CAUSE_WORDS else cause

    def stands_for(self, seconds: float) -> str:
        return duration(self.lang, seconds)

    def seconds(self, value: float, digits: int = 2) -> str:
        return self._(N_("{seconds} s"), seconds=f"{value:.{digits}f}")

    def switches(self) -> str:
        """The program's switches and what the venues showed of them."""
        s, threshold = self.report.summary, self.report.threshold_s
        _ = self._
        if not s.switches:
            return _(N_("none (the on-air venue never changed)"))
        kinds = [self.n("{n} take", "{n} takes", s.takes)] + (
            [self.n("{n} fallback", "{n} fallbacks", s.fallbacks)] if s.fallbacks else [])
        text = _(N_("{switches} ({kinds})"), switches=self.n("{n} switch", "{n} switches", s.switches),
                 kinds=_(N_(", ")).join(kinds))
        if not s.switch_measurements:
            return text + _(N_(", none measured at a venue"))
        text += _(N_(", measured {times} at the venues: "), times=self.n("{n} time", "{n} times", s.switch_measurements))
        late = s.switch_measurements - s.switch_measurements_within_threshold - s.switch_measurements_never_shown
        if late == s.switch_measurements_never_shown == 0:
            text += _(N_("all within {threshold} s"), threshold=f"{threshold:g}")
        else:
            text += _(N_("{n} within {threshold} s"), n=s.switch_measurements_within_threshold, threshold=f"{threshold:g}")
            text += _(N_(", {n} later"), n=late) if late else ""
            never = s.switch_measurements_never_shown
            text += _(N_(", {n} never shown"), n=never) if never else ""
        if s.switch_latency_max_s is not None:
            text += _(N_(" (median {median} s, slowest {slowest} s)"), median=f"{s.switch_latency_median_s:.2f}",
                      slowest=f"{s.switch_latency_max_s:.2f}")
        return text

    def calls(self) -> str:
        """The called roll calls' calls: on air, and seen by the venues."""
        s = self.report.summary
        _ = self._
        if not s.roll_call_calls:
            return _(N_("no venue called in turn"))
        calls = [c for seg in self.report.segments for c in seg.calls]
        measured = [x for c in calls for x in c.latencies_s.values()]
        shown = [x for x in measured if x is not None]
        within = sum(1 for x in shown if x <= self.report.threshold_s)
        text = _(N_("{calls}, {on_air} with the called venue on air"),
                 calls=self.n("{n} call", "{n} calls", s.roll_call_calls), on_air=s.roll_call_calls_on_air)
        if measured:
            text += _(N_("; seen {times} at the other venues, {within} within {threshold} s"),
                      times=self.n("{n} time", "{n} times", len(measured)), within=within,
                      threshold=f"{self.report.threshold_s:g}")
            text += _(N_(" (slowest {slowest} s)"), slowest=f"{max(shown):.2f}") if shown else ""
        return text

    def returns(self) -> str:
        """The main venue's own picture, apart from the program: its return switches and wall pages."""
        s, threshold = self.report.summary, self.report.threshold_s
        _ = self._
        said = []
        if s.return_switches:
            shown = (_(N_("all within {threshold} s"), threshold=f"{threshold:g}")
                     if s.return_measured_within_threshold == s.return_switches_measured
                     else _(N_("{n} within {threshold} s"), n=s.return_measured_within_threshold,
                            threshold=f"{threshold:g}"))
            said.append(_(N_("{switches} of the main venue's picture (a venue shown, polling), measured {times} there: "
                             "{shown}"), switches=self.n("{n} switch", "{n} switches", s.return_switches),
                          times=self.n("{n} time", "{n} times", s.return_switches_measured), shown=shown))
        if s.wall_pages:
            said.append(_(N_("{pages}, {within} of {tiles} shown within {threshold} s"),
                          pages=self.n("{n} wall page", "{n} wall pages", s.wall_pages),
                          within=s.wall_tiles_within_threshold, tiles=self.n("{n} tile", "{n} tiles", s.wall_tiles),
                          threshold=f"{threshold:g}"))
        return _(N_("; ")).join(said) or _(N_("the main venue saw the program throughout"))

    def call(self, call: CallReport) -> str:
        """'Pinghu City called at 14:32:05, present after 1.5 s, seen at 9 venues (slowest 0.21 s)'."""
        _ = self._
        shown = [x for x in call.latencies_s.values() if x is not None]
        seen = ""
        if call.latencies_s:
            seen = _(N_(", seen at {venues}"), venues=self.n("{n} venue", "{n} venues", len(shown)))
            seen += _(N_(" (slowest {slowest} s)"), slowest=f"{max(shown):.2f}") if shown else ""
        never = sum(1 for x in call.latencies_s.values() if x is None)
        return (_(N_("{venue} called at {at}, {outcome} after {seconds} s"), venue=self.venue(call.venue),
                  at=self.at(call.at_s), outcome=self.status(call.outcome), seconds=f"{call.ended_at_s - call.at_s:.1f}")
                + ("" if call.on_air else _(N_(", NOT on air"))) + seen
                + (_(N_(", never shown at {venues}"), venues=self.n("{n} venue", "{n} venues", never)) if never else ""))

    def captions(self) -> str:
        s = self.report.summary
        return self._(N_("{captions}, {delivered} of {deliveries} to the venues"),
                      captions=self.n("{n} caption", "{n} captions", s.captions), delivered=s.caption_deliveries,
                      deliveries=self.n("{n} delivery", "{n} deliveries", s.caption_deliveries_expected))

    def awards(self) -> str:
        s = self.report.summary
        if not s.awards_presented:
            return self._(N_("none presented"))
        return self._(N_("{presentations} of {awards}"),
                      presentations=self.n("{n} presentation", "{n} presentations", s.awards_presented),
                      awards=self.n("{n} award", "{n} awards", s.awards))

    def pictures(self) -> str:
        s = self.report.summary
        lowest = self._(N_(", lowest {fps} frames per second"), fps=f"{s.min_fps:.1f}") if s.min_fps is not None else ""
        return self.n("{n} broken frame", "{n} broken frames", s.broken_frames) + lowest

    def checks(self) -> str:
        """What held, when there are no findings, in the figures' own terms."""
        s, threshold = self.report.summary, self.report.threshold_s
        _ = self._
        said = []
        if s.switch_measurements:
            late = s.switch_measurements - s.switch_measurements_within_threshold - s.switch_measurements_never_shown
            if late == s.switch_measurements_never_shown == 0:
                said.append(_(N_("every venue showed every switch within {threshold} s (the slowest after {slowest} s)"),
                              threshold=f"{threshold:g}", slowest=f"{s.switch_latency_max_s:.2f}"))
            else:
                of = self.n("{n} switch measurement", "{n} switch measurements", s.switch_measurements)
                parts = []
                if late:
                    parts.append(_(N_("{late} of {measurements} took longer than {threshold} s (the slowest {slowest} s)"),
                                   late=late, measurements=of, threshold=f"{threshold:g}",
                                   slowest=f"{s.switch_latency_max_s:.2f}"))
                if s.switch_measurements_never_shown:
                    parts.append(_(N_("{never} of {measurements} never showed the new venue"),
                                   never=s.switch_measurements_never_shown, measurements=of))
                said.append(_(N_("{parts}: drill outcomes, see Drills"), parts=_(N_(" and ")).join(parts)))
        if s.caption_deliveries_expected:
            if s.caption_deliveries == s.caption_deliveries_expected:
                said.append(_(N_("every caption reached every connected venue")))
            else:
                missing = s.caption_deliveries_expected - s.caption_deliveries
                deliveries = self.n("{n} caption delivery", "{n} caption deliveries", s.caption_deliveries_expected)
                said.append(_(N_("{missing} of {deliveries} did not arrive: drill outcomes, see Drills"),
                              missing=missing, deliveries=deliveries))
        return _(N_("; ")).join(said)


def render_html(report: Report, lang: Language | None = None) -> str:
    """report.html in `lang` (default: the conference's language)."""
    env = Environment(loader=PackageLoader("orchestrator.rehearsal", "templates"), autoescape=select_autoescape(["html"]))
    text = ReportText(report, lang)
    env.globals["_"] = text._
    return env.get_template("report.html").render(report=report, text=text, timeline=draw_timeline(report, text),
                                                  lang=text.lang)


def write_report(report: Report, directory: Path, lang: Language | None = None) -> tuple[Path, Path]:
    """Write report.json and report.html into `directory` (made if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path, html_path = directory / "report.json", directory / "report.html"
    json_path.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    html_path.write_text(render_html(report, lang), encoding="utf-8")
    return json_path, html_path
