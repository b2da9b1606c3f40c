"""The rehearsal report: `report.json` (these models) and `report.html` (one self-contained page).

Times in the report are seconds since the session started (`at_s`), except the
ISO start and end of the whole rehearsal.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel

from .records import DrillOutcome, Finding, Recording
from .timeline import draw_timeline
from .verifier import SegmentCheck, epochs


class OnAirSpan(BaseModel):
    venue: str
    cause: str
    from_s: float
    to_s: float


class SwitchReport(BaseModel):
    at_s: float
    on_air: str
    cause: str
    latencies_s: dict[str, float | None]  # per receiving venue whose view changed; None: never shown
    max_s: float | None


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
    captions: list[CaptionReport]
    fps: dict[str, float]  # program frames per second each venue received
    findings: int


class Outcome(BaseModel):
    segment: str | None
    message: str
    at_s: float


class DrillReport(BaseModel):
    kind: str  # absent | drop | loss
    venue: str
    spec: str
    down_at_s: float | None = None  # drops: when the venue dropped ...
    up_at_s: float | None = None  # ... and when it came back
    outcomes: list[Outcome]


class FindingReport(BaseModel):
    kind: str
    segment: str | None
    venue: str | None
    message: str
    at_s: float


class Summary(BaseModel):
    passed: bool
    findings: int
    findings_by_kind: dict[str, int]
    segments: int
    switches: int
    switch_measurements: int
    switch_latency_median_s: float | None
    switch_latency_max_s: float | None
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
    started_at: str
    ended_at: str
    duration_s: float  # the whole rehearsal, joining and stopping included
    session_s: float  # from start_session to end_session
    cpu: dict[str, float]  # this process (server and simulated venues)
    venues: list[dict[str, Any]]
    segments: list[SegmentReport]
    roll_calls: dict[str, Any]
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
    latencies = [v for s in segments for sw in s.switches for v in sw.latencies_s.values() if v is not None]
    captions = [c for s in segments for c in s.captions]
    fps = [v for s in segments for v in s.fps.values()]
    broken = sum(1 for entries in rec.logs.values() for e in entries if e["event"] == "broken_frame")
    by_kind = Counter(f.kind for f in all_findings)
    summary = Summary(
        passed=not all_findings,
        findings=len(all_findings),
        findings_by_kind=dict(sorted(by_kind.items())),
        segments=len(segments),
        switches=sum(len(s.switches) for s in segments),
        switch_measurements=len(latencies) + sum(1 for s in segments for sw in s.switches for v in sw.latencies_s.values() if v is None),
        switch_latency_median_s=round(statistics.median(latencies), 3) if latencies else None,
        switch_latency_max_s=round(max(latencies), 3) if latencies else None,
        captions=len(captions),
        caption_deliveries=sum(c.delivered for c in captions),
        caption_deliveries_expected=sum(c.expected for c in captions),
        broken_frames=broken,
        min_fps=min(fps) if fps else None,
    )
    conf = rec.conference
    return Report(
        conference={"id": conf.conference.id, "title": conf.conference.title, "file": config_path,
                    "main_venue": rec.main, "planned_s": conf.planned_total},
        speed=rec.plan.speed,
        threshold_s=rec.plan.threshold_s,
        drills=rec.drills.describe(),
        started_at=_iso(started),
        ended_at=_iso(ended),
        duration_s=round(ended - started, 2),
        session_s=round(end - t0, 2),
        cpu={"process_s": round(cpu_s, 2), "cores": round(cpu_s / max(ended - started, 1e-6), 3)},
        venues=[
            {"id": v.id, "name": v.name, "role": v.role.value, "simulated": v.id in rec.logs,
             "drills": rec.drills.for_venue(v.id)}
            for v in conf.venues
        ],
        segments=segments,
        roll_calls=rec.roll_calls,
        drill_outcomes=_drills(rec, all_outcomes, t0),
        findings=[
            FindingReport(kind=f.kind, segment=f.segment, venue=f.venue, message=f.message, at_s=round(f.at - t0, 3))
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
        switches=[
            SwitchReport(
                at_s=round(sw.at - t0, 3), on_air=sw.on_air, cause=sw.cause,
                latencies_s={v: None if x is None else round(x, 3) for v, x in sorted(sw.latencies.items())},
                max_s=round(max(x for x in sw.latencies.values() if x is not None), 3)
                if any(x is not None for x in sw.latencies.values()) else None,
            )
            for sw in (check.switches if check else [])
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


def _drills(rec: Recording, outcomes: list[DrillOutcome], t0: float) -> list[DrillReport]:
    def matching(kind: str, venue: str, segment: str | None = None) -> list[Outcome]:
        return [
            Outcome(segment=o.segment, message=o.message, at_s=round(o.at - t0, 3))
            for o in sorted(outcomes, key=lambda o: o.at)
            if o.drill == kind and o.venue == venue and (segment is None or o.segment == segment)
        ]

    drills = [DrillReport(kind="absent", venue=v, spec=f"--absent {v}", outcomes=matching("absent", v))
              for v in sorted(rec.drills.absent)]
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


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="seconds")


def render_html(report: Report) -> str:
    env = Environment(loader=PackageLoader("orchestrator.rehearsal", "templates"), autoescape=select_autoescape(["html"]))
    return env.get_template("report.html").render(report=report, timeline=draw_timeline(report))


def write_report(report: Report, directory: Path) -> tuple[Path, Path]:
    """Write report.json and report.html into `directory` (made if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path, html_path = directory / "report.json", directory / "report.html"
    json_path.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path
