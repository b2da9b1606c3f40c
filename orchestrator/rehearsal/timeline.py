"""The rehearsal's timeline (drawn by `orchestrator.timeline`).

A band of segments coloured by kind, a band of the on-air venue over time with the
fallbacks marked, the calls of called roll calls (coloured by what was recorded), what the
main venue's return showed when it was not the program (a venue, polling, a wall), one
row per drilled venue (absent, never answering, dropped, lossy uplink) and a row of
findings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import format_duration
from ..timeline import FAULT_COLOUR, FINDING_COLOUR, KIND_COLOURS, Timeline, venue_colours

WALL_COLOUR = "#9467bd"  # dark: white labels
CALL_COLOURS = {"present": "#59a14f", "no_answer": "#e8a33d", "absent": "#9a9a9a", "waiting": "#cccccc"}

if TYPE_CHECKING:
    from .report import Report, ReportText


def draw_timeline(report: Report, text: ReportText) -> Timeline:
    t0 = text.t0
    tl = Timeline(text.clock, t0, t0 + max(report.session_s, 1.0))

    def span(a: float, b: float) -> str:
        return f"{text.at(a)} to {text.at(b)}"

    row = tl.row("Segments")
    for s in report.segments:
        tl.box(row, t0 + s.started_at_s, t0 + s.ended_at_s, KIND_COLOURS.get(s.kind, "#cccccc"), s.title,
               f"{s.title} ({s.id}, {s.kind.replace('_', ' ')}) from {text.venue(s.venue)}, "
               f"{span(s.started_at_s, s.ended_at_s)}: planned {format_duration(s.planned_s)}, ran {s.actual_s:.1f} s")

    row = tl.row("On air")
    colours = venue_colours(report.conference["main_venue"], [v["id"] for v in report.venues])
    merged: list = []
    for on_air in (on_air for s in report.segments for on_air in s.on_air):
        if merged and merged[-1].venue == on_air.venue and abs(merged[-1].to_s - on_air.from_s) < 1e-6:
            merged[-1] = merged[-1].model_copy(update={"to_s": on_air.to_s})
        else:
            merged.append(on_air)
    for on_air in merged:
        name = text.venue(on_air.venue)
        tl.box(row, t0 + on_air.from_s, t0 + on_air.to_s, colours.get(on_air.venue, "#cccccc"), name,
               f"{name} on air, {span(on_air.from_s, on_air.to_s)} ({on_air.cause})")
        if on_air.cause == "fallback":
            tl.marker(row, t0 + on_air.from_s, "triangle", FAULT_COLOUR,
                      f"fallback to {name} at {text.at(on_air.from_s)}")

    calls = [c for s in report.segments for c in s.calls]
    if calls:
        row = tl.row("Roll call")
        for call in calls:
            name = text.venue(call.venue)
            tl.box(row, t0 + call.at_s, t0 + call.ended_at_s, CALL_COLOURS.get(call.outcome, "#bbbbbb"), name,
                   text.call(call))
            if not call.on_air:
                tl.marker(row, t0 + call.at_s, "triangle", FAULT_COLOUR, f"{name} called but not on air")
    if report.main_return:
        row = tl.row("Main venue's return")
        for ret in report.main_return:
            if ret.shows == "wall":
                label, fill = f"{ret.layout} wall: " + ", ".join(text.venue(v) for v in ret.tiles), WALL_COLOUR
            else:
                label = f"{'polling: ' if ret.mode == 'polling' else ''}{text.venue(ret.venue)}"
                fill = colours.get(ret.venue or "", "#cccccc")
            tl.box(row, t0 + ret.from_s, t0 + ret.to_s, fill, label,
                   f"the main venue saw {label}, {span(ret.from_s, ret.to_s)}")

    for drill in report.drill_outcomes:
        row = tl.row(f"{text.venue(drill.venue)} ({drill.kind})")
        said = "; ".join(o.message for o in drill.outcomes) or drill.spec
        if drill.kind == "drop" and drill.down_at_s is not None:
            end = drill.up_at_s if drill.up_at_s is not None else report.session_s
            tl.box(row, t0 + drill.down_at_s, t0 + end, FAULT_COLOUR, "dropped", said)
        else:
            fill, label = {"absent": ("#bbbbbb", "absent"), "no-answer": ("#f2b8b8", "never answers")}.get(
                drill.kind, ("#ffd966", drill.spec.split(" ", 1)[1]))
            tl.box(row, tl.start, tl.end, fill, f"{label}: {said}", said)

    row = tl.row("Findings")
    for f in report.findings:
        tl.marker(row, t0 + f.at_s, "circle", FINDING_COLOUR,
                  f"{text.at(f.at_s)} {f.kind} [{f.segment or '-'}] [{text.venue(f.venue)}]: {f.message}")

    for kind in sorted({s.kind for s in report.segments}):
        tl.key(KIND_COLOURS.get(kind, "#cccccc"), kind.replace("_", " "))
    for venue, colour in colours.items():
        if any(on_air.venue == venue for on_air in merged):
            tl.key(colour, text.venue(venue))
    tl.key(FAULT_COLOUR, "drop / fallback", "triangle")
    tl.key(FINDING_COLOUR, "finding", "circle")
    return tl
